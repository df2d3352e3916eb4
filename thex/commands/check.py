"""`python -m thex check`: does a run reproduce a committed one (thex/reproduce.py)?"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.aggregate import to_markdown
    from thex.config import load_yaml
    from thex.experiments import WorkflowConfig
    from thex.io import atomic_path, write_text
    from thex.reproduce import check_reproduction

    parser = argparse.ArgumentParser(
        prog="python -m thex check",
        description="Compare a run's summary with a committed one: bitwise where the provenance is the same, statistically otherwise.",
    )
    parser.add_argument("--config", type=Path, default=Path("config/config.yaml"), help="the run's config (its results, headline and reference)")
    parser.add_argument("--summary-dir", type=Path, help="the run's summary (default: the config's)")
    parser.add_argument("--reference", type=Path, help="the committed summary (default: the config's `reference`)")
    parser.add_argument("--out-dir", type=Path, help="write reproduction.csv, .md and .txt here (default: the config's results/check)")
    parser.add_argument("--strict", action="store_true", help="exit with 1 when the run does not reproduce the reference")
    args = parser.parse_args(argv)
    config = WorkflowConfig.from_dict(load_yaml(args.config))
    reference = args.reference or (Path(config.reference) if config.reference else None)
    if reference is None:
        parser.error(f"{args.config} names no `reference` summary; give --reference DIR")
    result = check_reproduction(args.summary_dir or Path(config.summary_path), reference, config.headline)
    markdown = to_markdown(result.table, f"Reproduction of {reference} ({result.mode})", result.line)
    print(markdown)
    print(result.line)
    out_dir = args.out_dir or Path(config.results) / "check"
    with atomic_path(out_dir / "reproduction.csv") as tmp:
        result.table.to_csv(tmp, index=False)
    write_text(out_dir / "reproduction.md", markdown)
    write_text(out_dir / "reproduction.txt", result.line + "\n")
    return 1 if args.strict and not result.reproduced else 0
