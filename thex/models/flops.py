"""Analytic training FLOPs per token, for cost plots and MFU.

    training = 3 * forward        (the backward pass costs twice the forward)
    forward  = 2 * V * d                                   the tied head (the embedding lookup is free)
             + sum over blocks of  mixer(L) + 2 * 2 * r * d^2    the mixer and the MLP

A multiply-add counts 2 FLOPs. Each mixer states its own forward count
(`forward_flops_per_token`): attention the PaLM convention (projections plus
4 * L * d for scores and weighted sum over the full context); Hyena its projections,
short convolution, gates and FFT convolutions. LayerNorm, softmax, GELU, the loss and
the optimizer are left out, as in PaLM's and nanoGPT's estimates.
"""

from __future__ import annotations

from collections.abc import Sequence

from thex.models.config import ModelConfig
from thex.models.architecture import parse_architecture
from thex.models.lm import mixer_class


def flops_per_token(cfg: ModelConfig, arch: str | Sequence[str], seq_len: int) -> float:
    """Training FLOPs (forward and backward) per token for sequences of `seq_len` tokens."""
    if not 1 <= seq_len <= cfg.max_len:
        raise ValueError(f"seq_len {seq_len} is outside 1..max_len ({cfg.max_len})")
    d = cfg.d_model
    forward = 2.0 * cfg.vocab_size * d
    for mixer in parse_architecture(arch, cfg.n_layer):
        forward += mixer_class(mixer).forward_flops_per_token(cfg, seq_len) + 2 * 2 * cfg.d_mlp * d
    return 3.0 * forward
