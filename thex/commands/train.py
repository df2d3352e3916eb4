"""`python -m thex train`: train (or resume) one model."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.devices import resolve_device, set_threads
    from thex.run_config import RunConfig
    from thex.training import train

    parser = argparse.ArgumentParser(prog="python -m thex train", description="Train (or resume) one model.")
    parser.add_argument("--config", required=True, help="run config: a YAML/JSON file or inline JSON {model:, training:}")
    parser.add_argument("--data-dir", type=Path, required=True, help="dataset directory with train.parquet (+ valid)")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--arch", required=True, help="gpt2, hyena, thex-N, thex-N+M, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--experiment", default="")
    parser.add_argument("--condition", default="", help="with --experiment, written as the run's identity (the workflow passes both)")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N, or 'claim'")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    run = RunConfig.load(args.config)
    summary = train(run, args.data_dir, args.out_dir, args.arch, args.seed, experiment=args.experiment, condition=args.condition,
                    device=resolve_device(args.device), show_progress=not args.quiet)  # fmt: skip
    print(
        f"{args.arch} seed {args.seed}: {summary['steps']} steps, {summary['train_tokens']:,} tokens, "
        f"{summary['tokens_per_s']:,.0f} tokens/s, final answer loss {summary['final_loss_answer']:.4f}"
    )
    return 0
