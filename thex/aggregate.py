"""Collecting every run's results into one summary, and the comparison tables built from it.

The summary directory (`results/summary/` by default; a committed snapshot lives under
`snapshots/reference/summary/`) is all that tables and figures need:

    evaluations.parquet   one row per (reported run, evaluated sample): identity + slice
                          columns + scores, and `majority_correct` (whether the majority
                          answer is right there)
    runs.parquet          one row per (reported run, evaluation split): identity, cost, exact match
    curves.parquet        one row per (run, training step): the training metrics, of reported
                          and tuning runs (`reported`)
    selection.parquet     one row per (cell, learning rate of its grid): the validation exact
                          match that chose the rate (thex.tuning), `selected`, `at_grid_edge`
    baselines.parquet     one row per (experiment, condition, split): the majority answer
                          (the training split's commonest answer) and its exact match
    datasets.json         the dataset config of every (experiment, condition)

A run's identity is its cell (experiment, condition, arch, d_model, pos_emb), its learning
rate and its seed. Every exact match in a table comes with a 95% confidence interval over
test items and seeds (thex.stats), beside its majority-answer baseline; architectures are
compared by paired differences on the same test items, with Holm-adjusted p-values.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import thex
from thex.datasets import DatasetError, read_metadata
from thex.experiments import RUN_KEYS, Cell, Headline, run_identity
from thex.io import atomic_path, write_json, write_text
from thex.models.architecture import FAMILIES, family, order_key
from thex.stats import LEVEL, em_interval, em_level_p_value, holm, outcome_matrix, paired_difference, seed_interval, within_model_difference

CELL = list(Cell._fields)  # experiment, condition, arch, d_model, pos_emb
IDENTITY = list(RUN_KEYS)
REQUIRED_SUMMARY_FILES = ("evaluations.parquet", "runs.parquet", "curves.parquet", "selection.parquet", "baselines.parquet", "datasets.json")
# The probe stage's per-item results (thex/probes.py): empty when the stage was off, and
# absent from summaries collected before it existed (whose probe tables are then empty).
# The provenance a run records (thex.devices.provenance and the train stage's code hash),
# as runs.parquet columns prov_<key>: what `python -m thex check` compares
PROVENANCE_KEYS = ("torch_version", "torch_git", "cuda_version", "cpu_capability", "device", "gpu_name", "threads", "machine", "code_hash")
PROBE_FILES = ("ablations.parquet", "probes.parquet", "attention.parquet")
SUMMARY_FILES = REQUIRED_SUMMARY_FILES + PROBE_FILES
# The slice columns, each with its table (operators exploded into one row per operator) and
# its figure (thex.plots.fig_by_slice), and what the column counts or names.
SLICES = {
    "n_statements": "statements in the program (distractors included)",
    "hops": "variable references chained from the query",
    "operators": "the one operator the answer needs",
    "language": "test language",
    "n_globals": "globals in the world (G)",
    "depth": "operation depth (ListOps: nesting depth)",
}
TABLE_NAMES = ["experiments", "headline", "orderings", "comparisons", "learning_curves", "tuning", "takeoff",
               "ablations", "probes", "attention_roles"] + [f"slice_{column}" for column in SLICES]
# The pseudo-architecture that always prints the training split's commonest answer.
MAJORITY = "majority"


# ---------------------------------------------------------------------------------------
# Collect


def majority_answer(train_path: str | os.PathLike) -> str:
    """The commonest answer of a training split (ties: the smallest answer string)."""
    counts = Counter(pq.read_table(train_path, columns=["answer"]).column("answer").to_pylist())
    if not counts:
        raise DatasetError(f"{train_path}: the train split is empty; it has no majority answer")
    return min(counts, key=lambda answer: (-counts[answer], answer))


def majority_outcomes(data_dir: str | os.PathLike) -> tuple[str, pd.DataFrame]:
    """(majority answer, rows split/id/majority_correct for every split but train)."""
    data_dir = Path(data_dir)
    answer = majority_answer(data_dir / "train.parquet")
    frames = []
    for path in sorted(data_dir.glob("*.parquet")):
        if path.stem == "train":
            continue
        table = pq.read_table(path, columns=["id", "answer"]).to_pandas()
        frames.append(pd.DataFrame({"split": path.stem, "id": table["id"], "majority_correct": table["answer"] == answer}))
    return answer, pd.concat(frames, ignore_index=True)


def collect(
    run_dirs: Iterable[str | os.PathLike],
    data_dirs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    tuning_dirs: Iterable[str | os.PathLike] = (),
    selections: Iterable[str | os.PathLike] = (),
    probes: bool = False,
) -> None:
    """Gather reported run directories (each with eval.parquet, eval.json, metrics.parquet),
    the learning curves of the other tuning runs and each cell's learning-rate choice
    (selected_lr.json) into a summary directory; `data_dirs` maps "experiment/condition"
    of every run to its dataset directory (the one it trained and was evaluated on). With
    `probes`, each reported run's probes/ folder (python -m thex probe) too."""
    evaluations, runs, curves = [], [], []
    probe_frames: dict[str, list[pd.DataFrame]] = {name: [] for name in PROBE_FILES}
    for run_dir in map(Path, tuning_dirs):
        curves.append(_with_identity(_metrics(run_dir), run_identity(run_dir)).assign(reported=False))
    for run_dir in map(Path, run_dirs):
        identity = run_identity(run_dir)
        summary = json.loads((run_dir / "eval.json").read_text())
        evaluation = pq.read_table(run_dir / "eval.parquet").to_pandas()
        evaluations.append(_with_identity(evaluation, identity))
        curves.append(_with_identity(_metrics(run_dir), identity).assign(reported=True))
        for name in PROBE_FILES if probes else ():
            probe_frames[name].append(_with_identity(pq.read_table(run_dir / "probes" / name).to_pandas(), identity))
        for split, stats in summary["splits"].items():
            runs.append(
                {
                    **identity,
                    "split": split,
                    "exact_match": stats["exact_match"],
                    "token_accuracy": stats["token_accuracy"],
                    "answer_loss": stats["answer_loss"],
                    "n_samples": stats["n"],
                    "parameters": summary["parameters"],
                    "non_embedding_parameters": summary["non_embedding_parameters"],
                    "train_tokens": summary["train_tokens"],
                    "train_wall_s": summary["train_wall_s"],
                    "tokens_per_s": summary["tokens_per_s"],
                    "flops_per_token": summary["flops_per_token"],
                    "train_flops": summary["flops_per_token"] * summary["train_tokens"],
                    "peak_memory_bytes": summary["peak_memory_bytes"],
                    "final_loss_answer": summary["final_loss_answer"],
                    "final_loss_all": summary["final_loss_all"],
                    "steps": summary["steps"],
                    "device": summary["device"],
                    # what decides bitwise agreement (thex.devices.provenance); absent in older runs
                    **{f"prov_{key}": summary.get("provenance", {}).get(key) for key in PROVENANCE_KEYS},
                }
            )
    if not runs:
        raise DatasetError("collect: no run directories given")
    runs_frame = pd.DataFrame(runs)
    needed = sorted({f"{e}/{c}" for e, c in zip(runs_frame.experiment, runs_frame.condition)})
    missing = [key for key in needed if key not in data_dirs]
    if missing:
        raise DatasetError(f"collect: no dataset directory given for {', '.join(missing)} (--data EXPERIMENT/CONDITION=DIR)")
    datasets, baselines, outcomes, by_dir = {}, [], [], {}
    for key, data_dir in sorted(data_dirs.items()):
        experiment, condition = key.split("/", 1)
        if data_dir not in by_dir:  # conditions that reuse a dataset share its directory
            config = read_metadata(Path(data_dir) / "train.parquet")["dataset_config"]
            by_dir[data_dir] = (config, *majority_outcomes(data_dir))
        datasets[key], answer, per_item = by_dir[data_dir]
        outcomes.append(per_item.assign(experiment=experiment, condition=condition))
        for split, part in per_item.groupby("split", sort=True):
            baselines.append({"experiment": experiment, "condition": condition, "split": split, "majority_answer": answer,
                              "majority_baseline": float(part["majority_correct"].mean()), "n_items": len(part)})  # fmt: skip
    evaluation_frame = pd.concat(evaluations, ignore_index=True).merge(
        pd.concat(outcomes, ignore_index=True), on=["experiment", "condition", "split", "id"], how="left", validate="many_to_one"
    )
    if evaluation_frame["majority_correct"].isna().any():
        raise DatasetError("collect: some evaluated samples are not in their dataset directory (was the data regenerated?)")
    evaluation_frame["majority_correct"] = evaluation_frame["majority_correct"].astype(bool)
    out_dir = Path(out_dir)
    _write_parquet(evaluation_frame, out_dir / "evaluations.parquet")
    _write_parquet(runs_frame, out_dir / "runs.parquet")
    _write_parquet(pd.concat(curves, ignore_index=True), out_dir / "curves.parquet")
    _write_parquet(selection_frame([json.loads(Path(p).read_text()) for p in selections], runs_frame), out_dir / "selection.parquet")
    _write_parquet(pd.DataFrame(baselines), out_dir / "baselines.parquet")
    for name, frames in probe_frames.items():
        _write_parquet(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY), out_dir / name)
    write_json(out_dir / "datasets.json", {"package_version": thex.__version__, "datasets": datasets})


