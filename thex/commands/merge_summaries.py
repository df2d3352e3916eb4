"""`python -m thex merge-summaries`: combine the summaries of a study run in parts."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.aggregate import merge_summaries

    parser = argparse.ArgumentParser(
        prog="python -m thex merge-summaries",
        description="Combine the summaries of a study run in parts (e.g. config/verdicts/d32.yaml and d64.yaml) into one.",
    )
    parser.add_argument("summaries", nargs="+", type=Path, help="summary directories")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    merge_summaries(args.summaries, args.out_dir)
    print(f"merged {len(args.summaries)} summaries into {args.out_dir}")
    return 0
