"""Random LoLaMeMe programs and ListOps expressions, with their answers and slice facts.

Every knob of docs/languages.md is a field of `ProgramConfig` / `ListOpsConfig`. The generator
tracks values while it builds each expression, which is how it avoids zero divisors; the
reference interpreter (`program.interpret`) recomputes every answer in the tests.

The hot loop is plain Python kept lean (closures over locals, text written directly, no
AST): 1,000,000 programs of 8 statements took 19-20 s on the two-core machine
(`python -m thex.bench data`; README, "Benchmarks").
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass, field
from typing import Annotated, Callable, Literal, NamedTuple

from thex.config import AT_LEAST_0, FRACTION, FRACTION_BELOW_1, SOME, Checked, ConfigError, Schema, at_least, check_span, span
from thex.languages import listops
from thex.languages import lola, meme
from thex.languages.program import APPLY, DIVIDING, LEXICON, OPERATORS, Semantics, Words
from thex.languages.syntax import KEYWORDS, global_name

LANGUAGES = ("lola", "meme")
# Knobs that fix the world of globals or the semantics: one value for all splits of a dataset.
WORLD_KNOBS = ("n_globals", "modulus", "latent_types", "type_moduli", "world_seed")
# Knobs that draw globals, so that any value above 0 needs n_globals > 0.
NEEDS_GLOBALS = ("p_global", "recall_fraction")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


# The weights' positive sum is a rule between values: ProgramConfig.check
LanguageWeights = Annotated[dict[str, Annotated[float, AT_LEAST_0]], Schema({"propertyNames": {"enum": list(LANGUAGES)}, "minProperties": 1})]
TypeModuli = Annotated[dict[str, Annotated[int, at_least(2)]], Schema({"propertyNames": {"enum": sorted(LEXICON.nouns)}})]


@dataclass(frozen=True)
class ProgramConfig(Checked):
    """Knobs of the LoLa/MeMe program generator (defaults in docs/languages.md)."""

    languages: LanguageWeights = field(default_factory=lambda: {"lola": 1.0})  # language -> weight (>= 0, with a positive sum)
    n_statements: span(1) = (4, 8)  # assignments the query may depend on (min, max)
    depth: span(0) = (1, 2)  # expression depth of each assignment (min, max)
    operators: Annotated[tuple[Annotated[str, Schema({"enum": list(OPERATORS)})], ...], SOME] = OPERATORS
    literals: span(0) = (0, 9)  # literal range, inclusive
    modulus: Annotated[int, at_least(2)] = 100
    p_variable: Annotated[float, FRACTION] = 0.5  # probability that an operand is an earlier variable
    distractors: span(0) = (0, 0)  # extra assignments the answer never depends on
    query: Literal["last", "random", "first"] = "last"  # which assignment is printed
    naming: Literal["words", "letters"] = "words"
    name_words: span(1) = (1, 3)  # words per identifier
    letters_per_word: span(1) = (2, 4)  # with naming: letters
    n_globals: Annotated[int, AT_LEAST_0] = 0  # G, the size of the world of global constants
    p_global: Annotated[float, FRACTION] = 0.0  # probability that an operand is a global
    recall_fraction: Annotated[float, FRACTION] = 0.0  # fraction of samples that just print a global
    latent_types: bool = False
    type_moduli: TypeModuli = field(default_factory=lambda: {"fruit": 10, "animal": 100})  # lexical class -> its modulus under latent types
    world_seed: int | None = None  # defaults to the dataset seed; fixes global names and values

    def check(self) -> None:
        for key in ("n_statements", "depth", "literals", "distractors", "name_words", "letters_per_word"):
            check_span(key, getattr(self, key))
        if sum(self.languages.values()) <= 0:
            raise ConfigError(f"languages: the weights must have a positive sum, got {self.languages}")
        if self.p_variable + self.p_global > 1.0:
            raise ConfigError(f"p_global: p_variable + p_global must be <= 1, got {self.p_variable + self.p_global}")
        if self.n_globals == 0 and any(getattr(self, knob) > 0 for knob in NEEDS_GLOBALS):
            raise ConfigError("n_globals: p_global and recall_fraction need n_globals > 0")
        if DIVIDING & set(self.operators) and self.literals[1] < 1:
            raise ConfigError("literals: div/mod need a literal range that includes a non-zero value")
        if self.latent_types and not self.type_moduli:
            raise ConfigError("type_moduli: latent_types needs at least one class in type_moduli")
        if self.latent_types and self.naming != "words":
            raise ConfigError("naming: latent_types needs naming: words (letter names have no lexical class)")
        names_needed = max(self.n_statements[1] + self.distractors[1], self.n_globals)
        if self.name_space() < names_needed:
            raise ConfigError(
                f"name_words: {list(self.name_words)} gives only {self.name_space()} distinct names, fewer than the "
                f"{names_needed} a program or the world of globals needs; allow more words per name"
            )

    def name_space(self) -> int:
        """How many distinct identifiers the naming knobs allow."""
        if self.naming == "words":
            nouns = sum(len(w) for c, w in LEXICON.nouns.items() if not self.latent_types or c in self.type_moduli)
            per_extra_word = len(LEXICON.adjectives)
        else:
            nouns = per_extra_word = sum(26**k for k in range(self.letters_per_word[0], self.letters_per_word[1] + 1))
        return sum(nouns * per_extra_word ** (n - 1) for n in range(self.name_words[0], self.name_words[1] + 1))

    @property
    def semantics(self) -> Semantics:
        return Semantics(self.modulus, self.latent_types, self.type_moduli)


@dataclass(frozen=True)
class ListOpsConfig(Checked):
    """Knobs of the ListOps generator."""

    depth: span(1) = (1, 4)  # nesting depth (min, max)
    max_args: Annotated[int, at_least(2)] = 5  # arguments per operator
    length: span(1) = (1, 200)  # characters of the expression (min, max)
    p_branch: Annotated[float, FRACTION_BELOW_1] = 0.25  # probability that an argument off the deepest path is itself a list
    operators: Annotated[tuple[Annotated[str, Schema({"enum": list(listops.OPERATORS)})], ...], SOME] = listops.OPERATORS

    def check(self) -> None:
        check_span("depth", self.depth)
        check_span("length", self.length)


def derived_rng(*parts: object) -> random.Random:
    """A random stream fixed by `parts` on every machine and Python version."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class World:
    """G global constants: names (word tuples) and values, fixed by the world seed."""

    names: tuple[Words, ...]
    values: dict[Words, int]

    @classmethod
    def build(cls, cfg: ProgramConfig, world_seed: int) -> "World":
        rng = derived_rng("world", world_seed)
        namer = _Namer(cfg, rng)
        names: list[Words] = []
        seen: set[Words] = set()
        while len(names) < cfg.n_globals:
            words = namer.words()
            if words not in seen:
                seen.add(words)
                names.append(words)
        semantics = cfg.semantics
        values = {w: int(rng.random() * semantics.modulus_of(w)) for w in names}
        return cls(tuple(names), values)


