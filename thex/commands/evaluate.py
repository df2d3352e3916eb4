"""`python -m thex evaluate`: score a trained model on a dataset's evaluation splits."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str]) -> int:
    from thex.devices import resolve_device, set_threads
    from thex.evaluation import evaluate_model, write_results
    from thex.models.saved import load_model

    parser = argparse.ArgumentParser(
        prog="python -m thex evaluate",
        description="Score a trained model on every evaluation split of a dataset (exact match in one pass).",
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a training output directory")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="Parquet file: one row per sample")
    parser.add_argument("--summary", type=Path, required=True, help="JSON summary")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=16384, help="padded tokens per batch")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    model, _ = load_model(args.model_dir, device)
    table, summary = evaluate_model(model, args.data_dir, device, args.max_tokens)
    train_summary = json.loads((args.model_dir / "train_summary.json").read_text())
    summary = {**train_summary, **summary, "device": str(device)}
    write_results(table, summary, args.out, args.summary)
    for name, stats in summary["splits"].items():
        print(f"{name}: exact match {stats['exact_match']:.3f} on {stats['n']} samples")
    return 0
