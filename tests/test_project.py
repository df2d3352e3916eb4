"""The project's own files agree with each other: install paths, CI entry point, README."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

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


def test_ci_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    text = ci.read_text()
    assert "set -euo pipefail" in text and "make test" in text
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme


def test_offline_bundle_lists_the_runtime_closure_minus_what_the_target_has():
    from thex.offline import pinned

    names = {line.split("==")[0].lower() for line in pinned({"torch"})}
    assert {"snakemake", "snakemake-executor-plugin-slurm", "safetensors", "pyarrow", "pandas"} <= names
    assert not names & {"torch", "sympy", "pytest", "hypothesis", "snakefmt"}  # torch's, and test-only
    device = {line.split("==")[0].lower() for line in pinned({"torch", "numpy", "pandas", "pyarrow", "matplotlib", "pyyaml"})}
    assert "snakemake" in device and not device & {"numpy", "pandas", "pyarrow", "matplotlib", "pillow"}
