"""Training throughput: useful (non-pad) tokens and answer tokens per second per core.

    python -m thex.bench train                       # random vs length-grouped batches, 1 thread
    python -m thex.bench train --threads 1 2 --arch gpt2 hyena --steps 200
    python -m thex.bench train --compile off on --batching by_length --steps 2000   # torch.compile vs eager

Runs the real training loop (`thex.training.train`, checkpoints and all) on one dataset for
each (architecture, batching, threads) and prints the measured rates side by side, so the
ratios come from one run on one machine. Padding tokens are not counted: a batch is padded
to its longest sample, and the compute spent on padding is the waste that length-grouped
batching removes. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from thex.config import from_dict
from thex.data import TokenizedSplit
from thex.datasets import DatasetConfig, generate_dataset
from thex.devices import resolve_device
from thex.run_config import RunConfig
from thex.training import BatchOrder, train

# A dataset like the default's headline tasks: 1-3 statements, depth 0-1, 20 globals.
DEFAULT_DATA = {
    "seed": 0,
    "programs": {"modulus": 10, "n_statements": [1, 3], "depth": [0, 1], "name_words": [1, 2], "n_globals": 20, "p_global": 0.3},
    "splits": {"train": {"n": 20000}, "valid": {"n": 64}},
}


def padding_fraction(split: TokenizedSplit, order: BatchOrder, steps: int) -> float:
    """Share of the computed positions that are padding, over the first `steps` batches."""
    real = padded = 0
    for step in range(steps):
        lengths = split.lengths[order.indices(step)]
        real += int(lengths.sum())
        padded += int(lengths.max()) * len(lengths)
    return 1 - real / padded


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m thex.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="a dataset directory (default: generate one)")
    parser.add_argument("--arch", nargs="+", default=["gpt2", "hyena"])
    parser.add_argument("--batching", nargs="+", default=["random", "by_length"], choices=["random", "by_length"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1])
    parser.add_argument("--compile", nargs="+", default=["off"], choices=["off", "on"], help="train eager (off), compiled (on) or both")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default='{"n_layer": 4, "d_model": 64, "n_head": 4, "mixers": {"hyena": {"filter_order": 16}}}', help="model config (JSON)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            generate_dataset(DatasetConfig.from_dict(DEFAULT_DATA), data_dir)
        split = TokenizedSplit.load(data_dir / "train.parquet")
        answer_share = float((split.lengths - split.answer_starts).sum() / split.lengths.sum())
        for arch in args.arch:
            for threads in args.threads:
                for batching, compiled in [(b, c == "on") for b in args.batching for c in args.compile]:
                    torch.set_num_threads(threads)
                    run = from_dict(
                        RunConfig,
                        {
                            "model": json.loads(args.model),
                            "training": {"steps": args.steps, "batch_size": args.batch_size, "lr": 3e-3, "warmup_steps": 10,
                                         "checkpoint_every": args.steps, "eval_samples": 64, "batching": batching,
                                         "compile": compiled},
                        },
                    )
                    out = Path(tmp) / f"{arch}-{threads}-{batching}-{compiled}"
                    summary = train(run, data_dir, out, arch, seed=0, device=device)
                    rates = pq.read_table(out / "metrics.parquet", columns=["tokens_per_s"]).column(0).to_numpy()
                    lengths = split.lengths if batching == "by_length" else None
                    pad = padding_fraction(split, BatchOrder(len(split), args.batch_size, 0, lengths), args.steps)
                    rows.append(
                        {
                            "arch": arch,
                            "threads": threads,
                            "batching": batching,
                            "compile": compiled,
                            "wall_s": summary["train_wall_s"],
                            "steady_tokens_per_s": float(np.median(rates[len(rates) // 2 :])),
                            "final_loss_answer": summary["final_loss_answer"],
                            "tokens_per_s": summary["tokens_per_s"],
                            "tokens_per_s_per_core": summary["tokens_per_s"] / threads,
                            "answer_tokens_per_s": summary["tokens_per_s"] * answer_share,
                            "padding_fraction": pad,
                        }
                    )
    print(f"{args.steps} steps of batch {args.batch_size}, model {args.model}, {device}; "
          f"mean length {split.lengths.mean():.1f} (min {split.lengths.min()}, max {split.lengths.max()})")
    print(f"{'arch':8} {'threads':>7} {'batching':>10} {'compile':>7} {'tok/s':>9} {'tok/s/core':>11} {'answer tok/s':>13} {'padding':>8} "
          f"{'vs random':>10} {'wall s':>7} {'steady tok/s':>12} {'final loss':>10} {'job vs eager':>12} {'steady vs eager':>15}")
    def counterpart(row: dict, **changed) -> dict | None:
        """The row of the same job with `changed` settings (the random-batch or eager one)."""
        wanted = {**{k: row[k] for k in ("arch", "threads", "batching", "compile")}, **changed}
        return next((r for r in rows if all(r[k] == v for k, v in wanted.items())), None)

    for row in rows:
        base, eager = counterpart(row, batching="random"), counterpart(row, compile=False)
        ratio = f"{row['tokens_per_s'] / base['tokens_per_s']:.2f}x" if base else "-"
        job = f"{eager['wall_s'] / row['wall_s']:.2f}x" if eager else "-"
        steady = f"{row['steady_tokens_per_s'] / eager['steady_tokens_per_s']:.2f}x" if eager else "-"
        print(f"{row['arch']:8} {row['threads']:>7} {row['batching']:>10} {'on' if row['compile'] else 'off':>7} {row['tokens_per_s']:>9,.0f} "
              f"{row['tokens_per_s_per_core']:>11,.0f} {row['answer_tokens_per_s']:>13,.0f} {row['padding_fraction']:>8.1%} {ratio:>10} "
              f"{row['wall_s']:>7.1f} {row['steady_tokens_per_s']:>12,.0f} {row['final_loss_answer']:>10.5f} {job:>12} {steady:>15}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
