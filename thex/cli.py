"""The command line: `python -m thex COMMAND ...` (or the `thex` console script).

Each command lives in its own module, thex/commands/<command>.py (`-` in a command's name
is `_` in its module's), with its argument parsing and a `main(argv)`; this module only
dispatches, importing the one module a command needs, so that `tables` and `plots` never
import torch and each workflow stage depends on its own command's code only
(thex/codedeps.py). User errors (ThexError, OSError) become one line on stderr and exit
code 2.
"""

from __future__ import annotations

import importlib
import sys

from thex.errors import ThexError

# command -> one-line help; the command runs thex.commands.<command>.main(argv)
COMMANDS = {
    "generate": "write a dataset's splits to Parquet from a dataset config",
    "interpret": "parse and run a LoLa/MeMe/ListOps program, print its answer",
    "train": "train (or resume) one model on a dataset",
    "evaluate": "score a trained model on a dataset's evaluation splits",
    "probe": "ablate each block and probe the residual stream of one trained model",
    "select-lr": "choose a cell's learning rate from its tuning runs' validation scores",
    "collect": "gather run results into a summary directory",
    "merge-summaries": "combine the summaries of a study run in parts into one",
    "tables": "comparison tables (CSV, Markdown) from a results summary",
    "plots": "the figures (PNG, SVG) from a results summary",
    "snapshot": "copy a finished run's summary, tables and figures into a committed snapshot",
    "claims": "the claims several studies test, against width, in one figure",
    "landing": "the report's landing page from the tables and the main figure",
    "check": "whether a run reproduces a committed summary, bitwise or statistically",
    "schema": "the workflow config's JSON schema, from the config classes",
}


def command_module(command: str) -> str:
    """The module that runs `command`: thex.commands.<command with - as _>."""
    return "thex.commands." + command.replace("-", "_")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<16} {text}" for name, text in COMMANDS.items()]
        print("usage: python -m thex COMMAND [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        return importlib.import_module(command_module(argv[0])).main(argv[1:]) or 0
    except ThexError as err:
        print(f"thex {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the machine, not the code: a folder that cannot be written, a full disk
        where = f"{err.filename}: " if err.filename else ""
        print(f"thex {argv[0]}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
