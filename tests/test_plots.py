"""What the figures show: the plotted data, read back from the axes' artists."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from thex.aggregate import _arch_order
from thex.plots import FIGURES, arch_color, fig_by_slice, fig_claims_by_width, fig_em_by_architecture, fig_learning_curves, fig_placement


CELL = {"experiment": "globals", "condition": "with", "d_model": 32, "pos_emb": "auto", "lr": 0.01, "reported": True}


def _summary() -> dict:
    curves = []
    for arch, ems in {"gpt2": [0.2, 0.5], "hyena": [0.1, 0.3]}.items():
        for seed, shift in enumerate([0.0, 0.1]):
            for step, em in zip([100, 200], ems):
                curves.append({**CELL, "arch": arch, "seed": seed, "step": step,
                               "tokens": step * 1000, "valid_exact_match": em + shift, "valid_answer_loss": 1.0})  # fmt: skip
            curves.append({**CELL, "arch": arch, "seed": seed, "step": 150,
                           "tokens": 150_000, "valid_exact_match": None, "valid_answer_loss": None})  # not a validation step  # fmt: skip
        # a tuning run at another rate: not drawn
        curves.append({**CELL, "arch": arch, "lr": 0.1, "reported": False, "seed": 0, "step": 200, "tokens": 200_000,
                       "valid_exact_match": 0.99, "valid_answer_loss": 1.0})  # fmt: skip
    evaluations = []
    for arch, right in {"gpt2": 3, "hyena": 1}.items():
        for split in ("test_lola", "test_meme"):
            for i in range(4):
                evaluations.append({"experiment": "multilang", "condition": "mix", "arch": arch, "seed": 0, "split": split,
                                    "id": i, "language": split[5:], "exact_match": i < right,
                                    "majority_correct": i == 0})  # fmt: skip
    baselines = pd.DataFrame([{"experiment": "globals", "condition": "with", "split": "valid", "majority_baseline": 0.17}])
    return {"curves": pd.DataFrame(curves), "evaluations": pd.DataFrame(evaluations), "baselines": baselines}


def test_learning_curves_plot_mean_validation_exact_match_and_the_baseline():
    fig = fig_learning_curves(_summary())
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["gpt2"].get_xdata(), [100_000, 200_000])
    np.testing.assert_allclose(lines["gpt2"].get_ydata(), [0.25, 0.55])  # mean over the two seeds
    np.testing.assert_allclose(lines["hyena"].get_ydata(), [0.15, 0.35])
    assert lines["majority baseline"].get_ydata()[0] == pytest.approx(0.17)
    assert lines["majority baseline"].get_linestyle() == "--"
    assert ax.get_title() == "globals / with"
    plt.close(fig)


def test_multilang_bars_and_baseline_segments_show_the_exact_match_per_language():
    fig = fig_by_slice(_summary(), "language")
    ax = fig.axes[0]
    heights = [round(p.get_height(), 3) for p in ax.patches]
    assert heights == [0.75, 0.75, 0.25, 0.25]  # gpt2 (lola, meme), then hyena
    # One dashed baseline segment per language group, at 0.25 (the majority answer is right on 1 item of 4).
    # (The error bars are vertical segments; the baselines are the horizontal ones.)
    segments = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    baselines = [seg for seg in segments if seg[0][1] == seg[1][1]]
    assert len(baselines) == 2 and all(seg[0][1] == pytest.approx(0.25) for seg in baselines)
    # Error bars: the 95% bootstrap CI of 3 right of 4 items reaches 1.0.
    assert any(seg[1][1] == pytest.approx(1.0) for seg in segments if seg[0][0] == seg[1][0])
    plt.close(fig)


def test_em_by_architecture_draws_each_arch_once_per_group():
    summary = _summary()
    fig = fig_em_by_architecture(summary)
    ax = fig.axes[0]
    assert ax.get_title() == "multilang"
    assert sorted(round(p.get_height(), 3) for p in ax.patches) == [0.25, 0.25, 0.75, 0.75]
    plt.close(fig)


def test_every_bar_has_its_architecture_colour_and_legend_entry():
    fig = fig_by_slice(_summary(), "language")
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    bars = {label: handle for handle, label in zip(handles, labels) if label != "majority baseline"}
    assert set(bars) == {"gpt2", "hyena"}
    for label, container in bars.items():
        for patch in container.patches:
            assert matplotlib.colors.to_hex(patch.get_facecolor()) == arch_color(label)
    # gpt2 is right on 3 of 4 items: its bars, in gpt2's colour, are the tall ones.
    assert [round(p.get_height(), 2) for p in bars["gpt2"].patches] == [0.75, 0.75]
    assert arch_color("gpt2") != arch_color("hyena") and arch_color("gpt2 d64") != arch_color("gpt2")
    plt.close(fig)


def test_claims_by_width_draws_each_claim_against_width_with_its_interval():
    orderings = pd.DataFrame([
        {"setting": "globals", "d_model": d, "claim": "hyena > gpt2", "thex": "", "difference": diff, "ci_low": diff - 0.1,
         "ci_high": diff + 0.1, "verdict": verdict, "converged": "converged" if d == 32 else "not converged"}
        for d, diff, verdict in ((32, -0.2, "contradicted"), (64, 0.05, "undecided"))])  # fmt: skip
    fig = fig_claims_by_width({"orderings": orderings})
    ax = fig.axes[0]
    points = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [(round(float(p.get_xdata()[0])), round(float(p.get_ydata()[0]), 3)) for p in points] == [(32, -0.2), (64, 0.05)]
    assert points[1].get_markerfacecolor() == "white"  # not converged: hollow
    assert [t.get_text() for t in ax.texts] == ["-", "?"]
    caps = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert sorted(round(seg[0][1], 3) for seg in caps) == [-0.3, -0.05]  # error bars from ci_low
    plt.close(fig)


def test_claims_across_studies_draws_the_claims_every_study_tests_one_marker_per_study(tmp_path):
    import subprocess
    import sys

    def orderings(rows):
        return pd.DataFrame([{"setting": "globals", "d_model": d, "claim": claim, "thex": role, "difference": diff, "ci_low": diff - 0.1,
                              "ci_high": diff + 0.1, "verdict": "undecided", "converged": "converged"} for d, claim, role, diff in rows])  # fmt: skip

    orderings([(32, "hyena > gpt2", "", 0.1), (64, "hyena > gpt2", "", 0.2), (64, "thex-3 > gpt2", "paper depth", 0.3)]).to_csv(tmp_path / "a.csv", index=False)
    orderings([(64, "hyena > gpt2", "", 0.25), (64, "thex-1 > gpt2", "chosen", 0.4)]).to_csv(tmp_path / "b.csv", index=False)
    from thex.plots import claims_across_studies

    rows = claims_across_studies({"3 seeds": tmp_path / "a.csv", "10 seeds": tmp_path / "b.csv"}, tmp_path / "claims.png")
    assert sorted(zip(rows["study"], rows["d_model"], rows["difference"])) == [("10 seeds", 64, 0.25), ("3 seeds", 32, 0.1), ("3 seeds", 64, 0.2)]
    assert (tmp_path / "claims.png").stat().st_size > 10_000
    fig = fig_claims_by_width({"orderings": rows})
    points = {(line.get_marker(), float(line.get_ydata()[0])): float(line.get_xdata()[0]) for line in fig.axes[0].get_lines() if line.get_marker() in "os"}
    assert sorted(points) == [("o", 0.1), ("o", 0.2), ("s", 0.25)]  # one shape per study
    assert 60 < points["o", 0.2] < points["s", 0.25] < 68 and 30 < points["o", 0.1] < 34  # side by side at its width
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["hyena > gpt2, 3 seeds", "hyena > gpt2, 10 seeds"]
    plt.close(fig)
    # no claim in common: one line naming the studies
    orderings([(64, "thex-1 > gpt2", "chosen", 0.4)]).to_csv(tmp_path / "c.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "thex", "claims", "--study", f"a={tmp_path / 'a.csv'}", "--study", f"c={tmp_path / 'c.csv'}",
                          "--out", str(tmp_path / "none.png")], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2 and run.stderr.strip() == "thex claims: error: no claim (setting, claim) is tested by every one of a, c"
    assert not (tmp_path / "none.png").exists()


def test_no_two_labels_of_a_summary_share_a_colour_and_each_keeps_its_own_where_it_can():
    import zlib

    from thex.plots import _EXTRA_COLORS, figure_palette

    # two mixer lists whose names fall on the same colour, beside the paper's models
    lists = [f"hyena.{'.'.join(['attn'] * k)}" for k in range(1, 60)]
    first, second = next((a, b) for a in lists for b in lists
                         if a < b and zlib.crc32(a.encode()) % len(_EXTRA_COLORS) == zlib.crc32(b.encode()) % len(_EXTRA_COLORS))  # fmt: skip
    labels = ["gpt2", "hyena", "thex-1", "thex-2", "thex-1 d64", "thex-1 d32", first, second]
    palette = figure_palette(labels)
    assert len(set(palette.values())) == len(labels)  # every label its own colour
    assert all(palette[label] == arch_color(label) for label in ("gpt2", "hyena", "thex-1", "thex-2", first))  # stable per name
    assert palette[second] != arch_color(second) and palette[second] in _EXTRA_COLORS
    assert not {palette[first], palette[second]} & {arch_color(f"thex-{i}") for i in range(1, 9)}  # never a THEX's colour
    assert figure_palette(reversed(labels)) == palette  # the same whatever order they come in
    assert len(set(figure_palette([f"hyena.{'.'.join(['attn'] * k)}" for k in range(1, 40)]).values())) == 39  # past tab20b's 20


def test_every_placement_gets_its_own_colour_and_column_two_block_ones_included():
    colours = {arch_color(f"thex-{i}") for i in range(1, 17)}
    assert len(colours) == 16 and not colours & {arch_color("gpt2"), arch_color("hyena")}

    # any experiment that trained two placements or more, whatever its name; a condition
    # with one THEX variant (the headline's) has no row
    runs = pd.DataFrame([{"experiment": "sweep", "condition": "globals", "arch": arch, "arch_name": arch, "exact_match": em}
                         for arch, em in (("thex-1", 0.6), ("thex-3", 0.3), ("thex-3+9", 0.5), ("thex-12", 0.4), ("gpt2", 0.9))]
                        + [{"experiment": "globals", "condition": "with", "arch": "thex-3", "arch_name": "thex-3", "exact_match": 0.2}])  # fmt: skip
    baselines = pd.DataFrame([{"experiment": "sweep", "condition": "globals", "split": "test", "majority_baseline": 0.16}])
    fig = fig_placement({"runs": runs, "baselines": baselines})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3", "3+9", "12"]
    assert [t.get_text() for t in ax.texts] == ["0.60", "0.30", "0.50", "0.40"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sweep / globals\n(majority 0.16)"]
    plt.close(fig)


def test_every_registered_figure_has_a_report_caption():
    from pathlib import Path

    report = Path(__file__).resolve().parents[1] / "workflow" / "report"
    for name in FIGURES:
        assert (report / f"{name}.rst").read_text().strip(), name


def _slice_summary() -> dict:
    """Evaluations of experiments named as no figure knows them: `deep` varies hops within
    its one condition, `world` varies G across conditions that differ in G alone, `tasks`
    across conditions that differ in more (another task, not G's effect)."""
    rows = []

    def add(experiment, condition, arch, right, **slices):
        for i in range(4):
            rows.append({"experiment": experiment, "condition": condition, "arch": arch, "seed": 0, "split": "test",
                         "id": len(rows), "exact_match": i < right, "majority_correct": i == 0, **slices})  # fmt: skip

    for arch, right in {"gpt2": 3, "hyena": 1}.items():
        add("deep", "base", arch, right, hops=0.0, n_globals=0)
        add("deep", "base", arch, right - 1, hops=2.0, n_globals=0)
        for g, condition in ((10, "G10"), (1000, "G1000")):
            add("world", condition, arch, right if g == 10 else 0, hops=1.0, n_globals=g)
            add("tasks", condition, arch, right, hops=1.0, n_globals=g)
    programs = {"n_statements": [1, 3], "operators": ["add"]}
    datasets = {"world/G10": {"programs": {**programs, "n_globals": 10, "p_global": 0.3}, "splits": {"train": {"exposures": 20}}},
                "world/G1000": {"programs": {**programs, "n_globals": 1000, "p_global": 0.3}, "splits": {"train": {"exposures": 1}}},
                "tasks/G10": {"programs": {**programs, "n_globals": 10, "languages": {"lola": 1.0}}},
                "tasks/G1000": {"programs": {**programs, "n_globals": 1000, "languages": {"meme": 1.0}}}}  # fmt: skip
    return {"evaluations": pd.DataFrame(rows), "datasets": datasets}


def _lines(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(x, y) of each drawn line by its legend label: error-bar lines (a container each) and plain ones."""
    lines = {**{line.get_label(): line for line in ax.get_lines()}, **{c.get_label(): c.lines[0] for c in ax.containers}}
    return {label: (np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)) for label, line in lines.items()}


def test_slice_figures_draw_any_experiment_that_varies_the_column():
    fig = fig_by_slice(_slice_summary(), "hops")
    drawn = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    assert [ax.get_title() for ax in drawn] == ["deep / base"]  # the others hold one value of hops
    lines = _lines(drawn[0])
    np.testing.assert_allclose(lines["gpt2"], [[0, 2], [0.75, 0.5]])
    np.testing.assert_allclose(lines["hyena"], [[0, 2], [0.25, 0.0]])
    np.testing.assert_allclose(lines["majority baseline"], [[0, 2], [0.25, 0.25]])
    plt.close(fig)


def test_a_knob_varied_across_conditions_is_drawn_only_where_it_varies_alone():
    fig = fig_by_slice(_slice_summary(), "n_globals")
    drawn = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in drawn] == ["world"]  # `tasks` changes the language too
    ax = drawn[0]
    np.testing.assert_allclose(_lines(ax)["gpt2"], [[10, 1000], [0.75, 0.0]])
    assert ax.get_xscale() == "log"  # G spans a factor of 100
    plt.close(fig)
    nothing = fig_by_slice(_slice_summary(), "depth")  # no such column in these results
    assert [t.get_text() for t in nothing.axes[0].texts] == ["no experiment in these results varies depth"]
    plt.close(nothing)


def test_the_training_range_is_shaded_only_where_a_test_split_draws_other_lengths():
    rows = [{"experiment": e, "condition": "base", "arch": "gpt2", "seed": 0, "split": "test", "id": n * 10 + i,
             "n_statements": float(n), "exact_match": i == 0, "majority_correct": False}
            for e in ("longer", "same") for n in (1, 2, 5) for i in range(2)]  # fmt: skip
    programs = {"n_statements": [1, 2], "distractors": [0, 1]}
    datasets = {"longer/base": {"programs": programs, "splits": {"train": {"n": 10}, "test": {"n_statements": [1, 4]}}},
                "same/base": {"programs": programs, "splits": {"train": {"n": 10}, "test": {"n": 5}}}}
    fig = fig_by_slice({"evaluations": pd.DataFrame(rows), "datasets": datasets}, "n_statements")
    shaded = {ax.get_title(): [p.get_label() for p in ax.patches] for ax in fig.axes if ax.axison}
    assert shaded == {"longer / base": ["training range"], "same / base": []}
    band = next(ax for ax in fig.axes if ax.get_title() == "longer / base").patches[0]
    assert (band.get_x(), band.get_x() + band.get_width()) == (0.5, 3.5)  # statements 1-2 plus up to 1 distractor
    plt.close(fig)


def test_models_are_ordered_by_architecture_whatever_the_label():
    labels = ["majority", "hyena.attn", "thex-12", "gpt2 d64", "thex-2", "hyena", "gpt2/pos-none", "gpt2", "thex-3+9"]
    assert _arch_order(labels) == ["gpt2", "gpt2 d64", "gpt2/pos-none", "hyena", "thex-2", "thex-3+9", "thex-12", "hyena.attn", "majority"]


def test_every_slice_column_has_its_figure():
    from thex.aggregate import SLICES

    assert {f"em_by_{column}" for column in SLICES} <= set(FIGURES)
