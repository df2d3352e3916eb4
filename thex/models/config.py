"""The model configuration: one small frozen dataclass shared by every architecture, with
each mixer's own settings under its name (`mixers: {hyena: {filter_order: 16}}`).

Build it strictly from a plain mapping with `thex.config.from_dict(ModelConfig, d)`:
unknown keys and wrong types are errors. The architecture (which mixer sits in which
block) is not part of it; it is named separately (`build_model(cfg, "thex-12")`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from thex.config import AT_LEAST_1, FRACTION_BELOW_1, POSITIVE, Checked, ConfigError, Keyed, Schema, at_least, unknown_key


@dataclasses.dataclass(frozen=True)
class HyenaSettings(Checked):
    """Hyena's own settings (Poli et al. 2023); the defaults are those of safari's standalone
    HyenaOperator except emb_dim (safari's 3 gives the filter no real frequency band;
    docs/models.md)."""

    hyena_order: Annotated[int, at_least(2)] = 2  # N: N gates and N-1 long convolutions
    filter_order: Annotated[int, AT_LEAST_1] = 64  # width of the implicit filter MLP
    # filter input features: time + (emb_dim-1)/2 sin/cos bands; odd, >= 5: emb_dim 3 has a
    # single band at frequency ~1e-4 (a constant), so the filter would see time alone
    emb_dim: Annotated[int, at_least(5)] = 5
    filter_sine_freq: float = 1.0  # initial frequency w of the filter's sin(w x) activations
    short_filter_order: Annotated[int, AT_LEAST_1] = 3  # kernel size of the depthwise causal short convolution
    filter_lr: Annotated[float, POSITIVE] | None = None  # learning rate of the filter parameters (default: training.lr)

    def check(self) -> None:
        if self.emb_dim % 2 == 0:
            raise ConfigError(f"emb_dim: must be odd (time + sin/cos pairs), got {self.emb_dim}")


@functools.cache
def settings_class(mixer: str) -> type | None:
    """The config class of registered mixer `mixer`'s own settings (its registry entry's:
    a Checked dataclass, or one made from a mapping of defaults), or None if it has none."""
    from thex.models.architecture import MIXERS  # the registry names this module's classes

    settings = MIXERS[mixer].settings
    if settings is None or isinstance(settings, type):
        return settings
    fields = [(key, type(default), dataclasses.field(default=default)) for key, default in settings.items()]
    return dataclasses.make_dataclass(f"{mixer.capitalize()}Settings", fields, bases=(Checked,), frozen=True)


def _settings_class_of(mixer: str, where: str) -> type:
    """`Keyed`'s lookup for `mixers`: the settings class of a registered mixer that has one."""
    from thex.models.architecture import MIXERS

    if mixer not in MIXERS or settings_class(mixer) is None:  # named as an unknown key is, with "did you mean"
        raise unknown_key(mixer, [name for name in MIXERS if settings_class(name)], where)
    return settings_class(mixer)


# model.mixers: each registered mixer's settings under its name (in the JSON schema, any
# mixer name and a mapping: the registry may grow without it changing)
MixerSettings = Annotated[Mapping[str, Any], Keyed(_settings_class_of),
                          Schema({"jsonSchema": {"propertyNames": {"pattern": r"^[a-z][a-z0-9]*$"}, "additionalProperties": {"type": "object"}}})]


@dataclasses.dataclass(frozen=True)
class ModelConfig(Checked):
    vocab_size: Annotated[int, AT_LEAST_1]  # token ids are 0..vocab_size-1 (id 0 is the pad id of the data)
    max_len: Annotated[int, AT_LEAST_1]  # longest sequence: size of the position table and of the Hyena filters
    n_layer: Annotated[int, AT_LEAST_1] = 16
    d_model: Annotated[int, AT_LEAST_1] = 256
    n_head: Annotated[int, AT_LEAST_1] = 8  # attention heads (attention blocks only)
    mlp_ratio: Annotated[int, AT_LEAST_1] = 4  # MLP hidden width = mlp_ratio * d_model
    dropout: Annotated[float, FRACTION_BELOW_1] = 0.0  # embedding, residual-branch, attention and Hyena-gate dropout
    bias: bool = True  # biases in Linear and LayerNorm, as GPT-2
    # "auto": learned positions when any block is attention (GPT-2, THEX), none for
    # pure Hyena (as the reference Hyena LM); see docs/models.md.
    pos_emb: Literal["auto", "learned", "none"] = "auto"
    # each mixer's own settings under its registered name, e.g. {hyena: {filter_order: 16}}
    # (hyena: HyenaSettings; a new mixer's: its registry entry); a mixer left out has its defaults
    mixers: MixerSettings = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        if self.d_model % self.n_head:
            raise ConfigError(f"d_model: {self.d_model} is not divisible by n_head ({self.n_head})")

    def mixer_settings(self, mixer: str) -> Any:
        """The settings of registered mixer `mixer`: this config's, else its defaults; None
        for a mixer that has none."""
        cls = settings_class(mixer)
        return self.mixers.get(mixer) or (cls() if cls else None)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head

    @property
    def d_mlp(self) -> int:
        return self.mlp_ratio * self.d_model

    def training_bytes(self, batch_size: int, seq_len: int) -> tuple[float, float]:
        """(parameters with their gradients and AdamW moments, activations kept for the
        backward pass) in bytes, for a batch of `batch_size` sequences of `seq_len` tokens:
        an estimate, torch-free, to refuse a config before any job (issue: a width that
        asks for 648 GB). Per block 4 d^2 for the mixer's projections (attention; Hyena's
        are about as many) and 2 r d^2 for the MLP; activations by Korthikanti et al.
        (2022), 34 s b d + 5 a s^2 b bytes per layer in 16 bits, doubled for float32."""
        d = self.d_model
        parameters = self.n_layer * (4 + 2 * self.mlp_ratio) * d * d + 2 * self.vocab_size * d + self.max_len * d
        activations = 2.0 * batch_size * seq_len * self.n_layer * (34 * d + 5 * self.n_head * seq_len)
        return 16.0 * parameters, activations
