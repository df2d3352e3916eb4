"""Add the probe stage to a study whose runs were trained before the stage existed.

    python scripts/probe_study.py results/verdicts/d32 --out-dir snapshots/verdicts/d32/summary

Rerunning such a study's config with today's code would retrain it (its code inputs are
newer than its runs), so this runs `python -m thex probe` on every reported run of RESULTS
(the run folders EXPERIMENT/CONDITION/ARCH/SCALE/lrR/seedS that hold an eval.json, at
their cell's selected rate; one already probed is kept), with the probe settings of config/config.yaml unless given, then
collects the study again with its probe results (`python -m thex collect --probes`): the
other summary files come out as the workflow's collect rule writes them.
docs/calibration.md ("Probes of the verdict study") quotes what it produced.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from thex.experiments import lr_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="a study's results folder (the config's `results:`)")
    parser.add_argument("--out-dir", type=Path, required=True, help="the summary folder to write")
    parser.add_argument("--n-probe", type=int, default=2000)
    parser.add_argument("--ablation", default="mean")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    runs = sorted(p.parent for p in args.results.glob("*/*/*/*/lr*/seed*/train_summary.json"))
    selections = sorted(args.results.glob("*/*/*/*/selected_lr.json"))
    # a cell's reported runs are those at its selected rate (a cell whose choice moved when
    # its grid was widened keeps the evaluated runs of its old rate, which are not reported)
    selected = {path.parent: lr_name(json.loads(path.read_text())["selected_lr"]) for path in selections}
    reported = [run for run in runs if (run / "eval.json").exists() and selected.get(run.parents[1], run.parent.name) == run.parent.name]
    tuning = [run for run in runs if run not in reported and not (run / "eval.json").exists()]
    if not reported:
        sys.exit(f"probe_study: no reported run (a run folder with eval.json) under {args.results}")
    data = {f"{run.parts[-6]}/{run.parts[-5]}": run.parents[3] / "data" for run in reported}
    for i, run in enumerate(reported, 1):
        if (run / "probes" / "probe.json").exists():
            continue
        data_dir = data[f"{run.parts[-6]}/{run.parts[-5]}"]
        print(f"[{i}/{len(reported)}] probe {run}", flush=True)
        subprocess.run([sys.executable, "-m", "thex", "probe", "--model-dir", str(run), "--data-dir", str(data_dir),
                        "--out-dir", str(run / "probes"), "--n-probe", str(args.n_probe), "--ablation", args.ablation,
                        "--device", "cpu", "--threads", str(args.threads)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([sys.executable, "-m", "thex", "collect", "--runs", *map(str, reported), "--tuning-runs", *map(str, tuning),
                    "--selections", *map(str, selections), "--data", *(f"{k}={v}" for k, v in sorted(data.items())),
                    "--probes", "--out-dir", str(args.out_dir)], check=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
