"""Statistics and tables of the aggregation stage, on hand-made results."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thex.aggregate import (
    comparisons_table,
    experiment_table,
    headline_table,
    majority_answer,
    orderings_sentence,
    orderings_table,
    slice_table,
    to_markdown,
)
from thex.experiments import Headline, parse_run_path
from thex.stats import em_interval, outcome_matrix, paired_difference


def test_bootstrap_interval_over_items_matches_the_binomial_width():
    # One seed, 300 of 1000 items right: the normal approximation gives 0.3 +- 0.0284.
    matrix = np.zeros((1, 1000))
    matrix[0, :300] = 1
    mean, low, high = em_interval(matrix)
    assert mean == pytest.approx(0.3)
    assert low == pytest.approx(0.3 - 0.0284, abs=0.006) and high == pytest.approx(0.3 + 0.0284, abs=0.006)
    assert em_interval(np.ones((1, 50))) == (1.0, 1.0, 1.0)


def test_hierarchical_bootstrap_widens_with_disagreeing_seeds():
    # Two seeds that disagree (0.2 and 0.8) must not give the narrow item-only interval.
    rng = np.random.default_rng(0)
    items = 1000
    seeds = np.vstack([rng.random(items) < 0.2, rng.random(items) < 0.8]).astype(float)
    mean, low, high = em_interval(seeds)
    assert mean == pytest.approx(0.5, abs=0.02)
    assert low < 0.3 and high > 0.7
    # Seeds that agree keep it narrow.
    agree = np.vstack([seeds[0], seeds[0]])
    _, low, high = em_interval(agree)
    assert high - low < 0.07


def test_paired_difference_sees_what_separate_intervals_cannot():
    # b is right on 40% of items; a on the same items plus 3% more. The separate 95% CIs
    # overlap, but on the same items the difference is always +0.03.
    b = np.zeros((1, 1000))
    b[0, :400] = 1
    a = b.copy()
    a[0, 400:430] = 1
    (_, a_low, _), (_, _, b_high) = em_interval(a), em_interval(b)
    assert a_low < b_high
    diff, low, high = paired_difference(a, b)
    assert diff == pytest.approx(0.03) and low > 0.015 and high < 0.045
    assert paired_difference(b, b) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same items"):
        paired_difference(a, b[:, :10])


def test_outcome_matrix_refuses_seeds_scored_on_different_items():
    frame = pd.DataFrame({"seed": [0, 0, 1], "id": [0, 1, 0], "exact_match": [True, False, True]})
    with pytest.raises(ValueError, match="different items"):
        outcome_matrix(frame)
    assert outcome_matrix(frame[frame.seed == 0]).tolist() == [[1.0, 0.0]]


def test_majority_answer_is_the_commonest_with_ties_to_the_smallest(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(pa.table({"answer": ["7", "3", "7", "3", "12"]}), path)
    assert majority_answer(path) == "3"
    pq.write_table(pa.table({"answer": ["7", "3", "7"]}), path)
    assert majority_answer(path) == "7"


def _evaluations(outcomes: dict[str, list[list[int]]], majority: list[int], split: str = "test") -> pd.DataFrame:
    """Per-item rows: outcomes[arch][seed][item]; `majority` marks the items the majority answer gets right."""
    rows = []
    for arch, per_seed in outcomes.items():
        for seed, results in enumerate(per_seed):
            for i, em in enumerate(results):
                rows.append({"experiment": "globals", "condition": "with", "split": split, "arch": arch, "seed": seed,
                             "id": i, "exact_match": bool(em), "majority_correct": bool(majority[i]),
                             "operators": ["add", "add,mul", "mul", "mul"][i % 4], "n_statements": 1 + i % 2})  # fmt: skip
    return pd.DataFrame(rows)


def _runs(evaluations: pd.DataFrame) -> pd.DataFrame:
    runs = evaluations.groupby(["experiment", "condition", "split", "arch", "seed"], as_index=False)["exact_match"].mean()
    return runs.assign(parameters=100, train_tokens=1000, train_wall_s=2.0, tokens_per_s=50.0, final_loss_answer=0.1, final_loss_all=2.0)


N = 200
MAJORITY = [1 if i < 40 else 0 for i in range(N)]  # the commonest answer is right on 20% of items
OUTCOMES = {
    "gpt2": [MAJORITY, MAJORITY],  # prints the majority answer: at the baseline
    "hyena": [[1 if i < 100 else 0 for i in range(N)]] * 2,  # 0.5
    "thex-3": [[1 if i < 160 else 0 for i in range(N)], [1 if i < 140 else 0 for i in range(N)]],  # 0.8, 0.7
}


def test_experiment_table_has_ci_and_majority_baseline():
    evaluations = _evaluations(OUTCOMES, MAJORITY)
    table = experiment_table(evaluations, _runs(evaluations)).set_index("arch")
    assert table.loc["gpt2", "em_mean"] == pytest.approx(0.2) and table.loc["thex-3", "em_mean"] == pytest.approx(0.75)
    assert table["majority_baseline"].tolist() == pytest.approx([0.2] * 3)
    assert table.loc["thex-3", "em_ci_low"] < 0.75 < table.loc["thex-3", "em_ci_high"]
    assert table.loc["thex-3", "n_seeds"] == 2 and table.loc["thex-3", "n_items"] == N and table.loc["thex-3", "parameters"] == 100
    assert table.above_baseline.to_dict() == {"gpt2": False, "hyena": True, "thex-3": True}


def test_comparisons_table_pairs_every_architecture_and_the_majority():
    table = comparisons_table(_evaluations(OUTCOMES, MAJORITY)).set_index(["arch_a", "arch_b"])
    assert len(table) == 6  # 4 choose 2, the majority answer included
    assert table.loc[("hyena", "thex-3"), "difference"] == pytest.approx(-0.25)
    assert table.loc[("hyena", "thex-3"), "verdict"] == "thex-3 > hyena" and table.loc[("hyena", "thex-3"), "excludes_zero"]
    assert table.loc[("gpt2", "majority"), "verdict"] == "no difference shown"
    assert table.loc[("gpt2", "majority"), "difference"] == 0.0
    assert table.loc[("gpt2", "hyena"), "ci_high"] < 0


def test_headline_and_orderings_say_which_orderings_hold():
    spec = Headline(experiment="globals", condition="with", thex="thex-3", reported={"gpt2": 0.007, "hyena": 0.14, "thex": 0.36})
    evaluations = _evaluations(OUTCOMES, MAJORITY)
    table = headline_table(evaluations, {"globals": spec})
    assert list(table.arch) == ["gpt2", "hyena", "thex-3"]
    assert list(table.author_reported_em) == [0.007, 0.14, 0.36]
    assert table.em_mean.tolist() == pytest.approx([0.2, 0.5, 0.75])
    assert table.majority_baseline.tolist() == pytest.approx([0.2] * 3)
    orderings = orderings_table(evaluations, {"globals": spec}).set_index("claim")
    assert orderings.verdict.to_dict() == {"thex-3 > hyena": "supported", "hyena > gpt2": "supported", "thex-3 > gpt2": "supported"}
    # GPT-2 better than Hyena contradicts the paper; equal models leave it undecided.
    swapped = _evaluations({"gpt2": OUTCOMES["hyena"], "hyena": OUTCOMES["gpt2"], "thex-3": OUTCOMES["gpt2"]}, MAJORITY)
    verdicts = orderings_table(swapped, {"globals": spec}).set_index("claim").verdict.to_dict()
    assert verdicts == {"thex-3 > hyena": "undecided", "hyena > gpt2": "contradicted", "thex-3 > gpt2": "contradicted"}
    sentence = orderings_sentence(orderings_table(swapped, {"globals": spec}))
    assert sentence.startswith("globals: thex-3 > hyena undecided (+0.000") and "hyena > gpt2 contradicted (-0.300" in sentence


def test_slice_table_explodes_operators_with_baselines_per_slice():
    evaluations = _evaluations({"gpt2": [[1, 0, 1, 1], [0, 0, 1, 1]]}, [1, 1, 0, 0])
    table = slice_table(evaluations, "operators").set_index("operators")
    # add (items 0, 1): seed 0 -> 1/2, seed 1 -> 0/2; mul (items 1, 2, 3): 2/3 in both seeds
    assert table.loc["add", "em_mean"] == pytest.approx(0.25)
    assert table.loc["mul", "em_mean"] == pytest.approx(2 / 3)
    assert table.loc["add", "majority_baseline"] == 1.0 and table.loc["mul", "majority_baseline"] == pytest.approx(1 / 3)
    assert table.loc["mul", "n_items"] == 3


def test_markdown_table():
    text = to_markdown(pd.DataFrame({"arch": ["gpt2"], "em": [0.12345], "ci": [float("nan")]}), "T", "note")
    assert text.splitlines() == ["## T", "", "note", "", "| arch   | em    | ci   |", "|--------|-------|------|", "| gpt2   | 0.123 | -    |"]


def test_run_paths_encode_their_job():
    assert parse_run_path("results/placement/globals/thex-3+9/seed2") == {
        "experiment": "placement", "condition": "globals", "arch": "thex-3+9", "seed": 2,
    }  # fmt: skip


def test_learning_curve_table_averages_seeds_at_validation_steps():
    from thex.aggregate import learning_curve_table

    curves = pd.DataFrame(
        [{"experiment": "g", "condition": "c", "arch": "gpt2", "seed": seed, "step": step, "tokens": step * 10 + seed,
          "valid_exact_match": em, "valid_answer_loss": None if em is None else 1.0 - em}
         for seed, ems in enumerate([[None, 0.2, 0.4], [None, 0.4, 0.8]]) for step, em in zip([1, 2, 3], ems)]  # fmt: skip
    )
    baselines = pd.DataFrame([{"experiment": "g", "condition": "c", "split": "valid", "majority_baseline": 0.15},
                              {"experiment": "g", "condition": "c", "split": "test", "majority_baseline": 0.5}])  # fmt: skip
    table = learning_curve_table(curves, baselines)
    assert table.step.tolist() == [2, 3]  # step 1 was not a validation step
    assert table.valid_exact_match.tolist() == pytest.approx([0.3, 0.6])
    assert table.tokens.tolist() == pytest.approx([20.5, 30.5]) and (table.n_seeds == 2).all()
    assert (table.majority_baseline == 0.15).all()
