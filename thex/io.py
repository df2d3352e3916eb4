"""Atomic file writes: a reader never sees a half-written output.

Everything the package writes goes to a temporary file in the destination directory,
is flushed to disk, and is renamed over the destination only when complete. A run
killed mid-write leaves at most a `*.tmp` file, never a file that looks finished.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it to `dest` if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A writer killed mid-way (kill -9) leaves its temporary file: one writer per output,
    # so any earlier one is stale.
    for stale in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp_path
        # mkstemp makes 0600, and some writers (safetensors) recreate the file: set the
        # mode every other result has, so that a shared cluster's users can read it.
        os.chmod(tmp_path, 0o666 & ~umask)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def shown_path(path: str | os.PathLike) -> str:
    """`path` relative to the working directory when it lies below it (as Snakemake names
    its outputs, so a printed `snakemake --forcerun PATH` works as written), else as given."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def progress_bar(total: int, desc: str, enabled: bool, initial: int = 0, unit: str = "it"):
    """A tqdm bar on stderr; it redraws every 10 s when stderr is a log file, not a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        unit_scale=unit != "it",
        disable=not enabled,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
        file=sys.stderr,
    )


def write_text(dest: str | os.PathLike, text: str) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(dest: str | os.PathLike, obj: Any) -> None:
    write_text(dest, json.dumps(obj, indent=2, sort_keys=True) + "\n")
