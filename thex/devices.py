"""Where a job runs: its torch device, CPU threads and determinism, and, on a machine
with several GPUs, which GPU is its own.

Snakemake's `--resources gpu=N` bounds how many training jobs run at once but does not
tell a job which GPU is its own. A job started with `--device claim` takes an exclusive
`flock` on `<lock dir>/gpu<i>.lock` for the first free device i and holds it until the
process exits (the kernel releases it even after kill -9), so two jobs never share a GPU.
Claiming needs no GPU: it takes locks only.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path
from typing import IO

import torch

from thex.config import ConfigError
from thex.errors import ThexError

_HELD: list[IO] = []  # lock files held for this process's lifetime


class NoFreeGpu(ThexError):
    """Every GPU stayed claimed for the whole wait."""


def default_lock_dir() -> Path:
    return Path(os.environ.get("THEX_GPU_LOCK_DIR", Path(tempfile.gettempdir()) / f"thex-gpu-locks-{os.getuid()}"))


def visible_devices(count: int) -> list[str]:
    """Names of the `count` visible devices: CUDA_VISIBLE_DEVICES entries when set (so that
    jobs seeing the same devices use the same lock names), else 0..count-1."""
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return visible[:count] if len(visible) >= count else [str(i) for i in range(count)]


def claim(count: int, lock_dir: Path | None = None, timeout_s: float = 3600.0, poll_s: float = 0.5) -> int:
    """Index (0-based, among the visible devices) of a GPU this process now holds."""
    if count < 1:
        raise NoFreeGpu("--device claim: no CUDA device is visible")
    lock_dir = lock_dir or default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    names = visible_devices(count)
    deadline = time.monotonic() + timeout_s
    while True:
        for index, name in enumerate(names):
            handle = open(lock_dir / f"gpu{name}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _HELD.append(handle)
            return index
        if time.monotonic() > deadline:
            raise NoFreeGpu(f"--device claim: all {count} GPUs stayed claimed for {timeout_s:.0f} s (locks in {lock_dir})")
        time.sleep(poll_s)


def release_all() -> None:
    """Give back every claimed GPU (normally the process exit does it)."""
    while _HELD:
        handle = _HELD.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


# ---------------------------------------------------------------------------------------
# The torch device, threads and determinism of a job


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`: CUDA when present, else CPU; `claim`: a free GPU of several (see above)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "claim":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return torch.device("cuda", claim(count))
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine")
    return device


def set_threads(threads: int | None) -> None:
    """torch's CPU threads for this process (None: torch's default, all cores)."""
    if threads:
        torch.set_num_threads(threads)


def set_determinism(enabled: bool, device: torch.device, compiled: bool) -> None:
    """torch's deterministic algorithms on or off (warnings only on CUDA, where some
    kernels have no deterministic version)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    warn_only = device.type == "cuda"
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if compiled or setter is None:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    else:
        # The public function also sets a torch.compile option, importing the whole
        # compiler stack to do so: 3 s of every job's start on a laptop CPU. Without
        # compile the flag below is all it changes.
        setter(enabled, warn_only=warn_only)


def provenance(device: torch.device) -> dict[str, object]:
    """What decides whether two runs of one config and seed agree bit for bit: the torch
    build, the CPU kernel path it dispatched to (ATEN_CPU_CAPABILITY can force another),
    the device and GPU, and the thread count. Recorded with every run (train_summary.json)
    and read by `python -m thex check`; the code hash is recorded beside it."""
    import platform

    return {
        "torch_version": torch.__version__,
        "torch_git": torch.version.git_version,
        "cuda_version": torch.version.cuda or "",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": device.type,
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "",
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }

