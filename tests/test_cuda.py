"""The CUDA code path: bf16 autocast training, float32 FFTs, exact match, GPU claiming.

These run where CUDA exists (e.g. the H200 of config/gpu.yaml) and are skipped elsewhere.
"""

from __future__ import annotations

import pytest
import torch

from thex.config import from_dict
from thex.data import TokenizedSplit
from thex.datasets import DatasetConfig, generate_dataset
from thex.evaluation import greedy_exact_match, score_split
from thex.models import ModelConfig
from thex.models.lm import build_model
from thex.models.hyena import fft_long_conv
from thex.devices import resolve_device
from thex.models.saved import load_model
from thex.run_config import RunConfig
from thex.training import train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (CPU-only CI)"),
]


def test_fft_runs_in_float32_under_bf16_autocast_and_returns_the_input_dtype():
    # The contract (fft_long_conv's docstring, and tests/test_hyena.py on CPU): computed in
    # float32 under autocast, returned in v's dtype, so only the input and output roundings
    # of bf16 (~2^-8 relative) remain, nothing from a bf16 FFT.
    gen = torch.Generator(device="cuda").manual_seed(1)
    v = torch.randn(2, 8, 64, device="cuda", generator=gen)
    k = torch.randn(8, 64, device="cuda", generator=gen) / 8
    D = torch.randn(8, device="cuda", generator=gen)
    # float64 on CPU: the path tests/test_hyena.py checks against the direct sum
    exact = fft_long_conv(v.bfloat16().double().cpu(), k.double().cpu(), D.double().cpu())
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = fft_long_conv(v.bfloat16(), k, D)
    assert y.dtype == torch.bfloat16
    err = (y.double().cpu() - exact).abs().max() / exact.abs().max()
    assert err < 2e-2


@pytest.mark.parametrize("arch", ["gpt2", "hyena", "thex-2"])
def test_bf16_logits_are_float32_and_close_to_fp32(arch):
    torch.manual_seed(0)
    cfg = from_dict(ModelConfig, {"vocab_size": 81, "max_len": 64, "n_layer": 2, "d_model": 64, "n_head": 4})
    model = build_model(cfg, arch).cuda()
    idx = torch.randint(3, 81, (4, 64), device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = model(idx)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    torch.testing.assert_close(low, model(idx), rtol=0.05, atol=0.05)


def test_training_on_cuda_and_one_pass_equals_greedy(tmp_path):
    data = {
        "programs": {"n_statements": [1, 2], "depth": [0, 1], "operators": ["add", "sub"], "modulus": 10, "name_words": [1, 1]},
        "splits": {"train": {"n": 2000}, "test": {"n": 300}},
    }
    generate_dataset(DatasetConfig.from_dict(data), tmp_path / "data")
    run = from_dict(RunConfig, {"model": {"n_layer": 2, "d_model": 64, "n_head": 4}, "training": {"steps": 300, "lr": 3e-3, "checkpoint_every": 100}})
    device = resolve_device("auto")
    assert device.type == "cuda"
    summary = train(run, tmp_path / "data", tmp_path / "run", "thex-2", seed=0, device=device)
    assert summary["device"].startswith("cuda") and summary["final_loss_answer"] < 2.0
    model, _ = load_model(tmp_path / "run", device)
    split = TokenizedSplit.load(tmp_path / "data" / "test.parquet")
    fast = score_split(model, split, device)["exact_match"]
    slow = greedy_exact_match(model, split, device)
    assert fast.any()
    # bf16 can flip a near-tie argmax between the two paths; allow at most a few
    assert (fast != slow).mean() <= 0.02


def test_claim_uses_real_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("THEX_GPU_LOCK_DIR", str(tmp_path))
    device = resolve_device("claim")
    assert device.type == "cuda" and device.index < torch.cuda.device_count()
