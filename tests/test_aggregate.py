"""Statistics and tables of the aggregation stage, on hand-made results."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from thex.aggregate import ci95, experiment_table, headline_table, slice_table, to_markdown
from thex.experiments import Headline, parse_run_path


def test_ci95_uses_student_t():
    mean, half = ci95([0.0, 1.0])
    assert mean == 0.5 and half == pytest.approx(12.706 * math.sqrt(0.5) / math.sqrt(2))
    mean, half = ci95([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and half == pytest.approx(4.303 * 0.2 / math.sqrt(3))
    assert math.isnan(ci95([0.3])[1])


def _runs() -> pd.DataFrame:
    rows = []
    for arch, ems in {"gpt2": [0.1, 0.3], "hyena": [0.5, 0.5], "thex-3": [0.6, 0.8]}.items():
        for seed, em in enumerate(ems):
            rows.append({"experiment": "globals", "condition": "with", "split": "test", "arch": arch, "seed": seed,
                         "exact_match": em, "parameters": 100, "train_tokens": 1000, "tokens_per_s": 50.0,
                         "final_loss_answer": 0.1, "final_loss_all": 2.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_experiment_table_means_over_seeds():
    table = experiment_table(_runs()).set_index("arch")
    assert table.loc["gpt2", "em_mean"] == pytest.approx(0.2)
    assert table.loc["hyena", "em_ci95"] == 0.0
    assert table.loc["thex-3", "n_seeds"] == 2 and table.loc["thex-3", "parameters"] == 100


def test_headline_table_puts_author_numbers_beside_ours():
    spec = Headline(experiment="globals", condition="with", thex="thex-3", reported={"gpt2": 0.007, "hyena": 0.14, "thex": 0.36})
    table = headline_table(_runs(), {"globals": spec})
    assert list(table.arch) == ["gpt2", "hyena", "thex-3"]
    assert list(table.author_reported_em) == [0.007, 0.14, 0.36]
    assert table.em_mean.tolist() == pytest.approx([0.2, 0.5, 0.7])


def test_slice_table_averages_samples_then_seeds_and_explodes_operators():
    rows = []
    for seed, results in enumerate([[1, 0, 1, 1], [0, 0, 1, 1]]):
        for i, em in enumerate(results):
            rows.append({"experiment": "ops", "condition": "base", "arch": "gpt2", "seed": seed, "split": "test",
                         "operators": ["add", "add,mul", "mul", "mul"][i], "exact_match": bool(em)})  # fmt: skip
    table = slice_table(pd.DataFrame(rows), "operators").set_index("operators")
    # add (rows 0, 1): seed 0 -> 1/2, seed 1 -> 0/2; mul (rows 1, 2, 3): 2/3 in both seeds
    assert table.loc["add", "em_mean"] == pytest.approx(0.25)
    assert table.loc["mul", "em_mean"] == pytest.approx(2 / 3)
    assert table.loc["mul", "n_samples"] == 6


def test_markdown_table():
    text = to_markdown(pd.DataFrame({"arch": ["gpt2"], "em": [0.12345], "ci": [float("nan")]}), "T", "note")
    assert text.splitlines() == ["## T", "", "note", "", "| arch | em | ci |", "|---|---|---|", "| gpt2 | 0.123 | - |"]


def test_run_paths_encode_their_job():
    assert parse_run_path("results/placement/globals/thex-3+9/seed2") == {
        "experiment": "placement", "condition": "globals", "arch": "thex-3+9", "seed": 2,
    }  # fmt: skip
