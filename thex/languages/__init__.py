"""LoLaMeMe v1: the abstract program, its two surface languages, ListOps, and generators."""

from thex.languages import lola, meme
from thex.languages.program import LANGUAGE_VERSION, Program, Semantics, SemanticError, interpret
from thex.languages.syntax import ParseError

RENDERERS = {"lola": lola.render, "meme": meme.render}
PARSERS = {"lola": lola.parse, "meme": meme.parse}

__all__ = [
    "LANGUAGE_VERSION",
    "PARSERS",
    "RENDERERS",
    "ParseError",
    "Program",
    "SemanticError",
    "Semantics",
    "interpret",
    "lola",
    "meme",
]
