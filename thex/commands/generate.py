"""`python -m thex generate`: write a dataset's splits to Parquet."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from thex.config import load_config_source


def main(argv: list[str]) -> int:
    from thex.datasets import DatasetConfig, generate_dataset

    parser = argparse.ArgumentParser(
        prog="python -m thex generate",
        description="Write every split of a dataset to OUT_DIR/{split}.parquet.",
    )
    parser.add_argument("config", help="a dataset config: YAML file or inline JSON (see docs/languages.md)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="generator processes (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    cfg = DatasetConfig.from_dict(load_config_source(args.config) or {}, where="")
    # A split file left from another config would be read as one of this dataset's splits.
    for stale in sorted(args.out_dir.glob("*.parquet")) if args.out_dir.is_dir() else []:
        if stale.stem not in cfg.splits:
            print(f"removing {stale}: not a split of this dataset", file=sys.stderr)
            stale.unlink()
    paths = generate_dataset(cfg, args.out_dir, workers=args.workers, progress=not args.quiet)
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0
