"""`python -m thex snapshot`: a finished run's summary, tables and PNG figures become a
committed snapshot, all or nothing, keeping the snapshot's own README."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "snapshots" / "reference"


@pytest.fixture()
def finished_run(tmp_path) -> Path:
    """A run's results folder: the reference summary and tables, and two figures."""
    results = tmp_path / "results" / "study"
    shutil.copytree(REFERENCE / "summary", results / "summary")
    shutil.copytree(REFERENCE / "tables", results / "tables")
    (results / "figures").mkdir()
    (results / "figures" / "cost.png").write_bytes(b"\x89PNG a figure")
    (results / "figures" / "cost.svg").write_text("<svg/>")
    (results / "sweep" / "base" / "gpt2").mkdir(parents=True)  # a run folder: never copied
    return results


def snapshot(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "thex", "snapshot", *map(str, args)], capture_output=True, text=True, cwd=REPO)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_snapshot_is_the_runs_summary_tables_and_png_figures_and_keeps_its_readme(tmp_path, finished_run):
    dest = tmp_path / "snapshots" / "study"
    (dest / "tables").mkdir(parents=True)
    (dest / "tables" / "dropped.csv").write_text("a table the run no longer makes\n")
    (dest / "README.md").write_text("# what this snapshot is\n")
    run = snapshot(finished_run, dest)
    assert run.returncode == 0, run.stderr
    copied = _files(dest)
    expected = {f"{part}/{name}": data for part in ("summary", "tables") for name, data in _files(finished_run / part).items()}
    expected |= {"figures/cost.png": b"\x89PNG a figure", "README.md": b"# what this snapshot is\n"}
    assert copied == expected  # byte for byte; no SVG, no run folder, the stale table gone
    assert sorted(p.name for p in dest.parent.iterdir()) == ["study"]  # no staging folder left
    assert f"snapshot {dest}: {len(expected) - 1} files" in run.stdout


@pytest.mark.parametrize("damage", ["truncated runs.parquet", "no tables"])
def test_a_damaged_run_is_refused_in_one_line_and_the_snapshot_kept(tmp_path, finished_run, damage):
    dest = tmp_path / "snapshots" / "study"
    assert snapshot(finished_run, dest).returncode == 0
    before = _files(dest)
    if damage == "no tables":
        shutil.rmtree(finished_run / "tables")
        message = f"{finished_run / 'tables'}: no tables to snapshot"
    else:
        runs = finished_run / "summary" / "runs.parquet"
        runs.write_bytes(runs.read_bytes()[:100])
        message = "runs.parquet: not a readable Parquet file"
    run = snapshot(finished_run, dest)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert _files(dest) == before
