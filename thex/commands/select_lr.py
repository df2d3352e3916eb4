"""`python -m thex select-lr`: choose a cell's learning rate on validation."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.io import write_json
    from thex.tuning import select_lr

    parser = argparse.ArgumentParser(
        prog="python -m thex select-lr",
        description="Choose one cell's learning rate: the best mean final validation exact match over its tuning runs.",
    )
    parser.add_argument("--runs", nargs="+", required=True, help="the cell's tuning run directories (every rate, every tuning seed)")
    parser.add_argument("--out", type=Path, required=True, help="JSON: grid, scores, selected_lr, at_grid_edge")
    args = parser.parse_args(argv)
    choice = select_lr(args.runs)
    write_json(args.out, choice)
    print(f"selected lr {choice['selected_lr']!r} of {choice['grid']} (validation exact match {choice['valid_exact_match']})")
    return 0
