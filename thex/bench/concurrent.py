"""Training rate of jobs that share one device, and the token budget that fits a deadline.

    python -m thex.bench concurrent --configfile config/verdicts/gpu.yaml \
        --data-dir results/gpu/globals/with_globals/data --jobs 8 --steps 60 \
        --deadline-s 300 --write-config sized.yaml --json budget.json

Starts `--jobs` training jobs at once, each as the workflow runs one (`python -m thex
train`, its own process), on the config's widest cells (architectures taken in turn),
for `--steps` steps on the dataset in `--data-dir`. Per job it measures the training rate
(tokens over the training wall time, first steps included) and the seconds spent outside
training (start-up, data, saving); the budget takes the slowest rate and the median
overhead (start-up varies from job to job, the rate with the architecture). With --deadline-s it sizes the config's
`training.tokens` so that all of the config's training and evaluation jobs, `--jobs` at a
time, should finish within that many seconds (`size_tokens` says how), and
--write-config writes the config file with that budget. Every job of the probe runs the
widest cells, so the narrower cells of the real run finish early: a margin, not a debt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from thex.config import ConfigError, load_yaml, to_dict
from thex.experiments import WorkflowConfig


@dataclass(frozen=True)
class JobCounts:
    train: int  # tuning runs (every rate of the grid, tuning seeds) and reported runs
    evaluate: int  # one per reported run

    @classmethod
    def of(cls, cfg: WorkflowConfig) -> "JobCounts":
        train = evaluate = 0
        for cell in cfg.cells():
            seeds = set(cfg.seeds_of(cell.experiment))
            if cfg.sweep_of(cell.experiment).lr:
                tune = set(cfg.tune_seeds(cell.experiment))
                # a reported seed that also tuned has run at the chosen rate already
                train += len(cfg.lr_grid(cell)) * len(tune) + len(seeds - tune)
            else:
                train += len(seeds)
            evaluate += len(seeds)
        return cls(train, evaluate)


def predicted_seconds(tokens: float, rate: float, overhead_s: float, evaluate_s: float, counts: JobCounts, jobs: int) -> float:
    """Wall time of all jobs, `jobs` at a time: the summed job time shared by `jobs` slots,
    plus one job's length for each of the two phases (tuning, then the chosen rates) whose
    last job runs with slots idle."""
    train_job = overhead_s + tokens / rate
    total = counts.train * train_job + counts.evaluate * evaluate_s
    return total / jobs + 2 * train_job + evaluate_s


def size_tokens(budget_s: float, rate: float, overhead_s: float, evaluate_s: float, counts: JobCounts, jobs: int,
                quantum: int = 25_000) -> int:
    """The largest multiple of `quantum` tokens per training job whose predicted wall time
    fits `budget_s`; an error when not even one quantum does."""
    fixed = predicted_seconds(0.0, rate, overhead_s, evaluate_s, counts, jobs)
    per_token = (predicted_seconds(1.0, rate, overhead_s, evaluate_s, counts, jobs) - fixed)
    tokens = math.floor((budget_s - fixed) / per_token / quantum) * quantum
    if tokens < quantum:
        raise ConfigError(
            f"--deadline-s {budget_s:g}: too short for {counts.train} training and {counts.evaluate} evaluation jobs, "
            f"{jobs} at a time (start-up alone takes {fixed:.0f} s; {quantum:,} tokens each would need "
            f"{predicted_seconds(quantum, rate, overhead_s, evaluate_s, counts, jobs):.0f} s)"
        )
    return tokens


def with_tokens(config_text: str, tokens: int, where: str) -> str:
    """The config file's text with its one `training.tokens` line set to `tokens`."""
    pattern = re.compile(r"^(  tokens:)[ \t]*[0-9_.eE+]+[ \t]*$", re.MULTILINE)
    matches = pattern.findall(config_text)
    if len(matches) != 1:
        raise ConfigError(f"{where}: expected one `  tokens: N` line under `training:`, found {len(matches)}")
    return pattern.sub(rf"\g<1> {tokens}", config_text)


