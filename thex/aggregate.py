"""Collecting every run's results into one summary, and the comparison tables built from it.

The summary directory (`results/summary/` by default; a committed snapshot lives under
`results/reference/summary/`) is all that tables and figures need:

    evaluations.parquet   one row per (run, evaluated sample): identity + slice columns + scores
    runs.parquet          one row per (run, evaluation split): identity, cost, exact match
    curves.parquet        one row per (run, training step): the training metrics
    datasets.json         the dataset config of every (experiment, condition)

Exact match is averaged over a run's samples first, then over seeds: the tables give the
mean over seeds with a 95% confidence interval (Student t, n - 1 degrees of freedom).
"""

from __future__ import annotations

import json
import math
import os
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

IDENTITY = ["experiment", "condition", "arch", "seed"]
SUMMARY_FILES = ("evaluations.parquet", "runs.parquet", "curves.parquet", "datasets.json")
# The slice columns that get their own table (operators is exploded into one row per operator).
SLICES = ("n_statements", "hops", "operators", "language", "n_globals", "depth")

# Two-sided 95% Student t quantiles t_{0.975, df} for df = 1..30; 1.96 beyond.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]  # fmt: skip


def ci95(values: Iterable[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% confidence interval); the half-width is NaN for one value."""
    values = np.asarray(list(values), dtype=float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan
    t = _T975[n - 2] if n - 1 <= len(_T975) else 1.96
    return mean, float(t * values.std(ddof=1) / math.sqrt(n))


# ---------------------------------------------------------------------------------------
# Collect


def collect(run_dirs: Iterable[str | os.PathLike], data_dirs: Mapping[str, str | os.PathLike], out_dir: str | os.PathLike) -> None:
    """Gather run directories (each with eval.parquet, eval.json, metrics.parquet) into a
    summary directory; `data_dirs` maps "experiment/condition" to its dataset directory."""
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
    datasets = {}
    for key, data_dir in data_dirs.items():
        train = Path(data_dir) / "train.parquet"
        datasets[key] = read_metadata(train)["dataset_config"]
    out_dir = Path(out_dir)
    _write_parquet(pd.concat(evaluations, ignore_index=True), out_dir / "evaluations.parquet")
    _write_parquet(pd.DataFrame(runs), out_dir / "runs.parquet")
    _write_parquet(pd.concat(curves, ignore_index=True), out_dir / "curves.parquet")
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
    out: dict[str, Any] = {name.split(".")[0]: pd.read_parquet(summary_dir / name) for name in SUMMARY_FILES[:3]}
    out["datasets"] = json.loads((summary_dir / "datasets.json").read_text())["datasets"]
    return out


# ---------------------------------------------------------------------------------------
# Tables


def seed_stats(frame: pd.DataFrame, by: list[str], value: str = "exact_match") -> pd.DataFrame:
    """Per group of `by`: mean over seeds of `value` (already one number per seed), 95% CI."""
    rows = []
    for key, group in frame.groupby(by, sort=True, dropna=False):
        mean, half = ci95(group[value])
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,))), "n_seeds": len(group), "em_mean": mean, "em_ci95": half})
    return pd.DataFrame(rows)


def experiment_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean exact match +- 95% CI over seeds per (experiment, condition, split, arch), with cost."""
    keys = ["experiment", "condition", "split", "arch"]
    stats = seed_stats(runs, keys)
    cost = runs.groupby(keys, sort=True).agg(
        parameters=("parameters", "first"),
        train_tokens=("train_tokens", "mean"),
        tokens_per_s=("tokens_per_s", "mean"),
        final_loss_answer=("final_loss_answer", "mean"),
        final_loss_all=("final_loss_all", "mean"),
    )
    return stats.merge(cost.reset_index(), on=keys)


def slice_table(evaluations: pd.DataFrame, column: str) -> pd.DataFrame:
    """Exact match by the values of one slice column: per seed over samples, then over seeds."""
    frame = evaluations[IDENTITY + ["split", column, "exact_match"]].dropna(subset=[column])
    if column == "operators":
        frame = frame.assign(operators=frame["operators"].str.split(",")).explode("operators")
        frame = frame[frame["operators"] != ""]
    if frame.empty:
        return pd.DataFrame(columns=["experiment", "condition", "split", "arch", column, "n_seeds", "em_mean", "em_ci95", "n_samples"])
    keys = ["experiment", "condition", "split", "arch", column]
    per_seed = frame.groupby(keys + ["seed"], sort=True).agg(exact_match=("exact_match", "mean"), n=("exact_match", "size"))
    per_seed = per_seed.reset_index()
    stats = seed_stats(per_seed, keys)
    samples = per_seed.groupby(keys, sort=True)["n"].sum().rename("n_samples").reset_index()
    return stats.merge(samples, on=keys)


def headline_table(runs: pd.DataFrame, headline: Mapping[str, Headline]) -> pd.DataFrame:
    """Our exact match for GPT-2, Hyena and the named THEX beside the author-reported numbers."""
    rows = []
    for setting, spec in headline.items():
        selected = runs[(runs.experiment == spec.experiment) & (runs.condition == spec.condition)]
        if spec.split is not None:
            selected = selected[selected.split == spec.split]
        for arch in ("gpt2", "hyena", spec.thex):
            ours = selected[selected.arch == arch]
            mean, half = ci95(ours.groupby("seed")["exact_match"].mean()) if len(ours) else (math.nan, math.nan)
            paper_arch = arch if arch in ("gpt2", "hyena") else "thex"
            rows.append(
                {
                    "setting": setting,
                    "arch": arch,
                    "n_seeds": ours["seed"].nunique(),
                    "em_mean": mean,
                    "em_ci95": half,
                    "author_reported_em": spec.reported.get(paper_arch, math.nan),
                    "source": f"{spec.experiment}/{spec.condition}" + (f" ({spec.split})" if spec.split else ""),
                }
            )
    return pd.DataFrame(rows)


def to_markdown(frame: pd.DataFrame, title: str = "", note: str = "") -> str:
    """A GitHub-flavoured Markdown table (numbers to 3 decimals, NaN as '-')."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.3f}" if abs(value) < 1e4 else f"{value:,.0f}"
        return str(value)

    lines = [f"## {title}", ""] if title else []
    if note:
        lines += [note, ""]
    lines.append("| " + " | ".join(frame.columns) + " |")
    lines.append("|" + "|".join("---" for _ in frame.columns) + "|")
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


HEADLINE_NOTE = (
    "author_reported_em: exact match reported by the authors of arXiv 2406.02592 for GPT-2, Hyena and THEX-12 "
    "(globals) / THEX-13 (multilang) on their own, unpublished languages and scale. They are shown for orientation, "
    "not as ground truth: these runs use LoLaMeMe v1 as defined in docs/languages.md, at this config's scale."
)


def write_tables(summary_dir: str | os.PathLike, out_dir: str | os.PathLike, headline: Mapping[str, Headline]) -> list[Path]:
    """Every table as CSV and Markdown; returns the paths written."""
    summary = load_summary(summary_dir)
    out_dir = Path(out_dir)
    tables: dict[str, tuple[pd.DataFrame, str, str]] = {
        "experiments": (experiment_table(summary["runs"]), "Exact match by experiment and architecture (mean over seeds, 95% CI)", ""),
        "headline": (headline_table(summary["runs"], headline), "Headline comparison with the paper", HEADLINE_NOTE),
    }
    for column in SLICES:
        tables[f"slice_{column}"] = (slice_table(summary["evaluations"], column), f"Exact match by {column}", "")
    written = []
    for name, (frame, title, note) in tables.items():
        with atomic_path(out_dir / f"{name}.csv") as tmp:
            frame.to_csv(tmp, index=False)
        write_text(out_dir / f"{name}.md", to_markdown(frame, title, note))
        written += [out_dir / f"{name}.csv", out_dir / f"{name}.md"]
    return written


# ---------------------------------------------------------------------------------------
# Command line


def cli_collect(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m thex collect", description="Gather run results into a summary directory.")
    parser.add_argument("--runs", nargs="+", required=True, help="run directories .../EXPERIMENT/CONDITION/ARCH/seedN")
    parser.add_argument("--data", nargs="*", default=[], metavar="EXPERIMENT/CONDITION=DIR", help="dataset directories")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    data_dirs = dict(item.split("=", 1) for item in args.data)
    collect(args.runs, data_dirs, args.out_dir)
    print(f"collected {len(args.runs)} runs into {args.out_dir}")
    return 0


def cli_tables(argv: list[str]) -> int:
    import argparse

    from thex.cli import load_config_source
    from thex.config import from_dict

    parser = argparse.ArgumentParser(prog="python -m thex tables", description="Comparison tables from a results summary.")
    parser.add_argument("--summary-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--headline", default="{}", help="JSON (or a YAML file) of the config's `headline` section")
    args = parser.parse_args(argv)
    raw = load_config_source(args.headline)
    headline = {name: from_dict(Headline, spec, f"headline.{name}") for name, spec in (raw or {}).items()}
    written = write_tables(args.summary_dir, args.out_dir, headline)
    print(f"wrote {len(written)} table files to {args.out_dir}")
    return 0
