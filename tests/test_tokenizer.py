"""The character tokenizer: a fixed, versioned vocabulary; round trips; bad characters."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from thex import tokenizer
from thex.languages.generate import ListOpsConfig, ListOpsGenerator, ProgramConfig, ProgramGenerator, World, derived_rng
from thex.tokenizer import EOS_ID, PAD_ID, SEP_ID, TokenizerError, decode, encode, encode_sample


def test_vocabulary_is_fixed_for_its_version():
    # Changing the vocabulary changes every model's inputs: bump VOCAB_VERSION and this digest.
    digest = hashlib.sha256("\x00".join(tokenizer.VOCAB).encode()).hexdigest()
    assert (tokenizer.VOCAB_VERSION, tokenizer.VOCAB_SIZE) == (1, 81)
    assert digest == EXPECTED_DIGEST
    assert (PAD_ID, SEP_ID, EOS_ID) == (0, 1, 2)
    assert len(set(tokenizer.VOCAB)) == tokenizer.VOCAB_SIZE


EXPECTED_DIGEST = hashlib.sha256(
    "\x00".join(
        ("<pad>", "<sep>", "<eos>")
        + tuple("\n %()*+,-/:;=[]_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    ).encode()
).hexdigest()


def test_every_language_round_trips():
    texts = []
    for language in ("lola", "meme"):
        cfg = ProgramConfig(languages={language: 1.0}, n_globals=5, p_global=0.2, naming="letters", name_words=(1, 3))
        texts += ProgramGenerator(cfg, World.build(cfg, 0), derived_rng(0)).generate(50)["prompt"]
    texts += ListOpsGenerator(ListOpsConfig(), derived_rng(0)).generate(50)["prompt"]
    for text in texts:
        ids = encode(text)
        assert ids.dtype == np.int64 and ids.min() >= 3  # no special ids inside text
        assert decode(ids) == text


def test_sample_layout():
    ids, answer_start = encode_sample("print(x);", "42")
    assert decode(ids) == "print(x);<sep>42<eos>"
    assert ids[answer_start - 1] == SEP_ID and decode(ids[answer_start:]) == "42<eos>"


@pytest.mark.parametrize("text, bad", [("x = 1 & 2;", "'&'"), ("café", "'é'"), ("a\tb", "'\\t'")])
def test_characters_outside_the_vocabulary_are_named(text, bad):
    with pytest.raises(TokenizerError, match=re.escape(f"character {bad}")):
        encode(text)
