"""Confidence intervals and tests for exact match that hold with three or four seeds.

A run's exact match is the mean of a 0/1 outcome over the items of a test split. It varies
for two reasons: which items the test split happened to draw, and which seed trained the
model. With S seeds scored on the same N items, an (S, N) outcome matrix, the mean's
variance has two estimable parts:

    seeds:  var(seed means) / S        (how much another set of seeds would move it)
    items:  var(item means) / N        (how much another draw of test items would move it)

The interval is mean +- t * sqrt(seeds + items) with Student t's S - 1 degrees of freedom
(N - 1 with one seed): the seed spread is what is least known. A percentile bootstrap over
seeds cannot do this: with 2-3 seeds it can draw only 3-10 distinct seed means, and its
nominal 95% interval covered the true mean 61-79% of the time with 2 seeds and 78-88% with
3 in simulation; Welch-Satterthwaite degrees of freedom, estimated from the same few seeds,
covered 90-93%; S - 1 covers 95-100% (tests/test_stats.py checks >= 90% with 3-4 seeds and seed SDs of
0.05-0.15). With two seeds t has one degree of freedom (12.7 standard errors): two seeds
are too few for a verdict, and the intervals say so. With one seed the seed part cannot be
estimated and the interval is over items alone; tables show `n_seeds` beside it.

A difference between two architectures (or one and the majority-answer baseline) is paired
over items, which are the same on both sides, so item difficulty cancels: the item part is
var(a_i - b_i) / N over the per-item means. Seeds are **not** paired: seed s of GPT-2 and
seed s of Hyena share the order of training batches but not their initial weights (the two
models have different parameters), so there is no shared draw to cancel; each side's seed
part enters on its own. The test of "no difference" is the t statistic of the same
variance, and `holm` adjusts a table's p-values for the number of claims it tests.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

LEVEL = 0.95


class Difference(NamedTuple):
    difference: float  # mean of a - mean of b
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, for "no difference"


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


def _seed_part(matrix: np.ndarray) -> tuple[float, int]:
    """(variance of the mean over seeds, its degrees of freedom); (0, 0) with one seed."""
    n_seeds = matrix.shape[0]
    if n_seeds < 2:
        return 0.0, 0
    return float(matrix.mean(axis=1).var(ddof=1)) / n_seeds, n_seeds - 1


def _item_part(item_values: np.ndarray) -> tuple[float, int]:
    """(variance of the mean over items, its degrees of freedom) of per-item values."""
    n_items = item_values.shape[0]
    if n_items < 2:
        return 0.0, 0
    return float(item_values.var(ddof=1)) / n_items, n_items - 1


def _t_interval(estimate: float, parts: list[tuple[float, int]], bounds: tuple[float, float], null: float = 0.0) -> Difference:
    """The interval of `estimate` whose variance is the sum of independent `parts`
    (variance, degrees of freedom), and the two-sided p-value of "the true value is
    `null`". Degrees of freedom: the fewest of any part that varies, i.e. S - 1 with S
    seeds (N - 1 with one seed, or seeds that agree on every item): Welch-Satterthwaite's estimate, computed from a seed variance seen in 2-3 seeds, is itself
    too noisy and covered only 90-93% (tests/test_stats.py)."""
    variance = sum(v for v, _ in parts)
    if variance <= 0:  # every seed and item agrees: the estimate is exact on these items
        return Difference(estimate, estimate, estimate, 1.0 if estimate == null else 0.0)
    df = min(d for v, d in parts if v > 0 and d > 0)
    se = variance**0.5
    half = float(scipy_stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    p_value = float(2 * scipy_stats.t.sf(abs(estimate - null) / se, df))
    return Difference(estimate, max(bounds[0], estimate - half), min(bounds[1], estimate + half), p_value)


def em_interval(matrix: np.ndarray) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of exact match from a (seeds, items) outcome matrix."""
    if matrix.size == 0:
        return np.nan, np.nan, np.nan
    mean = float(matrix.mean())
    result = _t_interval(mean, [_seed_part(matrix), _item_part(matrix.mean(axis=0))], (0.0, 1.0))
    return mean, result.ci_low, result.ci_high


