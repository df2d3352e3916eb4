"""The figures, from a results summary (PNG and SVG each).

Every architecture has one colour in every figure (`arch_color`); a labelled variant of it
(another position embedding, "gpt2/pos-none", or, where the summary has several widths,
every width: "gpt2 d32", "gpt2 d64") is a lighter shade of it, fixed by the label; no two
labels of a summary's figures share one (`figure_palette`). Exact match is drawn beside its majority-answer
baseline, a dashed black line: a bar or point on that line has learned nothing an
always-the-same answer does not give; bars and lines over test items carry their 95% CI
(thex.stats), while the placement heatmap, learning curves and cost show means.

No figure names an experiment: each draws whatever experiments and architectures the
summary holds (exact match against each slice column wherever a condition varies it,
every THEX placement wherever two were trained). A figure with nothing to draw says so in
the figure rather than being left out, so that the set of files (and the report) is the
same for every config.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from collections.abc import Iterable, Mapping
from typing import Any, Callable

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from thex.aggregate import (  # noqa: E402
    _arch_order,
    _explode_operators,
    ablation_table,
    attention_table,
    em_stats,
    learning_curve_table,
    load_summary,
    model_labels,
    orderings_table,
    probe_table,
    SLICES,
    label_order,
    run_progress,
    split_label,
    tuning_table,
)
from thex.languages import listops, program  # noqa: E402
from thex.languages.generate import NEEDS_GLOBALS  # noqa: E402
from thex.languages.roles import ROLES  # noqa: E402
from thex.experiments import Headline  # noqa: E402
from thex.io import atomic_path  # noqa: E402
from thex.models.architecture import thex_blocks  # noqa: E402

_BASE_COLORS = {"gpt2": "#1f77b4", "hyena": "#ff7f0e"}  # tab10 blue, orange
# One-block THEX-1..8: the rest of tab10 (green, red, purple, ...), far from GPT-2's blue
# and Hyena's orange.
_THEX_COLORS = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab10").colors[2:]]
# Any other architecture (a mixer list, THEX with several attention blocks) by its name,
# and the colours a label moves to when another label of its figure has its own: tab20b.
_EXTRA_COLORS = [matplotlib.colors.to_hex(c) for c in plt.get_cmap("tab20b").colors]
# The colours of the summary being drawn (write_figures sets it): label -> colour, no two alike.
_palette: dict[str, str] = {}


def _own_color(label: str) -> str:
    """A label's colour when nothing else in its figure has it (arch_color)."""
    arch, variant = split_label(label)
    blocks = thex_blocks(arch)
    if arch in _BASE_COLORS:
        color = _BASE_COLORS[arch]
    elif blocks is not None and len(blocks) == 1 and blocks[0] <= len(_THEX_COLORS):
        color = _THEX_COLORS[blocks[0] - 1]  # THEX-1..8: tab10's other colours
    elif blocks is not None and len(blocks) == 1:
        # THEX-9..16: teal to yellow (the blue end of viridis would be near GPT-2's blue)
        color = matplotlib.colors.to_hex(plt.get_cmap("viridis")(0.35 + 0.65 * ((blocks[0] - 9) % 8) / 7))
    else:
        color = _EXTRA_COLORS[zlib.crc32(arch.encode()) % len(_EXTRA_COLORS)]
    if not variant:
        return color
    shade = 0.3 + 0.25 * (zlib.crc32(label.encode()) % 3) / 2  # 0.3-0.55 of the way to white, stable per label
    rgb = np.array(matplotlib.colors.to_rgb(color))
    return matplotlib.colors.to_hex(rgb + (1 - rgb) * shade)


def arch_color(label: str) -> str:
    """One colour per architecture label, stable per name: GPT-2 and Hyena have tab10's
    blue and orange; THEX-1..8 the other eight tab10 colours and THEX-9..16 shades of
    viridis; other architectures one of tab20b's by their name; a variant ("gpt2 d64",
    "gpt2/pos-none": anything after the name) a lighter shade of its architecture's. While
    write_figures draws a summary, a label whose colour another label of the summary had
    first (figure_palette) has the one it was given instead."""
    return _palette.get(label) or _own_color(label)


