"""The Hyena operator against its defining formulas (safari's HyenaOperator), in float64."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from thex.models import ModelConfig
from thex.models.hyena import HyenaMixer, causal_short_conv, fft_long_conv, fft_size


def direct_causal_conv(v: torch.Tensor, k: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """y[b, c, t] = sum_{s <= t} k[c, s] v[b, c, t - s] + D[c] v[b, c, t], by loops."""
    B, C, L = v.shape
    y = torch.zeros_like(v)
    for t in range(L):
        for s in range(t + 1):
            y[..., t] += k[:, s] * v[..., t - s]
    return y + D[:, None] * v


@pytest.mark.parametrize("seq_len", [1, 2, 7, 16, 33])
def test_fft_size_is_the_smallest_5_smooth_size_that_avoids_wraparound(seq_len):
    def smooth(m):
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    n = fft_size(seq_len)
    assert n >= 2 * seq_len - 1 and smooth(n)
    assert not any(smooth(m) for m in range(2 * seq_len - 1, n))


@pytest.mark.parametrize("seq_len", [1, 5, 16, 23])
def test_fft_long_conv_equals_direct_causal_convolution(seq_len):
    gen = torch.Generator().manual_seed(seq_len)
    v = torch.randn(3, 4, seq_len, generator=gen, dtype=torch.float64)
    k = torch.randn(4, seq_len, generator=gen, dtype=torch.float64)
    D = torch.randn(4, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(fft_long_conv(v, k, D), direct_causal_conv(v, k, D), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "op,shapes",
    [(fft_long_conv, [(2, 3, 9), (3, 9), (3,)]), (causal_short_conv, [(2, 4, 6), (4, 3), (4,)])],
    ids=["fft_long_conv", "causal_short_conv"],
)
def test_hand_written_backward_passes(op, shapes):
    gen = torch.Generator().manual_seed(0)
    args = [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(op, args)


def test_fft_long_conv_runs_in_float32_for_bf16_inputs():
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(2, 8, 64, generator=gen)
    k = torch.randn(8, 64, generator=gen) / 8
    D = torch.randn(8, generator=gen)
    exact = direct_causal_conv(v.double(), k.double(), D.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = fft_long_conv(v.bfloat16(), k, D)
    assert y.dtype == torch.bfloat16
    # only the bf16 input and output roundings: ~2^-8 relative, nothing from a bf16 FFT
    err = (y.double() - exact).abs().max() / exact.abs().max()
    assert err < 2e-2


def test_short_conv_equals_the_reference_conv1d():
    gen = torch.Generator().manual_seed(2)
    u = torch.randn(2, 6, 11, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(6, generator=gen, dtype=torch.float64)
    # safari: nn.Conv1d(C, C, 3, padding=2, groups=C)(u)[..., :L]
    expected = F.conv1d(u, w[:, None, :], b, padding=2, groups=6)[..., :11]
    torch.testing.assert_close(causal_short_conv(u, w, b), expected, rtol=0, atol=1e-12)
    # any input strides (here a channels-last tensor seen channels-first)
    torch.testing.assert_close(causal_short_conv(u.mT.contiguous().mT, w, b), expected, rtol=0, atol=1e-12)


def explicit_hyena(m: HyenaMixer, cfg: ModelConfig, x: torch.Tensor) -> torch.Tensor:
    """HyenaOperator's forward written out from its formulas, with loops and a Toeplitz
    matrix instead of FFTs, and the filter features and decay recomputed from scratch."""
    B, L, d = x.shape
    h = cfg.mixer_settings("hyena")
    N, n, E = h.hyena_order, cfg.max_len, h.emb_dim
    C = (N + 1) * d
    u = x @ m.in_proj.weight.T + m.in_proj.bias  # (B, L, C)
    w, K = m.short_conv_weight, h.short_filter_order
    uc = m.short_conv_bias.expand(B, L, C).clone()
    for t in range(L):
        for j in range(K):
            if t - (K - 1) + j >= 0:
                uc[:, t] += w[:, j] * u[:, t - (K - 1) + j]
    xs = [uc[..., i * d : (i + 1) * d] for i in range(N)]
    v = uc[..., N * d :]
    # implicit filter: features [t, Re, Im of exp(-i f 2 pi t'/n)] -> sine MLP -> decay
    t = torch.linspace(0, 1, n, dtype=torch.float64)[:, None]
    bands = (E - 1) // 2
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)
    phase = f * (2 * math.pi * torch.arange(n, dtype=torch.float64)[:, None] / n)
    z = torch.cat([t, torch.cos(phase), -torch.sin(phase)], dim=1)
    torch.testing.assert_close(m.filter.z.detach(), z, rtol=0, atol=1e-6)  # stored in float32 at init
    fl = m.filter
    h = torch.sin(fl.freq * (m.filter.z @ fl.lin1.weight.T + fl.lin1.bias))
    h = torch.sin(fl.freq * (h @ fl.lin2.weight.T + fl.lin2.bias))
    h = torch.sin(fl.freq * (h @ fl.lin3.weight.T + fl.lin3.bias))
    h = h @ fl.lin_out.weight.T  # (n, (N-1) d)
    deltas = torch.linspace(math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, (N - 1) * d, dtype=torch.float64)
    decay = torch.exp(-t * deltas.abs())
    torch.testing.assert_close(fl.decay.T, decay, rtol=1e-5, atol=0)  # computed in float32 at init
    k = (h * fl.decay.T)[:L]  # (L, (N-1) d)
    for o, gate in enumerate(reversed(xs[1:])):
        v = v * gate
        ko = k[:, o * d : (o + 1) * d]
        toeplitz = torch.zeros(d, L, L, dtype=torch.float64)  # toeplitz[c, t, s] = k[t - s, c]
        for i in range(L):
            for s in range(i + 1):
                toeplitz[:, i, s] = ko[i - s]
        v = torch.einsum("cts,bsc->btc", toeplitz, v) + m.D[o * d : (o + 1) * d] * v
    y = v * xs[0]
    return y @ m.out_proj.weight.T + m.out_proj.bias


@pytest.mark.parametrize("order,seq_len", [(2, 12), (2, 9), (3, 8)])
def test_hyena_mixer_matches_explicit_formulas(order, seq_len):
    torch.manual_seed(order)
    cfg = ModelConfig(vocab_size=4, max_len=12, d_model=6, n_head=1, mixers={"hyena": {"hyena_order": order, "filter_order": 8, "emb_dim": 5}})
    m = HyenaMixer(cfg).double()
    x = torch.randn(2, seq_len, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(x), explicit_hyena(m, cfg, x), rtol=0, atol=1e-10)


def test_filter_of_a_shorter_sequence_is_a_prefix():
    cfg = ModelConfig(vocab_size=4, max_len=32, d_model=4, n_head=1, mixers={"hyena": {"filter_order": 8}})
    m = HyenaMixer(cfg)
    torch.testing.assert_close(m.filter(10), m.filter(32)[:, :10])


@pytest.mark.parametrize("bias", [True, False])
def test_channels_first_projections_equal_linear(bias):
    from thex.models.hyena import _project_from_channels_first, _project_to_channels_first

    lin = torch.nn.Linear(5, 7, bias=bias).double()
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(_project_to_channels_first(lin, x), lin(x).mT)
    back = torch.nn.Linear(7, 5, bias=bias).double()
    y = torch.randn(3, 7, 4, dtype=torch.float64)
    torch.testing.assert_close(_project_from_channels_first(back, y), back(y.mT))


def test_one_compiled_graph_serves_every_sequence_length():
    # Under torch.compile the FFT size is 2L (exact: >= 2L - 1), so the graph does not guard
    # on L's prime factors; with fft_size's search loop every new length recompiled, and
    # Dynamo gave up after 8 (Hyena at 7,400 tokens/s compiled against 92,000 eager).
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    k, D = torch.randn(3, 40, generator=gen, dtype=torch.float64), torch.randn(3, generator=gen, dtype=torch.float64)
    compiled = torch.compile(fft_long_conv, backend=counting_backend, dynamic=True)
    for seq_len in (10, 11, 13, 17, 23, 31):  # fft_size: 20, 24, 25, 36, 45, 64
        v = torch.randn(2, 3, seq_len, generator=gen, dtype=torch.float64)
        got = compiled(v, k[:, :seq_len], D)
        torch.testing.assert_close(got, direct_causal_conv(v, k[:, :seq_len], D))
    torch._dynamo.reset()
    assert len(graphs) == 1
