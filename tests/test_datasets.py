"""Datasets on disk: schema, metadata, determinism, disjoint splits, atomic writes, damage."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import thex.datasets as ds
from thex.config import ConfigError
from thex.datasets import SCHEMA, DatasetConfig, DatasetError, generate_dataset, read_split, write_split
from thex.languages import PARSERS, RENDERERS, interpret, listops

SMALL = {
    "seed": 5,
    "programs": {
        "n_statements": [1, 3],
        "depth": [0, 1],
        "languages": {"lola": 1.0, "meme": 1.0},
        "n_globals": 8,
        "p_global": 0.2,
    },
    "splits": {"train": {"n": 600}, "test": {"n": 150, "n_statements": [1, 5]}},
    "chunk_size": 128,
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    cfg = DatasetConfig.from_dict(SMALL)
    out = tmp_path_factory.mktemp("small")
    return cfg, generate_dataset(cfg, out)


def test_files_have_the_schema_and_metadata(small):
    cfg, paths = small
    assert set(paths) == {"train", "test"}
    for split, path in paths.items():
        table, meta = read_split(path)
        assert table.schema.remove_metadata().equals(SCHEMA)
        assert table.num_rows == {"train": 600, "test": 150}[split]
        assert table.column("id").to_pylist() == list(range(table.num_rows))
        assert set(table.column("split").to_pylist()) == {split}
        assert meta["split"] == split and meta["seed"] == 5 and meta["n_rows"] == table.num_rows
        assert meta["generator_version"] == ds.GENERATOR_VERSION and meta["language_version"] == "lolameme-v1"
        assert DatasetConfig.from_dict(meta["dataset_config"]) == cfg  # the full config round-trips
        assert len(meta["content_hash"]) == 64
        assert set(table.column("language").to_pylist()) == {"lola", "meme"}


def test_rows_answer_their_prompts_with_the_shared_world(small):
    _, paths = small
    worlds = []
    for path in paths.values():
        table, meta = read_split(path)
        world = {tuple(name.lower().split("_")): value for name, value in meta["world"].items()}
        worlds.append(meta["world"])
        for row in table.to_pylist():
            program = PARSERS[row["language"]](row["prompt"])
            assert str(interpret(program, world=world)) == row["answer"]
            assert row["length"] == len(row["prompt"])
            for name in filter(None, row["globals_used"].split(",")):
                assert name in meta["world"]
                assert f"{name} =" not in row["prompt"] and f"let {name} " not in row["prompt"]  # never defined
    assert worlds[0] == worlds[1] and len(worlds[0]) == 8  # train and test share one world


def test_same_config_and_seed_give_the_same_hash_whatever_the_workers(tmp_path):
    cfg = DatasetConfig.from_dict({**SMALL, "splits": {"train": {"n": 700}}})
    one = write_split(cfg, "train", tmp_path / "one.parquet", workers=1)
    two = write_split(cfg, "train", tmp_path / "two.parquet", workers=2)
    assert one == two
    assert pq.read_table(tmp_path / "one.parquet").equals(pq.read_table(tmp_path / "two.parquet"))
    other = DatasetConfig.from_dict({**SMALL, "seed": 6, "splits": {"train": {"n": 700}}})
    assert write_split(other, "train", tmp_path / "three.parquet") != one


def test_splits_draw_from_disjoint_streams(tmp_path):
    # Two splits with the same knobs and no exclusion between them: only the split's name in
    # the random stream's key (seed, split, chunk) tells them apart.
    cfg = DatasetConfig.from_dict(
        {"seed": 5, "programs": {"n_statements": [2, 4]}, "chunk_size": 50,
         "splits": {"train": {"n": 200}, "probe": {"n": 200, "disjoint_from_train": False}}}
    )
    paths = generate_dataset(cfg, tmp_path)
    train = read_split(paths["train"])[0].column("prompt").to_pylist()
    probe = read_split(paths["probe"])[0].column("prompt").to_pylist()
    assert sum(a == b for a, b in zip(train, probe)) < 5
    # The stream is fixed by its key alone: generating again gives the same programs.
    again = generate_dataset(cfg, tmp_path / "again")
    assert read_split(again["probe"])[0].column("prompt").to_pylist() == probe


def test_no_test_program_appears_in_train_in_any_language(tmp_path):
    # A tiny program space, so that without the exclusion many test programs would be in train.
    tiny = {
        "seed": 1,
        "programs": {
            "n_statements": [1, 1],
            "depth": [0, 1],
            "literals": [0, 3],
            "operators": ["add", "sub"],
            "name_words": [1, 1],
            "languages": {"lola": 1.0, "meme": 1.0},
        },
        "splits": {"train": {"n": 3000}, "test": {"n": 100}, "probe": {"n": 100, "disjoint_from_train": False}},
        "chunk_size": 500,
    }
    cfg = DatasetConfig.from_dict(tiny)
    paths = generate_dataset(cfg, tmp_path)
    train_table = read_split(paths["train"])[0]
    assert train_table.num_rows == 3000
    train = set(train_table.column("prompt").to_pylist())
    test = read_split(paths["test"])[0].to_pylist()
    for row in test:
        program = PARSERS[row["language"]](row["prompt"])
        for render in RENDERERS.values():
            assert render(program) not in train
    # The split that does not ask for it overlaps train, which shows the exclusion did work above.
    probe = read_split(paths["probe"])[0].column("prompt").to_pylist()
    assert sum(p in train for p in probe) > 20


def test_exposures_feature_each_global_exactly(tmp_path):
    cfg = DatasetConfig.from_dict(
        {
            "seed": 2,
            "programs": {"n_globals": 10, "n_statements": [2, 3], "recall_fraction": 0.5},
            "splits": {"train": {"exposures": 7}, "test": {"exposures": 1, "recall_fraction": 1.0, "disjoint_from_train": False}},
        }
    )
    paths = generate_dataset(cfg, tmp_path)
    train, meta = read_split(paths["train"])
    assert train.num_rows == 70
    counts = {name: 0 for name in meta["world"]}
    for used in train.column("globals_used").to_pylist():
        for name in used.split(","):
            counts[name] += 1
    assert set(counts.values()) == {7}  # p_global is 0, so only the featured uses exist
    test = read_split(paths["test"])[0].to_pylist()
    assert {row["task"] for row in test} == {"recall"}
    assert sorted(row["globals_used"] for row in test) == sorted(meta["world"])
    assert all(row["answer"] == str(meta["world"][row["globals_used"]]) for row in test)


def test_listops_dataset(tmp_path):
    cfg = DatasetConfig.from_dict({"listops": {"depth": [1, 3], "length": [5, 60]}, "splits": {"test": {"n": 50}}})
    table, _ = read_split(generate_dataset(cfg, tmp_path)["test"])
    rows = table.to_pylist()
    assert {r["language"] for r in rows} == {"listops"}
    assert all(str(listops.evaluate(listops.parse(r["prompt"]))) == r["answer"] for r in rows)
    assert all(r["n_statements"] is None and r["hops"] is None for r in rows)  # program-only columns
    assert all(5 <= r["length"] <= 60 and 1 <= r["depth"] <= 3 for r in rows)


# ---------------------------------------------------------------------------------------
# Atomic writes and damaged files


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    cfg = DatasetConfig.from_dict({**SMALL, "splits": {"train": {"n": 600}}})
    real = ds._chunk_batch

    def fail_on_third(cfg, split, chunk, exclude):
        if chunk == 2:
            raise RuntimeError("interrupted")
        return real(cfg, split, chunk, exclude)

    monkeypatch.setattr(ds, "_chunk_batch", fail_on_third)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_split(cfg, "train", tmp_path / "train.parquet")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_generation_leaves_no_file_that_looks_complete(tmp_path):
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "splits": {"train": {"n": 400_000}}, "chunk_size": 4096}))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "thex", "generate", str(config), str(out), "--workers", "1", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while not any(out.glob("*.tmp")) and time.time() < deadline:  # writing has started
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "train.parquet").exists()
    with pytest.raises(DatasetError, match="does not exist"):
        read_split(out / "train.parquet")


def test_truncated_file_is_an_error_naming_it(small, tmp_path):
    _, paths = small
    data = paths["train"].read_bytes()
    bad = tmp_path / "truncated.parquet"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated.parquet.*truncated or corrupted"):
        read_split(bad)


def test_corrupted_content_is_an_error_naming_it(small, tmp_path):
    _, paths = small
    table, _ = read_split(paths["train"])
    meta = pq.ParquetFile(paths["train"]).metadata.metadata
    # Same metadata, one answer changed: the file decodes, but its content hash does not match.
    answers = table.column("answer").to_pylist()
    answers[17] = "999"
    changed = table.set_column(table.schema.get_field_index("answer"), "answer", pa.array(answers))
    bad = tmp_path / "changed.parquet"
    with pq.ParquetWriter(bad, SCHEMA) as writer:
        writer.write_table(changed.cast(SCHEMA))
        writer.add_key_value_metadata({k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"thex.")})
    with pytest.raises(DatasetError, match="changed.parquet: content hash"):
        read_split(bad)
    read_split(bad, verify=False)  # the check is what caught it


def test_wrong_version_or_foreign_file_is_an_error(small, tmp_path):
    _, paths = small
    table = pq.read_table(paths["train"])
    meta = {k.decode(): v.decode() for k, v in pq.ParquetFile(paths["train"]).metadata.metadata.items() if k.startswith(b"thex.")}
    old = tmp_path / "old.parquet"
    with pq.ParquetWriter(old, table.schema) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({**meta, "thex.generator_version": json.dumps(0)})
    with pytest.raises(DatasetError, match="old.parquet: written with generator_version 0.*regenerate"):
        read_split(old)
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), foreign)
    with pytest.raises(DatasetError, match="foreign.parquet: not a thex dataset"):
        read_split(foreign)


# ---------------------------------------------------------------------------------------
# Config errors


@pytest.mark.parametrize(
    "data, message",
    [
        ({"programs": {"n_statment": [1, 2]}}, r"unknown key 'programs.n_statment' \(did you mean 'n_statements'\?\)"),
        ({"programs": {}, "splits": {"test": {"n": 5, "depht": [1, 2]}}}, r"unknown key 'splits.test.depht'"),
        ({"programs": {}, "splits": {"test": {"n": 5, "modulus": 10}}}, r"splits.test.modulus: fixes the world"),
        # a key neither form of split has: one unknown key, with the nearest valid one
        ({"programs": {}, "splits": {"train": {"nn": 5}}}, r"^unknown key 'splits.train.nn' \(did you mean 'n'\?\)"),
        ({"programs": {}, "listops": {}}, "listops: a dataset config has 'programs' or 'listops', not both"),
        ({"splits": {"train": {"n": 5}}}, "programs: a dataset config needs 'programs' \\(LoLa/MeMe\\) or 'listops'"),
        ({"programs": {"depth": "deep"}}, r"programs.depth: expected a list"),
        ({"programs": {}, "splits": {"train": {}}}, r"splits.train.n: the split has no size; give n \(or exposures, with globals\)"),
        ({"programs": {}, "splits": {"train": {"n": 0}}}, r"splits.train.n: must be >= 1, got 0"),
        ({"programs": {}, "splits": {}}, r"splits: at least one split is needed"),
        ({"programs": {"n_globals": 4}, "splits": {"train": {"exposures": 0}}}, r"splits.train.exposures: must be >= 1, got 0"),
        ({"programs": {}, "splits": {"train": {"exposures": 2}}}, "n_globals > 0"),
        ({"programs": {"n_statements": [3, 1]}}, r"programs.n_statements"),
        ({"programs": {}, "seeed": 3}, r"unknown key 'seeed'.*valid keys: chunk_size, listops, programs, seed, splits"),
    ],
)
def test_config_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        DatasetConfig.from_dict(data)


def test_cli_generate_writes_files_and_reports_errors(tmp_path):
    config = tmp_path / "data.yaml"
    config.write_text(yaml.safe_dump({**SMALL, "splits": {"train": {"n": 50}, "test": {"n": 10}}}))
    run = subprocess.run(
        [sys.executable, "-m", "thex", "generate", str(config), str(tmp_path / "out"), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test.parquet", "train.parquet"]
    # Regenerated with other splits: the old split file goes (it would be read as a split).
    config.write_text(yaml.safe_dump({**SMALL, "splits": {"train": {"n": 50}, "test_lola": {"n": 10}}}))
    run = subprocess.run(
        [sys.executable, "-m", "thex", "generate", str(config), str(tmp_path / "out"), "--quiet"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["test_lola.parquet", "train.parquet"]
    assert "test.parquet: not a split of this dataset" in run.stderr
    config.write_text(yaml.safe_dump({"programs": {"n_statments": [1, 2]}}))
    run = subprocess.run(
        [sys.executable, "-m", "thex", "generate", str(config), str(tmp_path / "bad")], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "unknown key 'programs.n_statments'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "bad").exists()


def test_yaml_configs_reject_a_key_given_twice(tmp_path):
    from thex.config import load_yaml
    from thex.config import ConfigError

    path = tmp_path / "data.yaml"
    path.write_text("seed: 1\nprograms:\n  depth: [1, 1]\n  depth: [2, 2]\n")
    with pytest.raises(ConfigError, match=r"data.yaml: line 4: duplicate key 'depth' \(first given on line 3\)"):
        load_yaml(path)
    path.write_text("seed: 1\nprograms:\n  depth: [1, 1]\n")
    assert load_yaml(path) == {"seed": 1, "programs": {"depth": [1, 1]}}


# --- a dataset that exercises the reduction rules ---------------------------------------

# Nested expressions (depth 2-3) over all five operators with literals up to 999 (the
# modulus is 100): the rules "reduce after each operation" and "literals as written" decide
# many answers here, while with depth <= 1 and literals <= 9 (every default dataset) an
# interpreter that breaks them still matches every row. docs/languages.md, section 8.7.
REDUCTION_DATASET = {
    "seed": 11,
    "programs": {"n_statements": [1, 3], "depth": [2, 3], "literals": [0, 999], "p_variable": 0.3},
    "splits": {"test": {"n": 400}},
}


def _wrong_interpret(program, reduce_operations: bool, reduce_literals: bool, m: int = 100):
    """LoLa/MeMe semantics with one rule broken: reduction only when a value is stored, or
    literals reduced before use. None where the broken rule meets a zero divisor."""
    from thex.languages.program import BinOp, Lit, Var

    env = {}
    exact = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
             "div": lambda a, b: a // b, "mod": lambda a, b: a % b}

    def value(expr):
        if isinstance(expr, Lit):
            return expr.value % m if reduce_literals else expr.value
        if isinstance(expr, Var):
            return env[expr.words]
        assert isinstance(expr, BinOp)
        left, right = value(expr.left), value(expr.right)
        if right == 0 and expr.op in ("div", "mod"):
            raise ZeroDivisionError
        result = exact[expr.op](left, right)
        return result % m if reduce_operations else result

    try:
        for statement in program.statements:
            env[statement.target] = value(statement.expr) % m
        return value(program.query) % m
    except ZeroDivisionError:
        return None


def test_a_dataset_with_nested_expressions_and_large_literals_tells_the_reduction_rules_apart(tmp_path):
    cfg = DatasetConfig.from_dict(REDUCTION_DATASET)
    table = read_split(generate_dataset(cfg, tmp_path)["test"])[0]
    assert min(table.column("depth").to_pylist()) >= 2
    rows = table.select(["prompt", "answer", "language"]).to_pylist()
    wrong = {"reduce only when storing": [], "reduce literals first": []}
    for row in rows:
        program = PARSERS[row["language"]](row["prompt"])
        assert interpret(program) == int(row["answer"])
        wrong["reduce only when storing"].append(_wrong_interpret(program, reduce_operations=False, reduce_literals=False))
        wrong["reduce literals first"].append(_wrong_interpret(program, reduce_operations=True, reduce_literals=True))
    assert any(lit.value >= 100 for row in rows for lit in _literals(PARSERS[row["language"]](row["prompt"])))
    for rule, answers in wrong.items():
        differ = sum(a is None or a != int(row["answer"]) for a, row in zip(answers, rows)) / len(rows)
        print(f"{rule}: {differ:.1%} of answers differ")
        assert differ > 0.10, rule


def _literals(program):
    from thex.languages.program import BinOp, Lit

    stack = [s.expr for s in program.statements]
    while stack:
        expr = stack.pop()
        if isinstance(expr, Lit):
            yield expr
        elif isinstance(expr, BinOp):
            stack += [expr.left, expr.right]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    from thex.io import write_text

    stale = tmp_path / ".eval.json.abc123.tmp"  # what kill -9 mid-write leaves
    stale.write_text("{")
    other = tmp_path / ".other.json.abc123.tmp"  # another output's: not this writer's to remove
    other.write_text("{")
    write_text(tmp_path / "eval.json", "{}")
    assert (tmp_path / "eval.json").read_text() == "{}"
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.abc123.tmp", "eval.json"]


def test_the_documented_complete_dataset_config_is_the_shipped_file_and_generates(tmp_path):
    from pathlib import Path

    import yaml as yaml_module

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "languages.md").read_text()
    block = doc[doc.index("```yaml\n# LoLaMeMe v1 dataset: LoLa and MeMe mixed") + len("```yaml\n") :]
    block = block[: block.index("```\n")]
    shipped = root / "docs" / "examples" / "lolameme-example.yaml"
    assert shipped.read_text() == block
    cfg = DatasetConfig.from_dict(yaml_module.safe_load(block))
    paths = generate_dataset(cfg, tmp_path)
    rows = {split: pq.read_metadata(path).num_rows for split, path in paths.items()}
    assert rows == {"train": 2000, "test": 500, "test_deep": 500, "recall": 20}  # as the doc says