def paired_difference(a: np.ndarray, b: np.ndarray, null: float = 0.0) -> Difference:
    """Mean of a minus mean of b with its 95% CI and the p-value of "the difference is
    `null`" (0: no difference; the paper's reported gap, for instance); both (seeds, items)
    on the same items in the same order, seeds independent on each side."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired difference needs the same items on both sides, got {a.shape[1]} and {b.shape[1]}")
    if a.size == 0 or b.size == 0:
        return Difference(np.nan, np.nan, np.nan, np.nan)
    difference = float(a.mean() - b.mean())
    parts = [_seed_part(a), _seed_part(b), _item_part(a.mean(axis=0) - b.mean(axis=0))]
    return _t_interval(difference, parts, (-1.0, 1.0), null)


def em_level_p_value(matrix: np.ndarray, level: float) -> float:
    """Two-sided p-value of "the true exact match is `level`" (an author-reported number,
    say), with em_interval's variance and degrees of freedom."""
    if matrix.size == 0:
        return np.nan
    return _t_interval(float(matrix.mean()), [_seed_part(matrix), _item_part(matrix.mean(axis=0))], (0.0, 1.0), level).p_value


def seed_interval(values: np.ndarray, bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high) of one value per seed, a t interval over seeds (S - 1 degrees
    of freedom); NaN bounds with one seed, which says nothing of the spread."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, np.nan, np.nan
    result = _t_interval(mean, [_seed_part(values[:, None])], bounds)
    return mean, result.ci_low, result.ci_high


def within_model_difference(a: np.ndarray, b: np.ndarray) -> Difference:
    """Mean of a minus mean of b where row s of both comes from the same model (seed s),
    e.g. a model intact and with a block ablated: the difference per (seed, item), with the
    t interval of its mean over seeds and items (as em_interval's)."""
    if a.shape != b.shape:
        raise ValueError(f"a within-model difference needs the same seeds and items on both sides, got {a.shape} and {b.shape}")
    if a.size == 0:
        return Difference(np.nan, np.nan, np.nan, np.nan)
    d = a - b
    return _t_interval(float(d.mean()), [_seed_part(d), _item_part(d.mean(axis=0))], (-1.0, 1.0))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, and is not
    counted in the family)."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def holm_power(effects, seed_sds, item_ses, n_seeds: int, alpha: float = 0.05, n_sim: int = 4000,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, float]:  # fmt: skip
    """The chance that each claim of a Holm family is decided (p_holm < alpha), and that
    all are, when the true differences are `effects` and each claim's two sides vary over
    seeds with SDs `seed_sds` [(sd_a, sd_b), ...] (item part: `item_ses`, the standard error
    of the paired item mean), with `n_seeds` seeds a side, tested as `paired_difference`
    does (S - 1 degrees of freedom). Simulated, as the study is run: seed means drawn,
    their variance estimated, t tested, the family adjusted. Returns (power per claim,
    power of the whole family)."""
    rng = rng or np.random.default_rng(0)
    effects, item_ses = np.asarray(effects, float), np.asarray(item_ses, float)
    sds = np.asarray(seed_sds, float).reshape(len(effects), 2)
    shape = (n_sim, len(effects), n_seeds)
    a = rng.normal(0.0, 1.0, shape) * sds[None, :, :1]
    b = rng.normal(0.0, 1.0, shape) * sds[None, :, 1:]
    estimate = effects + a.mean(axis=2) - b.mean(axis=2) + rng.normal(0.0, 1.0, shape[:2]) * item_ses
    variance = (a.var(axis=2, ddof=1) + b.var(axis=2, ddof=1)) / n_seeds + item_ses**2
    p_values = 2 * scipy_stats.t.sf(np.abs(estimate) / np.sqrt(variance), n_seeds - 1)
    decided = np.array([holm(row) < alpha for row in p_values])
    return decided.mean(axis=0), float(decided.all(axis=1).mean())