def figure_palette(labels: Iterable[str]) -> dict[str, str]:
    """A colour for every label, no two alike: in model order, each its own colour unless an
    earlier label has it, then the first free one of tab20b from a place fixed by its name
    (and, were those spent, a hue of its own)."""
    used: set[str] = set()
    palette = {}
    ordered = sorted(set(labels), key=lambda label: (label_order(split_label(label)[0]), label))
    for n, label in enumerate(ordered):
        color, start = _own_color(label), zlib.crc32(label.encode())
        free = [c for k in range(len(_EXTRA_COLORS)) if (c := _EXTRA_COLORS[(start + k) % len(_EXTRA_COLORS)]) not in used]
        if color in used:
            color = free[0] if free else matplotlib.colors.to_hex(matplotlib.colors.hsv_to_rgb(((n * 0.618) % 1, 0.65, 0.8)))
        used.add(color)
        palette[label] = color
    return palette


def _with_display_labels(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with `arch` replaced by what a figure's legend shows: the model label,
    and its width where the summary has several ("gpt2 d64"), so that figures drawn per
    architecture draw every cell apart."""
    widths = sorted(summary["runs"]["d_model"].unique())
    out = dict(summary)
    for name in ("evaluations", "runs", "curves"):
        frame = summary[name]
        label = frame["model"] if len(widths) < 2 else frame["model"] + " d" + frame["d_model"].astype(str)
        out[name] = frame.assign(arch_name=frame["arch"], arch=label)
    return out


def _missing(ax, what: str) -> None:
    ax.text(0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.4", wrap=True)
    ax.set_axis_off()


def _figure_legend(fig: plt.Figure, axes, ncol: int, models: bool = True, **kwargs) -> None:
    """One legend above all panels, with every label of any panel once: models in the
    tables' order (`models`: the labels are models'), other entries after them, the
    baseline last."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if models:  # by architecture, then as first drawn ("gpt2 answer" before "gpt2 all tokens"): a stable sort
        entries = dict(sorted(entries.items(), key=lambda entry: label_order(split_label(entry[0])[0])))
    if "majority baseline" in entries:
        entries["majority baseline"] = entries.pop("majority baseline")
    fig.legend(list(entries.values()), list(entries), loc="upper center", ncol=min(ncol, len(entries)), frameon=False, **kwargs)


BASELINE_STYLE = {"color": "k", "linestyle": "--", "linewidth": 1.2}


def _yerr(stats: pd.DataFrame) -> np.ndarray:
    """(2, n) asymmetric error bars from em_ci_low / em_ci_high (0 where undefined)."""
    low = (stats["em_mean"] - stats["em_ci_low"]).fillna(0).clip(lower=0)
    high = (stats["em_ci_high"] - stats["em_mean"]).fillna(0).clip(lower=0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def _line_by_arch(ax, frame: pd.DataFrame, x: str, xlabel: str, ylabel: str = "exact match") -> None:
    """Exact match against slice column `x`, one line per architecture (95% CI), and the
    majority baseline of each x."""
    stats = em_stats(frame, ["arch", x])
    for arch in _arch_order(stats["arch"]):
        rows = stats[stats.arch == arch].sort_values(x)
        ax.errorbar(rows[x], rows["em_mean"], yerr=_yerr(rows), label=arch, color=arch_color(arch), marker="o", capsize=3)
    baseline = stats.groupby(x)["majority_baseline"].first().sort_index()
    ax.plot(baseline.index, baseline.to_numpy(), label="majority baseline", **BASELINE_STYLE)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)


def _grouped_bars(ax, stats: pd.DataFrame, group: str, groups: list, labels: list[str]) -> None:
    """Bars of exact match (95% CI) per architecture within each value of `group`, and the
    majority baseline of each group as a dashed segment across its bars."""
    archs = _arch_order(stats["arch"])
    width = 0.8 / max(1, len(archs))
    for j, arch in enumerate(archs):
        rows = stats[stats.arch == arch].set_index(group).reindex(groups)
        x = np.arange(len(groups)) + (j - (len(archs) - 1) / 2) * width
        ax.bar(x, rows["em_mean"], width, yerr=_yerr(rows), capsize=2, color=arch_color(arch), label=arch)
    baseline = stats.groupby(group)["majority_baseline"].first().reindex(groups)
    for i, value in enumerate(baseline):
        ax.hlines(value, i - 0.45, i + 0.45, label="majority baseline" if i == 0 else None, **BASELINE_STYLE)
    ax.set_xticks(np.arange(len(groups)), labels)
    ax.set_ylim(0, 1)
    ax.set_ylabel("exact match")


