"""The Snakemake workflow end to end on config/tiny.yaml, dry runs, config errors, regeneration."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from thex.aggregate import SLICES, TABLE_NAMES, load_summary
from thex.plots import FIGURES, _slice_panels

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "tiny.yaml"


def snakemake(workdir: Path, *args: str, repo: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run or dry run."""
    block = output.split("Job stats:", 1)[1]
    counts = {}
    for line in block.splitlines()[3:]:
        match = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """The workflow and package copied, so that a test can edit code without touching ours."""
    copy = tmp_path_factory.mktemp("repo")
    for name in ("Snakefile", "workflow", "thex", "config"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, copy / name)
    (copy / "profiles").symlink_to("workflow/profiles")
    return copy


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, workflow_copy) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    run = snakemake(workdir, "--configfile", str(TINY), "--cores", "2", repo=workflow_copy)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = snakemake(workdir, "--configfile", str(TINY), "--report", str(workdir / "report.html"), repo=workflow_copy)
    assert report.returncode == 0, report.stderr[-3000:]
    return workdir


def test_tiny_run_writes_tables_figures_report_and_logs(tiny_run):
    tables, figures = tiny_run / "results" / "tables", tiny_run / "results" / "figures"
    for name in TABLE_NAMES:
        assert (tables / f"{name}.csv").stat().st_size > 0 and (tables / f"{name}.md").read_text().startswith("## ")
    for name in FIGURES:
        for suffix in ("png", "svg"):
            assert (figures / f"{name}.{suffix}").stat().st_size > 1000, name
    experiments = pd.read_csv(tables / "experiments.csv")
    # memorization 2 conditions x 2 archs, length 3 archs, multilang 2 splits x 2 archs x 2
    # widths, placement 2 archs x 2 position embeddings
    assert len(experiments) == 4 + 3 + 8 + 4
    assert set(experiments.columns) >= {"em_mean", "em_ci_low", "em_ci_high", "majority_baseline", "parameters", "train_tokens",
                                        "tokens_per_s", "d_model", "pos_emb", "lr", "lr_at_grid_edge", "lr_grid", "converged"}  # fmt: skip
    assert sorted(experiments[experiments.experiment == "multilang"].d_model.unique()) == [8, 16]
    assert sorted(experiments[experiments.experiment == "placement"].pos_emb.unique()) == ["auto", "none"]
    length = experiments[experiments.experiment == "length"]
    assert (length.n_seeds == 2).all() and (length.em_ci_low <= length.em_mean).all() and (length.em_mean <= length.em_ci_high).all()
    # The placement condition reuses length/base's data, so it has the same baseline.
    baseline = experiments.set_index(["experiment", "condition", "arch", "pos_emb"])["majority_baseline"]
    assert baseline[("placement", "length", "thex-1", "none")] == baseline[("length", "base", "gpt2", "auto")]
    # The length experiment tunes its rate on validation (seed 0) from two; seed 1 trains
    # the chosen one. Only chosen rates are evaluated on the test split.
    tuning = pd.read_csv(tables / "tuning.csv")
    length_tuning = tuning[tuning.experiment == "length"]
    assert len(length_tuning) == 3 * 2 and length_tuning.groupby("arch").selected.sum().tolist() == [1, 1, 1]
    assert set(experiments[experiments.experiment == "length"].lr_grid) == {"0.003,0.01"}
    for row in length_tuning.itertuples():
        cell = tiny_run / "results" / "length" / "base" / row.arch / "d16-pos_auto" / f"lr{row.lr!r}"
        assert (cell / "seed0" / "metrics.parquet").exists()
        assert (cell / "seed1" / "eval.parquet").exists() == (cell / "seed0" / "eval.parquet").exists() == row.selected
    comparisons = pd.read_csv(tables / "comparisons.csv")
    assert {"gpt2", "hyena", "thex-2", "majority", "thex-1/pos-none"} <= set(comparisons.model_a) | set(comparisons.model_b)
    orderings = pd.read_csv(tables / "orderings.csv")
    assert set(orderings.columns) >= {"p_value", "p_holm", "verdict_raw", "verdict", "converged", "d_model"}
    headline = pd.read_csv(tables / "headline.csv")
    assert list(headline.arch) == ["gpt2", "hyena", "thex-2"]
    assert list(headline.author_reported_em) == [0.007, 0.14, 0.36]
    assert "not as ground truth" in (tables / "headline.md").read_text()
    slices = pd.read_csv(tables / "slice_n_statements.csv")
    assert set(slices[slices.experiment == "length"].n_statements) == {1, 2, 3, 4}
    # The probe stage ran on every reported run: 2 blocks x 2 components per model and split,
    # 3 depths, and attention roles only for models with attention blocks
    ablations = pd.read_csv(tables / "ablations.csv")
    assert len(ablations) == 4 * len(experiments) and set(ablations.component) == {"mixer", "mlp"}
    probes = pd.read_csv(tables / "probes.csv")
    answer = probes[probes.target == "first_answer_token"]
    assert len(answer) == 3 * len(experiments) and set(answer.depth) == {0, 1, 2}
    # the global-value probe where there is a world of globals (memorization) and nowhere else
    assert set(probes[probes.target == "global_value"].experiment) == {"memorization"}
    roles = pd.read_csv(tables / "attention_roles.csv")
    assert set(roles.model) == {"gpt2", "thex-2", "thex-1/pos-none", "thex-2/pos-none", "thex-1"}
    assert np.allclose(roles.groupby(["experiment", "condition", "split", "d_model", "model", "block"]).weight.sum(), 1.0)
    report = (tiny_run / "report.html").read_text(errors="replace")
    assert len(report) > 10_000 and "em_by_architecture" in report
    logs = tiny_run / "results" / "logs"  # beside the results of their config
    train_logs = sorted(p.relative_to(logs / "train").as_posix() for p in (logs / "train").rglob("*.log"))
    # memorization 4, length 3 archs x (2 rates x seed 0 + seed 1), multilang 4, placement 4
    assert len(train_logs) == 4 + 3 * 3 + 4 + 4
    assert any(re.fullmatch(r"length/base/thex-2/d16-pos_auto/lr0\.0(03|1)/seed1\.log", log) for log in train_logs)
    for rule in ("generate", "evaluate", "select_lr", "probe"):
        assert any((logs / rule).rglob("*.log"))
    for name in ("collect.log", "tables.log", "plots.log"):
        assert (logs / name).exists()
    assert any((logs / "benchmarks" / "train").rglob("*.tsv"))


