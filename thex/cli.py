"""The command line: `python -m thex COMMAND ...` (or the `thex` console script).

Every command's argument parsing is here; the work is in the library modules, imported by
each command when it runs, so that `tables` and `plots` never import torch and each
workflow stage depends on the code its command runs (thex/codedeps.py reads the imports
inside each `cli_<command>`). User errors (ThexError, OSError) become one line on stderr
and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from thex.config import ConfigError, load_config_source
from thex.errors import ThexError

# command -> one-line help; the command runs cli_<command>(argv)
COMMANDS = {
    "generate": "write a dataset's splits to Parquet from a dataset config",
    "interpret": "parse and run a LoLa/MeMe/ListOps program, print its answer",
    "train": "train (or resume) one model on a dataset",
    "evaluate": "score a trained model on a dataset's evaluation splits",
    "select-lr": "choose a cell's learning rate from its tuning runs' validation scores",
    "collect": "gather run results into a summary directory",
    "merge-summaries": "combine the summaries of a study run in parts into one",
    "tables": "comparison tables (CSV, Markdown) from a results summary",
    "plots": "the figures (PNG, SVG) from a results summary",
    "schema": "the workflow config's JSON schema, from the config classes",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<16} {text}" for name, text in COMMANDS.items()]
        print("usage: python -m thex COMMAND [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        return globals()[f"cli_{argv[0].replace('-', '_')}"](argv[1:]) or 0
    except ThexError as err:
        print(f"thex {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the code: a folder that cannot be written, a full disk
        where = f"{err.filename}: " if err.filename else ""
        print(f"thex {argv[0]}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------
# Datasets and programs


def cli_generate(argv: list[str]) -> int:
    from thex.datasets import DatasetConfig, generate_dataset

    parser = argparse.ArgumentParser(
        prog="python -m thex generate",
        description="Write every split of a dataset to OUT_DIR/{split}.parquet.",
    )
    parser.add_argument("config", help="a dataset config: YAML file or inline JSON (see docs/languages.md)")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="generator processes (default: all cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    cfg = DatasetConfig.from_dict(load_config_source(args.config) or {}, where="")
    # A split file left from another config would be read as one of this dataset's splits.
    for stale in sorted(args.out_dir.glob("*.parquet")) if args.out_dir.is_dir() else []:
        if stale.stem not in cfg.splits:
            print(f"removing {stale}: not a split of this dataset", file=sys.stderr)
            stale.unlink()
    paths = generate_dataset(cfg, args.out_dir, workers=args.workers, progress=not args.quiet)
    for split, path in paths.items():
        print(f"{split}: {path}")
    return 0


def cli_interpret(argv: list[str]) -> int:
    from thex.languages import PARSERS, Semantics, interpret
    from thex.languages import listops

    parser = argparse.ArgumentParser(
        prog="python -m thex interpret",
        description="Parse a program (file or '-' for stdin) and print the value of its query.",
    )
    parser.add_argument("program", help="a file, or - for standard input")
    parser.add_argument("--language", choices=["lola", "meme", "listops"], help="default: from the file suffix")
    parser.add_argument("--modulus", type=int, default=Semantics.modulus)
    parser.add_argument("--latent-types", action="store_true", help="head-word classes set moduli")
    parser.add_argument(
        "--type-modulus", action="append", default=[], metavar="CLASS=M",
        help="with --latent-types: a lexical class and its modulus (default: fruit=10, animal=100)",
    )
    parser.add_argument(
        "--global", dest="globals_", action="append", default=[], metavar="NAME=VALUE", help="a global's value"
    )
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.program == "-" else Path(args.program).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{args.program}: cannot read ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{args.program}: not a text file (byte {err.start} is not UTF-8)") from None
    language = args.language or Path(args.program).suffix.lstrip(".")
    if language not in ("lola", "meme", "listops"):
        raise ConfigError(f"cannot tell the language of {args.program!r}; pass --language lola|meme|listops")
    if language == "listops":
        print(_deep(lambda: listops.evaluate(listops.parse(text)), args.program))
        return 0
    world = {}
    for item in args.globals_:
        name, _, value = item.partition("=")
        if not value.isdigit() or not name.isupper():
            raise ConfigError(f"--global {item!r}: expected NAME=VALUE with an upper-case name and a number")
        world[tuple(name.lower().split("_"))] = int(value)
    type_moduli = {}
    for item in args.type_modulus:
        name, _, value = item.partition("=")
        if not value.isdigit():
            raise ConfigError(f"--type-modulus {item!r}: expected CLASS=M, e.g. fruit=10")
        type_moduli[name] = int(value)
    semantics = Semantics(modulus=args.modulus, latent_types=args.latent_types, **({"type_moduli": type_moduli} if type_moduli else {}))
    print(_deep(lambda: interpret(PARSERS[language](text), semantics, world), args.program))
    return 0


# Parsing and evaluation recurse once per level of nesting (and per operator of a flat
# `1 + 1 + ...`, a left-nested tree): Python's default limit of 1,000 frames is not a
# limit of the languages. Run them on a thread with a large stack instead.
_MAX_FRAMES = 200_000
_STACK_BYTES = 512 * 1024 * 1024


def _deep(compute, program: str):
    import threading

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = compute()
        except BaseException as err:  # re-raised on the calling thread
            outcome["error"] = err

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(max(old_limit, _MAX_FRAMES))
    threading.stack_size(_STACK_BYTES)
    try:
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if isinstance(outcome.get("error"), RecursionError):
        raise ConfigError(f"{program}: nested too deeply to evaluate (more than about {_MAX_FRAMES // 4:,} levels)") from None
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---------------------------------------------------------------------------------------
# Training and evaluation


def cli_train(argv: list[str]) -> int:
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
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N, or 'claim'")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    run = RunConfig.load(args.config)
    summary = train(
        run, args.data_dir, args.out_dir, args.arch, args.seed, args.experiment, resolve_device(args.device), not args.quiet
    )
    print(
        f"{args.arch} seed {args.seed}: {summary['steps']} steps, {summary['train_tokens']:,} tokens, "
        f"{summary['tokens_per_s']:,.0f} tokens/s, final answer loss {summary['final_loss_answer']:.4f}"
    )
    return 0


def cli_evaluate(argv: list[str]) -> int:
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


def cli_select_lr(argv: list[str]) -> int:
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


# ---------------------------------------------------------------------------------------
# Results: summary, tables, figures (no torch)


def cli_collect(argv: list[str]) -> int:
    from thex.aggregate import collect

    parser = argparse.ArgumentParser(prog="python -m thex collect", description="Gather run results into a summary directory.")
    parser.add_argument(
        "--runs", nargs="+", required=True, help="reported run directories .../EXPERIMENT/CONDITION/ARCH/dW-pos_P/lrR/seedN"
    )
    parser.add_argument("--tuning-runs", nargs="*", default=[], help="other tuning runs (their learning curves only)")
    parser.add_argument("--selections", nargs="+", required=True, help="every cell's selected_lr.json (python -m thex select-lr)")
    parser.add_argument("--data", nargs="*", default=[], metavar="EXPERIMENT/CONDITION=DIR", help="dataset directories")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    data_dirs = dict(item.split("=", 1) for item in args.data)
    collect(args.runs, data_dirs, args.out_dir, args.tuning_runs, args.selections)
    print(f"collected {len(args.runs)} reported and {len(args.tuning_runs)} tuning runs into {args.out_dir}")
    return 0


def cli_merge_summaries(argv: list[str]) -> int:
    from thex.aggregate import merge_summaries

    parser = argparse.ArgumentParser(
        prog="python -m thex merge-summaries",
        description="Combine the summaries of a study run in parts (e.g. config/verdicts/d32.yaml and d64.yaml) into one.",
    )
    parser.add_argument("summaries", nargs="+", type=Path, help="summary directories")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    merge_summaries(args.summaries, args.out_dir)
    print(f"merged {len(args.summaries)} summaries into {args.out_dir}")
    return 0


def _summary_parser(command: str, description: str) -> argparse.ArgumentParser:
    """The arguments of a command that reads a results summary and writes files."""
    parser = argparse.ArgumentParser(prog=f"python -m thex {command}", description=description)
    parser.add_argument("--summary-dir", type=Path, required=True)
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--headline", default="{}", help="JSON (or a YAML file) of the config's `headline` section")
    return parser


def _headline(text: str) -> dict[str, Any]:
    """The config's `headline` section from --headline (JSON, or a YAML file)."""
    from thex.config import from_dict
    from thex.experiments import Headline

    raw = load_config_source(text)
    return {name: from_dict(Headline, spec, f"headline.{name}") for name, spec in (raw or {}).items()}


def cli_tables(argv: list[str]) -> int:
    from thex.aggregate import write_tables

    parser = _summary_parser("tables", "Comparison tables from a results summary.")
    args = parser.parse_args(argv)
    written = write_tables(args.summary_dir, args.out_dir, _headline(args.headline))
    print(f"wrote {len(written)} table files to {args.out_dir}")
    return 0


def cli_plots(argv: list[str]) -> int:
    from thex.plots import write_figures

    args = _summary_parser("plots", "The figures from a results summary.").parse_args(argv)
    written = write_figures(args.summary_dir, args.out_dir, _headline(args.headline))
    print(f"wrote {len(written)} figure files to {args.out_dir}")
    return 0


def cli_schema(argv: list[str]) -> int:
    from thex.schema import workflow_schema_yaml

    parser = argparse.ArgumentParser(
        prog="python -m thex schema",
        description="Print (or write) the workflow config's JSON schema as YAML, derived from the config classes.",
    )
    parser.add_argument("--out", type=Path, help="write here (workflow/schemas/config.schema.yaml) instead of stdout")
    args = parser.parse_args(argv)
    text = workflow_schema_yaml()
    if args.out is None:
        print(text, end="")
    else:
        from thex.io import write_text

        write_text(args.out, text)
    return 0