def _panel_grid(n_panels: int, panel_size: tuple[float, float]) -> tuple[plt.Figure, list]:
    """A figure of `n_panels` panels (at least one), four to a row; unused panels hidden."""
    cols = max(1, min(4, n_panels))
    rows = max(1, math.ceil(n_panels / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols, panel_size[1] * rows), squeeze=False)
    for ax in list(axes.flat)[max(1, n_panels) :]:
        ax.set_axis_off()
    return fig, list(axes.flat)


def _experiment_grid(frame: pd.DataFrame, panel_height: float) -> tuple[plt.Figure, list, list[str]]:
    """One panel per experiment of `frame`, four to a row; unused panels are hidden."""
    experiments = sorted(frame["experiment"].unique())
    fig, axes = _panel_grid(len(experiments), (4.2, panel_height))
    return fig, axes, experiments


def fig_em_by_architecture(summary: dict[str, Any]) -> plt.Figure:
    evaluations = summary["evaluations"]
    fig, axes, experiments = _experiment_grid(evaluations, 3.4)
    for ax, experiment in zip(axes, experiments):
        frame = evaluations[evaluations.experiment == experiment]
        stats = em_stats(frame.assign(group=frame.condition + "\n" + frame.split), ["arch", "group"])
        groups = sorted(stats["group"].unique())
        labels = [g.removesuffix("\ntest") for g in groups]  # the split is named unless it is "test"
        _grouped_bars(ax, stats, "group", groups, labels)
        for label in ax.get_xticklabels():
            label.set(rotation=30, ha="right", fontsize=8)
        ax.set_title(experiment)
    _figure_legend(fig, axes, ncol=8)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


# Operators in the languages' order (sub before mul), not the alphabet's.
_OPERATOR_ORDER = {op: i for i, op in enumerate(program.OPERATORS + listops.OPERATORS)}


# Program knobs that another knob's value constrains, so conditions varying the first may
# vary them too (ProgramConfig.check: drawing globals needs some).
_TIED_KNOBS = {"n_globals": NEEDS_GLOBALS}
_KNOB_OF_COLUMN = {"language": "languages"}  # a slice column's dataset knob, where it is named otherwise


def _vary_only(datasets: dict[str, Any], experiment: str, conditions: list[str], column: str) -> bool:
    """Whether the conditions' program knobs (datasets.json) differ in `column`'s knob and
    nothing else (split sizes and exposures aside): then a line across them reads as that
    knob's effect (memorization's G10, G100, G1000), not a change of task."""
    knob = _KNOB_OF_COLUMN.get(column, column)
    ignored = {knob, *_TIED_KNOBS.get(knob, ())}

    def knobs(key: str) -> dict[str, Any] | None:
        config = datasets.get(key)
        if config is None:
            return None
        section = {**(config.get("programs") or {}), **(config.get("listops") or {})}
        return {k: v for k, v in section.items() if k not in ignored}

    first, *rest = (knobs(f"{experiment}/{c}") for c in conditions)
    return first is not None and all(other == first for other in rest)


def _slice_panels(summary: dict[str, Any], column: str) -> list[tuple[str, str | None, pd.DataFrame]]:
    """(experiment, condition or None, samples) of every panel drawing exact match against
    `column`: one per (experiment, condition) whose test items take several values of it
    (statements, operators, languages within one test set), and one per experiment whose
    conditions each hold one value of it, all different, and differ in nothing else
    (conditions G10, G100, G1000), drawn across its conditions. Other experiments: none."""
    if column not in summary["evaluations"]:  # a summary from before the column existed
        return []
    frame = summary["evaluations"].dropna(subset=[column])
    if column == "operators":  # programs whose answer needs exactly one kind of operator isolate it
        frame = _explode_operators(frame[~frame.operators.str.contains(",")])
    panels = []
    for experiment, part in frame.groupby("experiment", sort=True):
        values = part.groupby("condition")[column].nunique()
        if (values > 1).any():
            panels += [(experiment, c, part[part.condition == c]) for c in values.index if values[c] > 1]
        elif (len(values) > 1 and part.groupby("condition")[column].first().is_unique
              and _vary_only(summary["datasets"], experiment, list(values.index), column)):  # fmt: skip
            panels.append((experiment, None, part))
    return panels


