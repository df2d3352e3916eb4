"""LoLaMeMe v1: rendering, parsing, the interpreter, the generator's answers and facts, ListOps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thex.config import ConfigError
from thex.languages import PARSERS, RENDERERS, ParseError, SemanticError, Semantics, interpret, listops, lola, meme
from thex.languages.generate import ListOpsConfig, ListOpsGenerator, ProgramConfig, ProgramGenerator, World, derived_rng
from thex.languages.program import OPERATORS, Assign, BinOp, Global, Lit, Program, Var, facts
from thex.languages.syntax import GLOBAL_RE, KEYWORDS

# ---------------------------------------------------------------------------------------
# Round trips over arbitrary programs (hypothesis)

word = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
words = st.lists(word, min_size=1, max_size=3).map(tuple).filter(lambda w: not (len(w) == 1 and w[0] in KEYWORDS))
leaf = st.one_of(st.integers(0, 10**6).map(Lit), words.map(Var), words.map(Global))
expr = st.recursive(leaf, lambda inner: st.builds(BinOp, st.sampled_from(OPERATORS), inner, inner), max_leaves=12)
programs = st.builds(
    Program,
    st.lists(st.builds(Assign, words, expr), max_size=6).map(tuple),
    st.one_of(words.map(Var), words.map(Global)),
)


@settings(max_examples=300, deadline=None)
@given(programs)
def test_parse_inverts_render_for_any_program(program):
    for language in ("lola", "meme"):
        text = RENDERERS[language](program)
        assert PARSERS[language](text) == program, text


@settings(max_examples=100, deadline=None)
@given(programs)
def test_render_is_canonical(program):
    for language in ("lola", "meme"):
        text = RENDERERS[language](program)
        assert RENDERERS[language](PARSERS[language](text)) == text


# ---------------------------------------------------------------------------------------
# The interpreter against hand-computed answers


@pytest.mark.parametrize(
    "text, answer",
    [
        ("appleRed = 7;\ncatBig = (appleRed * 3) + 2;\nprint(catBig);", 23),  # SPEC example
        ("x = 7 - 9;\nprint(x);", 98),  # reduced modulo 100 into [0, 100)
        ("x = 17 / 5;\nprint(x);", 3),  # floor division
        ("x = 17 % 5;\nprint(x);", 2),
        ("x = 2 + 3 * 4;\nprint(x);", 14),  # precedence without parentheses
        ("x = 20 - 5 - 3;\nprint(x);", 12),  # left associative
        ("x = (60 * 2) / 3;\nprint(x);", 6),  # 120 is reduced to 20 before the division
        ("x = 250;\nprint(x);", 50),  # an assignment is reduced too
        ("x = 99;\ny = x * x;\nz = y + x;\nprint(z);", (99 * 99 % 100 + 99) % 100),
        ("  a=1 ;b=a+a;\n\n print( b ) ;", 2),  # free whitespace
    ],
)
def test_interpreter_on_hand_computed_lola(text, answer):
    assert interpret(lola.parse(text)) == answer


def test_meme_example_and_lola_twin_agree():
    text = "let apple_red := 7\nlet cat_big := add(mul(apple_red, 3), 2)\nshow cat_big"
    program = meme.parse(text)
    assert interpret(program) == 23
    assert lola.render(program) == "appleRed = 7;\ncatBig = (appleRed * 3) + 2;\nprint(catBig);"
    assert meme.parse("\nlet apple_red := 7\n\nlet cat_big := add(mul(apple_red,3),2)\nshow cat_big\n") == program


def test_globals_come_from_the_world():
    program = lola.parse("x = APPLE_RED + 1;\nprint(x);")
    assert interpret(program, world={("apple", "red"): 41}) == 42
    assert interpret(lola.parse("print(APPLE_RED);"), world={("apple", "red"): 41}) == 41
    with pytest.raises(SemanticError, match="APPLE_RED"):
        interpret(program, world={})


def test_latent_types_set_the_modulus_from_the_head_word():
    semantics = Semantics(modulus=100, latent_types=True, type_moduli={"fruit": 10, "animal": 100})
    assert interpret(lola.parse("appleRed = 7 * 3;\nprint(appleRed);"), semantics) == 1  # fruit: mod 10
    assert interpret(lola.parse("catBig = 7 * 3;\nprint(catBig);"), semantics) == 21  # animal: mod 100
    assert interpret(lola.parse("sawOld = 250 + 1;\nprint(sawOld);"), semantics) == 51  # tool: default
    # Without latent types the same text means something else.
    assert interpret(lola.parse("appleRed = 7 * 3;\nprint(appleRed);")) == 21


@pytest.mark.parametrize("text", ["x = 5 / (3 - 3);\nprint(x);", "x = 0;\ny = 7 % x;\nprint(y);"])
def test_zero_divisor_is_an_error(text):
    with pytest.raises(SemanticError, match="zero divisor"):
        interpret(lola.parse(text))


def test_undefined_variable_is_an_error():
    with pytest.raises(SemanticError, match="'y'"):
        interpret(lola.parse("x = y + 1;\nprint(x);"))


@pytest.mark.parametrize(
    "language, text, line, column, message",
    [
        ("lola", "a = 1;\nb = a +;\nprint(b);", 2, 8, "expected a number"),
        ("lola", "a = 1\nprint(a);", 2, 1, "expected ';'"),
        ("lola", "apple2 = 1;\nprint(apple2);", 1, 6, "expected '='"),
        ("lola", "print = 1;\nprint(print);", 1, 7, "expected '('"),
        ("lola", "a = 1;\nprint(a);\nb = 2;", 3, 1, "end of program"),
        ("lola", "a = 1 & 2;", 1, 7, "unexpected character '&'"),
        ("meme", "let a := add(1 2)\nshow a", 1, 16, "expected ','"),
        ("meme", "let show := 1\nshow show", 1, 5, "keyword"),
        ("meme", "let a := 1 let b := 2\nshow b", 1, 12, "end of line"),
        ("meme", "let a := 1\nprint a", 2, 1, "expected 'let' or 'show'"),
    ],
)
def test_parse_errors_name_line_and_column(language, text, line, column, message):
    with pytest.raises(ParseError) as info:
        PARSERS[language](text)
    assert (info.value.line, info.value.column) == (line, column)
    assert message in str(info.value) and f"line {line}, column {column}" in str(info.value)


# ---------------------------------------------------------------------------------------
# The generator: every sample parses back to its own text, and its answer and facts agree
# with the interpreter and `facts`


GENERATOR_CASES = [
    {},
    {"languages": {"meme": 1.0}},
    {"languages": {"lola": 1.0, "meme": 1.0}, "n_statements": [1, 6], "depth": [0, 3], "query": "random"},
    {"n_globals": 30, "p_global": 0.2, "distractors": [1, 3], "query": "first"},
    {"n_globals": 12, "recall_fraction": 0.3, "p_global": 0.1, "latent_types": True},
    {"naming": "letters", "name_words": [1, 2], "operators": ["div", "mod"], "literals": [0, 2]},
    {"operators": ["mod"], "literals": [0, 1], "depth": [2, 3]},  # divisors keep evaluating to 0
]


def _rows(columns):
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


@pytest.mark.parametrize("knobs", GENERATOR_CASES)
def test_generated_programs_agree_with_the_reference_implementations(knobs):
    cfg = ProgramConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in knobs.items()})
    world = World.build(cfg, world_seed=3)
    generator = ProgramGenerator(cfg, world, derived_rng("test", 1))
    featured = [k % cfg.n_globals for k in range(400)] if cfg.n_globals else None
    for k, row in enumerate(_rows(generator.generate(400, featured))):
        program = PARSERS[row["language"]](row["prompt"])
        assert RENDERERS[row["language"]](program) == row["prompt"]
        assert interpret(program, cfg.semantics, world.values) == row["answer"]
        expected = facts(program)
        assert row["n_statements"] == expected["n_statements"]
        assert row["depth"] == expected["depth"]
        assert row["hops"] == expected["hops"]
        assert row["operators"] == ",".join(expected["operators"])
        assert row["n_operations"] == expected["n_operations"]
        assert row["n_needed"] == expected["n_needed"]
        assert row["globals_used"] == ",".join(expected["globals_used"])
        assert row["n_globals_used"] == len(expected["globals_used"])
        assert 0 <= row["answer"] < row["modulus"]
        # Globals are read, never assigned: no left-hand side is in a global's form, and every
        # global the text reads is one of the world's. A featured global is one the answer
        # depends on.
        assert not re.search(rf"^(let )?{GLOBAL_RE} :?=", row["prompt"], re.M)
        read = {tuple(name.lower().split("_")) for name in re.findall(rf"\b{GLOBAL_RE}\b", row["prompt"])}
        assert read <= set(world.values) and (read or not cfg.n_globals or row["n_globals_used"] == 0)
        assert {tuple(g.lower().split("_")) for g in row["globals_used"].split(",") if g} <= read
        if featured:
            assert world_name(world.names[featured[k]]) in row["globals_used"].split(",")
        # The same program in the other language has the same answer.
        other = "meme" if row["language"] == "lola" else "lola"
        assert interpret(PARSERS[other](RENDERERS[other](program)), cfg.semantics, world.values) == row["answer"]


def world_name(words):
    return "_".join(words).upper()


def test_generator_knobs_shape_the_programs():
    cfg = ProgramConfig(n_statements=(3, 5), distractors=(2, 2), depth=(1, 1), literals=(0, 4), operators=("add",))
    rows = _rows(ProgramGenerator(cfg, World.build(cfg, 0), derived_rng(0)).generate(200))
    assert {r["n_statements"] for r in rows} == {5, 6, 7}  # 3..5 plus 2 distractors
    assert {r["n_distractors"] for r in rows} == {2}
    assert {r["operators"] for r in rows} == {"add"}
    for row in rows:
        program = lola.parse(row["prompt"])
        literals = [e.value for s in program.statements for e in (s.expr.left, s.expr.right) if isinstance(e, Lit)]
        assert all(0 <= v <= 4 for v in literals)
        assert row["n_needed"] <= row["n_statements"] - 2  # distractors never feed the answer


def test_letter_names_avoid_keywords_and_latent_types_need_words():
    cfg = ProgramConfig(naming="letters", letters_per_word=(2, 3), name_words=(2, 2), languages={"meme": 1.0})
    for row in _rows(ProgramGenerator(cfg, World.build(cfg, 0), derived_rng(0)).generate(100)):
        for s in meme.parse(row["prompt"]).statements:
            assert len(s.target) == 2 and all(2 <= len(w) <= 3 for w in s.target)
    with pytest.raises(ConfigError, match="latent_types needs naming: words"):
        ProgramConfig(naming="letters", latent_types=True)


def test_latent_types_generate_typed_moduli():
    cfg = ProgramConfig(latent_types=True, type_moduli={"fruit": 10, "animal": 100}, n_statements=(4, 4))
    rows = _rows(ProgramGenerator(cfg, World.build(cfg, 0), derived_rng(0)).generate(300))
    assert {r["modulus"] for r in rows} == {10, 100}
    differs = 0
    for row in rows:
        program = lola.parse(row["prompt"])
        assert interpret(program, cfg.semantics) == row["answer"]
        try:
            differs += interpret(program, Semantics(modulus=100)) != row["answer"]
        except SemanticError:  # untyped, a divisor can become 0
            differs += 1
    assert differs > 30  # the unwritten types matter


def test_world_is_fixed_by_its_seed():
    cfg = ProgramConfig(n_globals=50, p_global=0.1)
    assert World.build(cfg, 7) == World.build(cfg, 7)
    assert World.build(cfg, 7).values != World.build(cfg, 8).values
    assert len(set(World.build(cfg, 7).names)) == 50


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"operators": ("add", "pow")}, "operators"),
        ({"n_statements": (5, 2)}, "n_statements"),
        ({"p_global": 0.5}, "n_globals"),
        ({"modulus": 1}, "modulus"),
        ({"languages": {"lola": 1.0, "python": 1.0}}, "languages"),
        ({"literals": (0, 0)}, "div/mod"),
        ({"type_moduli": {"vegetable": 10}}, "vegetable"),
    ],
)
def test_bad_generator_knobs_are_errors(knobs, message):
    with pytest.raises(ConfigError, match=message):
        ProgramConfig(**knobs)


# ---------------------------------------------------------------------------------------
# ListOps


@pytest.mark.parametrize(
    "text, answer",
    [
        ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
        ("[MED 1 2 3 4 ]", 2),  # median 2.5, truncated like LRA's int(np.median(...))
        ("[MED 7 1 5 ]", 5),
        ("[SM 5 6 7 ]", 8),
        ("[MIN [MAX 1 2 ] [SM 9 9 ] ]", 2),
        ("7", 7),
    ],
)
def test_listops_evaluator_on_known_cases(text, answer):
    expr = listops.parse(text)
    assert listops.evaluate(expr) == answer
    assert listops.render(expr) == text


@pytest.mark.parametrize("text, message", [("[MAX 2 9", "never closed"), ("[MAX ]", "no arguments"), ("[POW 1 2 ]", "unexpected")])
def test_listops_parse_errors(text, message):
    with pytest.raises(ParseError, match=message):
        listops.parse(text)


def test_listops_generator_respects_depth_and_length():
    cfg = ListOpsConfig(depth=(2, 3), length=(20, 80), max_args=4)
    rows = _rows(ListOpsGenerator(cfg, derived_rng(0)).generate(300))
    for row in rows:
        expr = listops.parse(row["prompt"])
        assert listops.evaluate(expr) == row["answer"]
        assert listops.depth(expr) == row["depth"] and 2 <= row["depth"] <= 3
        assert 20 <= len(row["prompt"]) <= 80
    with pytest.raises(ConfigError, match="length"):
        ListOpsGenerator(ListOpsConfig(depth=(4, 4), length=(1, 10)), derived_rng(0)).generate(1)


def test_too_few_names_is_an_error_not_a_hang():
    with pytest.raises(ConfigError, match=r"only 24 distinct names, fewer than the 30"):
        ProgramConfig(name_words=(1, 1), latent_types=True, type_moduli={"fruit": 10}, n_statements=(30, 30))
    with pytest.raises(ConfigError, match=r"only 96 distinct names, fewer than the 100"):
        ProgramConfig(name_words=(1, 1), n_globals=100)


def test_facts_of_hand_written_programs_with_reassignment():
    program = lola.parse("x = 1; x = x + 1; y = x * 2; z = 5; print(y);")
    assert facts(program) == {
        "n_statements": 4,
        "depth": 1,
        "hops": 2,
        "operators": ("add", "mul"),
        "n_operations": 2,
        "n_needed": 3,
        "globals_used": (),
    }
    assert interpret(program) == 4


@pytest.mark.parametrize(
    "name, text, answer",
    [
        ("deep.lola", "x = " + "(" * 400 + "1" + ")" * 400 + ";\nprint(x);\n", "1"),
        ("flat.lola", "x = " + " + ".join(["1"] * 1000) + ";\nprint(x);\n", "0"),  # 1000 mod 100
        ("deep.meme", "let x := " + "add(1, " * 1000 + "1" + ")" * 1000 + "\nshow x\n", "1"),  # 1001 mod 100
        ("deep.listops", "[MAX " * 500 + "7" + " ]" * 500 + "\n", "7"),
    ],
)
def test_interpret_handles_deep_and_long_programs(tmp_path, capsys, name, text, answer):
    from thex.__main__ import main

    (tmp_path / name).write_text(text)
    assert main(["interpret", str(tmp_path / name)]) == 0
    assert capsys.readouterr().out.strip() == answer


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("binary.lola", bytes(range(256)), "binary.lola: not a text file (byte 128 is not UTF-8)"),
        ("missing.lola", None, "missing.lola: cannot read (No such file or directory)"),
        ("huge.lola", ("x = " + "(" * 100_000 + "1" + ")" * 100_000 + ";\nprint(x);\n").encode(), "huge.lola: nested too deeply"),
    ],
)
def test_interpret_errors_are_one_line(tmp_path, capsys, name, content, message):
    from thex.__main__ import main

    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert main(["interpret", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