def selection_frame(choices: list[Mapping[str, Any]], runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (cell, rate of its grid) from select-lr's choices; every reported cell
    must have one, and its runs must be at the selected rate."""
    rows = []
    for choice in choices:
        for lr in choice["grid"]:
            rows.append({**choice["cell"], "lr": float(lr), "n_tune_seeds": choice["n_seeds"],
                         "valid_exact_match": choice["valid_exact_match"][repr(float(lr))],
                         "selected": float(lr) == choice["selected_lr"], "at_grid_edge": choice["at_grid_edge"],
                         "grid_size": len(choice["grid"])})  # fmt: skip
    frame = pd.DataFrame(rows, columns=[*CELL, "lr", "n_tune_seeds", "valid_exact_match", "selected", "at_grid_edge", "grid_size"])
    chosen = frame[frame.selected].set_index(CELL)["lr"]
    reported = runs.drop_duplicates(CELL + ["lr"]).set_index(CELL)["lr"]
    missing = [cell for cell in reported.index if cell not in chosen.index]
    if missing:
        raise DatasetError(f"collect: no learning-rate choice (selected_lr.json) for {'/'.join(map(str, missing[0]))}")
    wrong = [cell for cell, lr in reported.items() if chosen[cell] != lr]
    if wrong:
        raise DatasetError(f"collect: runs of {'/'.join(map(str, wrong[0]))} are not at its selected learning rate {chosen[wrong[0]]!r}")
    return frame


def _metrics(run_dir: Path) -> pd.DataFrame:
    """A run's training metrics; the scheduled rate of each step as `step_lr` (`lr` is the
    run's configured rate, part of its identity)."""
    return pq.read_table(run_dir / "metrics.parquet").to_pandas().rename(columns={"lr": "step_lr"})


def _with_identity(frame: pd.DataFrame, identity: Mapping[str, Any]) -> pd.DataFrame:
    for i, column in enumerate(IDENTITY):
        frame.insert(i, column, identity[column])
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")


REMEDY = ("rebuild it from the runs with `snakemake --forcerun collect` (the same --configfile), or restore a committed "
          "snapshot with `git checkout -- {path}`")  # fmt: skip


def _damaged(path: Path, what: str) -> DatasetError:
    """The one-line error for a summary file that cannot be used, with the remedies that work."""
    return DatasetError(f"{path}: {what}; " + REMEDY.format(path=path))


def missing_summary_files(summary_dir: str | os.PathLike) -> list[str]:
    """The files a summary lacks. The probe files are all there or all absent (a summary
    collected before the probe stage, or with probes disabled, has none and reads as no
    probe results); one or two of three is a damaged summary, never an empty table."""
    summary_dir = Path(summary_dir)
    missing = [name for name in REQUIRED_SUMMARY_FILES if not (summary_dir / name).exists()]
    probes = [name for name in PROBE_FILES if not (summary_dir / name).exists()]
    return missing + (probes if len(probes) < len(PROBE_FILES) else [])


def check_summary(summary_dir: str | os.PathLike) -> None:
    """That every file of a summary is there and readable, from the Parquet footers and
    datasets.json alone (cheap: the workflow runs it before any job when regenerating). A
    file missing, truncated or from an older layout is a one-line error naming it and the
    remedy that works."""
    summary_dir = Path(summary_dir)
    if not summary_dir.is_dir():
        raise DatasetError(f"{summary_dir}: no such results summary directory")
    missing = missing_summary_files(summary_dir)
    if missing:
        raise _damaged(summary_dir / missing[0], f"missing from the summary ({len(missing)} of its files are: {', '.join(missing)})")
    needed = {"evaluations": [*IDENTITY, "majority_correct"], "runs": IDENTITY, "curves": IDENTITY}
    for name in SUMMARY_FILES:
        path = summary_dir / name
        if not name.endswith(".parquet") or not path.exists():
            continue
        try:
            columns = pq.read_schema(path).names
        except (OSError, ValueError) as err:  # pyarrow's errors for a truncated or foreign file
            raise _damaged(path, f"not a readable Parquet file ({str(err).splitlines()[0]})") from None
        absent = [c for c in needed.get(name.split(".")[0], []) if c not in columns]
        if absent:
            raise _damaged(path, f"no {', '.join(absent)} column (a summary from an older version of the workflow)")
    try:
        datasets = json.loads((summary_dir / "datasets.json").read_text())["datasets"]
        if not isinstance(datasets, Mapping):
            raise TypeError("'datasets' is not a mapping")
    except (ValueError, KeyError, TypeError) as err:
        raise _damaged(summary_dir / "datasets.json", f"not a summary's datasets file ({type(err).__name__}: {err})") from None


def load_summary(summary_dir: str | os.PathLike) -> dict[str, Any]:
    """The summary's tables (checked first: check_summary), each run row with `model`: its
    architecture, and its position embedding where that is not the default
    ("gpt2/pos-none"), which is what comparisons and figures tell apart within one width."""
    check_summary(summary_dir)
    summary_dir = Path(summary_dir)
    out: dict[str, Any] = {name.split(".")[0]: pd.DataFrame(columns=IDENTITY) for name in PROBE_FILES}
    for name in SUMMARY_FILES:
        if name in PROBE_FILES and not (summary_dir / name).exists():
            continue  # collected before the probe stage: no probe file at all
        if name.endswith(".parquet"):
            try:
                out[name.split(".")[0]] = pd.read_parquet(summary_dir / name)
            except (OSError, ValueError) as err:  # damaged past its footer
                raise _damaged(summary_dir / name, f"not a readable Parquet file ({str(err).splitlines()[0]})") from None
    for name in ("ablations", "probes", "attention"):
        out[name] = out[name].assign(model=model_labels(out[name])) if len(out[name]) else out[name].assign(model=pd.Series(dtype=str))
    for name in ("evaluations", "runs", "curves"):
        out[name] = out[name].assign(model=model_labels(out[name]))
    out["datasets"] = json.loads((summary_dir / "datasets.json").read_text())["datasets"]
    return out


def merge_summaries(summary_dirs: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> None:
    """One summary from the summaries of a study run in parts (e.g. one config per width):
    their runs side by side. The parts must not share a run, and what they share (a
    dataset's config and baselines) must agree, or the combined tables would mix studies."""
    parts = [load_summary(d) for d in summary_dirs]
    if len(parts) < 2:
        raise DatasetError("merge-summaries: give two summaries or more")
    merged: dict[str, pd.DataFrame] = {}
    for name in ("evaluations", "runs", "curves", "selection", "ablations", "probes", "attention"):
        frames = [p[name].drop(columns=["model"], errors="ignore") for p in parts if len(p[name])]
        merged[name] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=IDENTITY)
    twice = merged["selection"][merged["selection"].duplicated([*CELL, "lr"], keep=False)]
    if len(twice):
        raise DatasetError(f"merge-summaries: cell {'/'.join(map(str, twice.iloc[0][CELL]))} is in more than one summary")
    baselines = pd.concat([p["baselines"] for p in parts], ignore_index=True).drop_duplicates()
    clash = baselines[baselines.duplicated(["experiment", "condition", "split"], keep=False)]
    if len(clash):
        row = clash.iloc[0]
        raise DatasetError(f"merge-summaries: {row.experiment}/{row.condition} has different data in two summaries ({row.split} baselines differ)")
    datasets: dict[str, Any] = {}
    for part in parts:
        for key, config in part["datasets"].items():
            if datasets.setdefault(key, config) != config:
                raise DatasetError(f"merge-summaries: dataset {key} has different configs in two summaries")
    out_dir = Path(out_dir)
    for name, frame in {**merged, "baselines": baselines}.items():
        _write_parquet(frame, out_dir / f"{name}.parquet")
    write_json(out_dir / "datasets.json", {"package_version": thex.__version__, "datasets": datasets})


def model_labels(frame: pd.DataFrame) -> pd.Series:
    """The architecture, with `/pos-<pos_emb>` where the position embedding is not "auto"."""
    return frame["arch"].where(frame["pos_emb"] == "auto", frame["arch"] + "/pos-" + frame["pos_emb"].astype(str))


# ---------------------------------------------------------------------------------------
# Statistics per group: exact match with its CI and majority baseline


STAT_COLUMNS = ["n_seeds", "n_items", "em_mean", "em_ci_low", "em_ci_high", "majority_baseline", "above_baseline"]
# A table row: one cell on one evaluation split.
ROW = ["experiment", "condition", "split", "d_model", "pos_emb", "arch"]
# A validation curve that still rises by this much over its last 20% of tokens has not
# flattened: its exact match is reported as "not converged".
CONVERGED_RISE = 0.02
# A run has taken off when its final validation exact match is this far above the valid
# split's majority baseline (about 3 standard errors on 512 programs).
TAKEOFF_MARGIN = 0.05


def _explode_operators(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (sample, operator it uses), so each operator gets its own slice."""
    frame = frame.assign(operators=frame["operators"].str.split(",")).explode("operators")
    return frame[frame["operators"] != ""]


def _pooled_item_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each item's id made `split:id`: ids are per split, and a group may pool
    several splits (multilang's test_lola and test_meme)."""
    return frame.assign(id=frame["split"] + ":" + frame["id"].astype(str))


def em_stats(evaluations: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by` (which must tell runs of different cells apart): exact match over
    seeds and items with its 95% CI (thex.stats), and the majority baseline on the same
    items. `above_baseline`: the CI's lower end is above the baseline."""
    rows = []
    for key, group in evaluations.groupby(by, sort=True, dropna=True):
        items = group.drop_duplicates(["split", "id"])
        mean, low, high = em_interval(outcome_matrix(_pooled_item_ids(group)))
        baseline = float(items["majority_correct"].mean())
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "n_seeds": group["seed"].nunique(),
                     "n_items": len(items), "em_mean": mean, "em_ci_low": low, "em_ci_high": high,
                     "majority_baseline": baseline, "above_baseline": bool(low > baseline)})  # fmt: skip
    return pd.DataFrame(rows, columns=by + STAT_COLUMNS)


def run_progress(curves: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Per run (IDENTITY): its final validation exact match, how much that rose over the last
    20% of its tokens (from the last validation at or before 80%; NaN without one), and
    whether it took off (TAKEOFF_MARGIN above the valid split's majority baseline)."""
    valid = curves.dropna(subset=["valid_exact_match"]).sort_values("step")
    rows = []
    for key, run in valid.groupby(IDENTITY, sort=True):
        final = run.iloc[-1]
        earlier = run[run["tokens"] <= 0.8 * final["tokens"]]
        rise = float(final["valid_exact_match"] - earlier.iloc[-1]["valid_exact_match"]) if len(earlier) else math.nan
        rows.append({**dict(zip(IDENTITY, key)), "reported": bool(final["reported"]), "final_valid_em": float(final["valid_exact_match"]),
                     "valid_rise_last_20pct": rise})  # fmt: skip
    frame = pd.DataFrame(rows, columns=[*IDENTITY, "reported", "final_valid_em", "valid_rise_last_20pct"])
    valid_base = baselines[baselines.split == "valid"][["experiment", "condition", "majority_baseline"]]
    frame = frame.merge(valid_base.rename(columns={"majority_baseline": "valid_baseline"}), on=["experiment", "condition"], how="left")
    frame["took_off"] = frame["final_valid_em"] >= frame["valid_baseline"] + TAKEOFF_MARGIN
    return frame


def _convergence(progress: pd.DataFrame) -> pd.DataFrame:
    """Per cell, over its reported runs: the mean rise of the validation curve over the last
    20% of tokens and the verdict "converged" / "not converged" / "unknown"."""
    reported = progress[progress.reported]
    rise = reported.groupby(CELL, sort=True)["valid_rise_last_20pct"].mean().rename("valid_rise_last_20pct").reset_index()
    rise["converged"] = np.where(rise["valid_rise_last_20pct"].isna(), "unknown",
                                 np.where(rise["valid_rise_last_20pct"] < CONVERGED_RISE, "converged", "not converged"))  # fmt: skip
    return rise


def _selected_rates(selection: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the selected lr, whether it is at an edge of its grid, and the grid."""
    grids = selection.groupby(CELL, sort=True)["lr"].agg(lambda lrs: ",".join(f"{lr:g}" for lr in sorted(lrs))).rename("lr_grid")
    chosen = selection[selection.selected].set_index(CELL)[["lr", "at_grid_edge"]].rename(columns={"at_grid_edge": "lr_at_grid_edge"})
    return chosen.join(grids).reset_index()


def experiment_table(evaluations: pd.DataFrame, runs: pd.DataFrame, selection: pd.DataFrame | None = None,
                     progress: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Exact match with CI and majority baseline per (experiment, condition, split, cell),
    with the selected learning rate, convergence and cost."""
    cost = runs.groupby(ROW, sort=True).agg(
        parameters=("parameters", "first"),
        train_tokens=("train_tokens", "mean"),
        train_wall_s=("train_wall_s", "mean"),
        tokens_per_s=("tokens_per_s", "mean"),
        final_loss_answer=("final_loss_answer", "mean"),
        final_loss_all=("final_loss_all", "mean"),
    )
    table = em_stats(evaluations, ROW).merge(cost.reset_index(), on=ROW, how="left")
    if selection is not None:
        table = table.merge(_selected_rates(selection), on=CELL, how="left")
    if progress is not None:
        table = table.merge(_convergence(progress), on=CELL, how="left")
    return table


def slice_table(evaluations: pd.DataFrame, column: str) -> pd.DataFrame:
    """Exact match by the values of one slice column (CI and baseline on that slice's items)."""
    frame = evaluations.dropna(subset=[column])
    if column == "operators":
        frame = _explode_operators(frame)
    return em_stats(frame, ROW + [column])


def _verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds p_holm (Holm over the rows of each `family`) and the raw and adjusted verdicts
    on the row's claim: supported / contradicted at p < 0.05, undecided otherwise."""
    p_holm = pd.Series(np.nan, index=frame.index)
    for _, rows in frame.groupby("family", sort=False):
        p_holm[rows.index] = holm(rows["p_value"])
    frame = frame.assign(p_holm=p_holm)

    def verdict(p: pd.Series) -> np.ndarray:
        significant = p < 1 - LEVEL
        return np.where(significant & (frame["difference"] > 0), "supported",
                        np.where(significant & (frame["difference"] < 0), "contradicted", "undecided"))  # fmt: skip

    frame = frame.assign(verdict_raw=verdict(frame["p_value"]), verdict=verdict(frame["p_holm"]))
    columns = [c for c in frame.columns if c not in ("p_holm", "verdict_raw", "verdict")]
    at = columns.index("p_value") + 1
    return frame[columns[:at] + ["p_holm", "verdict_raw", "verdict"] + columns[at:]]


def comparisons_table(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Every pair of models (and each against the majority answer) per (experiment,
    condition, split, width): the exact-match difference a - b on the same test items with
    its raw 95% CI and p-value. Descriptive: no claim is singled out, so no family is
    adjusted (over its hundreds of rows, Holm could decide nothing); the orderings table
    holds the tested claims."""
    rows = []
    for (experiment, condition, split, d_model), group in evaluations.groupby(["experiment", "condition", "split", "d_model"], sort=True):
        items = pd.Index(sorted(group["id"].unique()))
        matrices = {model: outcome_matrix(part, items) for model, part in group.groupby("model", sort=True)}
        majority = group.drop_duplicates("id").set_index("id")["majority_correct"].reindex(items)
        matrices[MAJORITY] = majority.to_numpy(dtype=np.float64)[None, :]  # (1, items): a fixed predictor
        for a, b in combinations(_arch_order(matrices), 2):
            result = paired_difference(matrices[a], matrices[b])
            rows.append({"experiment": experiment, "condition": condition, "split": split, "d_model": d_model,
                         "model_a": a, "model_b": b, "n_seeds_a": len(matrices[a]), "n_seeds_b": len(matrices[b]),
                         "n_items": len(items), "em_a": float(matrices[a].mean()), "em_b": float(matrices[b].mean()),
                         **result._asdict(), "excludes_zero": bool(result.ci_low > 0 or result.ci_high < 0)})  # fmt: skip
    columns = ["experiment", "condition", "split", "d_model", "model_a", "model_b", "n_seeds_a", "n_seeds_b", "n_items",
               "em_a", "em_b", "difference", "ci_low", "ci_high", "p_value", "excludes_zero"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def learning_curve_table(curves: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Validation exact match and answer loss at every validation step of the reported runs
    (each cell's selected rate), mean over seeds, beside the valid split's majority baseline."""
    keys = [*CELL, "lr", "step"]
    frame = curves[curves["reported"]].dropna(subset=["valid_exact_match"])
    table = frame.groupby(keys, sort=True).agg(
        n_seeds=("seed", "nunique"),
        tokens=("tokens", "mean"),
        valid_exact_match=("valid_exact_match", "mean"),
        valid_answer_loss=("valid_answer_loss", "mean"),
    ).reset_index()
    valid = baselines[baselines.split == "valid"][["experiment", "condition", "majority_baseline"]]
    return table.merge(valid, on=["experiment", "condition"], how="left")


def tuning_table(selection: pd.DataFrame, progress: pd.DataFrame) -> pd.DataFrame:
    """Every cell's learning-rate grid: the validation exact match that chose the rate
    (mean over tuning seeds), the selected rate, whether it is at the grid's edge, and how
    many of the rate's runs took off."""
    takeoff = progress.groupby([*CELL, "lr"], sort=True).agg(runs=("seed", "nunique"), took_off=("took_off", "sum")).reset_index()
    table = selection.merge(takeoff, on=[*CELL, "lr"], how="left").astype({"runs": "Int64", "took_off": "Int64"})
    return table.sort_values([*CELL, "lr"], kind="stable").reset_index(drop=True)


def takeoff_table(progress: pd.DataFrame, evaluations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per cell, over its runs at the selected rate (reported seeds, and tuning seeds at that
    rate): how many left the majority baseline (thex.aggregate.TAKEOFF_MARGIN); and over its
    reported seeds, the take-off rate and the test exact match of those that took off (the
    mean of their per-seed exact match over every test item, a t interval over them)."""
    rows = []
    reported_lr = progress[progress.reported].drop_duplicates(CELL)[[*CELL, "lr"]]
    runs = progress.merge(reported_lr, on=[*CELL, "lr"])
    seed_em = evaluations.groupby([*CELL, "seed"], sort=True)["exact_match"].mean() if evaluations is not None else pd.Series(dtype=float)
    for key, part in runs.groupby([*CELL, "lr"], sort=True):
        reported = part[part.reported]
        flying = [seed_em[(*key[:-1], seed)] for seed in reported.loc[reported.took_off, "seed"] if (*key[:-1], seed) in seed_em]
        mean, low, high = seed_interval(np.array(flying)) if flying else (math.nan,) * 3
        rows.append({**dict(zip([*CELL, "lr"], key)), "runs": len(part), "took_off": int(part["took_off"].sum()),
                     "takeoff_rate": float(part["took_off"].mean()), "valid_baseline": float(part["valid_baseline"].iloc[0]),
                     "reported_runs": len(reported), "reported_took_off": int(reported["took_off"].sum()),
                     "reported_takeoff_rate": float(reported["took_off"].mean()) if len(reported) else math.nan,
                     "em_given_takeoff": mean, "em_given_takeoff_ci_low": low, "em_given_takeoff_ci_high": high,
                     "final_valid_em_by_seed": " ".join(f"{s}:{v:.3f}" for s, v in zip(part["seed"], part["final_valid_em"]))})  # fmt: skip
    return pd.DataFrame(rows, columns=[*CELL, "lr", "runs", "took_off", "takeoff_rate", "valid_baseline", "reported_runs",
                                       "reported_took_off", "reported_takeoff_rate", "em_given_takeoff", "em_given_takeoff_ci_low",
                                       "em_given_takeoff_ci_high", "final_valid_em_by_seed"])  # fmt: skip


# ---------------------------------------------------------------------------------------
# Probes (thex/probes.py): what the models compute inside

PROBE_ROW = ["experiment", "condition", "split", "d_model", "pos_emb", "model"]


def _matrix(frame: pd.DataFrame, value: str) -> np.ndarray:
    """(seeds, items) of `value`, items in id order (every seed scored every item)."""
    return outcome_matrix(frame.rename(columns={value: "exact_match"}) if value != "exact_match" else frame)


def ablation_table(ablations: pd.DataFrame, evaluations: pd.DataFrame) -> pd.DataFrame:
    """Per model and split, each block's mixer and MLP (blocks from 1): exact match intact
    and ablated, the drop (intact - ablated, paired within each seed and item) with its 95%
    CI, and the majority baseline on the same items."""
    columns = PROBE_ROW + ["block", "component", "n_seeds", "n_items", "em_intact", "em_ablated", "drop", "drop_ci_low",
                           "drop_ci_high", "majority_baseline"]  # fmt: skip
    if ablations.empty:
        return pd.DataFrame(columns=columns)
    majority = evaluations.drop_duplicates(["experiment", "condition", "split", "id"]).set_index(
        ["experiment", "condition", "split", "id"])["majority_correct"]
    rows = []
    for key, group in ablations.groupby(PROBE_ROW, sort=True):
        intact = _matrix(group[group.component == "none"], "exact_match")
        items = group[group.component == "none"].drop_duplicates("id")
        baseline = float(majority.reindex(pd.MultiIndex.from_arrays(
            [items.experiment, items.condition, items.split, items.id])).mean())  # fmt: skip
        for (block, component), part in group[group.component != "none"].groupby(["block", "component"], sort=True):
            ablated = _matrix(part, "exact_match")
            drop = within_model_difference(intact, ablated)
            rows.append([*key, block, component, intact.shape[0], intact.shape[1], float(intact.mean()), float(ablated.mean()),
                         drop.difference, drop.ci_low, drop.ci_high, baseline])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def probe_table(probes: pd.DataFrame) -> pd.DataFrame:
    """Per model, split, probe target and depth (0: after the embedding, k: after block k):
    the linear probe's accuracy with its 95% CI over items and seeds (an item's several
    global reads count as one item, their mean), and the accuracy of always answering the
    probe set's commonest label. Targets: the answer's first token at the answer position
    (`first_answer_token`), a global's value at its name (`global_value`)."""
    columns = PROBE_ROW + ["target", "depth", "n_seeds", "n_items", "n_reads", "accuracy", "ci_low", "ci_high",
                           "majority_baseline", "above_baseline"]  # fmt: skip
    if probes.empty:
        return pd.DataFrame(columns=columns)
    if "target" not in probes:  # from before the global-value probe
        probes = probes.assign(target="first_answer_token")
    rows = []
    for key, group in probes.groupby([*PROBE_ROW, "target", "depth"], sort=True):
        matrix = _matrix(group, "correct")
        mean, low, high = em_interval(matrix)
        baseline = float(_matrix(group, "majority_correct").mean())
        reads = len(group) // max(1, group["seed"].nunique())
        rows.append([*key, matrix.shape[0], matrix.shape[1], reads, mean, low, high, baseline, bool(low > baseline)])
    return pd.DataFrame(rows, columns=columns)


def attention_table(attention: pd.DataFrame) -> pd.DataFrame:
    """Per model, split, attention block and role: the weight the answer-predicting
    position gives the role, averaged over the block's heads (`weight`) and for the head
    that gives it most (`top_head_weight`; heads are not matched across seeds, so each
    seed's top head), mean over seeds with a t interval over seeds (none with one seed);
    `uniform_weight`, the role's share of the positions it attends over (what an even head
    gives it; empty for probes run before it was recorded)."""
    columns = PROBE_ROW + ["block", "role", "n_seeds", "weight", "weight_ci_low", "weight_ci_high", "top_head_weight", "uniform_weight"]
    if attention.empty:
        return pd.DataFrame(columns=columns)
    if "uniform" not in attention:
        attention = attention.assign(uniform=np.nan)
    per_seed = (attention.groupby([*PROBE_ROW, "block", "role", "seed"], sort=True)
                .agg(mean=("weight", "mean"), max=("weight", "max"), uniform=("uniform", "mean")).reset_index())  # fmt: skip
    rows = []
    for key, group in per_seed.groupby([*PROBE_ROW, "block", "role"], sort=True):
        mean, low, high = seed_interval(group["mean"].to_numpy())
        rows.append([*key, len(group), mean, low, high, float(group["max"].mean()), float(group["uniform"].mean())])
    return pd.DataFrame(rows, columns=columns)


def split_label(label: str) -> tuple[str, str]:
    """(architecture, variant) of a model label: "gpt2/pos-none d64" -> ("gpt2", "/pos-none d64").
    Labels are model_labels' (a position embedding after "/") with, in figures, the width
    after a space."""
    arch = re.split(r"[ /]", label, maxsplit=1)[0]
    return arch, label[len(arch) :]


def label_order(label: str) -> tuple:
    """Where a model label comes in tables and legends: by architecture.order_key (gpt2,
    hyena, THEX by block, other mixer lists), the majority last; variants (gpt2/pos-none,
    gpt2 d64) after their architecture."""
    arch, variant = split_label(label)
    return (arch == MAJORITY, order_key(arch), variant)


def in_model_order(table: pd.DataFrame) -> pd.DataFrame:
    """`table` with its rows in order of the columns up to its model column (`arch` or
    `model`), that column ordered by label_order (gpt2, hyena, THEX by block, other mixer
    lists; not alphabetically, which puts thex-10 before thex-2 and a new mixer first)."""
    column = next((c for c in ("arch", "model") if c in table.columns), None)
    if column is None or table.empty:
        return table
    keys = list(table.columns[: table.columns.get_loc(column) + 1])
    order = lambda values: values.map(label_order) if values.name == column else values  # noqa: E731
    return table.sort_values(keys, key=order, kind="stable").reset_index(drop=True)


def _arch_order(labels: Iterable[str]) -> list[str]:
    """The distinct model labels in `label_order`."""
    return sorted(set(labels), key=label_order)


# ---------------------------------------------------------------------------------------
# The paper's claims on the headline settings

# The paper's two baseline families are uniform architectures named as the families are.
GPT2, HYENA = FAMILIES[:2]


def chosen_placement(selection: pd.DataFrame, spec: Headline, d_model: int) -> str | None:
    """The THEX variant of `spec.placements` with the best validation exact match at its
    selected rate (the tuning seeds' mean): a placement chosen without the test split."""
    chosen = selection[selection.selected & (selection.experiment == spec.experiment) & (selection.condition == spec.condition)
                       & (selection.d_model == d_model) & (selection.pos_emb == "auto") & selection.arch.isin(spec.placements)]  # fmt: skip
    if chosen.empty:
        return None
    best = chosen["valid_exact_match"].max()
    return _arch_order(chosen[chosen["valid_exact_match"] == best]["arch"])[0]  # ties: the earliest block


def _thex_roles(spec: Headline, chosen: str | None) -> list[tuple[str, str]]:
    """(THEX variant, why it stands for THEX): the config's (the paper's relative depth) and
    the placement chosen on validation, once if they are the same."""
    if chosen is None:
        return [(spec.thex, spec.thex_role)]
    if chosen == spec.thex:
        return [(spec.thex, f"{spec.thex_role}, also chosen on validation")]
    return [(spec.thex, spec.thex_role), (chosen, "chosen on validation")]


def _headline_evaluations(evaluations: pd.DataFrame, spec: Headline) -> pd.DataFrame:
    selected = evaluations[(evaluations.experiment == spec.experiment) & (evaluations.condition == spec.condition)
                           & (evaluations.pos_emb == "auto")]  # fmt: skip
    if spec.split is not None:
        selected = selected[selected.split == spec.split]
    return selected


def _significance(p_holm: pd.Series, below: pd.Series, words: tuple[str, str, str]) -> np.ndarray:
    """words[0] where p_holm < 0.05 and the estimate is below the reference, words[1] where
    above, words[2] otherwise (and '-' where there is no reference, p_holm NaN)."""
    significant = p_holm < 1 - LEVEL
    return np.where(p_holm.isna(), "-", np.where(significant & below, words[0], np.where(significant, words[1], words[2])))


def headline_table(evaluations: pd.DataFrame, headline: Mapping[str, Headline], selection: pd.DataFrame) -> pd.DataFrame:
    """Our exact match for GPT-2, Hyena, the named THEX and the placement chosen on
    validation, at each width, beside the author-reported numbers (over all evaluation
    splits of the condition, or the one named), and tested against them: level_p_holm is
    Holm over every row with a reported number (one family), level_verdict from it."""
    rows = []
    for setting, spec in headline.items():
        selected = _headline_evaluations(evaluations, spec)
        stats = em_stats(selected, ["d_model", "arch"]).set_index(["d_model", "arch"])
        pooled = _pooled_item_ids(selected)
        for d_model in sorted(selected["d_model"].unique()):
            roles = [(GPT2, GPT2), (HYENA, HYENA)] + [(arch, f"thex ({which})") for arch, which in _thex_roles(spec, chosen_placement(selection, spec, d_model))]
            for arch, role in roles:
                ours = stats.loc[(d_model, arch)] if (d_model, arch) in stats.index else pd.Series(dtype=float)
                reported = spec.reported.get(role.split()[0], math.nan)
                runs = pooled[(pooled.d_model == d_model) & (pooled.arch == arch)]
                level_p = em_level_p_value(outcome_matrix(runs), reported) if len(runs) and not math.isnan(reported) else math.nan
                rows.append({"setting": setting, "d_model": d_model, "arch": arch, "role": role,
                             **{column: ours.get(column, math.nan) for column in STAT_COLUMNS},
                             "author_reported_em": reported, "level_p": level_p,
                             "source": f"{spec.experiment}/{spec.condition}" + (f" ({spec.split})" if spec.split else "")})  # fmt: skip
    table = pd.DataFrame(rows, columns=["setting", "d_model", "arch", "role", *STAT_COLUMNS, "author_reported_em", "level_p", "source"])
    table.insert(table.columns.get_loc("level_p") + 1, "level_p_holm", holm(table["level_p"]) if len(table) else [])
    verdicts = _significance(table["level_p_holm"], table["em_mean"] < table["author_reported_em"],
                             ("below the paper's", "above the paper's", "consistent with the paper's"))  # fmt: skip
    table.insert(table.columns.get_loc("level_p_holm") + 1, "level_verdict", verdicts)
    return table


def _family_claim(better: str, worse: str) -> str:
    """A claim in family names, as `headline.primary` writes it: thex-1 > hyena -> thex > hyena."""
    return f"{family(better)} > {family(worse)}"


def orderings_table(evaluations: pd.DataFrame, headline: Mapping[str, Headline], selection: pd.DataFrame,
                    progress: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """The paper's orderings (THEX > Hyena > GPT-2) tested on each headline setting at each
    width, three ways:

    - against 0: the paired difference, its p-value raw and Holm-adjusted over the claims of
      its `family` (`primary`: the claims `headline.primary` names for the config's THEX,
      pre-registered; `secondary`: every other claim of the table), and the verdict
      (supported / contradicted / undecided) from each;
    - against the paper's reported gap (paper_gap, the author-reported difference of the two
      families): p_gap, Holm over every row that has a gap (p_gap_holm), and gap_verdict;
    - `converged`: both sides' validation curves flattened.

    THEX is the config's variant (`thex`, described by `thex_role`) and, where `placements`
    are given, the variant chosen on validation."""
    convergence = _convergence(progress).set_index(CELL)["converged"] if progress is not None else pd.Series(dtype=object)
    rows = []
    for setting, spec in headline.items():
        selected = _pooled_item_ids(_headline_evaluations(evaluations, spec))
        for d_model in sorted(selected["d_model"].unique()):
            at_width = selected[selected.d_model == d_model]
            items = pd.Index(sorted(at_width["id"].unique()))
            thexes = _thex_roles(spec, chosen_placement(selection, spec, d_model))
            claims = [(thex, HYENA, which) for thex, which in thexes] + [(HYENA, GPT2, "")]
            claims += [(thex, GPT2, which) for thex, which in thexes]
            for better, worse, which in claims:
                a, b = at_width[at_width.arch == better], at_width[at_width.arch == worse]
                if a.empty or b.empty:
                    continue
                matrices = outcome_matrix(a, items), outcome_matrix(b, items)
                result = paired_difference(*matrices)
                claim = _family_claim(better, worse)
                primary = claim in spec.primary and (family(better) != "thex" or better == spec.thex)
                gap = spec.reported.get(family(better), math.nan) - spec.reported.get(family(worse), math.nan)
                flags = [convergence.get((spec.experiment, spec.condition, arch, d_model, "auto"), "unknown") for arch in (better, worse)]
                rows.append({"setting": setting, "d_model": d_model, "claim": f"{better} > {worse}", "thex": which,
                             "family": "primary" if primary else "secondary",
                             "n_seeds": f"{a.seed.nunique()}/{b.seed.nunique()}", **result._asdict(),
                             "paper_gap": gap, "p_gap": math.nan if math.isnan(gap) else paired_difference(*matrices, null=gap).p_value,
                             "converged": "converged" if all(f == "converged" for f in flags) else
                             "not converged" if "not converged" in flags else "unknown"})  # fmt: skip
    columns = ["setting", "d_model", "claim", "thex", "family", "n_seeds", "difference", "ci_low", "ci_high", "p_value",
               "paper_gap", "p_gap", "converged"]  # fmt: skip
    table = _verdicts(pd.DataFrame(rows, columns=columns))
    table.insert(table.columns.get_loc("p_gap") + 1, "p_gap_holm", holm(table["p_gap"]) if len(table) else [])
    verdicts = _significance(table["p_gap_holm"], table["difference"] < table["paper_gap"],
                             ("paper's gap excluded: smaller", "paper's gap excluded: larger", "consistent with the paper's gap"))  # fmt: skip
    table.insert(table.columns.get_loc("p_gap_holm") + 1, "gap_verdict", verdicts)
    return table


def orderings_sentence(orderings: pd.DataFrame) -> str:
    """The orderings table in words, one sentence per headline setting and width."""
    sentences = []
    for (setting, d_model), part in orderings.groupby(["setting", "d_model"], sort=False):
        clauses = [f"{r.claim} {r.verdict} ({r.difference:+.3f}, 95% CI [{r.ci_low:+.3f}, {r.ci_high:+.3f}], Holm p {r.p_holm:.3g})"
                   for r in part.itertuples()]  # fmt: skip
        sentences.append(f"{setting} at width {d_model}: " + "; ".join(clauses) + ".")
    return " ".join(sentences)


def to_markdown(frame: pd.DataFrame, title: str = "", note: str = "") -> str:
    """A GitHub-flavoured Markdown table (numbers to 3 decimals, NaN as '-')."""

    def cell(value: Any) -> Any:
        if isinstance(value, float):
            if math.isnan(value):
                return "-"
            if value != 0 and abs(value) < 1e-3:
                return f"{value:.2g}"  # p-values and learning rates
            return f"{value:.3f}" if abs(value) < 1e4 else f"{value:,.0f}"
        return value

    lines = [f"## {title}", ""] if title else []
    if note:
        lines += [note, ""]
    lines.append(frame.map(cell).to_markdown(index=False, tablefmt="github", disable_numparse=True))
    return "\n".join(lines) + "\n"


CI_NOTE = (
    "em_ci_low/em_ci_high: 95% interval over test items and seeds (Student t with S - 1 degrees of freedom for S seeds, "
    "N - 1 for N items with one seed: thex/stats.py); majority_baseline: exact match of always printing the training split's commonest answer."
)
def headline_note(headline: Mapping[str, Headline]) -> str:
    """What the author-reported column is, naming the paper's THEX variant of each setting."""
    variants = [f"{spec.reported_thex} ({setting})" for setting, spec in headline.items() if spec.reported_thex]
    return (
        "author_reported_em: exact match reported by the authors of arXiv 2406.02592 for GPT-2, Hyena and THEX"
        + (f" ({', '.join(variants)})" if variants else "")
        + " on their own, unpublished languages and scale. They are shown for orientation, not as ground truth: these runs "
        "use LoLaMeMe v1 as defined in docs/languages.md, at this config's scale. level_p tests 'our exact match is the "
        "author-reported one' (the interval's variance and degrees of freedom), level_p_holm is Holm over every row with a "
        "reported number, level_verdict from it. " + CI_NOTE
    )
COMPARISONS_NOTE = (
    "Descriptive: difference = em_a - em_b on the same test items, raw 95% CI and two-sided p-value over items (paired) "
    "and seeds (not paired across models), for every pair; no row is a pre-stated claim, so no family is adjusted "
    "(Holm over hundreds of rows could decide nothing) and no verdict is drawn: the orderings table holds the tested "
    "claims. excludes_zero: the raw interval excludes 0. 'majority' is the fixed predictor that always prints the "
    "training split's commonest answer."
)
ORDERINGS_NOTE = (
    "Each claim at each width, tested against 0 and against the paper's gap. Against 0: paired difference, 95% CI, "
    "p-value raw and Holm-adjusted within its family (primary: the claims the config pre-registers, headline.primary; "
    "secondary: every other claim of this table); verdict from p_holm (verdict_raw from p_value). Against the paper: "
    "paper_gap is the author-reported difference of the two families; p_gap tests 'the difference is the paper's gap' "
    "with the same interval, p_gap_holm is Holm over every row with a gap; gap_verdict from it. converged: both models' "
    f"validation curves rose by less than {CONVERGED_RISE} over their last 20% of tokens; 'not converged' means more "
    "tokens could change the verdict."
)
TABLE_NOTES: dict[str, tuple[str, str]] = {
    "experiments": ("Exact match by experiment and model (95% CI, majority baseline, selected learning rate)", CI_NOTE +
                    " lr: the learning rate selected on validation from lr_grid; lr_at_grid_edge: the best rate is the "
                    "smallest or largest tried, so the optimum may lie outside the grid (empty: one rate, nothing tuned)."),
    "orderings": ("The paper's orderings on the headline settings, by width", ORDERINGS_NOTE),
    "comparisons": ("Paired comparisons of models", COMPARISONS_NOTE),
    "learning_curves": ("Learning curves: validation exact match vs training tokens (selected rate, mean over seeds)",
                        "majority_baseline: the valid split's exact match of always printing the training split's commonest answer."),
    "tuning": ("Learning-rate selection on the validation split", "valid_exact_match: final validation exact match, mean over "
               "the tuning seeds; the selected rate is the best (ties: the smaller). runs / took_off: runs of that rate, "
               f"and those that ended at least {TAKEOFF_MARGIN} above the valid majority baseline."),
    "ablations": ("Block ablations: exact match with one block's mixer or MLP replaced by its mean (95% CI of the drop)",
                  "drop = intact - ablated, paired within each seed and item (the same model on both sides); blocks "
                  "numbered from 1; empty when the probe stage did not run."),
    "probes": ("Linear probes: what the residual stream holds at each depth (95% CI)",
               "target first_answer_token: the answer's first token, read at the answer position; global_value: a "
               "global's value, read at the last character of its name (accuracy per item: the mean over its globals). "
               "depth 0: after the embedding, k: after block k; logistic regression fit on train items, scored on test; "
               "majority_baseline: always the probe set's commonest label."),
    "attention_roles": ("Attention roles: where the answer-predicting position looks, per attention block",
                        "weight: share of attention on each role of the program (mean over heads, then seeds; 95% CI over "
                        "seeds); top_head_weight: the head that gives the role most, per seed; uniform_weight: the role's share of "
                        "the positions attended over, what a head attending evenly would give it."),
    "takeoff": ("Take-off: runs that left the majority baseline", f"A run took off when its final validation exact match is "
                f"at least {TAKEOFF_MARGIN} above the valid split's majority baseline; runs/took_off: every run at each cell's "
                "selected rate (tuning seeds too); reported_*: the reported seeds only; em_given_takeoff: test exact match "
                "(every test item) of the reported seeds that took off, mean and t interval over them."),
}  # fmt: skip


def write_tables(summary_dir: str | os.PathLike, out_dir: str | os.PathLike, headline: Mapping[str, Headline]) -> list[Path]:
    """Every table as CSV and Markdown; returns the paths written."""
    summary = load_summary(summary_dir)
    evaluations, selection = summary["evaluations"], summary["selection"]
    progress = run_progress(summary["curves"], summary["baselines"])
    out_dir = Path(out_dir)
    orderings = orderings_table(evaluations, headline, selection, progress)
    tables: dict[str, pd.DataFrame] = {
        "experiments": experiment_table(evaluations, summary["runs"], selection, progress),
        "headline": headline_table(evaluations, headline, selection),
        "orderings": orderings,
        "comparisons": comparisons_table(evaluations),
        "learning_curves": learning_curve_table(summary["curves"], summary["baselines"]),
        "tuning": tuning_table(selection, progress),
        "takeoff": takeoff_table(progress, evaluations),
        "ablations": ablation_table(summary["ablations"], evaluations),
        "probes": probe_table(summary["probes"]),
        "attention_roles": attention_table(summary["attention"]),
    }
    notes = dict(TABLE_NOTES)
    notes["headline"] = ("Headline comparison with the paper", headline_note(headline) + " " + orderings_sentence(orderings))
    for column in SLICES:
        tables[f"slice_{column}"] = slice_table(evaluations, column)
        notes[f"slice_{column}"] = (f"Exact match by {column}", "")
    written = []
    for name, frame in tables.items():
        if name not in ("headline", "orderings", "comparisons"):  # those three are in the order of their claims
            frame = in_model_order(frame)
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        write_text(out_dir / f"{name}.md", to_markdown(frame, *notes[name]))
        written += [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
    return written
