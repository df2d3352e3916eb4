"""GPT-2, Hyena and THEX causal language models (docs/models.md).

    cfg = from_dict(ModelConfig, {"vocab_size": 64, "max_len": 512, "n_layer": 4, ...})
    model = build_model(cfg, "thex-2")     # blocks: hyena, attn, hyena, hyena
    logits = model(idx)                    # (B, L) -> (B, L, vocab) float32
"""

from thex.models.config import ModelConfig
from thex.models.flops import flops_per_token
from thex.models.lm import MIXERS, LanguageModel, autocast, build_model, count_parameters, parse_architecture

__all__ = [
    "MIXERS",
    "autocast",
    "LanguageModel",
    "ModelConfig",
    "build_model",
    "count_parameters",
    "flops_per_token",
    "parse_architecture",
]
