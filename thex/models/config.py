"""The model configuration: one small frozen dataclass shared by every architecture.

Build it strictly from a plain mapping with `thex.config.from_dict(ModelConfig, d)`:
unknown keys and wrong types are errors. The architecture (which mixer sits in which
block) is not part of it; it is named separately (`build_model(cfg, "thex-12")`).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from thex.config import ConfigError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # token ids are 0..vocab_size-1 (id 0 is the pad id of the data)
    max_len: int  # longest sequence: size of the position table and of the Hyena filters
    n_layer: int = 16
    d_model: int = 256
    n_head: int = 8  # attention heads (attention blocks only)
    mlp_ratio: int = 4  # MLP hidden width = mlp_ratio * d_model
    dropout: float = 0.0  # embedding, residual-branch, attention and Hyena-gate dropout
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    # "auto": learned positions when any block is attention (GPT-2, THEX), none for
    # pure Hyena (as the reference Hyena LM); see docs/models.md.
    pos_emb: Literal["auto", "learned", "none"] = "auto"
    # Hyena (Poli et al. 2023); the defaults are those of safari's standalone HyenaOperator
    # except emb_dim (safari's 3 gives the filter no real frequency band; docs/models.md)
    hyena_order: int = 2  # N: N gates and N-1 long convolutions
    filter_order: int = 64  # width of the implicit filter MLP
    emb_dim: int = 5  # filter input features: time + (emb_dim-1)/2 sin/cos bands; odd, >= 5
    filter_sine_freq: float = 1.0  # initial frequency w of the filter's sin(w x) activations
    short_filter_order: int = 3  # kernel size of the depthwise causal short convolution

    def __post_init__(self) -> None:
        positive = ("vocab_size", "max_len", "n_layer", "d_model", "n_head", "mlp_ratio",
                    "filter_order", "short_filter_order")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.hyena_order < 2:
            raise ConfigError(f"hyena_order must be >= 2 (N gates, N-1 long convolutions), got {self.hyena_order}")
        # emb_dim 3 has a single band at frequency ~1e-4 (a constant), so the filter
        # would see time alone; require at least one real sin/cos pair.
        if self.emb_dim < 5 or self.emb_dim % 2 == 0:
            raise ConfigError(f"emb_dim must be odd and >= 5 (time + sin/cos bands), got {self.emb_dim}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_mlp(self) -> int:
        return self.mlp_ratio * self.d_model
