"""`python -m thex interpret`: parse and run a LoLa/MeMe/ListOps program."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from thex.config import ConfigError


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


def main(argv: list[str]) -> int:
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