class _Namer:
    """Identifiers: a head noun (its lexical class is the latent type) and adjectives.

    `words()` gives word tuples (for the world of globals); `name()` writes a variable's
    name straight in one language, from suffix tables derived from that language's
    `Surface.name`, because it runs for every assignment of every program.
    """

    def __init__(self, cfg: ProgramConfig, rng: random.Random):
        self.random = rng.random
        self.letters = cfg.naming == "letters"
        self.words_lo, self.words_span = cfg.name_words[0], cfg.name_words[1] - cfg.name_words[0] + 1
        self.letters_lo, self.letters_span = cfg.letters_per_word[0], cfg.letters_per_word[1] - cfg.letters_per_word[0] + 1
        classes = [c for c in LEXICON.nouns if not cfg.latent_types or c in cfg.type_moduli]
        self.classes = [LEXICON.nouns[c] for c in classes]
        semantics = cfg.semantics
        self.class_moduli = [semantics.modulus_of((LEXICON.nouns[c][0],)) for c in classes]
        self.modulus = cfg.modulus
        self.adjectives = LEXICON.adjectives

    def _letters(self) -> str:
        rnd = self.random
        while True:
            word = "".join([_LETTERS[int(rnd() * 26)] for _ in range(self.letters_lo + int(rnd() * self.letters_span))])
            if word not in KEYWORDS:
                return word

    def words(self) -> Words:
        rnd = self.random
        n = self.words_lo + int(rnd() * self.words_span)
        if self.letters:
            return tuple([self._letters() for _ in range(n)])
        nouns = self.classes[int(rnd() * len(self.classes))]
        head = nouns[int(rnd() * len(nouns))]
        adjectives = self.adjectives
        return (head,) + tuple([adjectives[int(rnd() * len(adjectives))] for _ in range(n - 1)])

    def drawer(self, language: str) -> Callable[[], tuple[str, int]]:
        """A function drawing (name in `language`, its modulus) of a random identifier."""
        rnd = self.random
        words_lo, words_span = self.words_lo, self.words_span
        if self.letters:
            surface_name, letters, modulus = SURFACES[language].name, self._letters, self.modulus
            return lambda: (surface_name(tuple([letters() for _ in range(words_lo + int(rnd() * words_span))])), modulus)
        tables, moduli, n_classes = self.tables(language), self.class_moduli, len(self.classes)

        def draw() -> tuple[str, int]:
            c = int(rnd() * n_classes)
            names = tables[c][words_lo + int(rnd() * words_span)]
            return names[int(rnd() * len(names))], moduli[c]

        return draw

    def tables(self, language: str) -> list[list[list[str]]]:
        """[class][words] -> every name with a head noun of that class, written in `language`."""
        return _name_tables(language, tuple(tuple(nouns) for nouns in self.classes), self.words_lo + self.words_span - 1)


