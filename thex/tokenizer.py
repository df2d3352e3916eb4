"""The character-level tokenizer: one fixed, versioned vocabulary for LoLa, MeMe and ListOps.

A training sequence is `prompt <sep> answer <eos>`, right-padded with `<pad>`. Ids never
change within a vocabulary version; a character outside the vocabulary is an error.
"""

from __future__ import annotations

import numpy as np

from thex.errors import ThexError

VOCAB_VERSION = 1
PAD, SEP, EOS = "<pad>", "<sep>", "<eos>"
SPECIALS = (PAD, SEP, EOS)
CHARACTERS = (
    "\n "
    "%()*+,-/:;=[]_"
    "0123456789"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz"
)
VOCAB: tuple[str, ...] = SPECIALS + tuple(CHARACTERS)
VOCAB_SIZE = len(VOCAB)
PAD_ID, SEP_ID, EOS_ID = 0, 1, 2

# byte -> id lookup (-1: not in the vocabulary), so encoding is one vectorised gather.
_BYTE_TO_ID = np.full(256, -1, dtype=np.int64)
for _i, _ch in enumerate(CHARACTERS):
    _BYTE_TO_ID[ord(_ch)] = len(SPECIALS) + _i


class TokenizerError(ThexError, ValueError):
    """Text that the vocabulary cannot encode; the message names the character."""


def encode(text: str) -> np.ndarray:
    """Ids of the characters of `text` (no special tokens)."""
    try:
        raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as err:
        bad = text[err.start]
        raise TokenizerError(f"character {bad!r} (U+{ord(bad):04X}) at position {err.start} is not in vocabulary v{VOCAB_VERSION}") from None
    ids = _BYTE_TO_ID[raw]
    if (ids < 0).any():
        pos = int(np.argmax(ids < 0))
        raise TokenizerError(f"character {text[pos]!r} at position {pos} is not in vocabulary v{VOCAB_VERSION}")
    return ids


def encode_sample(prompt: str, answer: str) -> tuple[np.ndarray, int]:
    """`prompt <sep> answer <eos>` as ids, and the index of the first answer token."""
    p, a = encode(prompt), encode(answer)
    ids = np.concatenate([p, [SEP_ID], a, [EOS_ID]])
    return ids, len(p) + 1


def decode(ids) -> str:
    """Text of `ids`; special tokens are written as their names."""
    return "".join(VOCAB[int(i)] for i in ids)
