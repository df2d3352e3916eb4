"""Claiming one free GPU per job on a machine with several (no GPU needed: locks only)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from thex import devices


def _holder(lock_dir, count: int) -> subprocess.Popen:
    """A separate process (like a training job) that claims a GPU and holds it."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from thex.devices import claim
        print(claim({count}, Path({str(lock_dir)!r}), timeout_s=5), flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return proc


def test_jobs_get_distinct_gpus_and_wait_when_none_is_free(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    first, second = _holder(tmp_path, 2), _holder(tmp_path, 2)
    try:
        claimed = {int(first.stdout.readline()), int(second.stdout.readline())}
        assert claimed == {0, 1}
        with pytest.raises(devices.NoFreeGpu, match="all 2 GPUs stayed claimed"):
            devices.claim(2, tmp_path, timeout_s=0.3, poll_s=0.05)
        first.kill()  # kill -9 too releases the claim
        first.wait()
        freed = devices.claim(2, tmp_path, timeout_s=5, poll_s=0.05)
        assert freed in claimed
        devices.release_all()
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_lock_names_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert devices.visible_devices(2) == ["4", "6"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert devices.visible_devices(3) == ["0", "1", "2"]


def test_no_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(devices.NoFreeGpu, match="no CUDA device"):
        devices.claim(0, tmp_path)
