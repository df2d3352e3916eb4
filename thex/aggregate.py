"""Collecting every run's results into one summary, and the comparison tables built from it.

The summary directory (`results/summary/` by default; a committed snapshot lives under
`results/reference/summary/`) is all that tables and figures need:

    evaluations.parquet   one row per (run, evaluated sample): identity + slice columns + scores,
                          and `majority_correct` (whether the majority answer is right there)
    runs.parquet          one row per (run, evaluation split): identity, cost, exact match
    curves.parquet        one row per (run, training step): the training metrics
    baselines.parquet     one row per (experiment, condition, split): the majority answer
                          (the training split's commonest answer) and its exact match
    datasets.json         the dataset config of every (experiment, condition)

Every exact match in a table comes with a 95% confidence interval from the hierarchical
bootstrap over test items and seeds (thex.stats), beside its majority-answer baseline;
architectures are compared by paired bootstrap differences on the same test items.
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
from thex.experiments import Headline, parse_run_path
from thex.io import atomic_path, write_json, write_text
from thex.stats import em_interval, outcome_matrix, paired_difference

IDENTITY = ["experiment", "condition", "arch", "seed"]
SUMMARY_FILES = ("evaluations.parquet", "runs.parquet", "curves.parquet", "baselines.parquet", "datasets.json")
# The slice columns that get their own table (operators is exploded into one row per operator).
SLICES = ("n_statements", "hops", "operators", "language", "n_globals", "depth")
TABLE_NAMES = ["experiments", "headline", "orderings", "comparisons", "learning_curves"] + [f"slice_{column}" for column in SLICES]
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


def collect(run_dirs: Iterable[str | os.PathLike], data_dirs: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike) -> None:
    """Gather run directories (each with eval.parquet, eval.json, metrics.parquet) into a
    summary directory; `data_dirs` maps "experiment/condition" of every run to its dataset
    directory (the one it trained and was evaluated on)."""
    evaluations, runs, curves = [], [], []
    for run_dir in map(Path, run_dirs):
        identity = parse_run_path(str(run_dir))
        summary = json.loads((run_dir / "eval.json").read_text())
        evaluation = pq.read_table(run_dir / "eval.parquet").to_pandas()
        evaluations.append(_with_identity(evaluation, identity))
        curves.append(_with_identity(pq.read_table(run_dir / "metrics.parquet").to_pandas(), identity))
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
    _write_parquet(pd.DataFrame(baselines), out_dir / "baselines.parquet")
    write_json(out_dir / "datasets.json", {"package_version": thex.__version__, "datasets": datasets})


def _with_identity(frame: pd.DataFrame, identity: Mapping[str, Any]) -> pd.DataFrame:
    for i, column in enumerate(IDENTITY):
        frame.insert(i, column, identity[column])
    return frame


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp, compression="zstd")


def load_summary(summary_dir: str | os.PathLike) -> dict[str, Any]:
    summary_dir = Path(summary_dir)
    missing = [name for name in SUMMARY_FILES if not (summary_dir / name).exists()]
    if missing:
        raise DatasetError(f"{summary_dir}: not a results summary (missing {', '.join(missing)})")
    out: dict[str, Any] = {name.split(".")[0]: pd.read_parquet(summary_dir / name) for name in SUMMARY_FILES if name.endswith(".parquet")}
    if "majority_correct" not in out["evaluations"]:
        raise DatasetError(
            f"{summary_dir / 'evaluations.parquet'}: no majority_correct column (a summary from before the majority "
            "baselines); collect the runs again"
        )
    out["datasets"] = json.loads((summary_dir / "datasets.json").read_text())["datasets"]
    return out


# ---------------------------------------------------------------------------------------
# Statistics per group: exact match with its bootstrap CI and majority baseline


STAT_COLUMNS = ["n_seeds", "n_items", "em_mean", "em_ci_low", "em_ci_high", "majority_baseline", "above_baseline"]


def _explode_operators(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (sample, operator it uses), so each operator gets its own slice."""
    frame = frame.assign(operators=frame["operators"].str.split(",")).explode("operators")
    return frame[frame["operators"] != ""]


def _pooled_item_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with each item's id made `split:id`: ids are per split, and a group may pool
    several splits (multilang's test_lola and test_meme)."""
    return frame.assign(id=frame["split"] + ":" + frame["id"].astype(str))


def em_stats(evaluations: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of `by` (which must include the architecture): exact match over seeds and
    items with its 95% hierarchical bootstrap CI, and the majority baseline on the same items.
    `above_baseline`: the CI's lower end is above the baseline."""
    rows = []
    for key, group in evaluations.groupby(by, sort=True, dropna=True):
        items = group.drop_duplicates(["split", "id"])
        mean, low, high = em_interval(outcome_matrix(_pooled_item_ids(group)))
        baseline = float(items["majority_correct"].mean())
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "n_seeds": group["seed"].nunique(),
                     "n_items": len(items), "em_mean": mean, "em_ci_low": low, "em_ci_high": high,
                     "majority_baseline": baseline, "above_baseline": bool(low > baseline)})  # fmt: skip
    return pd.DataFrame(rows, columns=by + STAT_COLUMNS)


