"""The role of every character of a LoLa or MeMe program, from the language's own scanner.

What the attention probes (thex/probes.py) group attention weights by. A program's text is
scanned with the tokens of its parser (lola.TOKENS, meme.TOKENS); every character then has
exactly one role:

    global     a global's name (never defined in the program)
    literal    a number
    var_def    a variable's name where a statement defines it
    var_use    a variable's name where an expression reads it
    operator   an operator (`+ - * / %` in LoLa, `add sub mul div mod` in MeMe)
    syntax     punctuation, keywords (`let`, `print`), spaces and line breaks
    query      the whole final statement, `print(x);` or `show x`: the answer's own statement

and the `<sep>` token after the program, the position that predicts the answer, is `sep`.
"""

from __future__ import annotations

from thex.languages import lola, meme
from thex.languages.program import OPERATORS
from thex.languages.syntax import ParseError, scan

ROLES = ("global", "literal", "var_def", "var_use", "operator", "syntax", "query", "sep")
_SCANNERS = {"lola": (lola.TOKENS, lola.SKIP, "LoLa"), "meme": (meme.TOKENS, meme.SKIP, "MeMe")}
_QUERY_KEYWORD = {"lola": "print", "meme": "show"}


def global_spans(program: str, language: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of every global's name in `program`, wherever it stands (the
    query statement included, where `character_roles` says `query`)."""
    table, skip, display = _scanner(language)
    return [(t.start, t.start + len(t.text), t.text) for t in scan(program, table, display, skip) if t.kind == "global"]


def _scanner(language: str) -> tuple[list[tuple[str, str]], str, str]:
    if language not in _SCANNERS:
        raise ValueError(f"language {language!r}: roles exist for {', '.join(_SCANNERS)}")
    return _SCANNERS[language]


def character_roles(program: str, language: str) -> list[str]:
    """One role (of ROLES, never `sep`) per character of `program`."""
    table, skip, display = _scanner(language)
    tokens = scan(program, table, display, skip)
    roles = ["syntax"] * len(program)
    query_start = None
    for i, token in enumerate(tokens[:-1]):  # the last is "end"
        before, after = tokens[i - 1] if i else None, tokens[i + 1]
        role = "syntax"
        if token.kind == "global":
            role = "global"
        elif token.kind == "int":
            role = "literal"
        elif token.kind == "op":
            role = "operator"
        elif token.kind == "ident":
            if token.text == _QUERY_KEYWORD[language]:
                query_start = token.start
            elif token.text == "let":
                pass
            elif language == "meme" and token.text in OPERATORS and after.text == "(":
                role = "operator"
            elif (language == "lola" and after.text == "=") or (language == "meme" and before is not None and before.text == "let"):
                role = "var_def"
            else:
                role = "var_use"
        roles[token.start : token.start + len(token.text)] = [role] * len(token.text)
    if query_start is None:
        raise ParseError(f"no {_QUERY_KEYWORD[language]!r} statement", 1, 1, display)
    roles[query_start:] = ["query"] * (len(program) - query_start)
    return roles
