"""The Hyena operator (Poli et al. 2023), the convolutional token mixer.

Faithful to `HyenaOperator` in HazyResearch/safari's `standalone_hyena.py`, order N:

    u = in_proj(x)                          (N+1) * d channels
    u = short_conv(u)                       depthwise, causal, kernel short_filter_order (3)
    x_0, ..., x_{N-1}, v = split(u)         N gates and a value, d channels each
    for o, x_i in enumerate(x_{N-1}, ..., x_1):
        v = v * x_i                         gate
        v = h_o * v + D_o v                 causal long convolution, implicit filter h_o, skip D_o
    y = out_proj(v * x_0)                   last gate

With the default N = 2 this is two multiplicative gates (x_1 before the long convolution,
x_0 after it) around one long convolution: the reference code's convention, in which the
order counts gates, not convolutions (docs/models.md).

Layout: from the short convolution to the last gate the operator works channels-first,
(B, C, L) with time contiguous, the layout the FFT wants; the only relayouts are at the
two projections. The short and long convolutions are small autograd Functions with
hand-written backward passes: autograd through pad/slice/FFT/broadcast would allocate
and zero-fill full-size buffers that these avoid.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from thex.models.config import ModelConfig


def fft_size(seq_len: int) -> int:
    """Smallest n >= 2L - 1 whose prime factors are 2, 3 and 5 (fast for every FFT library).

    A causal convolution of two length-L signals taken by a circular convolution of size n
    is exact on its first L outputs when n >= 2L - 1 (the wrapped-around terms are zeros).
    """
    n = 2 * seq_len - 1
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def transform_size(seq_len: int) -> int:
    """The FFT size for length L: fft_size(L) eagerly; 2L under torch.compile, where the
    search loop of fft_size would guard the graph on L's divisibility (one recompile per
    length) while 2L >= 2L - 1 is exact too and keeps L a symbol."""
    return 2 * seq_len if torch.compiler.is_compiling() else fft_size(seq_len)


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    """float32 for float32/bf16/fp16 inputs (the FFT is never done in half precision), float64 kept."""
    return torch.promote_types(t.dtype, torch.float32)


class _FFTLongConv(torch.autograd.Function):
    """y[b, c, t] = sum_{s <= t} k[c, s] v[b, c, t - s] + D[c] v[b, c, t], by real FFTs.

    The skip term is folded into the filter's spectrum (D times a unit impulse has the flat
    spectrum D). Backward, with G = rfft(grad_y):
      grad_v = irfft(G * conj(K))[:L]             (correlation with the filter)
      grad_k = irfft(sum_b G * conj(V))[:L]       (correlation with the input), grad_D = grad_k[0]
    Both are exact for n >= 2L - 1 for the same reason as the forward.
    """

    @staticmethod
    def forward(ctx, v: torch.Tensor, k: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
        L = v.shape[-1]
        n = transform_size(L)
        dtype = _compute_dtype(v)
        V = torch.fft.rfft(v.to(dtype), n=n)  # (B, C, n // 2 + 1) complex
        K = torch.fft.rfft(k.to(dtype), n=n) + D.to(dtype)[:, None]  # (C, n // 2 + 1)
        y = torch.fft.irfft(V * K, n=n)[..., :L]  # (B, C, L)
        ctx.save_for_backward(V, K)
        ctx.meta = (L, n, dtype, v.dtype, k.dtype, D.dtype)
        return y.to(v.dtype)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        V, K = ctx.saved_tensors
        L, n, dtype, v_dtype, k_dtype, D_dtype = ctx.meta
        G = torch.fft.rfft(grad_y.to(dtype), n=n)  # (B, C, n // 2 + 1)
        grad_v = grad_k = grad_D = None
        if ctx.needs_input_grad[0]:
            grad_v = torch.fft.irfft(G * K.conj(), n=n)[..., :L].to(v_dtype)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # sum over the batch in the frequency domain: one inverse FFT per channel
            r = torch.fft.irfft(torch.linalg.vecdot(V, G, dim=0), n=n)[..., :L]  # sum_b conj(V) G -> (C, L)
            grad_k = r.to(k_dtype) if ctx.needs_input_grad[1] else None
            grad_D = r[:, 0].to(D_dtype) if ctx.needs_input_grad[2] else None
        return grad_v, grad_k, grad_D


def fft_long_conv(v: torch.Tensor, k: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """Causal long convolution plus skip: v (B, C, L), k (C, L), D (C,) -> (B, C, L) in v's dtype.

    Computed in float32 (float64 for float64 inputs), also under bf16 autocast.
    """
    return _FFTLongConv.apply(v, k, D)


class _CausalShortConv(torch.autograd.Function):
    """Depthwise causal convolution: y[b, c, t] = bias[c] + sum_j w[c, j] u[b, c, t - (K-1) + j].

    The same as `nn.Conv1d(C, C, K, padding=K-1, groups=C)` cut to the first L outputs (the
    reference), as K shifted multiply-adds (tap j reaches s = K-1-j steps back): on CPU about
    twice as fast as the grouped-convolution kernel, forward and backward together.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        K = w.shape[1]
        u = u.contiguous()  # (B, C, L), time contiguous
        ctx.param_dtype = w.dtype
        w, bias = w.to(u.dtype), bias.to(u.dtype)  # bf16 under autocast, like the input
        y = torch.addcmul(bias[:, None], u, w[:, K - 1 :])  # the tap at s = 0
        for s in range(1, min(K, u.shape[-1])):
            y[..., s:].addcmul_(u[..., :-s], w[:, K - 1 - s : K - s])
        ctx.save_for_backward(u, w)
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        u, w = ctx.saved_tensors
        K = w.shape[1]
        shifts = range(1, min(K, u.shape[-1]))
        grad_u = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_u = grad_y * w[:, K - 1 :]
            for s in shifts:
                grad_u[..., :-s].addcmul_(grad_y[..., s:], w[:, K - 1 - s : K - s])
        acc = _compute_dtype(grad_y)  # parameter gradients accumulate in float32 at least
        if ctx.needs_input_grad[1]:
            grad_w = torch.zeros(w.shape, dtype=acc, device=w.device)
            grad_w[:, K - 1] = torch.linalg.vecdot(grad_y, u).sum(0, dtype=acc)  # (B, C) -> (C,)
            for s in shifts:
                grad_w[:, K - 1 - s] = torch.linalg.vecdot(grad_y[..., s:], u[..., :-s]).sum(0, dtype=acc)
            grad_w = grad_w.to(ctx.param_dtype)
        if ctx.needs_input_grad[2]:
            grad_b = grad_y.sum((0, 2), dtype=acc).to(ctx.param_dtype)
        return grad_u, grad_w, grad_b


