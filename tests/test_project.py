"""The project's own files agree with each other: install paths, CI entry point, README."""

from __future__ import annotations

import os
import shutil
import subprocess
import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_installs_what_pyproject_declares_at_the_pinned_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[_name(name)] = version
    torch_version = re.search(r"^TORCH_VERSION \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    pins["torch"] = torch_version

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {}
    for requirement in pip_section:
        if requirement.startswith("-e"):
            continue
        name, _, version = requirement.partition("==")
        listed[_name(name)] = version
    assert set(listed) == declared
    for name, version in listed.items():
        assert version == pins[name], f"environment.yml pins {name}=={version}, the Makefile path installs {pins[name]}"
    assert "-e ." in pip_section
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


@pytest.mark.parametrize("make_status, ci_status", [(0, 0), (2, 2), (5, 1)])
def test_ci_runs_the_readme_test_command(tmp_path, make_status, ci_status):
    # .ci/run in a copy whose `make` records how it was called and exits as told.
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    (tmp_path / ".ci").mkdir()
    shutil.copy2(ci, tmp_path / ".ci" / "run")
    (tmp_path / "bin").mkdir()
    fake_make = tmp_path / "bin" / "make"
    fake_make.write_text(f'#!/bin/sh\necho "$PWD $*" >> "{tmp_path}/calls"\nexit {make_status}\n')
    fake_make.chmod(0o755)
    fake_browser = tmp_path / "bin" / "chromium"  # present: .ci/run does not install one
    fake_browser.write_text("#!/bin/sh\nexit 0\n")
    fake_browser.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([str(tmp_path / ".ci" / "run")], cwd="/", env=env, capture_output=True, text=True)
    assert (tmp_path / "calls").read_text() == f"{tmp_path} test\n"  # the README's command, from the root
    assert run.returncode == ci_status
    if make_status == 5:
        assert "collected no tests" in run.stderr
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme


def test_offline_bundle_lists_the_runtime_closure_minus_what_the_target_has():
    from thex.offline import pinned

    names = {line.split("==")[0].lower() for line in pinned({"torch"})}
    assert {"snakemake", "snakemake-executor-plugin-slurm", "safetensors", "pyarrow", "pandas"} <= names
    assert not names & {"torch", "sympy", "pytest", "hypothesis", "snakefmt"}  # torch's, and test-only
    device = {line.split("==")[0].lower() for line in pinned({"torch", "numpy", "pandas", "pyarrow", "matplotlib", "pyyaml"})}
    assert "snakemake" in device and not device & {"numpy", "pandas", "pyarrow", "matplotlib", "pillow"}


def test_what_runs_write_is_ignored_as_a_whole_and_what_is_committed_lies_in_snapshots():
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "/results/" in ignore and not [line for line in ignore if line.startswith("!")]  # no negations
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "results", "snapshots"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert tracked and all(path.startswith("snapshots/") for path in tracked)
    # every shipped config writes below results/ (so a run of it never shows in git status)
    for path in sorted((ROOT / "config").rglob("*.yaml")):
        results = yaml.safe_load(path.read_text()).get("results", "results")
        assert results == "results" or results.startswith("results/"), f"{path.name}: results {results!r}"