def test_a_moved_checkout_with_its_results_reruns_nothing(tiny_run, workflow_copy, tmp_path):
    # The repository and the run's directory moved together (e.g. a copied project folder).
    moved_repo, moved_run = tmp_path / workflow_copy.name, tmp_path / tiny_run.name
    shutil.copytree(workflow_copy, moved_repo, symlinks=True)
    shutil.copytree(tiny_run, moved_run, symlinks=True)
    dry = snakemake(moved_run, "--configfile", str(TINY), "-n", repo=moved_repo)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]


def test_a_changed_split_reruns_the_jobs_that_read_it(tiny_run, workflow_copy, tmp_path):
    # Each split file is an output of its dataset's rule and an input of the jobs that
    # read it; a folder output would hide a changed file from Snakemake.
    repo, run = tmp_path / workflow_copy.name, tmp_path / tiny_run.name  # a copy, as the moved checkout above
    shutil.copytree(workflow_copy, repo, symlinks=True)
    shutil.copytree(tiny_run, run, symlinks=True)
    split = run / "results" / "length" / "base" / "data" / "test.parquet"
    split.write_bytes(split.read_bytes()[: split.stat().st_size // 2])  # damaged
    counts = job_counts(snakemake(run, "--configfile", str(TINY), "-n", repo=repo).stdout)
    # length/base is read by length (3 archs x 2 rates for seed 0, then seed 1 at the chosen
    # rate) and placement (2 archs x 2 position embeddings): 6 + 4 train jobs before the
    # choice (seed 1's follow it, as the evaluations do); nothing of memorization or multilang.
    assert counts["train"] == 10 and counts["select_lr"] == 3 + 4 and counts["collect"] == 1
    assert not any(rule.startswith("generate") for rule in counts)


def test_a_deleted_summary_file_is_rebuilt_with_what_follows_it(tiny_run, workflow_copy, tmp_path):
    repo, run = tmp_path / workflow_copy.name, tmp_path / tiny_run.name
    shutil.copytree(workflow_copy, repo, symlinks=True)
    shutil.copytree(tiny_run, run, symlinks=True)
    (run / "results" / "summary" / "evaluations.parquet").unlink()
    counts = job_counts(snakemake(run, "--configfile", str(TINY), "-n", repo=repo).stdout)
    assert {rule: n for rule, n in counts.items() if rule != "total"} == {"collect": 1, "tables": 1, "plots": 1, "landing": 1, "all": 1}
    # regenerating from a summary folder that lacks the file: an error naming it
    regen = snakemake(run, "--configfile", str(TINY), "-n", "--config", "regenerate=True",
                      f"summary_dir={run / 'results' / 'summary'}", repo=repo)  # fmt: skip
    assert regen.returncode != 0 and "summary/evaluations.parquet" in regen.stdout + regen.stderr


def test_code_changes_rerun_their_stage_and_what_follows_only(tiny_run, workflow_copy):
    unchanged = snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy)
    assert "Nothing to be done" in unchanged.stdout + unchanged.stderr
    # Snakemake reruns for an input whose content changed (not for a mere touch).
    with open(workflow_copy / "thex" / "plots.py", "a") as fh:
        fh.write("\n# a change to the plotting code\n")
    plots = snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy)
    assert plots.returncode == 0, plots.stderr
    assert job_counts(plots.stdout) == {"plots": 1, "landing": 1, "all": 1, "total": 3}  # the landing page shows a figure
    # One command's code (say its --help text) reruns its own stage only.
    with open(workflow_copy / "thex" / "commands" / "plots.py", "a") as fh:
        fh.write("\n# a change to the plots command\n")
    plots_command = job_counts(snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy).stdout)
    assert plots_command == {"plots": 1, "landing": 1, "all": 1, "total": 3}
    with open(workflow_copy / "thex" / "commands" / "tables.py", "a") as fh:
        fh.write("\n# a change to the tables command\n")
    assert job_counts(snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy).stdout) == {
        "tables": 1, "plots": 1, "landing": 1, "all": 1, "total": 4}  # fmt: skip
    with open(workflow_copy / "thex" / "stats.py", "a") as fh:
        fh.write("\n# a change to the statistics\n")
    stats = job_counts(snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy).stdout)
    assert stats == {"collect": 1, "tables": 1, "plots": 1, "landing": 1, "all": 1, "total": 5}
    with open(workflow_copy / "thex" / "commands" / "train.py", "a") as fh:
        fh.write("\n# a change to the train command\n")
    train_command = job_counts(snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy).stdout)
    assert train_command["train"] == 18 and not any(rule.startswith("generate") for rule in train_command)
    with open(workflow_copy / "thex" / "models" / "hyena.py", "a") as fh:
        fh.write("\n# a change to a model\n")
    models = job_counts(snakemake(tiny_run, "--configfile", str(TINY), "-n", repo=workflow_copy).stdout)
    assert models["train"] == 18 and not any(rule.startswith("generate") for rule in models)


