"""Choosing a cell's learning rate on the validation split, never the test split.

Every rate of a cell's grid is trained with the tuning seeds; a run's score is its last
validation exact match (metrics.parquet: the training loop scores the first
`eval_samples` programs of the `valid` split at the end of training). The selected rate is
the one with the best mean score over the tuning seeds; ties go to the smaller rate. A
selected rate at either end of the grid is flagged: the optimum may lie outside the grid
(it is bracketed only by a better score on both sides), and the tables say so.

Only `metrics.parquet` of each run is read: the test splits are scored by the evaluation
stage, which runs after this choice and only for the selected rate.

A config may count tuning runs of an earlier study (`sweep.prior_tuning`: a committed
summary) instead of training them again: `prior_scores` reads their final validation exact
match from that summary's curves, for the same cell, rate and seed, and refuses a run that
trained another token budget. The choice is then the best mean over old and new seeds.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd
import pyarrow.parquet as pq

from thex.datasets import DatasetError
from thex.experiments import Cell, run_identity

CELL_KEYS = Cell._fields  # experiment, condition, arch, d_model, pos_emb


def final_valid_exact_match(run_dir: str | os.PathLike) -> float:
    """The last validation exact match a training run logged."""
    path = Path(run_dir) / "metrics.parquet"
    values = [v for v in pq.read_table(path, columns=["valid_exact_match"]).column(0).to_pylist() if v is not None]
    if not values:
        raise DatasetError(f"{path}: no validation exact match; tuning a learning rate needs a `valid` split")
    return float(values[-1])


@functools.cache
def _final_valid_scores(summary_dir: str) -> pd.DataFrame:
    """One row per run of a summary's curves: its cell, rate, seed, last validation exact
    match and the tokens it trained."""
    path = Path(summary_dir) / "curves.parquet"
    if not path.exists():
        raise DatasetError(f"{path}: missing; sweep.prior_tuning names a summary directory with the earlier study's curves.parquet")
    curves = pd.read_parquet(path, columns=[*CELL_KEYS, "lr", "seed", "tokens", "valid_exact_match"])
    scored = curves.dropna(subset=["valid_exact_match"]).sort_values("tokens")
    return scored.groupby([*CELL_KEYS, "lr", "seed"], as_index=False).agg(
        valid_exact_match=("valid_exact_match", "last"), tokens=("tokens", "max"))


def prior_scores(summary_dir: str, cell: Mapping[str, Any], grid: Iterable[float], seeds: Iterable[int],
                 budget_tokens: int | None) -> dict[tuple[float, int], float]:  # fmt: skip
    """{(lr, seed): final validation exact match} of the earlier study's tuning runs of
    `cell` at the rates and seeds given (those it has). A run whose trained tokens differ
    from `budget_tokens` by more than 1% is an error: it followed another protocol."""
    runs = _final_valid_scores(str(summary_dir))
    mask = pd.Series(True, index=runs.index)
    for key in CELL_KEYS:
        mask &= runs[key] == cell[key]
    found = runs[mask & runs["lr"].isin(list(grid)) & runs["seed"].isin(list(seeds))]
    scores = {}
    for row in found.itertuples():
        if budget_tokens is not None and abs(row.tokens - budget_tokens) > 0.01 * budget_tokens:
            raise DatasetError(f"{summary_dir}: the prior tuning run {'/'.join(str(cell[k]) for k in CELL_KEYS)} lr {row.lr!r} seed "
                               f"{row.seed} trained {row.tokens:,} tokens, this config {budget_tokens:,}: not the same protocol")  # fmt: skip
        scores[(float(row.lr), int(row.seed))] = float(row.valid_exact_match)
    return scores


def select_lr(run_dirs: Iterable[str | os.PathLike], prior: Mapping[tuple[float, int], float] | None = None) -> dict[str, Any]:
    """The learning rate chosen for one cell from its tuning runs (all of one cell), and
    `prior` scores {(lr, seed): validation exact match} of the same cell's earlier runs.

    Returns {cell, grid, n_seeds, n_prior_runs, valid_exact_match (mean per rate),
    selected_lr, at_grid_edge}. With a grid of one rate nothing is chosen and validation is
    not needed (None where a run has no validation score); `at_grid_edge` is then None."""
    by_lr: dict[float, list[str]] = defaultdict(list)
    prior = dict(prior or {})
    cells = set()
    for run_dir in map(str, run_dirs):
        identity = run_identity(run_dir)
        cells.add(tuple(identity[k] for k in CELL_KEYS))
        if (identity["lr"], identity["seed"]) in prior:
            raise DatasetError(f"select-lr: {run_dir} is also given as a prior score; a run counts once")
        by_lr[identity["lr"]].append(run_dir)
    if not by_lr:
        raise DatasetError("select-lr: no tuning runs given")
    if len(cells) > 1:
        raise DatasetError(f"select-lr: runs of {len(cells)} cells given; a rate is chosen per cell")
    grid = sorted(set(by_lr) | {lr for lr, _ in prior})
    prior_by_lr: dict[float, list[float]] = defaultdict(list)
    for (lr, _), score in sorted(prior.items()):
        prior_by_lr[lr].append(score)
    seeds = {lr: len(by_lr[lr]) + len(prior_by_lr[lr]) for lr in grid}
    if len(set(seeds.values())) > 1:
        raise DatasetError(f"select-lr: rates were trained with different numbers of seeds {seeds}")
    scores: dict[float, float | None] = {}
    for lr in grid:
        try:
            values = [final_valid_exact_match(run) for run in by_lr[lr]] + prior_by_lr[lr]
            scores[lr] = sum(values) / len(values)
        except DatasetError:
            if len(grid) > 1:
                raise
            scores[lr] = None
    if len(grid) == 1:
        selected, at_edge = grid[0], None
    else:
        best = max(scores.values())
        selected = min(lr for lr in grid if scores[lr] == best)  # ties: the smaller rate
        at_edge = selected in (grid[0], grid[-1])  # with two rates, always: never bracketed
    return {
        "cell": dict(zip(CELL_KEYS, cells.pop())),
        "grid": grid,
        "n_seeds": seeds[grid[0]],
        "n_prior_runs": len(prior),
        "valid_exact_match": {repr(lr): scores[lr] for lr in grid},
        "selected_lr": selected,
        "at_grid_edge": at_edge,
    }
