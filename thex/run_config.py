"""What one training job needs besides its data: the model settings and the training
settings. Torch-free, so that checking a workflow config does not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping

from thex import tokenizer
from thex.config import ConfigError, Overrides, from_dict, load_config_source
from thex.models.config import ModelConfig


# Overrides of ModelConfig as configs give them: vocab_size is set by the tokenizer.
ModelOverrides = Annotated[Mapping[str, Any], Overrides(ModelConfig, exclude=("vocab_size",))]


@dataclass(frozen=True)
class TrainConfig:
    steps: int | None = 1000  # optimizer steps; or give `tokens` instead (and steps: null)
    tokens: int | None = None  # a token budget, turned into steps from the mean train length
    batch_size: int = 32
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    filter_lr: float | None = None  # Hyena filter group (default: lr)
    grad_clip: float = 1.0  # max gradient norm; 0 turns clipping off
    loss_on: Literal["answer", "all"] = "answer"  # what is optimised; both are logged
    # by_length: batches of samples of similar length (BatchOrder): padding fell from 45% to
    # 1% of the computed positions (python -m thex.bench train); random: uniform batches
    batching: Literal["by_length", "random"] = "by_length"
    eval_every: int = 0  # validation exact match every so many steps (0: at the end only)
    eval_samples: int = 256  # validation samples scored (the first ones of the valid split)
    checkpoint_every: int = 100  # steps between checkpoints
    deterministic: bool = True  # torch deterministic algorithms (exact resume on CPU)
    compile: bool = False  # torch.compile the model

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.tokens is None):
            raise ConfigError("give exactly one budget: steps or tokens (set the other to null)")
        for key in ("steps", "tokens", "batch_size", "checkpoint_every", "eval_samples"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ConfigError(f"{key}: must be >= 1, got {value}")
        if self.lr <= 0:
            raise ConfigError(f"lr: must be > 0, got {self.lr}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio: must be in [0, 1], got {self.min_lr_ratio}")
        for key in ("warmup_steps", "eval_every"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: must be >= 0, got {getattr(self, key)}")


TrainOverrides = Annotated[Mapping[str, Any], Overrides(TrainConfig)]


@dataclass(frozen=True)
class RunConfig:
    """What one training job needs besides its data: the model (without vocab_size, set by
    the tokenizer, and with max_len optional: by default the longest sequence of the
    dataset's splits) and the training settings."""

    model: ModelOverrides = field(default_factory=dict)
    training: TrainConfig = field(default_factory=TrainConfig)

    def model_config(self, data_max_len: int) -> ModelConfig:
        model = dict(self.model)
        if "vocab_size" in model:
            raise ConfigError("model.vocab_size: set by the tokenizer, leave it out")
        max_len = model.pop("max_len", None) or data_max_len
        if max_len < data_max_len:
            raise ConfigError(f"model.max_len: {max_len} is shorter than the dataset's longest sequence, {data_max_len}")
        return from_dict(ModelConfig, {**model, "vocab_size": tokenizer.VOCAB_SIZE, "max_len": max_len}, "model")

    @classmethod
    def load(cls, text_or_path: str) -> "RunConfig":
        """A run config from a YAML/JSON file, or inline JSON (as the workflow passes it)."""
        return from_dict(cls, load_config_source(text_or_path) or {})
