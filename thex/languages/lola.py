"""LoLa: camelCase identifiers, infix operators with the usual precedence, `;` terminated.

    appleRed = 7;
    catBig = (appleRed * 3) + 2;
    print(catBig);

The renderer writes one statement per line with a space around every binary operator and
parenthesises every operation nested inside another, so the tree is explicit in the text
(the canonical form). The parser also reads hand-written programs: any whitespace, and
precedence (`* / %` bind tighter than `+ -`, all left-associative) where parentheses are
left out.
"""

from __future__ import annotations

import re

from thex.languages.program import LOLA_SYMBOLS, Assign, BinOp, Expr, Global, Lit, Program, Var, Words
from thex.languages.syntax import GLOBAL_RE, KEYWORDS, Surface, TokenStream, global_words, render_program, scan

NAME = "lola"
_OP_OF_SYMBOL = {symbol: op for op, symbol in LOLA_SYMBOLS.items()}
_ADDITIVE = ("+", "-")
_MULTIPLICATIVE = ("*", "/", "%")

SKIP = r"\s+"  # text between tokens
TOKENS = [  # (kind, regex): the scanner's table, also read by thex/languages/roles.py
    ("ident", r"[a-z][a-zA-Z]*"),
    ("global", GLOBAL_RE + r"(?![a-z])"),
    ("int", r"[0-9]+"),
    ("op", r"[-+*/%]"),
    ("punct", r"[=;()]"),
]
_CAMEL_WORD = re.compile(r"[a-z]+|[A-Z][a-z]*")  # every [a-z][a-zA-Z]* splits uniquely


# The surface syntax, used both by `render` and by the generator (which writes text directly).
_OP_TEXT = {op: f" {symbol} " for op, symbol in LOLA_SYMBOLS.items()}


def name(words: Words) -> str:
    return words[0] + "".join(w.capitalize() for w in words[1:])


def operation(op: str, left: str, right: str) -> str:
    """An operation as it appears nested inside another one."""
    return "(" + left + _OP_TEXT[op] + right + ")"


def assignment(target: str, expr: str, is_operation: bool) -> str:
    """A statement; a top-level operation drops the parentheses `operation` put around it."""
    return target + " = " + (expr[1:-1] if is_operation else expr) + ";"


def query(target: str) -> str:
    return "print(" + target + ");"


SURFACE = Surface(name, operation, assignment, query)


def render(program: Program) -> str:
    return render_program(program, SURFACE)


def parse(text: str) -> Program:
    stream = TokenStream(scan(text, TOKENS, "LoLa", SKIP), "LoLa")
    statements: list[Assign] = []
    while True:
        token = stream.peek()
        if token.kind == "ident" and token.text == "print":
            stream.next()
            stream.expect_text("(")
            query = _parse_operand_name(stream)
            stream.expect_text(")")
            stream.expect_text(";")
            stream.expect("end", "end of program after print(...);")
            return Program(tuple(statements), query)
        target = _identifier_words(stream, stream.expect("ident", "a variable name or print(...)"))
        stream.expect_text("=")
        expr = _parse_sum(stream)
        stream.expect_text(";")
        statements.append(Assign(target, expr))


def _identifier_words(stream: TokenStream, token) -> Words:
    words = _CAMEL_WORD.findall(token.text)
    if token.text in KEYWORDS:
        raise stream.error(f"{token.text!r} is a keyword, not a variable name", token)
    return tuple(w.lower() for w in words)


def _parse_operand_name(stream: TokenStream) -> Var | Global:
    token = stream.peek()
    if token.kind == "global":
        return Global(global_words(stream.next()))
    return Var(_identifier_words(stream, stream.expect("ident", "a variable or global name")))


def _parse_sum(stream: TokenStream) -> Expr:
    expr = _parse_product(stream)
    while stream.peek().text in _ADDITIVE:
        op = _OP_OF_SYMBOL[stream.next().text]
        expr = BinOp(op, expr, _parse_product(stream))
    return expr


def _parse_product(stream: TokenStream) -> Expr:
    expr = _parse_factor(stream)
    while stream.peek().text in _MULTIPLICATIVE:
        op = _OP_OF_SYMBOL[stream.next().text]
        expr = BinOp(op, expr, _parse_factor(stream))
    return expr


def _parse_factor(stream: TokenStream) -> Expr:
    token = stream.peek()
    if token.kind == "int":
        return Lit(int(stream.next().text))
    if token.text == "(":
        stream.next()
        expr = _parse_sum(stream)
        stream.expect_text(")")
        return expr
    if token.kind in ("ident", "global"):
        return _parse_operand_name(stream)
    raise stream.error(f"expected a number, a name or '(', found {token.describe()}")