def _training_range(summary: dict[str, Any], experiment: str, condition: str) -> tuple[float, float] | None:
    """The statement counts of a condition's training programs (distractors included), where
    an evaluation split draws other counts (a length-generalization test); else None."""
    config = summary["datasets"].get(f"{experiment}/{condition}")
    if not config or not config.get("programs"):
        return None
    splits = config.get("splits") or {}

    def counts(split: dict[str, Any]) -> tuple[Any, Any]:
        merged = {**config["programs"], **split}
        return tuple(merged["n_statements"]), tuple(merged.get("distractors", (0, 0)))

    (low, high), (d_low, d_high) = train = counts(splits.get("train") or {})
    if all(counts(split or {}) == train for name, split in splits.items() if name not in ("train", "valid")):
        return None
    return low + d_low, high + d_high


def fig_by_slice(summary: dict[str, Any], column: str) -> plt.Figure:
    """Exact match (95% CI) against one slice column, one panel per experiment that varies it
    (_slice_panels), whatever the config names: lines for counts (log x where they span a
    factor of 10 or more), grouped bars for names (operators, languages); the majority
    baseline dashed; for statements, the training range shaded."""
    panels = _slice_panels(summary, column)
    fig, axes = _panel_grid(len(panels), (4.6, 3.6))
    if not panels:
        _missing(axes[0], f"no experiment in these results varies {column}")
        return fig
    for ax, (experiment, condition, frame) in zip(axes, panels):
        if pd.api.types.is_numeric_dtype(frame[column]):
            _line_by_arch(ax, frame, column, SLICES[column])
            values = frame[column].unique()
            if values.min() > 0 and values.max() >= 10 * values.min():
                ax.set_xscale("log")
            else:
                ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            span = _training_range(summary, experiment, condition) if column == "n_statements" and condition else None
            if span is not None:
                ax.axvspan(span[0] - 0.5, span[1] + 0.5, color="0.85", zorder=0, label="training range")
        else:
            stats = em_stats(frame, ["arch", column])
            groups = sorted(stats[column].unique(), key=lambda v: (_OPERATOR_ORDER.get(v, len(_OPERATOR_ORDER)), v))
            _grouped_bars(ax, stats, column, groups, groups)
            ax.set_xlabel(SLICES[column])
        ax.set_title(experiment if condition is None else f"{experiment} / {condition}", fontsize=10)
    _figure_legend(fig, axes, ncol=8, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9 if len(panels) <= 4 else 0.94))
    return fig


def fig_placement(summary: dict[str, Any]) -> plt.Figure:
    """Exact match of every THEX placement (columns: the attention blocks, `3+9` for two)
    per task (rows: experiment / condition, with the width and position embedding where the
    summary has several), for every condition that trained two placements or more."""
    runs = summary["runs"].assign(blocks=lambda r: r["arch_name"].map(thex_blocks)).dropna(subset=["blocks"])
    variant = runs["arch"].map(lambda label: split_label(label)[1])  # " d64", "/pos-none", or ""
    runs = runs.assign(task=runs["experiment"] + " / " + runs["condition"] + variant,
                       placement=runs["blocks"].map(lambda b: "+".join(map(str, b))))  # fmt: skip
    runs = runs[runs.groupby(["experiment", "condition"])["placement"].transform("nunique") > 1]
    fig, ax = plt.subplots(figsize=(7, max(3.5, 1.5 + 0.6 * runs["task"].nunique())))
    if runs.empty:
        _missing(ax, "no condition in these results trained two THEX placements or more")
        return fig
    grid = runs.groupby(["task", "placement"])["exact_match"].mean().unstack("placement")
    order = sorted(grid.columns, key=lambda p: tuple(int(b) for b in p.split("+")))
    grid = grid[order]
    image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="magma", vmin=0, vmax=max(1e-9, float(np.nanmax(grid.to_numpy()))))
    ax.set_xticks(range(grid.shape[1]), list(grid.columns))
    # The majority baseline of each task beside its name: a cell at it has learned nothing.
    base = summary["baselines"]
    base = base[base.split != "valid"].groupby(["experiment", "condition"])["majority_baseline"].mean()
    condition_of = runs.drop_duplicates("task").set_index("task")[["experiment", "condition"]].apply(tuple, axis=1)
    ax.set_yticks(range(grid.shape[0]), [f"{t}\n(majority {base.get(condition_of[t], np.nan):.2f})" for t in grid.index])
    for (i, j), value in np.ndenumerate(grid.to_numpy()):
        if np.isfinite(value):  # a placement not trained for that task stays blank
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8, color="w" if value < 0.5 * np.nanmax(grid.to_numpy()) else "k")
    ax.set_xlabel("blocks holding the attention mixer (THEX-i, 1-based)")
    ax.set_ylabel("task")
    fig.colorbar(image, ax=ax, label="exact match (mean over seeds)")
    fig.tight_layout()
    return fig