def probe(cfg: WorkflowConfig, data_dir: Path, jobs: int, steps: int, device: str, threads: int, work: Path) -> list[dict]:
    """Run `jobs` training jobs at once for `steps` steps; per job its rate and overhead."""
    widest = max(cell.d_model for cell in cfg.cells())
    cells = [cell for cell in cfg.cells() if cell.d_model == widest]
    procs = []
    for job in range(jobs):
        cell = cells[job % len(cells)]
        grid = cfg.lr_grid(cell) or (cfg.cell_run_config(cell, 0.0).training.lr,)
        run = to_dict(cfg.cell_run_config(cell, grid[0]))
        run["training"].update(steps=steps, tokens=None, eval_every=0, checkpoint_every=steps)
        out = work / f"job{job}"
        command = [sys.executable, "-m", "thex", "train", "--config", json.dumps(run), "--data-dir", str(data_dir),
                   "--out-dir", str(out), "--arch", cell.arch, "--seed", str(job), "--experiment", cell.experiment,
                   "--device", device, "--threads", str(threads), "--quiet"]
        log = (work / f"job{job}.log").open("w")
        procs.append((cell, out, time.perf_counter(), subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
    rows = []
    for cell, out, started, proc, log in procs:
        code = proc.wait()
        wall = time.perf_counter() - started
        log.close()
        if code != 0:
            tail = (work / f"{out.name}.log").read_text()[-2000:]
            raise RuntimeError(f"probe job {out.name} ({cell.arch}, d{cell.d_model}) failed with exit code {code}:\n{tail}")
        summary = json.loads((out / "train_summary.json").read_text())
        rows.append({
            "arch": cell.arch, "d_model": cell.d_model, "experiment": cell.experiment,
            "tokens": summary["train_tokens"], "train_wall_s": summary["train_wall_s"], "process_wall_s": wall,
            "rate": summary["train_tokens"] / summary["train_wall_s"],
            "overhead_s": wall - summary["train_wall_s"],
        })
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m thex.bench concurrent", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, required=True, help="a workflow config (YAML)")
    parser.add_argument("--data-dir", type=Path, required=True, help="a dataset directory of that config")
    parser.add_argument("--jobs", type=int, default=8, help="jobs at once (the workflow's --resources gpu=N)")
    parser.add_argument("--steps", type=int, default=60, help="training steps per probe job")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per job (default: the config's)")
    parser.add_argument("--deadline-s", type=float, default=None, help="size training.tokens to fit this many seconds")
    parser.add_argument("--evaluate-extra-s", type=float, default=0.0,
                        help="an evaluation job's seconds beyond a training job's overhead")
    parser.add_argument("--write-config", type=Path, default=None, help="write the config with the sized budget here")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    args = parser.parse_args(argv)
    try:
        cfg = WorkflowConfig.from_dict(load_yaml(args.configfile))
        if args.jobs < 1 or args.steps < 1:
            raise ConfigError(f"--jobs {args.jobs} and --steps {args.steps} must be at least 1")
        if not (args.data_dir / "train.parquet").is_file():
            raise ConfigError(f"--data-dir {args.data_dir}: no train.parquet (generate the dataset first)")
        if args.write_config and args.deadline_s is None:
            raise ConfigError("--write-config needs --deadline-s (the budget it writes is sized from it)")
        with tempfile.TemporaryDirectory() as tmp:
            rows = probe(cfg, args.data_dir, args.jobs, args.steps, args.device, args.threads or cfg.threads, Path(tmp))
        rate = min(r["rate"] for r in rows)  # the slowest architecture: every job is sized as if it were it
        overhead = statistics.median(r["overhead_s"] for r in rows)  # start-up varies by job, not by architecture
        counts = JobCounts.of(cfg)
        result = {"jobs": args.jobs, "steps": args.steps, "rows": rows, "rate": rate, "overhead_s": overhead,
                  "train_jobs": counts.train, "evaluate_jobs": counts.evaluate}
        for r in rows:
            print(f"{r['arch']:10} d{r['d_model']:<5} {r['rate']:>11,.0f} tokens/s  {r['overhead_s']:5.1f} s outside training")
        print(f"{args.jobs} jobs at once; slowest {rate:,.0f} tokens/s, median overhead {overhead:.1f} s; "
              f"{counts.train} training and {counts.evaluate} evaluation jobs in the config")
        if args.deadline_s is not None:
            evaluate_s = overhead + args.evaluate_extra_s
            tokens = size_tokens(args.deadline_s, rate, overhead, evaluate_s, counts, args.jobs)
            predicted = predicted_seconds(tokens, rate, overhead, evaluate_s, counts, args.jobs)
            result.update(deadline_s=args.deadline_s, tokens=tokens, predicted_s=predicted)
            print(f"training.tokens = {tokens:,}: predicted {predicted:.0f} s of the {args.deadline_s:.0f} s deadline")
            if args.write_config:
                text = with_tokens(args.configfile.read_text(), tokens, str(args.configfile))
                tmp_path = args.write_config.with_name(args.write_config.name + ".tmp")
                tmp_path.write_text(text)
                os.replace(tmp_path, args.write_config)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
