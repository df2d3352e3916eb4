"""Commands for datasets and programs: `generate` and `interpret` (see `python -m thex`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from thex.config import ConfigError


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: PyYAML keeps
    the last value silently, so `steps: 12` followed by `steps: 5` would run 5 steps."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> Any:
    """A YAML file's content; errors name the file (and the line, for syntax errors and
    duplicate keys)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def load_config_source(value: str) -> Any:
    """A config given on the command line: inline JSON (as the workflow passes it) or a
    YAML/JSON file."""
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ConfigError(f"inline JSON config is not valid JSON ({err})") from None
    return load_yaml(value)


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