def fig_training_curves(summary: dict[str, Any]) -> plt.Figure:
    curves = summary["curves"]
    fig, axes, experiments = _experiment_grid(curves, 3.2)
    for ax, experiment in zip(axes, experiments):
        frame = curves[curves.experiment == experiment]
        for arch in _arch_order(frame.arch):
            part = frame[frame.arch == arch]
            # Mean over seeds and conditions at each step (they share the step grid).
            mean = part.groupby("step")[["tokens", "loss_answer", "loss_all"]].mean()
            ax.plot(mean["tokens"], mean["loss_answer"], color=arch_color(arch), label=f"{arch} answer")
            ax.plot(mean["tokens"], mean["loss_all"], color=arch_color(arch), linestyle="--", alpha=0.7, label=f"{arch} all tokens")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())
        ax.set_title(experiment)
        ax.set_xlabel("training tokens")
        ax.set_ylabel("loss (nats)")
    _figure_legend(fig, axes, ncol=6, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def _condition_panels(table: pd.DataFrame, missing: str) -> tuple[plt.Figure, list[tuple[Any, pd.DataFrame]]]:
    """A figure with one panel per (experiment, condition) of `table`, four to a row, each
    titled, with its rows; unused panels hidden; the `missing` text when there are none."""
    keys = sorted({(e, c) for e, c in zip(table.experiment, table.condition)})
    fig, axes = _panel_grid(len(keys), (4.2, 3.2))
    if not keys:
        _missing(axes[0], missing)
    panels = []
    for ax, (experiment, condition) in zip(axes, keys):
        ax.set_title(f"{experiment} / {condition}", fontsize=10)
        ax.set_ylim(-0.02, 1.02)
        panels.append((ax, table[(table.experiment == experiment) & (table.condition == condition)]))
    return fig, panels


def fig_learning_curves(summary: dict[str, Any]) -> plt.Figure:
    """Validation exact match against training tokens (the learning_curves table): one
    panel per (experiment, condition), one line per architecture (mean over seeds), the
    valid split's majority baseline dashed."""
    table = learning_curve_table(summary["curves"], summary["baselines"])
    fig, panels = _condition_panels(table, "no validation exact match in these results (training had no valid split)")
    if not panels:
        return fig
    for ax, frame in panels:
        for arch in _arch_order(frame.arch):
            line = frame[frame.arch == arch]
            ax.plot(line["tokens"], line["valid_exact_match"], color=arch_color(arch), marker=".", label=arch)
        baseline = frame["majority_baseline"].dropna()
        if len(baseline):
            ax.axhline(baseline.iloc[0], label="majority baseline", **BASELINE_STYLE)
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter())
        ax.set_xlabel("training tokens")
        ax.set_ylabel("validation exact match")
    _figure_legend(fig, fig.axes, ncol=8, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def fig_cost(summary: dict[str, Any]) -> plt.Figure:
    runs = summary["runs"].merge(summary["baselines"], on=["experiment", "condition", "split"], how="left")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for arch in _arch_order(runs.arch):
        part = runs[runs.arch == arch]
        left.scatter(part["train_flops"], part["exact_match"] - part["majority_baseline"], color=arch_color(arch), label=arch, s=14, alpha=0.8)
    left.axhline(0, label="majority baseline", **BASELINE_STYLE)
    left.set_xscale("log")
    left.set_xlabel("training FLOPs (analytic)")
    left.set_ylabel("exact match - majority baseline\n(one point per run and split)")
    left.legend(fontsize=8)
    per_arch = runs.drop_duplicates(["experiment", "condition", "arch", "seed"]).groupby("arch")["tokens_per_s"]
    archs = _arch_order(runs.arch)
    means = [per_arch.get_group(a).mean() for a in archs]
    right.bar(range(len(archs)), means, color=[arch_color(a) for a in archs])
    right.set_xticks(range(len(archs)), archs, rotation=30, ha="right")
    right.set_ylabel("training tokens/s (mean over runs)")
    device = ", ".join(sorted(runs["device"].astype(str).unique()))
    right.set_title(f"throughput on {device}")
    fig.tight_layout()
    return fig


def fig_claims_by_width(summary: dict[str, Any]) -> plt.Figure:
    """Each headline claim's paired difference (95% CI) against width, one panel per
    setting: the trend a reader can carry toward the paper's scale. Hollow markers: one of
    the two models had not converged; the verdict (Holm-adjusted) is written by each point.
    An orderings table with a `study` column (claims_across_studies) draws each study's
    points beside the others', one marker shape per study."""
    orderings = summary["orderings"]
    settings = list(dict.fromkeys(orderings["setting"])) if len(orderings) else []
    fig, axes = plt.subplots(1, max(1, len(settings)), figsize=(5.2 * max(1, len(settings)), 3.8), squeeze=False)
    if not settings:
        _missing(axes[0, 0], "no headline setting with two or more architectures in these results")
        return fig
    mark = {"supported": "+", "contradicted": "-", "undecided": "?"}
    studies = list(dict.fromkeys(orderings["study"])) if "study" in orderings else [None]
    for ax, setting in zip(axes.flat, settings):
        part = orderings[orderings.setting == setting]
        claims = list(dict.fromkeys(zip(part["claim"], part["thex"].fillna(""))))
        lines = [(claim, which, study) for claim, which in claims for study in studies]
        for k, (claim, which, study) in enumerate(lines):
            rows = part[(part.claim == claim) & (part["thex"].fillna("") == which)]
            rows = (rows if study is None else rows[rows.study == study]).sort_values("d_model")
            if rows.empty:
                continue
            x = rows["d_model"].to_numpy(dtype=float) * (1 + 0.04 * (k - (len(lines) - 1) / 2))  # side by side
            color = plt.get_cmap("tab10")(claims.index((claim, which)) % 10)
            marker = "osD^v"[studies.index(study) % 5]
            label = claim + (f" ({which})" if which else "") + (f", {study}" if study is not None else "")
            yerr = np.vstack([(rows["difference"] - rows["ci_low"]).to_numpy(), (rows["ci_high"] - rows["difference"]).to_numpy()])
            ax.errorbar(x, rows["difference"], yerr=yerr, color=color, capsize=3, label=label, marker="none",
                        linestyle="-" if studies.index(study) == 0 else ":")  # fmt: skip
            for xi, row in zip(x, rows.itertuples()):
                converged = row.converged == "converged"
                ax.plot(xi, row.difference, marker=marker, color=color, markerfacecolor=color if converged else "white")
                ax.annotate(mark[row.verdict], (xi, row.ci_high), textcoords="offset points", xytext=(0, 3), ha="center", fontsize=9, color=color)
        ax.axhline(0, color="k", linewidth=1)
        ax.set_xscale("log", base=2)
        widths = sorted(part["d_model"].unique())
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.set_xlabel("model width (d_model)")
        ax.set_ylabel("exact-match difference (better - worse)")
        ax.set_title(setting)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.tight_layout()
    return fig


def claims_across_studies(orderings: Mapping[str, str | os.PathLike], out: str | os.PathLike) -> pd.DataFrame:
    """The claims every study tests (setting and claim, whichever THEX role), each study's
    difference and interval against width in one figure (PNG or SVG by out's suffix);
    `orderings` maps a study's label to its orderings.csv. Returns the rows drawn."""
    frames = []
    for study, path in orderings.items():
        frame = pd.read_csv(path)
        frames.append(frame.assign(study=study, thex=""))  # the role differs between studies; the claim names the THEX
    keys = [set(zip(f["setting"], f["claim"])) for f in frames]
    common = set.intersection(*keys) if keys else set()
    if not common:
        raise ValueError(f"no claim (setting, claim) is tested by every one of {', '.join(orderings)}")
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[[key in common for key in zip(rows["setting"], rows["claim"])]]
    fig = fig_claims_by_width({"orderings": rows})
    fig.suptitle("The paper's claims: paired difference (95% CI) against width, by study", fontsize=11, y=1.03)
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip("."), dpi=130 if out.suffix == ".png" else None, bbox_inches="tight")
    plt.close(fig)
    return rows


