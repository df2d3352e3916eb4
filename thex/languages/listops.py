"""ListOps (Nangia & Bowman 2018; the LRA variant of Tay et al. 2021), generated locally.

An expression is a digit or `[OP arg arg ...]` with OP one of MAX, MIN, MED (median,
rounded down as LRA's `int(np.median(x))` truncates), SM (sum mod 10). The text form is
LRA's, with one space between tokens: `[MAX 2 9 [MIN 4 7 ] 0 ]`; the answer is one digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from thex.languages.syntax import ParseError

OPERATORS: tuple[str, ...] = ("MAX", "MIN", "MED", "SM")


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2  # values are >= 0, so // truncates like int()


APPLY = {
    "MAX": max,
    "MIN": min,
    "MED": _median,
    "SM": lambda values: sum(values) % 10,
}


@dataclass(slots=True)
class ListOp:
    op: str
    args: tuple["ListOp | int", ...]


def evaluate(expr: ListOp | int) -> int:
    """The reference evaluator."""
    if isinstance(expr, int):
        return expr
    return APPLY[expr.op]([evaluate(arg) for arg in expr.args])


def render(expr: ListOp | int) -> str:
    if isinstance(expr, int):
        return str(expr)
    return "[" + expr.op + " " + " ".join(render(arg) for arg in expr.args) + " ]"


def depth(expr: ListOp | int) -> int:
    if isinstance(expr, int):
        return 0
    return 1 + max(depth(arg) for arg in expr.args)


_TOKEN = re.compile(r"\s*(\[(?:MAX|MIN|MED|SM)|\]|[0-9])")


def parse(text: str) -> ListOp | int:
    """Parse LRA ListOps text (whitespace between tokens is free; digits are single)."""
    tokens: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip() == "":
                break
            bad = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ParseError(f"unexpected text {text[bad:bad + 5]!r}", 1, bad + 1, "ListOps")
        tokens.append((match.group(1), match.start(1)))
        pos = match.end()
    if not tokens:
        raise ParseError("empty expression", 1, 1, "ListOps")
    expr, used = _parse_at(tokens, 0)
    if used != len(tokens):
        raise ParseError(f"unexpected {tokens[used][0]!r} after the expression", 1, tokens[used][1] + 1, "ListOps")
    return expr


def _parse_at(tokens: list[tuple[str, int]], i: int) -> tuple[ListOp | int, int]:
    if i >= len(tokens):
        raise ParseError("unexpected end of input", 1, (tokens[-1][1] + 2) if tokens else 1, "ListOps")
    text, where = tokens[i]
    if text.isdigit():
        return int(text), i + 1
    if text == "]":
        raise ParseError("unexpected ']'", 1, where + 1, "ListOps")
    args: list[ListOp | int] = []
    i += 1
    while i < len(tokens) and tokens[i][0] != "]":
        arg, i = _parse_at(tokens, i)
        args.append(arg)
    if i >= len(tokens):
        raise ParseError(f"{text} opened here is never closed", 1, where + 1, "ListOps")
    if not args:
        raise ParseError(f"{text} has no arguments", 1, where + 1, "ListOps")
    return ListOp(text[1:], tuple(args)), i + 1