def experiment_table(evaluations: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Exact match with CI and majority baseline per (experiment, condition, split, arch), with cost."""
    keys = ["experiment", "condition", "split", "arch"]
    cost = runs.groupby(keys, sort=True).agg(
        parameters=("parameters", "first"),
        train_tokens=("train_tokens", "mean"),
        train_wall_s=("train_wall_s", "mean"),
        tokens_per_s=("tokens_per_s", "mean"),
        final_loss_answer=("final_loss_answer", "mean"),
        final_loss_all=("final_loss_all", "mean"),
    )
    return em_stats(evaluations, keys).merge(cost.reset_index(), on=keys, how="left")


def slice_table(evaluations: pd.DataFrame, column: str) -> pd.DataFrame:
    """Exact match by the values of one slice column (CI and baseline on that slice's items)."""
    frame = evaluations.dropna(subset=[column])
    if column == "operators":
        frame = _explode_operators(frame)
    return em_stats(frame, ["experiment", "condition", "split", "arch", column])


def comparisons_table(evaluations: pd.DataFrame) -> pd.DataFrame:
    """Every pair of architectures (and each against the majority answer) per (experiment,
    condition, split): the exact-match difference a - b on the same test items with its
    paired bootstrap 95% CI, and whether the CI excludes 0."""
    rows = []
    for (experiment, condition, split), group in evaluations.groupby(["experiment", "condition", "split"], sort=True):
        items = pd.Index(sorted(group["id"].unique()))
        matrices = {arch: outcome_matrix(part, items) for arch, part in group.groupby("arch", sort=True)}
        majority = group.drop_duplicates("id").set_index("id")["majority_correct"].reindex(items)
        matrices[MAJORITY] = majority.to_numpy(dtype=np.float64)[None, :]  # (1, items): a fixed predictor
        archs = _arch_order(matrices)
        for a, b in combinations(archs, 2):
            diff, low, high = paired_difference(matrices[a], matrices[b])
            excludes = bool(low > 0 or high < 0)
            verdict = f"{a} > {b}" if low > 0 else f"{b} > {a}" if high < 0 else "no difference shown"
            rows.append({"experiment": experiment, "condition": condition, "split": split, "arch_a": a, "arch_b": b,
                         "n_items": len(items), "em_a": float(matrices[a].mean()), "em_b": float(matrices[b].mean()),
                         "difference": diff, "ci_low": low, "ci_high": high, "excludes_zero": excludes,
                         "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows)


def learning_curve_table(curves: pd.DataFrame, baselines: pd.DataFrame) -> pd.DataFrame:
    """Validation exact match and answer loss at every validation step, mean over seeds, per
    (experiment, condition, arch), beside the valid split's majority baseline."""
    keys = ["experiment", "condition", "arch", "step"]
    frame = curves.dropna(subset=["valid_exact_match"])
    table = frame.groupby(keys, sort=True).agg(
        n_seeds=("seed", "nunique"),
        tokens=("tokens", "mean"),
        valid_exact_match=("valid_exact_match", "mean"),
        valid_answer_loss=("valid_answer_loss", "mean"),
    ).reset_index()
    valid = baselines[baselines.split == "valid"][["experiment", "condition", "majority_baseline"]]
    return table.merge(valid, on=["experiment", "condition"], how="left")


def _arch_order(archs: Iterable[str]) -> list[str]:
    """gpt2, hyena, the THEX variants by block, any other mixer list; the majority last."""

    def key(arch: str):
        blocks = [int(b) for b in re.findall(r"\d+", arch)]
        return ({"gpt2": 0, "hyena": 1, MAJORITY: 9}.get(arch, 2), blocks, arch)

    return sorted(set(archs), key=key)


def _headline_evaluations(evaluations: pd.DataFrame, spec: Headline) -> pd.DataFrame:
    selected = evaluations[(evaluations.experiment == spec.experiment) & (evaluations.condition == spec.condition)]
    if spec.split is not None:
        selected = selected[selected.split == spec.split]
    return selected[selected.arch.isin(["gpt2", "hyena", spec.thex])]


def headline_table(evaluations: pd.DataFrame, headline: Mapping[str, Headline]) -> pd.DataFrame:
    """Our exact match for GPT-2, Hyena and the named THEX beside the author-reported numbers
    (over all evaluation splits of the condition, or the one named)."""
    rows = []
    for setting, spec in headline.items():
        selected = _headline_evaluations(evaluations, spec)
        stats = em_stats(selected, ["arch"]).set_index("arch")
        for arch in ("gpt2", "hyena", spec.thex):
            ours = stats.loc[arch] if arch in stats.index else pd.Series(dtype=float)
            paper_arch = arch if arch in ("gpt2", "hyena") else "thex"
            rows.append(
                {
                    "setting": setting,
                    "arch": arch,
                    **{column: ours.get(column, math.nan) for column in STAT_COLUMNS},
                    "author_reported_em": spec.reported.get(paper_arch, math.nan),
                    "source": f"{spec.experiment}/{spec.condition}" + (f" ({spec.split})" if spec.split else ""),
                }
            )
    return pd.DataFrame(rows)


def orderings_table(evaluations: pd.DataFrame, headline: Mapping[str, Headline]) -> pd.DataFrame:
    """The paper's orderings (THEX > Hyena > GPT-2) tested on each headline setting: the
    paired difference and whether these results support it, contradict it or cannot decide."""
    rows = []
    for setting, spec in headline.items():
        selected = _headline_evaluations(evaluations, spec)
        selected = _pooled_item_ids(selected)
        items = pd.Index(sorted(selected["id"].unique()))
        for better, worse in ((spec.thex, "hyena"), ("hyena", "gpt2"), (spec.thex, "gpt2")):
            a, b = selected[selected.arch == better], selected[selected.arch == worse]
            if a.empty or b.empty:
                continue
            diff, low, high = paired_difference(outcome_matrix(a, items), outcome_matrix(b, items))
            verdict = "supported" if low > 0 else "contradicted" if high < 0 else "undecided"
            rows.append({"setting": setting, "claim": f"{better} > {worse}", "difference": diff, "ci_low": low,
                         "ci_high": high, "verdict": verdict})  # fmt: skip
    return pd.DataFrame(rows, columns=["setting", "claim", "difference", "ci_low", "ci_high", "verdict"])


def orderings_sentence(orderings: pd.DataFrame) -> str:
    """The orderings table in words, one sentence per headline setting."""
    sentences = []
    for setting, part in orderings.groupby("setting", sort=False):
        clauses = [f"{r.claim} {r.verdict} ({r.difference:+.3f}, 95% CI [{r.ci_low:+.3f}, {r.ci_high:+.3f}])" for r in part.itertuples()]
        sentences.append(f"{setting}: " + "; ".join(clauses) + ".")
    return " ".join(sentences)


def to_markdown(frame: pd.DataFrame, title: str = "", note: str = "") -> str:
    """A GitHub-flavoured Markdown table (numbers to 3 decimals, NaN as '-')."""

    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.3f}" if abs(value) < 1e4 else f"{value:,.0f}"
        return value

    lines = [f"## {title}", ""] if title else []
    if note:
        lines += [note, ""]
    lines.append(frame.map(cell).to_markdown(index=False, tablefmt="github", disable_numparse=True))
    return "\n".join(lines) + "\n"


HEADLINE_NOTE = (
    "author_reported_em: exact match reported by the authors of arXiv 2406.02592 for GPT-2, Hyena and THEX-12 "
    "(globals) / THEX-13 (multilang) on their own, unpublished languages and scale. They are shown for orientation, "
    "not as ground truth: these runs use LoLaMeMe v1 as defined in docs/languages.md, at this config's scale. "
    "em_ci_low/em_ci_high: 95% hierarchical bootstrap over test items and seeds; majority_baseline: exact match of "
    "always printing the training split's commonest answer."
)
COMPARISONS_NOTE = (
    "difference = em_a - em_b on the same test items, with a paired bootstrap 95% CI (items and seeds resampled); "
    "'majority' is the fixed predictor that always prints the training split's commonest answer."
)


def write_tables(summary_dir: str | os.PathLike, out_dir: str | os.PathLike, headline: Mapping[str, Headline]) -> list[Path]:
    """Every table as CSV and Markdown; returns the paths written."""
    summary = load_summary(summary_dir)
    evaluations = summary["evaluations"]
    out_dir = Path(out_dir)
    orderings = orderings_table(evaluations, headline)
    tables: dict[str, tuple[pd.DataFrame, str, str]] = {
        "experiments": (experiment_table(evaluations, summary["runs"]), "Exact match by experiment and architecture (95% CI, majority baseline)", ""),
        "headline": (headline_table(evaluations, headline), "Headline comparison with the paper", HEADLINE_NOTE + " " + orderings_sentence(orderings)),
        "orderings": (orderings, "The paper's orderings on the headline settings", ""),
        "comparisons": (comparisons_table(evaluations), "Paired comparisons of architectures", COMPARISONS_NOTE),
        "learning_curves": (
            learning_curve_table(summary["curves"], summary["baselines"]),
            "Learning curves: validation exact match vs training tokens (mean over seeds)",
            "majority_baseline: the valid split's exact match of always printing the training split's commonest answer.",
        ),
    }
    for column in SLICES:
        tables[f"slice_{column}"] = (slice_table(evaluations, column), f"Exact match by {column}", "")
    written = []
    for name, (frame, title, note) in tables.items():
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        write_text(out_dir / f"{name}.md", to_markdown(frame, title, note))
        written += [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
    return written