def fig_lr_tuning(summary: dict[str, Any]) -> plt.Figure:
    """Validation exact match against the learning rate for every cell with a grid: one
    panel per (experiment, condition), one line per model and width, the selected rate
    starred. An optimum at the end of a line is not bracketed."""
    table = summary["tuning"]
    table = table[table["grid_size"] > 1]
    fig, panels = _condition_panels(table, "no learning-rate grid (sweep.lr) in these results:\neach cell trained one configured rate")
    if not panels:
        fig.suptitle("Learning-rate selection: validation exact match against learning rate", fontsize=11)
        return fig
    # the same labels as every other figure's (model_labels, and the width where there are several)
    several = table["d_model"].nunique() > 1
    labels = model_labels(table) + (" d" + table["d_model"].astype(str) if several else "")
    for ax, frame in panels:
        for label, line in frame.groupby(labels.loc[frame.index], sort=True):
            line = line.sort_values("lr")
            ax.plot(line["lr"], line["valid_exact_match"], color=arch_color(label), marker=".", label=label)
            chosen = line[line.selected]
            ax.plot(chosen["lr"], chosen["valid_exact_match"], color=arch_color(label), marker="*", markersize=12, linestyle="none")
        ax.set_xscale("log")
        rates = sorted(frame["lr"].unique())
        ax.set_xticks(rates, [f"{lr:g}" for lr in rates])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("learning rate")
        ax.set_ylabel("validation exact match")
    _figure_legend(fig, fig.axes, ncol=6, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def _probe_labels(table: pd.DataFrame) -> pd.Series:
    """A probe table's model label, with its width where the table has several."""
    if table["d_model"].nunique() < 2:
        return table["model"].astype(str)
    return table["model"].astype(str) + " d" + table["d_model"].astype(str)


def _probe_panels(table: pd.DataFrame, missing: str) -> tuple[plt.Figure, list[tuple[Any, pd.DataFrame]]]:
    """_condition_panels of a probe table, each panel's rows with their model `label`."""
    fig, panels = _condition_panels(table, missing)
    return fig, [(ax, frame.assign(label=_probe_labels(frame))) for ax, frame in panels]


NO_PROBES = "no probe results in these results (the probe stage did not run)"


def fig_ablations(summary: dict[str, Any]) -> plt.Figure:
    """Drop in exact match when one block's mixer or MLP is mean-ablated (the ablations
    table, mean over evaluation splits): one heatmap per (experiment, condition), a row per
    model, a column per block and component."""
    fig, panels = _probe_panels(ablation_table(summary["ablations"], summary["evaluations"]), NO_PROBES)
    for ax, frame in panels:
        frame = frame.assign(column=frame["block"].astype(str) + " " + frame["component"])
        grid = frame.pivot_table(index="label", columns="column", values="drop", aggfunc="mean")
        grid = grid.reindex(index=[m for m in _arch_order(grid.index)],
                            columns=sorted(grid.columns, key=lambda c: (int(c.split()[0]), c)))  # fmt: skip
        image = ax.imshow(grid.to_numpy(), cmap="Reds", vmin=0, vmax=max(0.05, float(np.nanmax(grid.to_numpy()))), aspect="auto")
        ax.set_ylim(len(grid.index) - 0.5, -0.5)  # the panel's exact-match limits do not apply to a heatmap
        ax.set_yticks(range(len(grid.index)), grid.index, fontsize=8)
        ax.set_xticks(range(len(grid.columns)), [c.replace(" ", "\n") for c in grid.columns], fontsize=7)
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xlabel("block, component ablated")
        fig.colorbar(image, ax=ax, label="exact-match drop", shrink=0.8)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def fig_probes(summary: dict[str, Any]) -> plt.Figure:
    """Linear-probe accuracy against depth (the probes table; accuracy and 95% CI bounds
    averaged over evaluation splits): one panel per (experiment, condition, target: the
    answer's first token, a global's value), one line per model, the commonest label dashed."""
    table = probe_table(summary["probes"])
    table = table.assign(condition=table["condition"] + ": " + table["target"].str.replace("_", " "))
    fig, panels = _probe_panels(table, NO_PROBES)
    if not panels:
        return fig
    for ax, frame in panels:
        for label in _arch_order(frame["label"]):
            line = frame[frame["label"] == label].groupby("depth")[["accuracy", "ci_low", "ci_high"]].mean().reset_index()
            ax.errorbar(line["depth"], line["accuracy"], yerr=[line["accuracy"] - line["ci_low"], line["ci_high"] - line["accuracy"]],
                        color=arch_color(label.split(" ")[0]), marker=".", capsize=2, label=label)  # fmt: skip
        ax.axhline(float(frame["majority_baseline"].mean()), label="commonest label", **BASELINE_STYLE)
        ax.set_xlabel("depth (0: embedding, k: after block k)")
        ax.set_ylabel("probe accuracy")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _figure_legend(fig, fig.axes, ncol=8, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


ROLE_COLORS = dict(zip(ROLES, plt.get_cmap("tab10").colors))


def fig_attention_roles(summary: dict[str, Any]) -> plt.Figure:
    """Where each attention block looks from the answer-predicting position (the
    attention_roles table, mean over heads, seeds and evaluation splits): one panel per
    (experiment, condition), a stacked bar per (model, attention block), and last the bar
    of a head that attends evenly to the same positions."""
    fig, panels = _probe_panels(attention_table(summary["attention"]), "no attention blocks probed in these results")
    if not panels:
        return fig
    for ax, frame in panels:
        shares = frame.pivot_table(index=["label", "block"], columns="role", values="weight", aggfunc="mean").reindex(columns=list(ROLES))
        order = sorted(shares.index, key=lambda k: (label_order(k[0]), k[1]))
        shares = shares.reindex(order).fillna(0.0)
        even = frame.groupby("role").uniform_weight.mean().reindex(list(ROLES))
        if even.notna().any():  # the bar of a head attending evenly over the same positions
            shares.loc[("even attention", 0), :] = even.fillna(0.0).to_numpy()
        left = np.zeros(len(shares))
        for role in ROLES:
            ax.barh(range(len(shares)), shares[role], left=left, color=ROLE_COLORS[role], label=role)
            left += shares[role].to_numpy()
        ax.set_yticks(range(len(shares)), [f"{label} b{block}" if block else label for label, block in shares.index], fontsize=8)
        ax.set_ylim(len(shares) - 0.5, -0.5)
        ax.set_xlim(0, 1)
        ax.set_xlabel("attention from the answer position")
    _figure_legend(fig, fig.axes, ncol=8, models=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


@dataclass(frozen=True)
class Figure:
    """One figure: its title, how it is drawn from the summary, and whether the title goes
    on top (figures with a legend row across the top carry the title in the report's
    caption instead). Its report caption is workflow/report/<name>.rst."""

    title: str
    draw: Callable[[dict[str, Any]], plt.Figure]
    titled: bool = True


# The one registry of figures: the workflow's outputs, the report and write_figures read it.
FIGURES: dict[str, Figure] = {
    "em_by_architecture": Figure("Exact match by architecture for each experiment", fig_em_by_architecture, titled=False),
    **{f"em_by_{column}": Figure(f"Exact match by {axis}", partial(fig_by_slice, column=column), titled=False) for column, axis in SLICES.items()},
    "em_by_placement": Figure("Exact match by position of the attention block (THEX placements)", fig_placement),
    "learning_curves": Figure("Learning curves: validation exact match vs training tokens", fig_learning_curves, titled=False),
    "training_curves": Figure("Training curves: answer loss and all-token loss", fig_training_curves, titled=False),
    "cost": Figure("Cost: exact match vs training FLOPs, and throughput", fig_cost),
    "claims_by_width": Figure("The paper's claims: paired difference (95% CI) against model width", fig_claims_by_width),
    "lr_tuning": Figure("Learning-rate selection: validation exact match against learning rate", fig_lr_tuning, titled=False),
    "ablations": Figure("Block ablations: exact-match drop with one block's mixer or MLP mean-ablated", fig_ablations),
    "probes": Figure("Linear probes: the answer's first token decoded at each depth", fig_probes, titled=False),
    "attention_roles": Figure("Attention roles: where attention blocks look from the answer position", fig_attention_roles, titled=False),
}


def write_figures(summary_dir: str | os.PathLike, out_dir: str | os.PathLike, headline: dict[str, Headline] | None = None) -> list[Path]:
    raw = load_summary(summary_dir)
    progress = run_progress(raw["curves"], raw["baselines"])
    summary = _with_display_labels(raw)
    summary["orderings"] = orderings_table(raw["evaluations"], headline or {}, raw["selection"], progress)
    summary["tuning"] = tuning_table(raw["selection"], progress)
    out_dir = Path(out_dir)
    written = []
    labels = set(summary["runs"]["arch"])  # display labels ("gpt2 d64") and, for the probe figures, their models
    _palette.update(figure_palette(labels | {label.split(" ")[0] for label in labels}))
    try:
        for name, figure in FIGURES.items():
            fig = figure.draw(summary)
            if figure.titled:
                fig.suptitle(figure.title, fontsize=11, y=0.995)
            for suffix in ("png", "svg"):
                with atomic_path(out_dir / f"{name}.{suffix}") as tmp:
                    fig.savefig(tmp, format=suffix, dpi=130 if suffix == "png" else None, bbox_inches="tight")
                written.append(out_dir / f"{name}.{suffix}")
            plt.close(fig)
    finally:
        _palette.clear()
    return written
