"""What the figures show: the plotted data, read back from the axes' artists."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from thex.plots import fig_em_by_architecture, fig_learning_curves, fig_multilang


def _summary() -> dict:
    curves = []
    for arch, ems in {"gpt2": [0.2, 0.5], "hyena": [0.1, 0.3]}.items():
        for seed, shift in enumerate([0.0, 0.1]):
            for step, em in zip([100, 200], ems):
                curves.append({"experiment": "globals", "condition": "with", "arch": arch, "seed": seed, "step": step,
                               "tokens": step * 1000, "valid_exact_match": em + shift, "valid_answer_loss": 1.0})  # fmt: skip
            curves.append({"experiment": "globals", "condition": "with", "arch": arch, "seed": seed, "step": 150,
                           "tokens": 150_000, "valid_exact_match": None, "valid_answer_loss": None})  # not a validation step  # fmt: skip
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
    fig = fig_multilang(_summary())
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
