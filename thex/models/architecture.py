"""Architectures as data: the mixer of each block, named without building anything.

An architecture is a name (`gpt2`, `hyena`, `attn`, `thex-12`, `thex-3+9`) or a list of
mixer names, one per block. This module knows mixers by name only, so that checking a
config does not import torch; `thex.models.lm.MIXERS` maps each name to its class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Every registered mixer (thex.models.lm.MIXERS holds their classes; it checks at import
# that the two agree). THEX blocks are "attn" among "hyena".
MIXER_NAMES = ("attn", "hyena")
# architectures whose blocks all have the same mixer, besides the mixer names themselves
UNIFORM_ALIASES = {"gpt2": "attn"}

# THEX-I or THEX-I+J+...: attention in those (1-based) blocks, Hyena elsewhere
THEX_PATTERN = r"thex-([0-9]+(?:\+[0-9]+)*)"
# Every architecture name parse_architecture can accept (for some n_layer): what configs
# are checked against (thex/experiments.py, and the schema derived from it).
NAME_PATTERN = "^(" + "|".join(sorted({*MIXER_NAMES, *UNIFORM_ALIASES})) + "|" + THEX_PATTERN + ")$"


def family(arch: str) -> str:
    """The model family of an architecture name: every thex-N is "thex"."""
    return "thex" if re.fullmatch(THEX_PATTERN, arch) else arch


def thex_blocks(arch: str) -> tuple[int, ...] | None:
    """The attention blocks (1-based) of a THEX name (`thex-3+9` -> (3, 9)); None for
    any other architecture."""
    match = re.fullmatch(THEX_PATTERN, arch)
    return tuple(int(b) for b in match.group(1).split("+")) if match else None


def architecture_names() -> str:
    names = sorted(set(MIXER_NAMES) | set(UNIFORM_ALIASES))
    return ", ".join(names) + ", thex-I or thex-I+J+... (1-based attention blocks)"


def parse_architecture(arch: str | Sequence[str], n_layer: int) -> list[str]:
    """The mixer name of each of the `n_layer` blocks.

    `gpt2` (or `attn`): all attention; `hyena`: all Hyena; `thex-12`: Hyena except block 12
    (1-based), which is attention; `thex-3+9`: blocks 3 and 9 are attention. A list of
    mixer names is checked and returned as it is.
    """
    if not isinstance(arch, str):
        blocks = list(arch)
        if len(blocks) != n_layer:
            raise ValueError(f"architecture lists {len(blocks)} blocks but n_layer is {n_layer}")
        unknown = [b for b in blocks if b not in MIXER_NAMES]
        if unknown:
            raise ValueError(f"unknown mixer {unknown[0]!r}; registered mixers: {', '.join(sorted(MIXER_NAMES))}")
        return blocks
    name = arch.strip().lower()
    uniform = UNIFORM_ALIASES.get(name, name)
    if uniform in MIXER_NAMES:
        return [uniform] * n_layer
    match = re.fullmatch(THEX_PATTERN, name)
    if match is None:
        raise ValueError(f"unknown architecture {arch!r}; valid: {architecture_names()}")
    positions = [int(p) for p in match.group(1).split("+")]
    bad = [p for p in positions if not 1 <= p <= n_layer]
    if bad:
        raise ValueError(f"architecture {arch!r}: block {bad[0]} is outside 1..{n_layer} (n_layer={n_layer})")
    if len(set(positions)) != len(positions):
        raise ValueError(f"architecture {arch!r} names a block twice")
    return ["attn" if i + 1 in positions else "hyena" for i in range(n_layer)]
