"""Command line: `python -m thex COMMAND ...` (or the `thex` console script).

Each command lives in the module that does the work, as `cli_<command>(argv)`; this file
only dispatches, and turns the package's user errors into one clear line and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

from thex.errors import ThexError

# command -> (module, one-line help)
COMMANDS = {
    "generate": ("thex.cli", "write a dataset's splits to Parquet from a dataset config"),
    "interpret": ("thex.cli", "parse and run a LoLa/MeMe/ListOps program, print its answer"),
    "train": ("thex.training", "train (or resume) one model on a dataset"),
    "evaluate": ("thex.evaluation", "score a trained model on a dataset's evaluation splits"),
    "collect": ("thex.aggregate", "gather run results into a summary directory"),
    "tables": ("thex.aggregate", "comparison tables (CSV, Markdown) from a results summary"),
    "plots": ("thex.plots", "the figures (PNG, SVG) from a results summary"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<10} {text}" for name, (_, text) in COMMANDS.items()]
        print("usage: python -m thex COMMAND [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    try:
        return getattr(module, f"cli_{argv[0]}")(argv[1:]) or 0
    except ThexError as err:
        print(f"thex {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the code: a folder that cannot be written, a full disk
        where = f"{err.filename}: " if err.filename else ""
        print(f"thex {argv[0]}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