@functools.lru_cache(maxsize=16)
def _name_tables(language: str, classes: tuple[tuple[str, ...], ...], max_words: int) -> list[list[list[str]]]:
    # Built once per process: a few hundred thousand names for three-word identifiers.
    suffixes = [SURFACES[language].name(("x", adj))[1:] for adj in LEXICON.adjectives]  # "Red" / "_red"
    by_class = []
    for nouns in classes:
        by_words: list[list[str]] = [[], list(nouns)]
        for _ in range(1, max_words):
            by_words.append([head + suffix for head in by_words[-1] for suffix in suffixes])
        by_class.append(by_words)
    return by_class


# Columns of a generated batch of programs, in order (see thex.datasets for their meaning).
PROGRAM_COLUMNS = (
    "prompt",
    "answer",
    "language",
    "task",
    "n_statements",
    "n_distractors",
    "depth",
    "hops",
    "operators",
    "n_operations",
    "n_needed",
    "n_globals_used",
    "globals_used",
    "modulus",
)

SURFACES = {"lola": lola.SURFACE, "meme": meme.SURFACE}
_OP_BIT = {op: 1 << i for i, op in enumerate(OPERATORS)}
# Operator bit mask -> "add,mul,..." (the `operators` column).
_OPS_TEXT = [",".join(op for op in OPERATORS if bits & _OP_BIT[op]) for bits in range(1 << len(OPERATORS))]


