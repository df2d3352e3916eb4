"""Confidence intervals for exact match that mean something with one to three seeds.

A run's exact match is the mean of a 0/1 outcome over the items of a test split. It varies
for two reasons: which items the test split happened to draw, and which seed trained the
model. The hierarchical bootstrap resamples both. Each replicate draws the test items with
replacement (one draw shared by every seed and architecture, because they are scored on the
same items), then the seeds with replacement, and takes the mean. With one seed this is the
ordinary bootstrap over items; with a few seeds the seed-to-seed spread widens the interval
as far as the data shows it, instead of a Student t with one degree of freedom.

Intervals are percentile intervals of `N_BOOT` replicates from a fixed random seed, so a
table rebuilt from the same results is the same table.

Paired differences (architecture A minus B, or minus the majority-answer baseline) use the
same item draw for both sides, so item difficulty cancels and a real difference shows with
fewer items than two separate intervals would need.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_BOOT = 2000
LEVEL = 0.95
BOOT_SEED = 20240604  # fixed: tables are reproducible


def outcome_matrix(frame: pd.DataFrame, items: pd.Index | None = None) -> np.ndarray:
    """(seeds, items) 0/1 exact match from rows with `seed`, `id`, `exact_match`; items in
    the order of `items` (default: every id present, sorted). Every seed must have scored
    every item: a missing one is an error, not a silent gap."""
    table = frame.pivot_table(index="seed", columns="id", values="exact_match", aggfunc="mean")
    if items is not None:
        table = table.reindex(columns=items)
    if table.isna().to_numpy().any():
        raise ValueError("exact match is missing for some (seed, item): seeds were scored on different items")
    return table.to_numpy(dtype=np.float64)


def _replicates(matrices: list[np.ndarray], rng: np.random.Generator, n_boot: int) -> list[np.ndarray]:
    """Bootstrap replicates (n_boot,) of the mean of each matrix, sharing one item draw."""
    n_items = matrices[0].shape[1]
    items = rng.integers(0, n_items, size=(n_boot, n_items))  # (B, n): shared by every matrix
    out = []
    for matrix in matrices:
        per_seed = matrix[:, items].mean(axis=2)  # (S, B): each seed's mean over the drawn items
        seeds = rng.integers(0, matrix.shape[0], size=(n_boot, matrix.shape[0]))  # (B, S) drawn seeds
        out.append(per_seed[seeds, np.arange(n_boot)[:, None]].mean(axis=1))  # (B,)
    return out


def _interval(replicates: np.ndarray) -> tuple[float, float]:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def em_interval(matrix: np.ndarray, n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of exact match from a (seeds, items) outcome matrix."""
    if matrix.size == 0:
        return np.nan, np.nan, np.nan
    (replicates,) = _replicates([matrix], np.random.default_rng(BOOT_SEED), n_boot)
    return (float(matrix.mean()), *_interval(replicates))


def paired_difference(a: np.ndarray, b: np.ndarray, n_boot: int = N_BOOT) -> tuple[float, float, float]:
    """(mean of a - mean of b, ci_low, ci_high), both (seeds, items) on the same items in the
    same order; seeds are drawn independently on each side (they are different models)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired difference needs the same items on both sides, got {a.shape[1]} and {b.shape[1]}")
    if a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan
    rep_a, rep_b = _replicates([a, b], np.random.default_rng(BOOT_SEED), n_boot)
    return (float(a.mean() - b.mean()), *_interval(rep_a - rep_b))
