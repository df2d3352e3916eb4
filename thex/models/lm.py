"""The causal language model: a stack of pre-LayerNorm blocks, one token mixer per block.

    x = wte(idx) (+ wpe(pos))
    for each block:  x = x + mixer(ln_1(x));  x = x + mlp(ln_2(x))
    logits = head(ln_f(x))          head tied to wte

Which mixer each block has is the architecture, written as a name (`gpt2`, `hyena`,
`thex-12`, `thex-3+9`) or as a list of mixer names (thex/models/architecture.py, whose
`MIXERS` registers each mixer; `mixer_class` imports and checks it).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from thex.models.architecture import MIXERS as MIXER_TARGETS
from thex.models.architecture import parse_architecture
from thex.models.config import ModelConfig


class Mixer(Protocol):
    """The mixer contract. A mixer is an nn.Module built from a ModelConfig that maps
    (B, L, d) to (B, L, d) causally (`causal = True`: position t reads positions <= t
    only); its residual output projection is `out_proj` (scaled at initialisation);
    `forward_flops_per_token(cfg, seq_len)` is a static method (thex.models.flops); it may
    define `optimizer_group(param_name)` on any submodule to put parameters in a named
    optimizer group (see LanguageModel.optimizer_groups). Two declared properties, both
    optional: `uses_positions = True` when it cannot tell positions apart by itself (with
    pos_emb "auto" the model then adds a learned position table, as GPT-2), and a method
    `attention_weights(x)` -> (B, H, L, L) when it has attention weights to read (the
    attention-roles probe reads them). The tests check shape, causality, finite
    gradients, FLOPs and parameters of every registered mixer."""

    causal: bool
    uses_positions: bool

    def __init__(self, cfg: ModelConfig) -> None: ...

    @staticmethod
    def forward_flops_per_token(cfg: ModelConfig, seq_len: int) -> float: ...


@functools.cache
def mixer_class(name: str) -> type[nn.Module]:
    """The class of registered mixer `name` (architecture.MIXERS), checked against the
    contract when first asked for: a job fails when it builds its model, not after its
    training budget."""
    if name not in MIXER_TARGETS:
        raise ValueError(f"unknown mixer {name!r}; registered mixers: {', '.join(sorted(MIXER_TARGETS))}")
    target = MIXER_TARGETS[name].target
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    problems = []
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        problems.append(f"{target} is not an nn.Module class")
    else:
        if getattr(cls, "causal", None) is not True:
            problems.append("it does not declare `causal = True` (a language model's mixer must not read ahead)")
        if not callable(getattr(cls, "forward_flops_per_token", None)):
            problems.append("it has no static forward_flops_per_token(cfg, seq_len)")
    if problems:
        raise TypeError(f"mixer {name!r} breaks the mixer contract (thex.models.lm.Mixer): " + "; ".join(problems))
    return cls


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.d_mlp, bias=cfg.bias)
        self.out_proj = nn.Linear(cfg.d_mlp, cfg.d_model, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, mixer: str):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mixer = mixer_class(mixer)(cfg)
        if not isinstance(getattr(self.mixer, "out_proj", None), nn.Linear):
            raise TypeError(f"mixer {mixer!r} breaks the mixer contract: its residual output projection must be `out_proj`, a Linear")
        self.ln_2 = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.mlp = MLP(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.mixer(self.ln_1(x)))
        return x + self.dropout(self.mlp(self.ln_2(x)))


class LanguageModel(nn.Module):
    def __init__(self, cfg: ModelConfig, arch: str | Sequence[str]):
        super().__init__()
        self.cfg = cfg
        self.mixer_names = parse_architecture(arch, cfg.n_layer)
        uses_positions = any(getattr(mixer_class(name), "uses_positions", False) for name in self.mixer_names)
        use_pos = cfg.pos_emb == "learned" or (cfg.pos_emb == "auto" and uses_positions)
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.max_len, cfg.d_model) if use_pos else None
        self.dropout = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, mixer) for mixer in self.mixer_names)
        self.ln_f = nn.LayerNorm(cfg.d_model, bias=cfg.bias)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # tied
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2: every Linear and Embedding N(0, 0.02), biases 0, and the projections that
        write into the residual stream N(0, 0.02 / sqrt(2 n_layer)). Like safari's LM this
        includes the Linears of the Hyena filter MLP; the Hyena short convolution, skip term,
        sine frequencies and positional features keep their own initialisation."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for name, p in self.named_parameters():
            if name.endswith("out_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.cfg.n_layer))

    def residual_stream(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """idx (B, L) token ids -> the residual stream after the embedding and after each
        block: n_layer + 1 tensors (B, L, d), before the final LayerNorm (what the probes
        in thex/probes.py read)."""
        L = idx.shape[1]
        if L > self.cfg.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len {self.cfg.max_len}")
        x = self.wte(idx)  # (B, L, d)
        if self.wpe is not None:
            x = x + self.wpe.weight[:L]
        stream = [self.dropout(x)]
        for block in self.blocks:
            stream.append(block(stream[-1]))
        return stream

    def hidden_states(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, L) token ids -> (B, L, d) after the final LayerNorm."""
        return self.ln_f(self.residual_stream(idx)[-1])

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx (B, L) -> logits (B, L, vocab_size), float32 (also under autocast)."""
        return self.head(self.hidden_states(idx)).float()

    def optimizer_groups(self, lr: float, weight_decay: float, filter_emb_lr: float = 1e-5) -> list[dict]:
        """Parameter groups for torch.optim.AdamW, each with a `name`:
        - decay: 2-D weights of the projections (weight_decay, lr)
        - no_decay: biases, LayerNorms, embeddings (the tied head too), Hyena skip terms
        - filter: Hyena implicit-filter MLP and sine frequencies (weight decay 0, the model's
          mixers.hyena.filter_lr, default lr)
        - filter_emb: the filters' positional features (weight decay 0, filter_emb_lr; the
          reference's lr_pos_emb default 1e-5)
        Empty groups are left out."""
        filter_lr = self.cfg.mixer_settings("hyena").filter_lr
        rates = {"filter": lr if filter_lr is None else filter_lr, "filter_emb": filter_emb_lr}
        special: dict[int, str] = {}  # id(parameter) -> group
        for module in self.modules():
            if hasattr(module, "optimizer_group"):
                for name, p in module.named_parameters():
                    special[id(p)] = module.optimizer_group(name)
        embeddings = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        groups: dict[str, list[nn.Parameter]] = {"decay": [], "no_decay": [], **{g: [] for g in rates}}
        for p in self.parameters():  # each tied parameter once
            if id(p) in special:
                groups[special[id(p)]].append(p)
            elif p.dim() >= 2 and id(p) not in embeddings:
                groups["decay"].append(p)
            else:
                groups["no_decay"].append(p)
        out = []
        for name, params in groups.items():
            if params:
                wd = weight_decay if name == "decay" else 0.0
                out.append({"name": name, "params": params, "lr": rates.get(name, lr), "weight_decay": wd})
        return out

    @torch.no_grad()
    def generate_greedy(
        self, prompt_ids: torch.Tensor, max_new_tokens: int, eos_id: int | None = None, pad_id: int = 0
    ) -> torch.Tensor:
        """Greedy decoding of equal-length prompts (B, T) -> (B, T + n), n <= max_new_tokens.

        Each step re-runs the model on the whole sequence (no cache) and appends the argmax
        of the last position. A row that has produced `eos_id` gets `pad_id` afterwards; the
        loop stops when every row has. T + max_new_tokens must fit in max_len.
        """
        B, T = prompt_ids.shape
        if T + max_new_tokens > self.cfg.max_len:
            raise ValueError(
                f"prompt length {T} + max_new_tokens {max_new_tokens} exceeds max_len {self.cfg.max_len}"
            )
        was_training = self.training
        self.eval()
        idx = prompt_ids
        done = torch.zeros(B, dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            last = self.hidden_states(idx)[:, -1]  # (B, d): only the last position is needed
            nxt = self.head(last).argmax(dim=-1)  # (B,)
            nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            if eos_id is not None:
                done |= nxt == eos_id
                if bool(done.all()):
                    break
        self.train(was_training)
        return idx


def model_precision(device: torch.device):
    """The precision models run in: bf16 autocast on CUDA (the Hyena FFTs stay float32),
    float32 elsewhere. Training, evaluation and decoding all use it."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def build_model(cfg: ModelConfig, arch: str | Sequence[str]) -> LanguageModel:
    """The model for architecture `arch` (a name such as "thex-12", or a list of mixer names)."""
    return LanguageModel(cfg, arch)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameters, each tied tensor once. `non_embedding` leaves out the token and
    position embeddings (Kaplan et al. 2020); the tied head is the token embedding."""
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Embedding))
    return {"total": total, "non_embedding": total - embedding}
