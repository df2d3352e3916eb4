"""Architectures as data: the mixer of each block, named without building anything.

An architecture is a name (`gpt2`, `hyena`, `attn`, `thex-12`, `thex-3+9`) or a list of
mixer names, one per block, named by joining them with dots (`hyena.attn.hyena.hyena`).
This module knows mixers by their registry entries only (`MIXERS`: name -> the class as
"module:Class", a display label, and the mixer's own settings), so that checking a config
does not import torch; `thex.models.lm.mixer_class` imports a mixer's class and checks it
against the mixer contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from thex.models.config import HyenaSettings


class Mixer(NamedTuple):
    """A registry entry: what a mixer is, without importing it."""

    target: str  # its class, "module:Class" (imported by thex.models.lm.mixer_class)
    label: str  # what messages and docs call it
    # its own settings, set per config under model.mixers.<name>: a Checked dataclass
    # (HyenaSettings), or a mapping of defaults whose types the values give ({kernel_size: 4})
    settings: type | Mapping[str, Any] | None = None


# The registered mixers, the one place a mixer is added. A name is lower-case letters and
# digits (it is part of architecture names, run paths and Snakemake wildcards).
MIXERS: dict[str, Mixer] = {
    "attn": Mixer("thex.models.attention:CausalSelfAttention", "causal self-attention (GPT-2)"),
    "hyena": Mixer("thex.models.hyena:HyenaMixer", "Hyena operator", HyenaSettings),
}
MIXER_NAME = r"[a-z][a-z0-9]*"
# architectures whose blocks all have the same mixer, besides the mixer names themselves
UNIFORM_ALIASES = {"gpt2": "attn"}

for _name in MIXERS:
    if not re.fullmatch(MIXER_NAME, _name) or _name in UNIFORM_ALIASES or _name.startswith("thex"):
        raise ImportError(f"mixer name {_name!r} (thex/models/architecture.py): use lower-case letters and digits, not an architecture's name")

# THEX-I or THEX-I+J+...: attention in those (1-based) blocks, Hyena elsewhere
THEX_PATTERN = r"thex-([0-9]+(?:\+[0-9]+)*)"
# Every architecture name, from the registry: a mixer or alias, registered mixers joined by
# dots (a list), or a THEX name. The config classes, the JSON schema and the workflow's
# wildcard constraint share it (so a name that one accepts, all do).
_MIXER = "(?:" + "|".join(sorted(MIXERS)) + ")"
ARCH_NAME = "(?:" + "|".join(sorted(UNIFORM_ALIASES)) + rf"|{_MIXER}(?:\.{_MIXER})*|{THEX_PATTERN})"
NAME_PATTERN = f"^{ARCH_NAME}$"
MIXER_PATTERN = f"^{_MIXER}$"
# What the JSON schema and the config reference say of a name, which no registered mixer
# changes (the exact rule is NAME_PATTERN, checked by the config classes)
ANY_ARCHITECTURE = r"^[a-z][a-z0-9]*(?:[.+-][a-z0-9]+)*$"
ANY_MIXER = f"^{MIXER_NAME}$"
ARCHITECTURE_RULE = "a known architecture: gpt2, thex-N, thex-N+M, a registered mixer, or a list of mixers (one per block)"
# The same with the registry's names, for messages: "'mamba' is not a known architecture (...)"
KNOWN_ARCHITECTURES = (f"a known architecture ({', '.join([*sorted(UNIFORM_ALIASES), *sorted(MIXERS)])}, thex-N, thex-N+M, "
                       f"or a list of mixers: {', '.join(sorted(MIXERS))})")  # fmt: skip
KNOWN_MIXERS = f"a known mixer ({', '.join(f'{name}: {MIXERS[name].label}' for name in sorted(MIXERS))})"


def architecture_name(arch: str | Sequence[str]) -> str:
    """The name of an architecture given as a name or as a list of mixer names."""
    return arch if isinstance(arch, str) else ".".join(arch)


# The paper's three model families: GPT-2 (all attention), Hyena, and THEX (Hyena with
# attention in chosen blocks); the order in which tables and figures list them.
FAMILIES = ("gpt2", "hyena", "thex")


def family(arch: str) -> str:
    """The model family of an architecture name: every thex-N is "thex"."""
    return "thex" if re.fullmatch(THEX_PATTERN, arch) else arch


def order_key(arch: str) -> tuple:
    """Where an architecture comes in tables and legends: the paper's families in their
    order (THEX variants by their attention blocks: thex-2 before thex-12 and thex-3+9),
    then any other architecture (a mixer list) by name."""
    kind = family(arch)
    rank = FAMILIES.index(kind) if kind in FAMILIES else len(FAMILIES)
    return (rank, thex_blocks(arch) or (), arch)


def thex_blocks(arch: str) -> tuple[int, ...] | None:
    """The attention blocks (1-based) of a THEX name (`thex-3+9` -> (3, 9)); None for
    any other architecture."""
    match = re.fullmatch(THEX_PATTERN, arch)
    return tuple(int(b) for b in match.group(1).split("+")) if match else None


def architecture_names() -> str:
    names = sorted(set(MIXERS) | set(UNIFORM_ALIASES))
    return ", ".join(names) + ", thex-I or thex-I+J+... (1-based attention blocks), or mixers joined by dots, one per block"


def parse_architecture(arch: str | Sequence[str], n_layer: int) -> list[str]:
    """The mixer name of each of the `n_layer` blocks.

    `gpt2` (or `attn`): all attention; `hyena`: all Hyena; `thex-12`: Hyena except block 12
    (1-based), which is attention; `thex-3+9`: blocks 3 and 9 are attention; a list of
    mixer names, or those names joined by dots (`hyena.attn.hyena.hyena`), one per block.
    """
    name = architecture_name(arch).strip().lower()
    if "." in name or not isinstance(arch, str):
        blocks = name.split(".")
        if len(blocks) != n_layer:
            raise ValueError(f"architecture {name!r}: lists {len(blocks)} blocks but n_layer is {n_layer}")
        unknown = [b for b in blocks if b not in MIXERS]
        if unknown:
            raise ValueError(f"architecture {name!r}: unknown mixer {unknown[0]!r} (registered: {', '.join(sorted(MIXERS))})")
        return blocks
    uniform = UNIFORM_ALIASES.get(name, name)
    if uniform in MIXERS:
        return [uniform] * n_layer
    match = re.fullmatch(THEX_PATTERN, name)
    if match is None:
        raise ValueError(f"unknown architecture {arch!r} (known: {KNOWN_ARCHITECTURES.removeprefix('a known architecture (')}")
    positions = [int(p) for p in match.group(1).split("+")]
    bad = [p for p in positions if not 1 <= p <= n_layer]
    if bad:
        raise ValueError(f"architecture {arch!r}: block {bad[0]} is outside 1..{n_layer} (n_layer={n_layer})")
    if len(set(positions)) != len(positions):
        raise ValueError(f"architecture {arch!r} names a block twice")
    return ["attn" if i + 1 in positions else "hyena" for i in range(n_layer)]
