"""python -m thex.bench concurrent: the job counts, the token budget, the written config,
and a real probe of concurrent training jobs on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thex.bench.concurrent import JobCounts, main, predicted_seconds, size_tokens, with_tokens
from thex.config import ConfigError, load_yaml
from thex.datasets import DatasetConfig, generate_dataset
from thex.experiments import WorkflowConfig

REPO = Path(__file__).resolve().parents[1]


def counts_of(path: str) -> JobCounts:
    return JobCounts.of(WorkflowConfig.from_dict(load_yaml(REPO / path)))


def test_job_counts_follow_the_sweep():
    # 2 settings x 3 architectures x 2 widths = 12 cells; per cell both rates with seed 0,
    # then seeds 1 and 2 at the chosen one (seed 0 has run it already); 3 evaluations each
    assert counts_of("config/verdicts/gpu.yaml") == JobCounts(train=12 * (2 + 2), evaluate=12 * 3)
    # 2 settings x 6 architectures; 3 rates with tuning seed 100, then seeds 0-2
    assert counts_of("config/verdicts/d32.yaml") == JobCounts(train=12 * (3 + 3), evaluate=12 * 3)


def test_the_budget_is_the_largest_that_fits_the_deadline():
    counts, args = JobCounts(train=48, evaluate=36), dict(rate=10_000.0, overhead_s=10.0, evaluate_s=8.0, jobs=12)
    tokens = size_tokens(300.0, counts=counts, **args)
    assert tokens % 25_000 == 0
    assert predicted_seconds(tokens, counts=counts, **args) <= 300.0
    assert predicted_seconds(tokens + 25_000, counts=counts, **args) > 300.0
    # by hand: 48 jobs of 10 s + t on 12 slots, 36 of 8 s, two training tails and one evaluation
    t = 300.0 - (48 * 10 + 36 * 8) / 12 - 2 * 10 - 8  # = 208 s left for 48/12 + 2 = 6 training lengths
    assert tokens == int(t / 6 * 10_000 // 25_000 * 25_000)
    with pytest.raises(ConfigError, match=r"--deadline-s 60: too short for 48 training and 36 evaluation jobs, 12 at a time"):
        size_tokens(60.0, counts=counts, **args)


def test_the_written_config_changes_only_the_token_budget():
    text = (REPO / "config/verdicts/gpu.yaml").read_text()
    sized = with_tokens(text, 425_000, "gpu.yaml")
    changed = [(a, b) for a, b in zip(text.splitlines(), sized.splitlines()) if a != b]
    assert changed == [("  tokens: 500000", "  tokens: 425000")]
    with pytest.raises(ConfigError, match=r"x.yaml: expected one `  tokens: N` line under `training:`, found 0"):
        with_tokens("training:\n  steps: 10\n", 1, "x.yaml")


@pytest.mark.slow
def test_a_probe_of_two_concurrent_jobs_measures_and_sizes(tmp_path, capsys):
    data = tmp_path / "data"
    generate_dataset(DatasetConfig.from_dict({
        "programs": {"n_statements": [1, 2], "depth": [0, 1], "operators": ["add"], "modulus": 10, "name_words": [1, 1]},
        "splits": {"train": {"n": 400}, "valid": {"n": 16}},
    }), data)  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text((REPO / "config/verdicts/gpu.yaml").read_text()
                      .replace("n_layer: 16, d_model: 256, n_head: 8, mixers: {hyena: {filter_order: 64}}", "n_layer: 2, d_model: 16, n_head: 2, mixers: {hyena: {filter_order: 8}}")
                      .replace("d_model: [256, 512]", "d_model: [8, 16]")
                      .replace("thex-12", "thex-2").replace("thex-13", "thex-2"))  # fmt: skip
    out, sized = tmp_path / "probe.json", tmp_path / "sized.yaml"
    args = ["--configfile", str(config), "--data-dir", str(data), "--jobs", "2", "--steps", "3", "--device", "cpu",
            "--json", str(out), "--write-config", str(sized)]  # fmt: skip
    assert main([*args, "--deadline-s", "100000"]) == 0
    result = json.loads(out.read_text())
    # the widest cells (d16), architectures in turn, each trained the probe's 3 steps
    assert [(r["arch"], r["d_model"]) for r in result["rows"]] == [("gpt2", 16), ("hyena", 16)]
    assert all(r["rate"] > 0 and r["overhead_s"] > 0 and r["tokens"] > 0 for r in result["rows"])
    assert result["rate"] == min(r["rate"] for r in result["rows"])
    assert f"  tokens: {result['tokens']}" in sized.read_text() and result["predicted_s"] <= 100000
    # a deadline that cannot be met: an error naming it, and no config written
    sized.unlink()
    assert main([*args, "--deadline-s", "5"]) == 2
    assert "--deadline-s 5: too short" in capsys.readouterr().err and not sized.exists()