def causal_short_conv(u: torch.Tensor, w: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """u (B, C, L), w (C, K), bias (C,) -> (B, C, L) contiguous, in u's dtype."""
    return _CausalShortConv.apply(u, w, bias)


# The two projections as batched matmuls that read and write the channels-first layout
# directly (BLAS takes the transposed operand as it is), so neither the activations nor
# their gradients are copied into another layout: ~10% faster on CPU than nn.Linear plus
# transposes. The weights stay in nn.Linear modules (initialisation, state_dict names).


def _weight(lin: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The weight in autocast's dtype, cast before it is expanded over the batch (autocast
    would cast the expanded view, materialising one copy per batch element)."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return lin.weight.to(torch.get_autocast_dtype(device))
    return lin.weight


def _project_to_channels_first(lin: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """x (B, L, d_in) -> lin(x) laid out (B, d_out, L)."""
    w = _weight(lin, x).expand(x.shape[0], -1, -1)  # (B, d_out, d_in), a view
    return torch.bmm(w, x.mT) if lin.bias is None else torch.baddbmm(lin.bias[:, None], w, x.mT)


def _project_from_channels_first(lin: nn.Linear, y: torch.Tensor) -> torch.Tensor:
    """y (B, d_in, L) -> lin(y^T), (B, L, d_out)."""
    w = _weight(lin, y).mT.expand(y.shape[0], -1, -1)  # (B, d_in, d_out), a view
    return torch.bmm(y.mT, w) if lin.bias is None else torch.baddbmm(lin.bias, y.mT, w)


class HyenaFilter(nn.Module):
    """Implicit long filters h(t), one per channel: MLP(positional features of t) * decay(t).

    - features z(t), (max_len, emb_dim): normalised time t in [0, 1] and the real and imaginary
      parts of exp(-i f 2 pi t'/max_len), t' = 0..max_len-1, for (emb_dim - 1) / 2 frequencies
      f = linspace(1e-4, bands - 1); trainable with its own (small) learning rate, as in the reference
    - MLP: Linear(emb_dim, F) and two Linear(F, F), each followed by sin(freq * x) with one
      trainable frequency vector shared by the three, then Linear(F, channels, bias=False)
    - exponential decay per channel, exp(-t |delta_c|), |delta_c| spread from ln(100)/1.5 to
      ln(100)/0.3 (the reference's fast/slow decay percentages); fixed, so it is a buffer

    The filter for a length L <= max_len is the first L taps of the max_len filter, so a
    sequence's outputs do not depend on how much is appended after it.
    """

    def __init__(self, channels: int, cfg: ModelConfig):
        super().__init__()
        hyena = cfg.mixer_settings("hyena")
        n, order = cfg.max_len, hyena.filter_order
        t = torch.linspace(0, 1, n)[:, None]  # (max_len, 1)
        bands = (hyena.emb_dim - 1) // 2
        w = 2 * math.pi * torch.linspace(0, n - 1, n)[:, None] / n  # (max_len, 1)
        f = torch.linspace(1e-4, bands - 1, bands)[None, :]  # (1, bands)
        z = torch.exp(-1j * f * w)  # (max_len, bands) complex
        self.z = nn.Parameter(torch.cat([t, z.real, z.imag], dim=-1))  # (max_len, emb_dim)
        self.freq = nn.Parameter(torch.full((order,), hyena.filter_sine_freq))
        self.lin1 = nn.Linear(hyena.emb_dim, order)
        self.lin2 = nn.Linear(order, order)
        self.lin3 = nn.Linear(order, order)
        self.lin_out = nn.Linear(order, channels, bias=False)
        target, fast, slow = 1e-2, 0.3, 1.5
        deltas = torch.linspace(math.log(target) / slow, math.log(target) / fast, channels)
        self.register_buffer("decay", torch.exp(-t.T * deltas.abs()[:, None]), persistent=False)  # (C, max_len)

    def forward(self, seq_len: int) -> torch.Tensor:
        """The filters for the first `seq_len` steps, (channels, seq_len), float32."""
        # float32 even under bf16 autocast: it is tiny and feeds the float32 FFT
        with torch.autocast(self.z.device.type, enabled=False):
            z = self.z[:seq_len]  # (L, emb_dim)
            h = torch.sin(self.freq * self.lin1(z))
            h = torch.sin(self.freq * self.lin2(h))
            h = torch.sin(self.freq * self.lin3(h))  # (L, F)
            k = self.lin_out.weight @ h.T  # (channels, L): the layout the FFT wants, no transpose
            return k * self.decay[:, :seq_len]

    @staticmethod
    def optimizer_group(param_name: str) -> str:
        """Filter parameters get weight decay 0 and their own learning rate (as in safari);
        the positional features z a separate one (safari's lr_pos_emb)."""
        return "filter_emb" if param_name == "z" else "filter"


class HyenaMixer(nn.Module):
    causal = True  # the mixer contract (thex.models.lm.Mixer)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        hyena = cfg.mixer_settings("hyena")  # model.mixers.hyena (HyenaSettings)
        d, N, K = cfg.d_model, hyena.hyena_order, hyena.short_filter_order
        self.order = N
        self.in_proj = nn.Linear(d, (N + 1) * d, bias=cfg.bias)
        # depthwise short filter, initialised as nn.Conv1d would be (uniform, bound 1/sqrt(K))
        bound = 1 / math.sqrt(K)
        self.short_conv_weight = nn.Parameter(torch.empty((N + 1) * d, K).uniform_(-bound, bound))
        self.short_conv_bias = nn.Parameter(torch.empty((N + 1) * d).uniform_(-bound, bound))
        self.filter = HyenaFilter((N - 1) * d, cfg)
        self.D = nn.Parameter(torch.randn((N - 1) * d))  # skip term of each long convolution
        self.dropout = nn.Dropout(cfg.dropout)
        self.out_proj = nn.Linear(d, d, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        u = _project_to_channels_first(self.in_proj, x)  # (B, (N+1)d, L)
        u = causal_short_conv(u, self.short_conv_weight, self.short_conv_bias)
        *gates, v = u.split(d, dim=1)  # N gates and the value, each (B, d, L)
        k = self.filter(L).view(self.order - 1, d, L)  # channel o * d + c is filter o of channel c
        D = self.D.view(self.order - 1, d)
        for o, gate in enumerate(reversed(gates[1:])):
            v = self.dropout(v * gate)
            v = fft_long_conv(v, k[o], D[o])
        y = v * gates[0]  # (B, d, L)
        return _project_from_channels_first(self.out_proj, y)  # (B, L, d)

    @staticmethod
    def forward_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
        """Forward FLOPs per token, counted like the matmuls (a multiply-add is 2):
        - projections: (N+1) d^2 + d^2 weights, 2 FLOPs each
        - short convolution: 2 K (N+1) d; gates: N d
        - each of the N-1 long convolutions, per channel and per token: a real FFT and an
          inverse of size n (2.5 n log2 n FLOPs each: half the usual 5 n log2 n of a complex
          FFT) and n/2+1 complex products (6 FLOPs each), shared by L tokens
        The implicit-filter MLP runs once per step, not per token, and is left out (for
        d=256, L=512, batch 64 it is under 0.1% of the total)."""
        hyena = cfg.mixer_settings("hyena")
        d, N, K = cfg.d_model, hyena.hyena_order, hyena.short_filter_order
        n = fft_size(seq_len)
        fft_conv = (2 * 2.5 * n * math.log2(n) + 6 * (n // 2 + 1)) / seq_len
        return 2 * (N + 2) * d * d + 2 * K * (N + 1) * d + N * d + (N - 1) * d * fft_conv
