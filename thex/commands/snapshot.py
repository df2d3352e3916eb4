"""`python -m thex snapshot`: copy a finished run's summary, tables and PNG figures into a
committed snapshot (snapshots/<name>/), the read-only input of `make figures`."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from thex.datasets import DatasetError

# What a snapshot holds: everything tables and figures are rebuilt from, the tables the
# docs quote, and the figures as PNG (the SVG copies would double the size for nothing
# a reader of the repository sees). Other files in the snapshot (its README.md) are kept.
PARTS = {"summary": "*", "tables": "*", "figures": "*.png"}


def write_snapshot(results: Path, dest: Path) -> list[Path]:
    """Replace dest's summary/, tables/ and figures/ with those of the run under `results`
    (its config's `results:` folder). The new copy is complete before the old one goes, so
    an interrupted snapshot leaves the old one whole."""
    from thex.aggregate import check_summary

    check_summary(results / "summary")
    for part in ("tables", "figures"):
        if not any((results / part).glob(PARTS[part])):
            raise DatasetError(f"{results / part}: no {part} to snapshot (run the workflow to its end first)")
    staging = dest.with_name(f".{dest.name}.snapshot.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    copied = []
    for part, pattern in PARTS.items():
        (staging / part).mkdir()
        for source in sorted((results / part).glob(pattern)):
            if source.is_file():
                copied.append(dest / part / source.name)
                shutil.copy2(source, staging / part / source.name)
    old = dest.with_name(f".{dest.name}.snapshot.old")
    if dest.exists():
        for kept in dest.iterdir():
            if kept.name not in PARTS:
                (shutil.copytree if kept.is_dir() else shutil.copy2)(kept, staging / kept.name)
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
    staging.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return copied


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m thex snapshot",
        description="Copy a finished run's summary, tables and PNG figures into a committed snapshot "
        "(e.g. results/verdicts/confirm -> snapshots/verdicts/confirm); its other files are kept.",
    )
    parser.add_argument("results", type=Path, help="the run's results folder (its config's `results:`)")
    parser.add_argument("dest", type=Path, help="the snapshot folder, e.g. snapshots/verdicts/confirm")
    args = parser.parse_args(argv)
    copied = write_snapshot(args.results, args.dest)
    print(f"snapshot {args.dest}: {len(copied)} files from {args.results}")
    return 0
