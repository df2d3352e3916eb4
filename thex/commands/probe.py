"""`python -m thex probe`: block ablations and linear probes of one trained model (thex/probes.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str]) -> int:
    import pyarrow.parquet as pq

    from thex.devices import resolve_device, set_threads
    from thex.io import atomic_path, write_json
    from thex.models.saved import load_model
    from thex.probes import ABLATIONS, probe_run

    parser = argparse.ArgumentParser(
        prog="python -m thex probe",
        description="Exact match with each block's mixer or MLP ablated, linear probes of the answer by depth, "
        "and what each attention head attends to.",
    )
    parser.add_argument("--model-dir", type=Path, required=True, help="a training output directory")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True, help="writes ablations.parquet, probes.parquet, attention.parquet, probe.json")
    parser.add_argument("--n-probe", type=int, default=2000, help="train items the means and probes are fit on")
    parser.add_argument("--ablation", choices=ABLATIONS, default="mean")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.n_probe < 2:
        parser.error(f"--n-probe {args.n_probe}: at least 2 items are needed to fit a probe")
    set_threads(args.threads)
    device = resolve_device(args.device)
    model, _ = load_model(args.model_dir, device)
    ablations, probes, attention, info = probe_run(model, args.data_dir, device, args.n_probe, args.ablation)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, table in (("ablations", ablations), ("probes", probes), ("attention", attention)):
        with atomic_path(args.out_dir / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    write_json(args.out_dir / "probe.json", {**info, "device": str(device)})  # written last: marks the job complete
    print(f"{args.ablation} ablation of {ablations['block'].to_numpy().max()} blocks in {info['ablation_s']:.1f} s, "
          f"probes at {probes['depth'].to_numpy().max() + 1} depths in {info['probe_s']:.1f} s ({info['n_probe']} probe items), "
          f"attention roles of {attention.num_rows} (block, head, role) rows in {info['attention_s']:.1f} s")
    return 0
