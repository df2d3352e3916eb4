"""Causal multi-head self-attention, the GPT-2 token mixer.

`scaled_dot_product_attention` picks the fused kernel for the device (FlashAttention on
CUDA, a flash-style kernel on CPU); the causal mask is its `is_causal` flag.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from thex.models.config import ModelConfig


class CausalSelfAttention(nn.Module):
    causal = True  # the mixer contract (thex.models.lm.Mixer)
    uses_positions = True  # attention is blind to order: with pos_emb "auto" the model adds learned positions

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=cfg.bias)  # q, k, v in one matmul
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, d = x.shape
        H = self.n_head
        q, k, v = self.qkv(x).split(d, dim=2)  # each (B, L, d)
        q, k, v = (t.view(B, L, H, d // H).transpose(1, 2) for t in (q, k, v))  # (B, H, L, head_dim) views
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, head_dim)
        y = y.transpose(1, 2).reshape(B, L, d)  # heads side by side again
        return self.out_proj(y)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, d), the mixer's input -> (B, H, L, L): row t is how head h weighs
        positions 0..t; the weights `forward` uses, computed explicitly (for the probes)."""
        B, L, d = x.shape
        H = self.n_head
        q, k, _ = self.qkv(x).split(d, dim=2)
        q, k = (t.view(B, L, H, d // H).transpose(1, 2) for t in (q, k))  # (B, H, L, head_dim)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // H)  # (B, H, L, L)
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        return scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)

    @staticmethod
    def forward_flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
        """Forward FLOPs per token: the two projections (4 d^2 weights, 2 FLOPs each) and
        the scores and weighted sum over the whole context (PaLM's convention, which counts
        the masked half too: 2 * 2 * seq_len * d)."""
        d = cfg.d_model
        return 2 * 4 * d * d + 4 * seq_len * d
