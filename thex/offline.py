"""Wheels for running the workflow on a machine without internet that has Python and torch.

    python -m thex.offline --python 3.12 --out .whl       # here, with internet
    # there (README, "A GPU machine without internet"):
    python3 -m pip install --no-index --no-deps --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD

Every runtime dependency (pyproject.toml) and what it needs, minus what the target already
has (`--have`, torch by default), is fetched at its pinned version (constraints.txt) as a
wheel for the target Python and platform; the few published only as source (pure Python)
are built into wheels here. Versions are the pins, so the machine runs the
tested set; `--no-deps` there installs exactly these files.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_roots() -> list[str]:
    """The package's runtime dependencies (pyproject.toml), by name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0] for requirement in project["dependencies"]]


def closure(roots: list[str], have: set[str]) -> set[str]:
    """Every distribution the roots need (as installed here), not descending into `have`."""
    needed: set[str] = set()
    stack = [_key(r) for r in roots]
    while stack:
        name = stack.pop()
        if name in needed or name in have:
            continue
        needed.add(name)
        for requirement in metadata.requires(name) or []:
            req = Requirement(requirement)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(_key(req.name))
    return needed


def pinned(have: set[str], constraints: Path = ROOT / "constraints.txt") -> list[str]:
    """`name==version` of every pin the offline machine needs besides what it `have`s."""
    needed = closure(runtime_roots(), {_key(h) for h in have})
    pins = []
    for line in constraints.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and _key(line.split("==", 1)[0]) in needed:
            pins.append(line)
    return pins


def fetch(requirement: str, out: Path, python: str) -> str:
    """Download a binary wheel for the target, or build a pure-Python one from source."""
    target = ["--only-binary=:all:", "--python-version", python, "--implementation", "cp"]
    target += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(out), *target, requirement]
    if subprocess.run(download, capture_output=True, text=True).returncode == 0:
        return "wheel"
    with tempfile.TemporaryDirectory() as tmp:
        build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", tmp, requirement]
        result = subprocess.run(build, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels or not all(w.name.endswith("-none-any.whl") for w in wheels):
            raise SystemExit(f"{requirement}: no wheel for Python {python} and it does not build as pure Python\n{result.stderr}")
        for wheel in wheels:
            wheel.rename(out / wheel.name)
    return "built"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m thex.offline", description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="the target machine's Python version (default 3.12)")
    parser.add_argument("--out", type=Path, default=ROOT / ".whl")
    parser.add_argument(
        "--have",
        default="torch",
        help="comma-separated packages the target already has (default: torch; the H200 of the "
        "device tool also has numpy,pandas,pyarrow,matplotlib,pyyaml)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    requirements = pinned({name.strip() for name in args.have.split(",") if name.strip()})
    for requirement in requirements:
        how = fetch(requirement, args.out, args.python)
        print(f"{how:>5}  {requirement}")
    size = sum(p.stat().st_size for p in args.out.glob("*.whl")) / 2**20
    print(f"{len(requirements)} wheels for Python {args.python} in {args.out} ({size:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
