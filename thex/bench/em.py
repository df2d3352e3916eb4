"""Exact match in one teacher-forced pass vs by greedy decoding, on the same samples and model.

    python -m thex.bench em --samples 2000 --arch gpt2     # the goal: one pass >= 10x faster

Trains a small model briefly on an easy LoLa dataset (so that exact match is neither 0
nor 1), then scores the test split both ways and checks that they agree sample by sample.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from thex.config import from_dict
from thex.data import TokenizedSplit
from thex.datasets import DatasetConfig, generate_dataset
from thex.evaluation import greedy_exact_match, score_split
from thex.devices import resolve_device
from thex.models.saved import load_model
from thex.run_config import RunConfig
from thex.training import train


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m thex.bench em", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--arch", default="gpt2")
    parser.add_argument("--steps", type=int, default=300, help="training steps before scoring")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = {
        "seed": 0,
        "programs": {"n_statements": [1, 3], "depth": [0, 1], "operators": ["add", "sub"], "modulus": 10, "name_words": [1, 1]},
        "splits": {"train": {"n": 4000}, "test": {"n": args.samples}},
    }
    run = from_dict(
        RunConfig,
        {
            "model": {"n_layer": 4, "d_model": 64, "n_head": 4},
            "training": {"steps": args.steps, "batch_size": 32, "lr": 3e-3, "warmup_steps": 20, "checkpoint_every": args.steps},
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        generate_dataset(DatasetConfig.from_dict(data), data_dir)
        train(run, data_dir, Path(tmp) / "model", args.arch, seed=0, device=device)
        model, _ = load_model(Path(tmp) / "model", device)
        split = TokenizedSplit.load(data_dir / "test.parquet")
        start = time.perf_counter()
        fast = score_split(model, split, device)["exact_match"]
        one_pass = time.perf_counter() - start
        start = time.perf_counter()
        slow = greedy_exact_match(model, split, device)  # prompts of equal length decoded together
        greedy = time.perf_counter() - start
        start = time.perf_counter()
        single = greedy_exact_match(model, split, device, batch_size=1)  # one sample at a time
        greedy_single = time.perf_counter() - start
    agree = bool(np.array_equal(fast, slow) and np.array_equal(fast, single))
    print(
        f"{args.arch} on {len(split)} samples ({device}, {args.threads} threads), exact match {fast.mean():.4f}:\n"
        f"  one teacher-forced pass          {one_pass:7.2f} s\n"
        f"  greedy decoding, batched         {greedy:7.2f} s  ({greedy / one_pass:.1f}x slower)\n"
        f"  greedy decoding, sample by sample {greedy_single:6.2f} s  ({greedy_single / one_pass:.1f}x slower)\n"
        f"  same exact match sample by sample: {agree}"
    )
    return 0 if agree else 1
