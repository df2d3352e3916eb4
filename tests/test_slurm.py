"""The workflow through the SLURM profile, against a real single-node SLURM cluster.

The module starts a cluster with tests/slurm/start_cluster.sh (as root on Debian it
installs SLURM with apt if needed, as in CI) and always stops it. Every snakemake run is
bounded: on timeout it gets SIGINT (which cancels its SLURM jobs), then SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO / "tests" / "slurm"

pytestmark = pytest.mark.slurm

if os.geteuid() != 0 or not shutil.which("apt-get"):
    pytest.skip("the SLURM test cluster needs root on a Debian machine (as in CI)", allow_module_level=True)

# The tiny config cut to one experiment: 1 dataset, 4 training jobs (2 architectures x the
# 2 learning rates of length's grid), the local select_lr checkpoint, 2 evaluation jobs.
CONFIG = {**yaml.safe_load((REPO / "config" / "tiny.yaml").read_text()), "headline": {}}
CONFIG["experiments"] = {"length": {**CONFIG["experiments"]["length"], "seeds": [0], "architectures": ["gpt2", "hyena"]}}


def _bounded(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # snakemake cancels its SLURM jobs on SIGINT, not on SIGTERM
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"timed out after {timeout} s: {' '.join(command[:6])} ...\n{out[-3000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, "")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run([str(SLURM_DIR / "start_cluster.sh"), str(state)], capture_output=True, text=True, timeout=900)
    try:
        assert start.returncode == 0, f"the test cluster did not start:\n{start.stderr[-4000:]}"
        env = dict(os.environ)
        for line in start.stdout.splitlines():
            if line.startswith("export "):
                key, _, value = line[len("export ") :].partition("=")
                env[key] = value.strip("'\"")
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        yield env
    finally:
        subprocess.run([str(SLURM_DIR / "stop_cluster.sh"), str(state)], capture_output=True, timeout=180)


def _profile(tmp: Path, env: dict[str, str]) -> Path:
    """The repository's SLURM profile with this cluster's partition and account, and
    status checks every second instead of every half minute."""
    profile = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"].update(
        {"slurm_partition": env["THEX_SLURM_PARTITION"], "slurm_account": env["THEX_SLURM_ACCOUNT"], "runtime": 10}
    )
    for rule in profile["set-resources"].values():
        rule["slurm_partition"] = env["THEX_SLURM_PARTITION"]  # no GPU partition here
    profile.update({"slurm-init-seconds-before-status-checks": 1, "seconds-between-status-checks": 1, "latency-wait": 5, "jobs": 4})
    directory = tmp / "profile"
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(profile))
    return directory


def _snakemake(workdir: Path, config: dict, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--configfile", str(path), *args]
    return _bounded(command, env, timeout)


def _sacct(env: dict[str, str], since: str) -> pd.DataFrame:
    out = subprocess.run(
        ["sacct", "-X", "--parsable2", "--noheader", "-S", since, "-o", "JobID,Comment,State,AllocCPUS,ReqMem,ExitCode"],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    jobs = pd.DataFrame(rows, columns=["job", "comment", "state", "cpus", "mem", "exit"])
    # The plugin's comment is rule_<rule>[_wildcards_<values>]
    return jobs.assign(rule=jobs.comment.str.replace(r"_wildcards_.*$", "", regex=True))


def test_tiny_config_through_the_slurm_profile(cluster, tmp_path):
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    start = time.monotonic()
    run = _snakemake(tmp_path / "slurm", CONFIG, cluster, "--workflow-profile", str(_profile(tmp_path, cluster)))
    elapsed = time.monotonic() - start
    assert run.returncode == 0, run.stdout[-4000:]
    print(f"SLURM run: {elapsed:.0f} s")

    jobs = _sacct(cluster, since)
    assert sorted(jobs.rule) == ["rule_evaluate"] * 2 + ["rule_generate_length_base"] + ["rule_probe"] * 2 + ["rule_train"] * 4
    assert set(jobs.state) == {"COMPLETED"}, jobs
    assert set(jobs.cpus) == {"1"}  # threads: 1 in the config
    assert set(jobs[jobs.rule == "rule_train"].mem) == {"2000M"}  # mem_mb: 2000 (the config's default)
    # collect, tables and plots are local rules: no SLURM job, yet their outputs exist.
    assert (tmp_path / "slurm" / "results" / "tables" / "experiments.csv").exists()
    assert (tmp_path / "slurm" / "results" / "figures" / "em_by_n_statements.png").exists()

    local = _snakemake(tmp_path / "local", CONFIG, cluster, "--cores", "2")
    assert local.returncode == 0, local.stdout[-4000:]
    for arch in ("gpt2", "hyena"):
        (run_dir,) = [p.parent.relative_to(tmp_path / "slurm") for p in (tmp_path / "slurm" / "results/length/base" / arch).rglob("seed0/eval.parquet")]
        on_slurm = pd.read_parquet(tmp_path / "slurm" / run_dir / "eval.parquet")
        on_laptop = pd.read_parquet(tmp_path / "local" / run_dir / "eval.parquet")
        pd.testing.assert_frame_equal(on_slurm, on_laptop)


def test_a_failing_job_fails_the_run_with_its_slurm_state_and_leaves_no_output(cluster, tmp_path):
    config = {**CONFIG, "experiments": {"listops": {"data": {"listops": {"depth": [4, 4], "length": [1, 10]}, "splits": {"train": {"n": 10}}}}}}
    run = _snakemake(tmp_path / "fail", config, cluster, "--workflow-profile", str(_profile(tmp_path, cluster)))
    assert run.returncode != 0
    assert "SLURM status is: 'FAILED'" in run.stdout, run.stdout[-4000:]
    assert "Error in rule generate_listops_base" in run.stdout
    assert not list((tmp_path / "fail" / "results" / "listops" / "base").rglob("*.parquet"))
