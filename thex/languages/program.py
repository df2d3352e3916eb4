"""The abstract program shared by LoLa and MeMe, and its semantics (LoLaMeMe v1).

A program is a sequence of assignments to fresh variables followed by one query. It has
one abstract form and two surface forms (`thex.languages.lola`, `thex.languages.meme`).
Identifiers are stored as tuples of lowercase words, so each language renders them in its
own convention (camelCase, snake_case; globals SCREAMING_SNAKE_CASE in both).

Semantics: every operation's result is reduced modulo the modulus of the variable being
assigned; operands are taken as they are (a variable's value lies in [0, its modulus), a
literal is its written value); `div` is floor division and `mod` the remainder, and a zero
divisor is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from typing import Mapping, Union

from thex.errors import ThexError

LANGUAGE_VERSION = "lolameme-v1"

# Operator names (the config and MeMe spelling) and their LoLa symbols.
OPERATORS: tuple[str, ...] = ("add", "sub", "mul", "div", "mod")
LOLA_SYMBOLS: dict[str, str] = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}

# One function per operator, shared by the interpreter and the generator.
APPLY = {
    "add": lambda a, b, m: (a + b) % m,
    "sub": lambda a, b, m: (a - b) % m,
    "mul": lambda a, b, m: (a * b) % m,
    "div": lambda a, b, m: (a // b) % m,
    "mod": lambda a, b, m: (a % b) % m,
}
DIVIDING = frozenset({"div", "mod"})

Words = tuple[str, ...]


@dataclass(slots=True)
class Lit:
    value: int


@dataclass(slots=True)
class Var:
    words: Words


@dataclass(slots=True)
class Global:
    words: Words


@dataclass(slots=True)
class BinOp:
    op: str
    left: "Expr"
    right: "Expr"


Expr = Union[Lit, Var, Global, BinOp]


@dataclass(slots=True)
class Assign:
    target: Words
    expr: Expr


@dataclass(slots=True)
class Program:
    statements: tuple[Assign, ...]
    query: Var | Global


class SemanticError(ThexError, ValueError):
    """A program cannot be evaluated (zero divisor, undefined name, ...)."""


@dataclass(frozen=True)
class Lexicon:
    """The shipped word lists: head nouns by lexical class, and adjectives."""

    nouns: Mapping[str, tuple[str, ...]]
    adjectives: tuple[str, ...]
    version: int

    @classmethod
    def load(cls) -> "Lexicon":
        raw = json.loads(resources.files("thex.languages").joinpath("lexicon.json").read_text())
        return cls(
            nouns={k: tuple(v) for k, v in raw["nouns"].items()},
            adjectives=tuple(raw["adjectives"]),
            version=raw["version"],
        )

    @cached_property
    def class_of(self) -> dict[str, str]:
        return {noun: cls for cls, words in self.nouns.items() for noun in words}


LEXICON = Lexicon.load()


@dataclass(frozen=True)
class Semantics:
    """What the text of a program does not say: the default modulus and latent types.

    With latent types on, an identifier whose head (first) word is a noun of a class in
    `type_moduli` has that class's modulus; every other identifier has `modulus`.
    """

    modulus: int = 100
    latent_types: bool = False
    type_moduli: Mapping[str, int] = field(default_factory=lambda: {"fruit": 10, "animal": 100})

    def modulus_of(self, words: Words) -> int:
        if self.latent_types:
            cls = LEXICON.class_of.get(words[0])
            if cls is not None and cls in self.type_moduli:
                return self.type_moduli[cls]
        return self.modulus


def interpret(program: Program, semantics: Semantics = Semantics(), world: Mapping[Words, int] | None = None) -> int:
    """The reference interpreter: the value of the program's query.

    `world` maps each global's words to its value; programs never define globals.
    """
    world = world or {}
    env: dict[Words, int] = {}

    def evaluate(expr: Expr, m: int) -> int:
        if isinstance(expr, Lit):
            return expr.value
        if isinstance(expr, Var):
            if expr.words not in env:
                raise SemanticError(f"variable {'_'.join(expr.words)!r} is used before it is assigned")
            return env[expr.words]
        if isinstance(expr, Global):
            if expr.words not in world:
                raise SemanticError(f"global {'_'.join(expr.words).upper()!r} is not in the world")
            return world[expr.words]
        left = evaluate(expr.left, m)
        right = evaluate(expr.right, m)
        if right == 0 and expr.op in DIVIDING:
            raise SemanticError(f"zero divisor in {expr.op}")
        return APPLY[expr.op](left, right, m)

    for statement in program.statements:
        m = semantics.modulus_of(statement.target)
        env[statement.target] = evaluate(statement.expr, m) % m
    query = program.query
    return evaluate(query, semantics.modulus)


def facts(program: Program) -> dict[str, object]:
    """The slice facts of a program's answer, from its AST (the reference for the generator).

    Only assignments the queried value depends on count: `depth` is the deepest of their
    expressions, `hops` the longest chain of variable references from the query, and
    `operators` (in OPERATORS order), `n_operations`, `n_needed`, `globals_used` what they
    use. A name read in an assignment means its latest earlier assignment.
    """
    latest: dict[Words, int] = {}  # name -> index of its latest assignment so far
    info: list[tuple[int, int, list[int], list[str], set[Words]]] = []  # depth, hops, reads, ops, globals

    def walk(expr: Expr, reads: list[int], ops: list[str], globs: set[Words]) -> int:
        """Operation depth of `expr`, recording what it reads and uses."""
        if isinstance(expr, BinOp):
            ops.append(expr.op)
            return 1 + max(walk(expr.left, reads, ops, globs), walk(expr.right, reads, ops, globs))
        if isinstance(expr, Var) and expr.words in latest:
            reads.append(latest[expr.words])
        elif isinstance(expr, Global):
            globs.add(expr.words)
        return 0

    for index, statement in enumerate(program.statements):
        reads: list[int] = []
        ops: list[str] = []
        globs: set[Words] = set()
        depth = walk(statement.expr, reads, ops, globs)
        hops = 1 + max(info[i][1] for i in reads) if reads else 0
        info.append((depth, hops, reads, ops, globs))
        latest[statement.target] = index

    query = program.query
    needed: set[int] = set()
    globals_used: set[Words] = set()
    if isinstance(query, Var) and query.words in latest:
        stack = [latest[query.words]]
        while stack:
            i = stack.pop()
            if i not in needed:
                needed.add(i)
                stack.extend(info[i][2])
    elif isinstance(query, Global):
        globals_used.add(query.words)
    ops = [op for i in needed for op in info[i][3]]
    for i in needed:
        globals_used |= info[i][4]
    return {
        "n_statements": len(program.statements),
        "depth": max((info[i][0] for i in needed), default=0),
        "hops": info[latest[query.words]][1] if needed else 0,
        "operators": tuple(op for op in OPERATORS if op in ops),
        "n_operations": len(ops),
        "n_needed": len(needed),
        "globals_used": tuple(sorted("_".join(w).upper() for w in globals_used)),
    }