# Runs a command as far as its argument parsing (its imports are done by then) in a fresh
# interpreter, and prints the package files and whether torch was imported.
_IMPORTS_OF_COMMAND = """
import contextlib, io, sys
from thex.cli import main
try:
    with contextlib.redirect_stdout(io.StringIO()):  # the help text
        main([sys.argv[1], "--help"])
except SystemExit:
    pass
print("torch" in sys.modules)
print("\\n".join(m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "thex"))
"""


def test_every_module_a_stage_imports_is_among_its_inputs_and_results_stages_need_no_torch():
    from thex.codedeps import PACKAGE_DIR, STAGE_COMMANDS, stage_files

    for stage, command in STAGE_COMMANDS.items():
        out = subprocess.run(
            [sys.executable, "-c", _IMPORTS_OF_COMMAND, command], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout.split()
        torch_imported, imported = out[0] == "True", {Path(line).resolve() for line in out[1:]}
        listed = set(stage_files(stage))
        assert imported <= listed, (stage, sorted(str(p.relative_to(PACKAGE_DIR)) for p in imported - listed))
        assert torch_imported == (stage in ("train", "evaluate", "probe")), stage
    assert PACKAGE_DIR / "optim.py" in stage_files("train")  # once missing from a hand-kept list
    assert PACKAGE_DIR / "languages" / "lexicon.json" in stage_files("data")
    assert PACKAGE_DIR / "plots.py" not in stage_files("tables") and PACKAGE_DIR / "models" / "lm.py" not in stage_files("data")
    # a stage depends only on its own command's module and what that imports
    assert PACKAGE_DIR / "training.py" not in stage_files("evaluate") and PACKAGE_DIR / "aggregate.py" not in stage_files("train")
    commands = PACKAGE_DIR / "commands"
    assert [p.name for p in stage_files("plots") if p.parent == commands] == ["__init__.py", "plots.py", "summary_args.py"]
    assert [p.name for p in stage_files("train") if p.parent == commands] == ["__init__.py", "train.py"]


def test_parsing_the_workflow_imports_no_torch():
    """What the Snakefile imports and checks while it parses (workflow/rules/common.smk), for
    every shipped config: no torch, whose import alone took 0.96 s of every Snakemake start."""
    code = """
import glob, sys
import thex.aggregate, thex.codedeps, thex.config, thex.experiments, thex.plots
from thex.config import load_yaml
from thex.experiments import WorkflowConfig
for path in sorted(glob.glob("config/*.yaml") + glob.glob("config/calibration/*.yaml")):
    WorkflowConfig.from_dict(load_yaml(path))
print(sorted(n for n in sys.modules if n.split(".")[0] in ("torch", "safetensors")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_regenerate_builds_figures_from_a_summary_without_training(tiny_run, tmp_path):
    # A fresh directory holding nothing but a copy of the summary, as in a fresh clone.
    summary = tmp_path / "snapshot" / "summary"
    shutil.copytree(tiny_run / "results" / "summary", summary)
    run = snakemake(
        tmp_path, "figures", "--configfile", str(TINY), "--cores", "1", "--config", "regenerate=True", f"summary_dir={summary}"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert job_counts(run.stdout + run.stderr) == {"figures": 1, "plots": 1, "tables": 1, "landing": 1, "total": 4}
    assert (tmp_path / "results" / "figures" / "em_by_placement.png").exists()
    assert (tmp_path / "results" / "tables" / "headline.md").exists()
    assert not any((tmp_path / "results").rglob("*.safetensors"))


# The verdict study's merged summary is not committed: it is merged here from its parts.
VERDICT_PARTS = ("verdicts/d32", "verdicts/nopos", "verdicts/d64")


@pytest.mark.parametrize("snapshot, config", [("reference", "config.yaml"), ("laptop", "laptop.yaml"), ("verdicts/d32", "verdicts/d32.yaml"), ("verdicts", "verdicts/d32.yaml"), ("verdicts/confirm", "verdicts/confirm.yaml"),
                                              ("kernel_paths/avx512", "config.yaml"), ("kernel_paths/avx2", "config.yaml")])
def test_committed_results_rebuild_every_table_and_figure(tmp_path, snapshot, config):
    summary = REPO / "snapshots" / snapshot / "summary"
    if snapshot == "verdicts":
        from thex.aggregate import merge_summaries

        summary = tmp_path / "merged"
        merge_summaries([REPO / "snapshots" / part / "summary" for part in VERDICT_PARTS], summary)
    if not summary.is_dir():
        pytest.fail(f"{summary} is missing: the committed snapshot of a real {config} run")
    run = snakemake(
        tmp_path, "figures", "--cores", "2", "--configfile", str(REPO / "config" / config),
        "--config", "regenerate=True", f"summary_dir={summary}",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / yaml.safe_load((REPO / "config" / config).read_text()).get("results", "results")
    headline = pd.read_csv(out / "tables" / "headline.csv")
    assert len(headline) >= 6 and set(headline.setting) == {"globals", "multilang"}  # 3 models (and a chosen THEX) each
    experiments = pd.read_csv(out / "tables" / "experiments.csv")
    assert experiments["majority_baseline"].notna().all()
    # summaries from before the probe stage (or merged from such parts) have no probe results
    probed = (summary / "ablations.parquet").exists() and not pd.read_parquet(summary / "ablations.parquet").empty
    # a figure with nothing to draw says so: the probe figures without probes, and a slice no
    # experiment varies (the headline settings hold one G each)
    loaded = load_summary(summary)
    empty = {f"em_by_{column}" for column in SLICES if not _slice_panels(loaded, column)}
    empty |= set() if probed else {"ablations", "probes", "attention_roles"}
    assert ("em_by_n_globals" in empty) == (snapshot != "laptop")  # only the laptop study varies G
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > (1000 if name in empty else 10_000), name
    # The committed tables (which the README quotes) are the ones the summary rebuilds to.
    committed = REPO / "snapshots" / snapshot / "tables"
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / f"{name}.csv"), pd.read_csv(committed / f"{name}.csv"), obj=name)


def test_paper_config_dry_run_lists_the_expected_jobs(tmp_path):
    dry = snakemake(tmp_path, "--configfile", str(REPO / "config" / "paper.yaml"), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    # 4 archs x 3 seeds over 13 conditions + THEX-1..16 x 2 seeds x 3 tasks
    generate = {rule: n for rule, n in counts.items() if rule.startswith("generate_")}
    assert len(generate) == 13 and set(generate.values()) == {1} and "generate_globals_with_globals" in generate
    rest = {rule: n for rule, n in counts.items() if rule not in generate}
    # A dry run stops at the learning-rate choices (checkpoints): the evaluations follow them.
    assert rest == {"train": 252, "select_lr": 100, "collect": 1, "tables": 1, "plots": 1, "landing": 1, "all": 1, "total": 370}
    assert re.search(r"results/paper/globals/with_globals/thex-12/d\d+-pos_auto/lr[0-9.e-]+/seed2/model.safetensors", dry.stdout)
    assert re.search(r"results/paper/placement/length/thex-16/d\d+-pos_auto/lr[0-9.e-]+/seed1/model.safetensors", dry.stdout)


def test_a_configfile_replaces_the_default_config_from_the_repository_root():
    # As the README says to run it: from the repository root, where config/config.yaml
    # exists. Snakemake would deep-merge the two; the default's experiments must not leak in.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", "config/paper.yaml"],
                         cwd=REPO, capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert job_counts(dry.stdout)["total"] == 370
    assert "is extended by additional config" not in dry.stdout + dry.stderr
    default = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", "results=elsewhere"],
                             cwd=REPO, capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert default.returncode == 0, default.stderr[-3000:]
    assert "elsewhere/multilang/mix/" in default.stdout  # --config still extends the default


def test_gpu_verdict_config_dry_run_lists_the_tuning_jobs(tmp_path):
    dry = snakemake(tmp_path, "--configfile", str(REPO / "config" / "verdicts" / "gpu.yaml"), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    # 2 settings x 3 architectures x 2 widths = 12 cells, each tuned over 2 rates by seed 0
    assert counts["train"] == 24 and counts["select_lr"] == 12
    assert re.search(r"results/gpu/globals/with_globals/thex-12/d512-pos_auto/lr0.0032/seed0/model.safetensors", dry.stdout)
    assert re.search(r"results/gpu/multilang/mix/thex-13/d256-pos_auto/lr0.001/seed0/model.safetensors", dry.stdout)


def test_gpu_session_script_names_its_modes(tmp_path):
    run = subprocess.run(["bash", str(REPO / "scripts" / "gpu_session.sh"), "everything"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env={**os.environ, "OUT": str(tmp_path / "out")})  # fmt: skip
    assert run.returncode == 2 and "usage: bash scripts/gpu_session.sh verdict|bench|all" in run.stderr
    assert (tmp_path / "out" / "gpu_session.tar.gz").is_file()  # packed on any exit: one file to bring back


def test_gpu_config_dry_run_lists_the_expected_jobs(tmp_path):
    dry = snakemake(tmp_path, "--configfile", str(REPO / "config" / "gpu.yaml"), "-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    assert sum(n for rule, n in counts.items() if rule.startswith("generate_")) == 12
    assert counts["train"] == 94 and "evaluate" not in counts  # evaluations follow the select_lr checkpoints
    assert "resources: tmpdir=/tmp, runtime=30, gpu=1" in dry.stdout or "gpu=1" in dry.stdout
    assert re.search(r"results/gpu_all/placement/globals/thex-15/d\d+-pos_auto/lr[0-9.e-]+/seed0/model.safetensors", dry.stdout)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"trainig": {"steps": 3}}, "unknown key 'trainig' (did you mean 'training'?)"),
        ({"model": {"n_layer": 2, "d_model": 16, "n_head": 2, "n_layr": 4}}, "unknown key 'model.n_layr'"),
        ({"architectures": [ "gpt2", "thex-9"]}, "architecture 'thex-9': block 9 is outside 1..2"),
        ({"seeds": ["zero"]}, "seeds[0]: expected an integer, got 'zero'"),
        # values that once passed the check and failed inside a job (issue 30)
        ({"model": {"n_layer": 2, "d_model": 300000, "n_head": 2}}, "model.d_model 300000 x n_layer 2 at training.batch_size 16 needs about"),
        ({"training": {"steps": 12, "batch_size": 16, "lr": 1.0e300}}, "training.lr: 1e+300 does not fit a float32"),
        ({"seeds": [2**70]}, "seeds[0]: 1180591620717411303424 does not fit a 64-bit integer"),
        ({"architectures": ["mamba"]}, "architectures[0]: 'mamba' is not a known architecture (gpt2, attn, hyena, thex-N"),
        ({"experiments": {"..": {"data": {"programs": {"n_globals": 4}, "splits": {"train": {"n": 20}}}}}},
         "experiments: '..' is not a name that can be a folder"),
        ({"experiments": {"summary": {"data": {"programs": {}, "splits": {"train": {"n": 20}}}}}}, "experiments: 'summary' is reserved"),
        ({"experiments": {"e": {"data": {"programs": {}, "splits": {"train": {"n": 20}, "test": 40}}}}},
         "experiments.e.data.splits.test: expected a mapping, got 40"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, change, message):
    config = yaml.safe_load(TINY.read_text())
    config.update(change)
    if "experiments" in change:
        config.pop("headline")  # it names the tiny config's experiments
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "--configfile", str(path), "--cores", "1")
    assert run.returncode != 0
    output = run.stdout + run.stderr
    assert message in output and "Traceback" not in output
    assert [line for line in output.splitlines() if message in line][0].startswith("invalid config: ")  # one line says it all
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".snakemake") == ["bad.yaml"]  # nothing written, inside or out


def test_a_key_given_twice_is_an_error_naming_it_and_its_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(TINY.read_text() + "seeds: [7]\n")  # a second top-level `seeds:`
    run = snakemake(tmp_path, "--configfile", str(path), "-n")
    assert run.returncode != 0
    line = len(TINY.read_text().splitlines()) + 1
    assert f"twice.yaml: line {line}: duplicate key 'seeds' (first given on line 4)" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def test_misspelled_dataset_knob_is_named(tmp_path):
    config = yaml.safe_load(TINY.read_text())
    config["experiments"]["length"]["data"]["programs"]["n_statment"] = [1, 2]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    run = snakemake(tmp_path, "--configfile", str(path), "-n")
    assert run.returncode != 0
    # named where it is written: the experiment's data, not the condition merged from it
    assert "unknown key 'experiments.length.data.programs.n_statment' (did you mean 'n_statements'?)" in run.stdout + run.stderr


TOY_MIXER = '''"""A toy mixer: the running mean of a projection of the positions so far, scaled."""

import torch
import torch.nn as nn

from thex.models.config import ModelConfig


class CumulativeMean(nn.Module):
    causal = True  # reads positions <= t only

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.scale = cfg.mixer_settings("cummean").scale  # its own setting: model.mixers.cummean.scale
        self.in_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.in_proj(x).cumsum(dim=1)  # (B, L, d): sums over positions <= t
        counts = torch.arange(1, x.shape[1] + 1, device=x.device, dtype=h.dtype)[None, :, None]  # (1, L, 1)
        return self.out_proj(self.scale * h / counts)

    @staticmethod
    def forward_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
        return 2 * 2 * cfg.d_model * cfg.d_model + 3 * cfg.d_model
'''


def test_a_new_mixer_and_experiment_run_end_to_end_as_the_readme_says(tmp_path):
    # README, "Extending": 1. write the mixer module; 2. register it in architecture.MIXERS,
    # with its setting's default; 3. use it, alone and in a list, in a config with a new
    # experiment that sets it. Done here on a copy of the repository; no other file changes,
    # and no committed file needs regenerating.
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(REPO / "Snakefile", repo / "Snakefile")
    for name in ("workflow", "thex", "config"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "thex" / "models" / "cummean.py").write_text(TOY_MIXER)
    registry = repo / "thex" / "models" / "architecture.py"
    text = registry.read_text()
    line = '    "cummean": Mixer("thex.models.cummean:CumulativeMean", "cumulative mean", {"scale": 1.0}),\n'
    text = text.replace("\n}\n", "\n" + line + "}\n", 1)  # the registry's last entry
    assert line in text
    registry.write_text(text)
    for generated in ("workflow/schemas/config.schema.yaml", "config/README.md"):  # what `python -m thex schema` writes: unchanged
        check = subprocess.run([sys.executable, "-c", "from thex.schema import workflow_schema_yaml, config_reference_markdown; "
                                "import sys; sys.stdout.write(workflow_schema_yaml() if sys.argv[1].endswith('yaml') else config_reference_markdown())",
                                generated], cwd=repo, capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0 and check.stdout == (REPO / generated).read_text(), generated
    config = yaml.safe_load(TINY.read_text())
    config["headline"] = {}
    config["model"]["mixers"]["cummean"] = {"scale": 0.5}
    config["experiments"] = {
        "counting": {
            "description": "A new experiment: one or two statements of add and sub.",
            "architectures": ["gpt2", "cummean", ["cummean", "attn"]],
            "data": {"programs": {"n_statements": [1, 2], "depth": [0, 1], "operators": ["add", "sub"], "name_words": [1, 1]},
                     "splits": {"train": {"n": 200}, "valid": {"n": 16}, "test": {"n": 40}}},
        }
    }  # fmt: skip
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    workdir.mkdir()
    run = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "--directory", str(workdir),
                          "--configfile", str(path), "--cores", "2"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    experiments = pd.read_csv(workdir / "results" / "tables" / "experiments.csv")
    assert set(experiments.arch) == {"gpt2", "cummean", "cummean.attn"} and set(experiments.experiment) == {"counting"}
    assert (workdir / "results" / "counting" / "base" / "cummean.attn").is_dir()  # the list's name, as a path
    (sidecar,) = (workdir / "results" / "counting" / "base" / "cummean").rglob("model.json")
    assert json.loads(sidecar.read_text())["model_config"]["mixers"]["cummean"] == {"scale": 0.5}  # the config's setting reached it
    assert (workdir / "results" / "figures" / "em_by_architecture.png").stat().st_size > 10_000


def _printed_remedy(message: str) -> list[str]:
    """The `snakemake --forcerun PATH` a message prints, as arguments."""
    match = re.search(r"`snakemake --forcerun (\S+)`", message)
    assert match, message[-2000:]
    return ["--forcerun", match[1]]


def test_the_printed_remedies_followed_literally_repair_the_results(tiny_run, workflow_copy, tmp_path):
    repo, run = tmp_path / workflow_copy.name, tmp_path / tiny_run.name  # a copy, as the moved checkout above
    shutil.copytree(workflow_copy, repo, symlinks=True)
    shutil.copytree(tiny_run, run, symlinks=True)
    tables = run / "results" / "tables" / "experiments.csv"
    before = pd.read_csv(tables)
    # A damaged split: the run fails naming it and the command that repairs it.
    split = run / "results" / "length" / "base" / "data" / "test.parquet"
    split.write_bytes(split.read_bytes()[: split.stat().st_size // 2])
    failed = snakemake(run, "--configfile", str(TINY), "--cores", "2", repo=repo)
    assert failed.returncode != 0
    logs = "".join(p.read_text() for p in (run / "results" / "logs").rglob("*.log"))
    repaired = snakemake(run, "--configfile", str(TINY), "--cores", "2", *_printed_remedy(logs), repo=repo)
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    pd.testing.assert_frame_equal(pd.read_csv(tables).drop(columns=["train_wall_s", "tokens_per_s"]),
                                  before.drop(columns=["train_wall_s", "tokens_per_s"]))  # fmt: skip
    # A damaged final model: loading it names the command; followed, the job is retrained.
    (model_dir,) = {p.parent for p in (run / "results" / "memorization" / "G4" / "gpt2").rglob("model.safetensors")}
    weights = model_dir / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-8] + bytes(8))
    load = subprocess.run([sys.executable, "-c", f"import torch; from thex.models.saved import load_model; load_model('{model_dir}', torch.device('cpu'))"],
                          cwd=run, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True)  # fmt: skip
    assert load.returncode != 0 and "damaged" in load.stderr
    fixed = snakemake(run, "--configfile", str(TINY), "--cores", "2", *_printed_remedy(load.stderr), repo=repo)
    assert fixed.returncode == 0, fixed.stdout[-3000:]
    assert weights.read_bytes() == original  # retrained, deterministically, to the same weights


def test_a_damaged_summary_file_names_itself_and_its_remedy_works(tiny_run, workflow_copy, tmp_path):
    # Each file's own message is tested in test_aggregate.py; here the workflow's: all
    # three truncated, the run fails with one line naming one and the remedy, and following
    # the remedy literally brings back the same tables.
    repo, run = tmp_path / workflow_copy.name, tmp_path / tiny_run.name
    shutil.copytree(workflow_copy, repo, symlinks=True)
    shutil.copytree(tiny_run, run, symlinks=True)
    # The module's earlier tests edit the copied code: mark the results current first, as
    # they would be after a finished run.
    touched = snakemake(run, "--configfile", str(TINY), "--cores", "1", "--touch", repo=repo)
    assert touched.returncode == 0, touched.stderr[-2000:]
    tables = run / "results" / "tables"
    before = {name: pd.read_csv(tables / f"{name}.csv") for name in ("experiments", "orderings", "headline")}
    for name in ("datasets.json", "runs.parquet", "evaluations.parquet"):
        path = run / "results" / "summary" / name
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    failed = snakemake(run, "--configfile", str(TINY), "--cores", "2", repo=repo)
    assert failed.returncode != 0
    log = (run / "results" / "logs" / "tables.log").read_text().strip().splitlines()
    assert len(log) == 1 and log[0].startswith("thex tables: error: ") and "results/summary/" in log[0], log
    repaired = snakemake(run, "--configfile", str(TINY), "--cores", "2", *_printed_remedy(log[0]), repo=repo)
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    for table, frame in before.items():
        after = pd.read_csv(tables / f"{table}.csv")
        timing = [c for c in ("train_wall_s", "tokens_per_s") if c in frame]
        pd.testing.assert_frame_equal(after.drop(columns=timing), frame.drop(columns=timing), obj=table)
