"""What one training job needs besides its data: the model settings and the training
settings. Torch-free, so that checking a workflow config does not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping

from thex import tokenizer
from thex.config import AT_LEAST_0, AT_LEAST_1, FRACTION, FRACTION_BELOW_1, POSITIVE, Checked, ConfigError, Overrides, from_dict, load_config_source
from thex.models.config import ModelConfig


# Overrides of ModelConfig as configs give them: vocab_size is set by the tokenizer.
ModelOverrides = Annotated[Mapping[str, Any], Overrides(ModelConfig, exclude=("vocab_size",))]


Beta = Annotated[float, FRACTION_BELOW_1]  # an Adam moment's decay


@dataclass(frozen=True)
class TrainConfig(Checked):
    steps: Annotated[int, AT_LEAST_1] | None = 1000  # optimizer steps; or give `tokens` instead (and steps: null)
    tokens: Annotated[int, AT_LEAST_1] | None = None  # a token budget, turned into steps from the mean train length
    batch_size: Annotated[int, AT_LEAST_1] = 32
    lr: Annotated[float, POSITIVE] = 1e-3
    min_lr_ratio: Annotated[float, FRACTION] = 0.1  # cosine decay ends at lr * min_lr_ratio
    warmup_steps: Annotated[int, AT_LEAST_0] = 100
    weight_decay: Annotated[float, AT_LEAST_0] = 0.1
    betas: tuple[Beta, Beta] = (0.9, 0.95)
    grad_clip: Annotated[float, AT_LEAST_0] = 1.0  # max gradient norm; 0 turns clipping off
    loss_on: Literal["answer", "all"] = "answer"  # what is optimised; both are logged
    # by_length: batches of samples of similar length (BatchOrder): padding fell from 45% to
    # 1% of the computed positions (python -m thex.bench train); random: uniform batches
    batching: Literal["by_length", "random"] = "by_length"
    eval_every: Annotated[int, AT_LEAST_0] = 0  # validation exact match every so many steps (0: at the end only)
    eval_samples: Annotated[int, AT_LEAST_1] = 256  # validation samples scored (the first ones of the valid split)
    checkpoint_every: Annotated[int, AT_LEAST_1] = 100  # steps between checkpoints
    deterministic: bool = True  # torch deterministic algorithms (exact resume on CPU)
    compile: bool = False  # torch.compile the model

    def check(self) -> None:
        if self.steps is not None and self.tokens is not None:
            raise ConfigError(f"tokens: a token budget ({self.tokens}) and steps ({self.steps}) are both given; set one to null")
        if self.steps is None and self.tokens is None:
            raise ConfigError("steps: no training budget; give steps or tokens")
        if self.lr * self.weight_decay >= 1:  # AdamW multiplies each weight by 1 - lr * weight_decay every step
            raise ConfigError(f"weight_decay: {self.weight_decay} x lr {self.lr} is at least 1, so AdamW's decay "
                              "would zero or flip every weight each step; lower one of them")  # fmt: skip


TrainOverrides = Annotated[Mapping[str, Any], Overrides(TrainConfig)]


@dataclass(frozen=True)
class RunConfig(Checked):
    """What one training job needs besides its data: the model (without vocab_size, set by
    the tokenizer, and with max_len optional: by default the longest sequence of the
    dataset's splits) and the training settings."""

    model: ModelOverrides = field(default_factory=dict)
    training: TrainConfig = field(default_factory=TrainConfig)

    def model_config(self, data_max_len: int, where: str = "model") -> ModelConfig:
        """The model of a job whose data's longest sequence is `data_max_len`; errors are
        named at `where`."""
        model = dict(self.model)
        if "vocab_size" in model:
            raise ConfigError(f"{where}.vocab_size: set by the tokenizer, leave it out")
        max_len = model.pop("max_len", None) or data_max_len
        if max_len < data_max_len:
            raise ConfigError(f"{where}.max_len: {max_len} is shorter than the dataset's longest sequence, {data_max_len}")
        return from_dict(ModelConfig, {**model, "vocab_size": tokenizer.VOCAB_SIZE, "max_len": max_len}, where)

    @classmethod
    def load(cls, text_or_path: str) -> "RunConfig":
        """A run config from a YAML/JSON file, or inline JSON (as the workflow passes it)."""
        return from_dict(cls, load_config_source(text_or_path) or {})