class ProgramGenerator:
    """Draws programs from one random stream and writes them straight to text.

    Building an AST per program and rendering it was several times slower; instead the
    generator emits text through the language's `Surface` (the functions the AST renderer
    uses), tracks the facts as bit masks, and fills whole columns in one call, so that the
    per-program work is the work itself. The tests parse every generated text and check it
    against `render`, `interpret` and `program.facts`.
    """

    def __init__(self, cfg: ProgramConfig, world: World, rng: random.Random):
        self.cfg = cfg
        self.world = world
        self.rng = rng
        self.namer = _Namer(cfg, rng)
        self.global_names = [global_name(w) for w in world.names]
        self.global_values = [world.values[w] for w in world.names]
        self.global_moduli = [cfg.semantics.modulus_of(w) for w in world.names]
        # Per language and operator: the text around and between the operands (cut out of
        # the language's own `operation`), the semantics, the fact bit, and whether it divides.
        self.op_tables = {
            lang: [
                (*surface.operation(op, "\0", "\1").replace("\1", "\0").split("\0"), APPLY[op], _OP_BIT[op], op in DIVIDING)
                for op in cfg.operators
            ]
            for lang, surface in SURFACES.items()
        }

    def generate(self, count: int, featured: list[int] | None = None) -> dict[str, list]:
        """`count` programs as columns (PROGRAM_COLUMNS); `featured[k]`, when given, indexes
        a global that program k's answer must use (exposure control). Per program, in this
        order of draws: its language, its layout, its statements (each expression written
        by `expr` in the statement writer), then its row of facts.

        Each step is a closure made once per call (`_language_drawer`, `_layout_drawer`,
        `_statement_writer`, `_row_writer`): what a step reads is bound to locals. A first
        split into methods (attribute lookups per program, a call and a NamedTuple per
        assignment) was 21% slower than the single loop it replaced; this one is within 5%
        (README, "Benchmarks")."""
        columns: dict[str, list] = {name: [] for name in PROGRAM_COLUMNS}
        out = [columns[name].append for name in PROGRAM_COLUMNS]
        draw_language, draw_layout = self._language_drawer(), self._layout_drawer()
        write_statements, write_row = self._statement_writer(), self._row_writer()
        for k in range(count):
            layout = draw_layout(draw_language(), featured[k] if featured is not None else None)
            for append, value in zip(out, write_row(layout, write_statements(layout))):
                append(value)
        return columns

    def _language_drawer(self) -> Callable[[], str]:
        """Draws a program's language by the configured weights (no draw for one language)."""
        languages = list(self.cfg.languages)
        if len(languages) == 1:
            return lambda: languages[0]
        weights = list(self.cfg.languages.values())
        cdf = [sum(weights[: i + 1]) / sum(weights) for i in range(len(weights))]
        rnd = self.rng.random

        def draw() -> str:
            r = rnd()
            for language, edge in zip(languages, cdf):
                if r < edge:
                    break
            return language

        return draw

    def _layout_drawer(self) -> "Callable[[str, int | None], _Layout]":
        """layout(language, wanted): whether the program is a recall, the global it must
        feature, its main-chain and distractor counts, which assignment is printed, and the
        order of the statements."""
        cfg, rnd, shuffle, n_names = self.cfg, self.rng.random, self.rng.shuffle, len(self.global_names)
        recall_fraction, query = cfg.recall_fraction, cfg.query
        main_lo, main_span = cfg.n_statements[0], cfg.n_statements[1] - cfg.n_statements[0] + 1
        dist_lo, dist_span = cfg.distractors[0], cfg.distractors[1] - cfg.distractors[0] + 1
        new_tuple = tuple.__new__  # a NamedTuple without the Python-level call of its __new__

        def layout(language: str, wanted: int | None) -> _Layout:
            recall = recall_fraction > 0 and rnd() < recall_fraction
            if recall and wanted is None:
                wanted = int(rnd() * n_names)
            n_main = 0 if recall else main_lo + int(rnd() * main_span)
            n_distractors = dist_lo + int(rnd() * dist_span)
            queried = n_main - 1 if query == "last" else 0 if query == "first" else int(rnd() * n_main)
            is_main = [True] * n_main
            if n_distractors:
                is_main += [False] * n_distractors
                shuffle(is_main)  # distractors at random positions among the main chain
            return new_tuple(_Layout, (language, recall, wanted, n_main, n_distractors, queried, is_main))

        return layout

    def _statement_writer(self) -> "Callable[[_Layout], _Statements]":
        """statements(layout): the program's assignments in order, each target a fresh name;
        the main chain reads the main chain's earlier targets, distractors only earlier
        distractors.

        `expr` is the generator's hot path: a closure over locals (the facts of the
        assignment being written) because local lookups are much cheaper than attribute
        lookups in CPython, and the statement loop sets those facts directly for the same
        reason, rather than calling a function per assignment."""
        cfg, rnd = self.cfg, self.rng.random
        n_kinds, p_global, p_var = len(cfg.operators), cfg.p_global, cfg.p_global + cfg.p_variable
        lit_span = cfg.literals[1] - cfg.literals[0] + 1
        literal_leaves = [(str(v), v, 0) for v in range(cfg.literals[0], cfg.literals[1] + 1)]
        nonzero_leaves = [leaf for leaf in literal_leaves if leaf[1] != 0]
        global_leaves = [(name, value, 0) for name, value in zip(self.global_names, self.global_values)]
        n_globals = len(global_leaves)
        depth_lo, depth_span = cfg.depth[0], cfg.depth[1] - cfg.depth[0] + 1
        new_names = {lang: self.namer.drawer(lang) for lang in cfg.languages}
        assignments = {lang: surface.assignment for lang, surface in SURFACES.items()}
        op_tables = self.op_tables
        new_tuple = tuple.__new__  # a NamedTuple without the Python-level call of its __new__
        # The assignment being written: its operator table, the pool of variables it may
        # read, its modulus, and its facts (main-chain assignments it depends on as a bit
        # mask, transitively; hops; globals read; operator bits; operation count).
        op_table: list = []
        leaves: list[tuple[str, int, int]] = []
        pool_deps: list[int] = []  # per pool variable: its own bit | the bits it depends on
        pool_hops: list[int] = []
        m = 0
        deps = hops = bits = n_ops = 0
        globs: list[int] = []
        force: int | None = None  # a global for the assignment's leftmost leaf

        def expr(depth: int) -> tuple[str, int, int]:
            """(text, value mod m, depth) of an expression with `depth` levels of operations."""
            nonlocal deps, hops, bits, n_ops, force
            if depth == 0:  # a leaf: its (text, value, 0) tuples are made once, not per use
                if force is not None:
                    g, force = force, None
                    globs.append(g)
                    return global_leaves[g]
                r = rnd()
                if r < p_global:
                    g = int(rnd() * n_globals)
                    globs.append(g)
                    return global_leaves[g]
                if leaves and r < p_var:
                    i = int(rnd() * len(leaves))
                    deps |= pool_deps[i]
                    if pool_hops[i] >= hops:
                        hops = pool_hops[i] + 1
                    return leaves[i]
                return literal_leaves[int(rnd() * lit_span)]
            before, between, after, apply, bit, dividing = op_table[int(rnd() * n_kinds)]
            other = int(rnd() * depth)  # depth of the child off the deepest path
            if rnd() < 0.5:
                left, lv, ld = expr(depth - 1)
                right_depth = other
            else:
                left, lv, ld = expr(other)
                right_depth = depth - 1
            if dividing:
                # Snapshot the facts so that a redrawn (zero) divisor leaves no trace in them.
                snapshot = deps, hops, bits, n_ops, len(globs)
                right, rv, rd = expr(right_depth)
                tries = 0
                while rv == 0:
                    deps, hops, bits, n_ops = snapshot[:4]
                    del globs[snapshot[4] :]
                    tries += 1
                    if tries > 8:  # subexpressions keep evaluating to 0: a non-zero literal
                        right, rv, rd = nonzero_leaves[int(rnd() * len(nonzero_leaves))]
                    else:
                        right, rv, rd = expr(right_depth)
            else:
                right, rv, rd = expr(right_depth)
            bits |= bit
            n_ops += 1
            return f"{before}{left}{between}{right}{after}", apply(lv, rv, m), 1 + (ld if ld > rd else rd)

        def statements(layout: _Layout) -> _Statements:
            nonlocal op_table, leaves, pool_deps, pool_hops, m, deps, hops, bits, n_ops, globs, force
            new_name, assignment, op_table = new_names[layout.language], assignments[layout.language], op_tables[layout.language]
            wanted, queried = layout.wanted, layout.queried
            main_leaves, main_deps, main_hops, main_facts = [], [], [], []
            other_leaves, other_deps, other_hops = [], [], []
            lines: list[str] = []
            taken: set[str] = set()
            for is_main in layout.is_main:
                target, m = new_name()
                while target in taken:
                    target, m = new_name()
                taken.add(target)
                deps = hops = bits = n_ops = 0
                globs = []
                if is_main:
                    force = wanted if len(main_leaves) == queried else None
                    leaves, pool_deps, pool_hops = main_leaves, main_deps, main_hops
                    text, value, depth = expr(depth_lo + int(rnd() * depth_span))
                    main_deps.append(deps | (1 << len(main_leaves)))  # it depends on itself: its own bit
                    main_hops.append(hops)
                    main_facts.append((globs, bits, n_ops, depth, m))  # a Facts tuple, read by unpacking
                else:  # a distractor feeds no answer
                    force = None
                    leaves, pool_deps, pool_hops = other_leaves, other_deps, other_hops
                    text, value, depth = expr(depth_lo + int(rnd() * depth_span))
                    other_deps.append(0)
                    other_hops.append(hops)
                leaves.append((target, value % m, 0))
                lines.append(assignment(target, text, depth > 0))
            return new_tuple(_Statements, (lines, main_leaves, main_deps, main_hops, main_facts))

        return statements

    def _row_writer(self) -> "Callable[[_Layout, _Statements], tuple]":
        """row(layout, statements): the program's text with its query, its answer and its
        facts, in PROGRAM_COLUMNS order."""
        names, values, moduli = self.global_names, self.global_values, self.global_moduli
        queries = {lang: surface.query for lang, surface in SURFACES.items()}

        def row(layout: _Layout, statements: _Statements) -> tuple:
            language, recall, wanted, n_main, n_distractors, queried, _ = layout
            lines, leaves, deps, hops, facts_of = statements
            if recall:
                query = queries[language](names[wanted])
                answer, needed, used = values[wanted], [], {wanted}
                n_hops, modulus = 0, moduli[wanted]
            else:
                target, answer, _ = leaves[queried]
                query = queries[language](target)
                mask = deps[queried]
                needed = [facts_of[i] for i in range(n_main) if mask >> i & 1]
                n_hops, (*_, modulus) = hops[queried], facts_of[queried]
                used = {g for globals_read, *_ in needed for g in globals_read}
            operator_bits = n_operations = depth = 0
            for _, bits, n_ops, expression_depth, _ in needed:
                operator_bits |= bits
                n_operations += n_ops
                if expression_depth > depth:
                    depth = expression_depth
            lines.append(query)
            return (
                "\n".join(lines),
                answer,
                language,
                "recall" if recall else "compute",
                n_main + n_distractors,
                n_distractors,
                depth,
                n_hops,
                _OPS_TEXT[operator_bits],
                n_operations,
                len(needed),
                len(used),
                ",".join(sorted([names[g] for g in used])),
                modulus,
            )

        return row


