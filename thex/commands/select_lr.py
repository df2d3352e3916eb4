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
    parser.add_argument("--prior", nargs="*", default=[], metavar="LR:SEED:SCORE",
                        help="an earlier study's tuning run of the same cell, counted as a run of this one (sweep.prior_tuning)")
    parser.add_argument("--out", type=Path, required=True, help="JSON: grid, scores, selected_lr, at_grid_edge")
    args = parser.parse_args(argv)
    prior = {}
    for text in args.prior:
        try:
            lr, seed, score = text.split(":")
            prior[(float(lr), int(seed))] = float(score)
        except ValueError:
            parser.error(f"--prior {text!r}: expected LR:SEED:SCORE, e.g. 0.001:100:0.695")
    choice = select_lr(args.runs, prior)
    write_json(args.out, choice)
    print(f"selected lr {choice['selected_lr']!r} of {choice['grid']} (validation exact match {choice['valid_exact_match']})")
    return 0
