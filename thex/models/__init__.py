"""GPT-2, Hyena and THEX causal language models (docs/models.md).

    from thex.models.lm import build_model
    cfg = from_dict(ModelConfig, {"vocab_size": 64, "max_len": 512, "n_layer": 4, ...})
    model = build_model(cfg, "thex-2")     # blocks: hyena, attn, hyena, hyena
    logits = model(idx)                    # (B, L) -> (B, L, vocab) float32

This package's top level is torch-free (configs and architecture names, which every
config check needs); the networks are in `lm` (with `attention`, `hyena`), their FLOPs in
`flops`, the files of a trained model in `saved`.
"""

from thex.models.architecture import MIXERS, architecture_names, parse_architecture
from thex.models.config import ModelConfig

__all__ = ["MIXERS", "ModelConfig", "architecture_names", "parse_architecture"]
