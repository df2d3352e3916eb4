"""Choosing a cell's learning rate on the validation split, never the test split.

Every rate of a cell's grid is trained with the tuning seeds; a run's score is its last
validation exact match (metrics.parquet: the training loop scores the first
`eval_samples` programs of the `valid` split at the end of training). The selected rate is
the one with the best mean score over the tuning seeds; ties go to the smaller rate. A
selected rate at either end of the grid is flagged: the optimum may lie outside the grid
(it is bracketed only by a better score on both sides), and the tables say so.

Only `metrics.parquet` of each run is read: the test splits are scored by the evaluation
stage, which runs after this choice and only for the selected rate.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

import pyarrow.parquet as pq

from thex.datasets import DatasetError
from thex.experiments import parse_run_path


def final_valid_exact_match(run_dir: str | os.PathLike) -> float:
    """The last validation exact match a training run logged."""
    path = Path(run_dir) / "metrics.parquet"
    values = [v for v in pq.read_table(path, columns=["valid_exact_match"]).column(0).to_pylist() if v is not None]
    if not values:
        raise DatasetError(f"{path}: no validation exact match; tuning a learning rate needs a `valid` split")
    return float(values[-1])


def select_lr(run_dirs: Iterable[str | os.PathLike]) -> dict[str, Any]:
    """The learning rate chosen for one cell from its tuning runs (all of one cell).

    Returns {cell, grid, n_seeds, valid_exact_match (mean per rate), selected_lr, at_grid_edge}.
    With a grid of one rate nothing is chosen and validation is not needed (None where
    a run has no validation score); `at_grid_edge` is then None."""
    by_lr: dict[float, list[str]] = defaultdict(list)
    cells = set()
    for run_dir in map(str, run_dirs):
        identity = parse_run_path(run_dir)
        cells.add(tuple(identity[k] for k in ("experiment", "condition", "arch", "d_model", "pos_emb")))
        by_lr[identity["lr"]].append(run_dir)
    if not by_lr:
        raise DatasetError("select-lr: no tuning runs given")
    if len(cells) > 1:
        raise DatasetError(f"select-lr: runs of {len(cells)} cells given; a rate is chosen per cell")
    grid = sorted(by_lr)
    seeds = {lr: len(runs) for lr, runs in by_lr.items()}
    if len(set(seeds.values())) > 1:
        raise DatasetError(f"select-lr: rates were trained with different numbers of seeds {seeds}")
    scores: dict[float, float | None] = {}
    for lr, runs in by_lr.items():
        try:
            values = [final_valid_exact_match(run) for run in runs]
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
    experiment, condition, arch, d_model, pos_emb = cells.pop()
    return {
        "cell": {"experiment": experiment, "condition": condition, "arch": arch, "d_model": d_model, "pos_emb": pos_emb},
        "grid": grid,
        "n_seeds": seeds[grid[0]],
        "valid_exact_match": {repr(lr): scores[lr] for lr in grid},
        "selected_lr": selected,
        "at_grid_edge": at_edge,
    }
