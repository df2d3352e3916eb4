"""`python -m thex collect`: gather run results into a summary directory."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.aggregate import collect

    parser = argparse.ArgumentParser(prog="python -m thex collect", description="Gather run results into a summary directory.")
    parser.add_argument(
        "--runs", nargs="+", required=True, help="reported run directories .../EXPERIMENT/CONDITION/ARCH/dW-pos_P/lrR/seedN"
    )
    parser.add_argument("--tuning-runs", nargs="*", default=[], help="other tuning runs (their learning curves only)")
    parser.add_argument("--selections", nargs="+", required=True, help="every cell's selected_lr.json (python -m thex select-lr)")
    parser.add_argument("--data", nargs="*", default=[], metavar="EXPERIMENT/CONDITION=DIR", help="dataset directories")
    parser.add_argument("--probes", action="store_true", help="also each run's probes/ folder (python -m thex probe)")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    data_dirs = dict(item.split("=", 1) for item in args.data)
    collect(args.runs, data_dirs, args.out_dir, args.tuning_runs, args.selections, args.probes)
    print(f"collected {len(args.runs)} reported and {len(args.tuning_runs)} tuning runs into {args.out_dir}")
    return 0
