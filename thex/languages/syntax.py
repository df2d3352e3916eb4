"""Scanning shared by the LoLa and MeMe parsers: tokens with line/column, parse errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, NamedTuple
from thex.errors import ThexError
from thex.languages.program import BinOp, Expr, Global, Lit, Program, Var, Words

# Words never usable as identifiers in either language (letter-style names avoid them).
KEYWORDS = frozenset({"print", "let", "show", "add", "sub", "mul", "div", "mod"})

GLOBAL_RE = r"[A-Z]+(?:_[A-Z]+)*"


class ParseError(ThexError, ValueError):
    """Program text that is not LoLa/MeMe; the message names the line and column."""

    def __init__(self, message: str, line: int, column: int, language: str):
        super().__init__(f"{language} parse error at line {line}, column {column}: {message}")
        self.line = line
        self.column = column


@dataclass(slots=True)
class Token:
    kind: str  # a name from the language's token table, or "end"
    text: str
    line: int
    column: int
    start: int  # character offset in the text

    def describe(self) -> str:
        """How an error message names this token."""
        return {"end": "end of input", "newline": "end of line"}.get(self.kind, repr(self.text))


def scan(text: str, table: list[tuple[str, str]], language: str, skip: str) -> list[Token]:
    """Split `text` into tokens by `table` (kind, regex) pairs; `skip` is a regex of ignored text."""
    master = re.compile("|".join(f"(?P<{kind}>{regex})" for kind, regex in table) + f"|(?P<skip>{skip})")
    tokens: list[Token] = []
    line, line_start, pos = 1, 0, 0
    while pos < len(text):
        match = master.match(text, pos)
        if match is None or match.end() == pos:
            raise ParseError(f"unexpected character {text[pos]!r}", line, pos - line_start + 1, language)
        kind = match.lastgroup
        if kind != "skip":
            tokens.append(Token(kind, match.group(), line, pos - line_start + 1, pos))
        newlines = match.group().count("\n")
        if newlines:
            line += newlines
            line_start = match.start() + match.group().rindex("\n") + 1
        pos = match.end()
    tokens.append(Token("end", "", line, pos - line_start + 1, pos))
    return tokens


class TokenStream:
    """A cursor over tokens with `expect` helpers that raise ParseError at the right place."""

    def __init__(self, tokens: list[Token], language: str):
        self.tokens = tokens
        self.pos = 0
        self.language = language

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def error(self, message: str, token: Token | None = None) -> ParseError:
        token = token or self.peek()
        return ParseError(message, token.line, token.column, self.language)

    def expect(self, kind: str, what: str | None = None) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.error(f"expected {what or kind}, found {token.describe()}")
        return self.next()

    def expect_text(self, text: str) -> Token:
        token = self.peek()
        if token.text != text:
            raise self.error(f"expected {text!r}, found {token.describe()}")
        return self.next()


def global_words(token: Token) -> Words:
    return tuple(token.text.lower().split("_"))


def global_name(words: Words) -> str:
    return "_".join(words).upper()



class Surface(NamedTuple):
    """How one language writes names, operations, assignments and the query.

    The AST renderer and the generator (which emits text directly, for speed) both go
    through these four functions, so each language's syntax is written down once.
    """

    name: Callable[[Words], str]
    operation: Callable[[str, str, str], str]  # (op, left, right) -> nested operation text
    assignment: Callable[[str, str, bool], str]  # (target, expr text, expr is an operation)
    query: Callable[[str], str]


def render_expression(expr: Expr, surface: Surface) -> str:
    if isinstance(expr, Lit):
        return str(expr.value)
    if isinstance(expr, Var):
        return surface.name(expr.words)
    if isinstance(expr, Global):
        return global_name(expr.words)
    return surface.operation(expr.op, render_expression(expr.left, surface), render_expression(expr.right, surface))


def render_program(program: Program, surface: Surface) -> str:
    lines = [
        surface.assignment(surface.name(s.target), render_expression(s.expr, surface), isinstance(s.expr, BinOp))
        for s in program.statements
    ]
    q = program.query
    lines.append(surface.query(surface.name(q.words) if isinstance(q, Var) else global_name(q.words)))
    return "\n".join(lines)
