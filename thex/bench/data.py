"""Dataset generation throughput: samples generated, answered and written to Parquet per second.

    python -m thex.bench data --n 1000000 --kind lola      # the goal: <= 30 s on 2 cores
    python -m thex.bench data --n 1000000 --kind meme
    python -m thex.bench data --n 1000000 --kind listops
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from thex.datasets import DatasetConfig, read_split, write_split

KINDS = {
    "lola": {"programs": {"languages": {"lola": 1.0}, "n_statements": [8, 8], "depth": [2, 2]}},
    "meme": {"programs": {"languages": {"meme": 1.0}, "n_statements": [8, 8], "depth": [2, 2]}},
    "listops": {"listops": {"depth": [1, 4], "max_args": 5, "length": [1, 200]}},
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m thex.bench data", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="samples to generate")
    parser.add_argument("--kind", choices=sorted(KINDS), default="lola")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="generator processes")
    parser.add_argument("--out", type=Path, default=None, help="Parquet file (default: a temporary file)")
    args = parser.parse_args(argv)

    cfg = DatasetConfig.from_dict({"seed": 0, **KINDS[args.kind], "splits": {"train": {"n": args.n}}})
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "train.parquet"
        start = time.perf_counter()
        write_split(cfg, "train", out, workers=args.workers)
        wall = time.perf_counter() - start
        size = out.stat().st_size
        start = time.perf_counter()
        table, _ = read_split(out)
        read_wall = time.perf_counter() - start
        chars = sum(len(p) for p in table.column("prompt").to_pylist()) / table.num_rows
    print(
        f"{args.kind}: {args.n:,} samples in {wall:.1f} s wall with {args.workers} workers = "
        f"{args.n / wall:,.0f} samples/s; file {size / 2**20:.0f} MiB, mean prompt {chars:.0f} chars; "
        f"verified read {read_wall:.1f} s"
    )
    return 0