class _Layout(NamedTuple):
    """A program before its statements: drawn first, in this order."""

    language: str
    recall: bool  # a recall sample prints a global; it has no main chain
    wanted: int | None  # the global the printed assignment's leftmost leaf must be (or the recalled one)
    n_main: int  # assignments of the main chain (the printed one and what it may read)
    n_distractors: int
    queried: int  # index in the main chain of the printed assignment
    is_main: list[bool]  # per statement, in program order


# What one main-chain assignment's expression did (the slice columns come from these):
# (globals read, operator bit mask, operation count, expression depth, the target's
# modulus). A plain tuple, read by unpacking: one is made for every assignment, in the
# generator's hot loop.
Facts = tuple[list[int], int, int, int, int]


class _Statements(NamedTuple):
    """A program's assignments and its main chain, as the row of facts reads them."""

    lines: list[str]  # the assignments, in program order
    leaves: list[tuple[str, int, int]]  # per main-chain assignment: (target, value mod its modulus, 0)
    deps: list[int]  # per main-chain assignment: the bit mask of the main-chain assignments it depends on, itself included
    hops: list[int]  # per main-chain assignment: its longest chain of variable reads
    facts: list[Facts]


class ListOpsGenerator:
    """Draws ListOps expressions; `generate(count)` gives columns like `ProgramGenerator`."""

    def __init__(self, cfg: ListOpsConfig, rng: random.Random):
        self.cfg = cfg
        self.random = rng.random

    def _tree(self, depth: int, ops: list[str]) -> listops.ListOp:
        """A list of exactly `depth` levels: one random argument carries the deepest path."""
        rnd, cfg = self.random, self.cfg
        op = cfg.operators[int(rnd() * len(cfg.operators))]
        ops.append(op)
        n_args = 2 + int(rnd() * (cfg.max_args - 1))
        deep = int(rnd() * n_args)
        args: list[listops.ListOp | int] = []
        for i in range(n_args):
            if depth > 1 and (i == deep or rnd() < cfg.p_branch):
                args.append(self._tree(depth - 1 if i == deep else 1 + int(rnd() * (depth - 1)), ops))
            else:
                args.append(int(rnd() * 10))
        return listops.ListOp(op, tuple(args))

    def generate(self, count: int) -> dict[str, list]:
        cfg = self.cfg
        columns: dict[str, list] = {
            name: [] for name in ("prompt", "answer", "language", "task", "depth", "operators", "n_operations", "modulus")
        }
        for _ in range(count):
            for _attempt in range(10_000):
                depth = cfg.depth[0] + int(self.random() * (cfg.depth[1] - cfg.depth[0] + 1))
                ops: list[str] = []
                expr = self._tree(depth, ops)
                text = listops.render(expr)
                if cfg.length[0] <= len(text) <= cfg.length[1]:
                    break
            else:
                raise ConfigError(
                    f"listops: no expression of depth {list(cfg.depth)} fits length {list(cfg.length)} "
                    "in 10000 draws; widen length or lower depth/max_args"
                )
            for name, value in (
                ("prompt", text),
                ("answer", listops.evaluate(expr)),
                ("language", "listops"),
                ("task", "listops"),
                ("depth", depth),
                ("operators", ",".join(op for op in listops.OPERATORS if op in ops)),
                ("n_operations", len(ops)),
                ("modulus", 10),
            ):
                columns[name].append(value)
        return columns
