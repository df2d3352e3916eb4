"""Choosing a learning rate on validation (thex.tuning): the rule, and that the test split
plays no part in it."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thex.datasets import DatasetError
from thex.tuning import select_lr


def _run(root, lr: float, seed: int, valid: list[float | None], test_em: float, cell: str = "globals/with/gpt2/d32-pos_auto"):
    """A finished run directory: metrics.parquet with a validation curve, and test scores
    (eval.parquet / eval.json) that say the opposite of validation."""
    run = root / cell / f"lr{lr!r}" / f"seed{seed}"
    run.mkdir(parents=True)
    experiment, condition, arch, scale = cell.split("/")
    d_model, pos_emb = scale.removeprefix("d").split("-pos_")
    identity = {"experiment": experiment, "condition": condition, "arch": arch, "d_model": int(d_model), "pos_emb": pos_emb, "lr": lr, "seed": seed}
    (run / "train_summary.json").write_text(json.dumps({"run": identity}))
    pq.write_table(pa.table({"step": list(range(1, len(valid) + 1)), "valid_exact_match": pa.array(valid, pa.float64())}),
                   run / "metrics.parquet")  # fmt: skip
    pq.write_table(pa.table({"split": ["test"] * 10, "exact_match": [i < 10 * test_em for i in range(10)]}), run / "eval.parquet")
    (run / "eval.json").write_text(json.dumps({"splits": {"test": {"exact_match": test_em}}}))
    return run


def test_the_best_mean_validation_score_wins_whatever_the_test_split_says(tmp_path):
    runs = [
        _run(tmp_path, 0.001, 0, [None, 0.30], test_em=0.9),
        _run(tmp_path, 0.001, 1, [None, 0.40], test_em=0.9),
        _run(tmp_path, 0.0032, 0, [0.9, 0.50], test_em=0.1),  # the last validation counts, not the best
        _run(tmp_path, 0.0032, 1, [None, 0.60], test_em=0.1),
        _run(tmp_path, 0.01, 0, [None, 0.45], test_em=0.9),
        _run(tmp_path, 0.01, 1, [None, 0.45], test_em=0.9),
    ]
    choice = select_lr(runs)
    assert choice["selected_lr"] == 0.0032 and choice["at_grid_edge"] is False
    assert choice["valid_exact_match"] == {"0.001": pytest.approx(0.35), "0.0032": pytest.approx(0.55), "0.01": pytest.approx(0.45)}
    assert choice["cell"] == {"experiment": "globals", "condition": "with", "arch": "gpt2", "d_model": 32, "pos_emb": "auto"}
    assert choice["n_seeds"] == 2 and choice["grid"] == [0.001, 0.0032, 0.01]


def test_selection_never_opens_the_test_scores(tmp_path):
    runs = [_run(tmp_path, lr, 0, [v], test_em=0.5) for lr, v in ((0.001, 0.2), (0.01, 0.3), (0.1, 0.25))]
    for run in runs:  # test scores that cannot be read: selecting must not need them
        (run / "eval.parquet").write_bytes(b"not parquet")
        (run / "eval.json").write_text("{")
    assert select_lr(runs)["selected_lr"] == 0.01
    for run in runs:
        (run / "eval.parquet").unlink()
        (run / "eval.json").unlink()
    assert select_lr(runs)["selected_lr"] == 0.01


def test_an_optimum_at_the_end_of_the_grid_is_flagged_and_ties_go_to_the_smaller_rate(tmp_path):
    edge = [_run(tmp_path, lr, 0, [v], 0.5) for lr, v in ((0.001, 0.2), (0.01, 0.3), (0.1, 0.4))]
    choice = select_lr(edge)
    assert choice["selected_lr"] == 0.1 and choice["at_grid_edge"] is True
    tied = [_run(tmp_path / "t", lr, 0, [0.5], 0.5) for lr in (0.001, 0.01, 0.1)]
    assert select_lr(tied)["selected_lr"] == 0.001


def test_one_rate_needs_no_validation_but_a_grid_does(tmp_path):
    single = _run(tmp_path, 0.003, 0, [None], 0.5)
    choice = select_lr([single])
    assert choice["selected_lr"] == 0.003 and choice["at_grid_edge"] is None and choice["valid_exact_match"] == {"0.003": None}
    grid = [single, _run(tmp_path, 0.01, 0, [None], 0.5)]
    with pytest.raises(DatasetError, match="needs a `valid` split"):
        select_lr(grid)


def test_runs_of_two_cells_or_uneven_seeds_are_refused(tmp_path):
    a = _run(tmp_path, 0.001, 0, [0.1], 0.5)
    b = _run(tmp_path, 0.01, 0, [0.1], 0.5, cell="globals/with/hyena/d32-pos_auto")
    with pytest.raises(DatasetError, match="2 cells"):
        select_lr([a, b])
    c = _run(tmp_path, 0.01, 0, [0.1], 0.5)
    d = _run(tmp_path, 0.01, 1, [0.1], 0.5)
    with pytest.raises(DatasetError, match="different numbers of seeds"):
        select_lr([a, c, d])


def test_a_runs_identity_is_read_from_its_summary_not_its_path(tmp_path):
    runs = [_run(tmp_path, lr, 0, [v], 0.5) for lr, v in ((0.001, 0.2), (0.01, 0.3))]
    moved = [run.rename(tmp_path / f"anywhere-{i}") for i, run in enumerate(runs)]  # folders that say nothing
    assert select_lr(moved)["selected_lr"] == 0.01
    (moved[0] / "train_summary.json").write_text(json.dumps({"arch": "gpt2"}))  # trained without an identity
    with pytest.raises(DatasetError, match=r"anywhere-0/train_summary.json: no run identity .* train it again"):
        select_lr(moved)


def test_select_lr_command_writes_the_choice(tmp_path):
    runs = [_run(tmp_path, lr, 0, [v], 0.5) for lr, v in ((0.001, 0.2), (0.01, 0.3))]
    out = tmp_path / "selected_lr.json"
    done = subprocess.run([sys.executable, "-m", "thex", "select-lr", "--runs", *map(str, runs), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["selected_lr"] == 0.01 and "selected lr 0.01" in done.stdout


def _prior_summary(root, rows):
    """A committed summary's curves.parquet: (arch, lr, seed, final valid em, tokens)."""
    root.mkdir(parents=True, exist_ok=True)
    frame = {"experiment": [], "condition": [], "arch": [], "d_model": [], "pos_emb": [], "lr": [], "seed": [], "tokens": [],
             "valid_exact_match": []}  # fmt: skip
    for arch, lr, seed, score, tokens in rows:
        for step_tokens, value in ((tokens // 2, 0.9), (tokens, score)):  # the last validation counts
            for key, v in zip(frame, ("globals", "with", arch, 32, "auto", lr, seed, step_tokens, value)):
                frame[key].append(v)
    pq.write_table(pa.table(frame), root / "curves.parquet")
    return root


def test_an_earlier_studys_tuning_runs_count_as_tuning_seeds(tmp_path):
    from thex.tuning import prior_scores

    summary = _prior_summary(tmp_path / "earlier", [("gpt2", 0.001, 100, 0.70, 8000), ("gpt2", 0.0032, 100, 0.50, 8000),
                                                    ("gpt2", 0.01, 100, 0.10, 8000), ("hyena", 0.001, 100, 0.99, 8000)])  # fmt: skip
    cell = {"experiment": "globals", "condition": "with", "arch": "gpt2", "d_model": 32, "pos_emb": "auto"}
    prior = prior_scores(str(summary), cell, [0.001, 0.0032, 0.1], [100, 101], 8000)
    assert prior == {(0.001, 100): 0.70, (0.0032, 100): 0.50}  # another cell's, rate's or seed's do not count
    # Seed 101 trains every rate; 0.1 was not in the earlier grid, so seed 100 trains it too.
    runs = [_run(tmp_path / "new", 0.001, 101, [0.40], 0.5), _run(tmp_path / "new", 0.0032, 101, [0.66], 0.5),
            _run(tmp_path / "new", 0.1, 100, [0.2], 0.5), _run(tmp_path / "new", 0.1, 101, [0.2], 0.5)]  # fmt: skip
    choice = select_lr(runs, prior)
    # Means 0.55, 0.58, 0.2: the new seed alone would pick 0.0032 too; the old alone 0.001.
    assert choice["valid_exact_match"] == {"0.001": pytest.approx(0.55), "0.0032": pytest.approx(0.58), "0.1": pytest.approx(0.2)}
    assert choice["selected_lr"] == 0.0032 and choice["n_seeds"] == 2 and choice["n_prior_runs"] == 2
    with pytest.raises(DatasetError, match="different numbers of seeds"):
        select_lr(runs[:2], prior | {(0.1, 100): 0.3})
    with pytest.raises(DatasetError, match="trained 8,000 tokens, this config 16,000: not the same protocol"):
        prior_scores(str(summary), cell, [0.001], [100], 16000)
    with pytest.raises(DatasetError, match="curves.parquet: missing"):
        prior_scores(str(tmp_path / "nowhere"), cell, [0.001], [100], 8000)
