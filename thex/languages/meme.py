"""MeMe: snake_case identifiers, prefix operator calls, one statement per line.

    let apple_red := 7
    let cat_big := add(mul(apple_red, 3), 2)
    show cat_big

Operators are calls `add sub mul div mod` with two arguments. Newlines end statements;
blank lines and spaces inside a line are free. The renderer writes `name(a, b)`.
"""

from __future__ import annotations

from thex.languages.program import OPERATORS, Assign, BinOp, Expr, Global, Lit, Program, Var, Words
from thex.languages.syntax import GLOBAL_RE, KEYWORDS, Surface, TokenStream, global_words, render_program, scan

NAME = "meme"

SKIP = r"[ \t\r]+"  # text between tokens
TOKENS = [  # (kind, regex): the scanner's table, also read by thex/languages/roles.py
    ("ident", r"[a-z]+(?:_[a-z]+)*(?![a-zA-Z0-9_])"),
    ("global", GLOBAL_RE + r"(?![a-zA-Z0-9_])"),
    ("int", r"[0-9]+"),
    ("newline", r"\n"),
    ("punct", r":=|[(),]"),
]


# The surface syntax, used both by `render` and by the generator (which writes text directly).
def name(words: Words) -> str:
    return "_".join(words)


def operation(op: str, left: str, right: str) -> str:
    return op + "(" + left + ", " + right + ")"


def assignment(target: str, expr: str, is_operation: bool) -> str:
    return "let " + target + " := " + expr


def query(target: str) -> str:
    return "show " + target


SURFACE = Surface(name, operation, assignment, query)


def render(program: Program) -> str:
    return render_program(program, SURFACE)


def parse(text: str) -> Program:
    stream = TokenStream(scan(text, TOKENS, "MeMe", SKIP), "MeMe")
    statements: list[Assign] = []
    while True:
        while stream.peek().kind == "newline":
            stream.next()
        keyword = stream.expect("ident", "'let' or 'show'")
        if keyword.text == "show":
            query = _parse_operand_name(stream)
            while stream.peek().kind == "newline":
                stream.next()
            stream.expect("end", "end of program after 'show'")
            return Program(tuple(statements), query)
        if keyword.text != "let":
            raise stream.error(f"expected 'let' or 'show', found {keyword.text!r}", keyword)
        target = _identifier_words(stream, stream.expect("ident", "a variable name"))
        stream.expect_text(":=")
        expr = _parse_expr(stream)
        if stream.peek().kind != "end":
            stream.expect("newline", "end of line")
        statements.append(Assign(target, expr))


def _identifier_words(stream: TokenStream, token) -> Words:
    if token.text in KEYWORDS:
        raise stream.error(f"{token.text!r} is a keyword, not a variable name", token)
    return tuple(token.text.split("_"))


def _parse_operand_name(stream: TokenStream) -> Var | Global:
    if stream.peek().kind == "global":
        return Global(global_words(stream.next()))
    return Var(_identifier_words(stream, stream.expect("ident", "a variable or global name")))


def _parse_expr(stream: TokenStream) -> Expr:
    token = stream.peek()
    if token.kind == "int":
        return Lit(int(stream.next().text))
    if token.kind == "ident" and token.text in OPERATORS:
        op = stream.next().text
        stream.expect_text("(")
        left = _parse_expr(stream)
        stream.expect_text(",")
        right = _parse_expr(stream)
        stream.expect_text(")")
        return BinOp(op, left, right)
    if token.kind in ("ident", "global"):
        return _parse_operand_name(stream)
    raise stream.error(f"expected a number, a name or an operator call, found {token.describe()}")
