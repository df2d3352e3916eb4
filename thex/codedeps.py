"""The package files a workflow stage runs, found from its imports.

The workflow lists these files as each rule's inputs, so that an edit to any of them
reruns that stage (and what follows) and an edit elsewhere does not. Reading the import
statements (every one, also those inside functions) rather than keeping a hand-made list
means a new module cannot be forgotten. Nothing is imported here: this runs while
Snakemake parses the workflow.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Files a module reads at run time, which no import statement shows.
DATA_FILES = {"thex.languages.program": ["languages/lexicon.json"]}


def _dynamic_imports(module: str) -> set[str]:
    """Modules `module` imports by name at run time: the mixers' modules, which
    thex.models.lm imports from the registry (thex.models.architecture.MIXERS)."""
    if module != "thex.models.lm":
        return set()
    from thex.models.architecture import MIXERS  # torch-free

    return {entry.target.split(":")[0] for entry in MIXERS.values()}


def _module_file(module: str) -> Path | None:
    """The source file of package module `module` (e.g. thex.models.lm), or None."""
    parts = module.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _import_names(nodes, module: str, is_package: bool) -> set[str]:
    """Package modules named by the import statements among `nodes`, with their parent
    packages (which run first)."""
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` in thex/models/lm.py means thex.models
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            # `from thex import tokenizer` imports a module; `from thex.x import f` a name.
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "thex" or name.startswith("thex."):
                parts = name.split(".")
                found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {name for name in found if _module_file(name) is not None}


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _imported_modules(path: Path, module: str) -> set[str]:
    """Package modules that `path` imports anywhere (also inside functions)."""
    return _import_names(ast.walk(_parse(path)), module, path.name == "__init__.py")


def command_module_names(command: str) -> list[str]:
    """The modules `python -m thex COMMAND` starts from: the entry point and dispatcher
    (thex/__main__.py, thex/cli.py) and the command's own module, thex/commands/<command>.py."""
    module = "thex.commands." + command.replace("-", "_")
    if _module_file(module) is None:
        raise ValueError(f"no module {module} for command {command!r}")
    return ["thex.__main__", "thex.cli", "thex.commands", module]


def module_closure(entry_modules: list[str], followed: set[str] | None = None) -> list[Path]:
    """Every package file that importing `entry_modules` can run, and the data files those
    modules read, sorted. Modules in `followed` count, but their imports are not followed
    (the caller has chosen which of them count)."""
    seen: set[str] = set()
    todo = ["thex", *entry_modules]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            raise ValueError(f"{module}: no such module in {PACKAGE_DIR}")
        if module not in (followed or set()):
            todo.extend((_imported_modules(path, module) | _dynamic_imports(module)) - seen)
    files = {_module_file(m) for m in seen}
    files.update(PACKAGE_DIR / data for m in seen for data in DATA_FILES.get(m, []))
    return sorted(files)  # type: ignore[arg-type]


# The command each workflow stage runs: python -m thex COMMAND.
STAGE_COMMANDS = {
    "data": "generate",
    "train": "train",
    "evaluate": "evaluate",
    "probe": "probe",
    "select_lr": "select-lr",
    "collect": "collect",
    "tables": "tables",
    "plots": "plots",
    "landing": "landing",
    "check": "check",
}


@functools.cache
def stage_files(stage: str) -> tuple[Path, ...]:
    """Cached: every rule of a stage (one generate rule per dataset) asks while Snakemake parses."""
    return tuple(module_closure(command_module_names(STAGE_COMMANDS[stage])))


@functools.cache
def code_hash(stage: str) -> str:
    """SHA-256 over the package files a stage runs (paths and contents): a training
    checkpoint records it, so that a job interrupted before a code change starts afresh
    rather than resuming old weights into new code."""
    digest = hashlib.sha256()
    for path in stage_files(stage):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
