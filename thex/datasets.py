"""Datasets: generating LoLa/MeMe/ListOps splits to Parquet, and reading them back safely.

A dataset config names a generator section (`programs:` or `listops:`), a seed, and its
splits; each split may override generator knobs. One Parquet file per split, with a fixed
schema (`SCHEMA`) and file metadata holding the generator version, the full config, the
seed and a content hash. Writes are atomic; reads check schema, versions and the hash.

Determinism: a split is cut into chunks of `chunk_size` samples; chunk k of split s draws
from a random stream fixed by (seed, s, k) alone, so the content is the same whatever the
number of worker processes, machine or run.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import thex
from thex.config import AT_LEAST_1, Checked, ConfigError, Overrides, Schema, from_dict, replace, to_dict
from thex.errors import ThexError
from thex.io import atomic_path, progress_bar, shown_path
from thex.languages import PARSERS, RENDERERS
from thex.languages.generate import (
    ListOpsConfig,
    ListOpsGenerator,
    ProgramConfig,
    WORLD_KNOBS,
    ProgramGenerator,
    World,
    derived_rng,
)
from thex.languages.program import LANGUAGE_VERSION, LEXICON
from thex.languages.syntax import global_name
from thex.tokenizer import VOCAB_VERSION

# Bump when the samples drawn for a given config and seed change.
GENERATOR_VERSION = 1
SCHEMA_VERSION = 1

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),  # index of the sample within its split
        ("split", pa.string()),
        ("language", pa.string()),  # lola, meme or listops
        ("task", pa.string()),  # compute (the query is a variable), recall (a global), listops
        ("prompt", pa.string()),
        ("answer", pa.string()),  # decimal digits
        ("n_statements", pa.int32()),  # assignments in the program (distractors included)
        ("n_distractors", pa.int32()),
        ("depth", pa.int32()),  # deepest expression the answer needs; ListOps nesting depth
        ("hops", pa.int32()),  # longest chain of variable references behind the answer
        ("operators", pa.string()),  # operators the answer needs, comma-separated, in canonical order
        ("n_operations", pa.int32()),
        ("n_needed", pa.int32()),  # assignments the answer needs
        ("n_globals_used", pa.int32()),
        ("globals_used", pa.string()),  # comma-separated global names
        ("n_globals", pa.int32()),  # G, the size of the world
        ("latent_types", pa.bool_()),
        ("modulus", pa.int32()),  # modulus of the queried name
        ("length", pa.int32()),  # characters in the prompt
    ]
)
_LOW_CARDINALITY = ["split", "language", "task", "operators", "globals_used"]
_META_PREFIX = "thex."


# Every version a dataset records; reading one written under another is an error.
CURRENT_VERSIONS = {
    "schema_version": SCHEMA_VERSION,
    "generator_version": GENERATOR_VERSION,
    "language_version": LANGUAGE_VERSION,
    "lexicon_version": LEXICON.version,
    "vocab_version": VOCAB_VERSION,
}


class DatasetError(ThexError):
    """A dataset file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class SplitConfig(Checked):
    """One split: its size, exposure control, disjointness, and generator overrides."""

    n: Annotated[int, AT_LEAST_1] | None = None  # number of samples (or set by exposures)
    exposures: Annotated[int, AT_LEAST_1] | None = None  # programs featuring each global: n = n_globals * exposures
    disjoint_from_train: bool = True  # no program of this split appears in the train split
    overrides: Mapping[str, Any] = field(default_factory=dict)  # generator knobs for this split (set by split())


# What a split's mapping may hold (the JSON schema reads these; `split()` checks them):
# its SplitConfig keys beside the generator knobs it overrides, except those that fix the
# world of globals and the semantics, which all splits share.
ProgramSplit = Annotated[Mapping[str, Any], Overrides(SplitConfig, ProgramConfig, exclude=("overrides", *WORLD_KNOBS))]
ListOpsSplit = Annotated[Mapping[str, Any], Overrides(SplitConfig, ListOpsConfig, exclude=("overrides",))]


@dataclass(frozen=True)
class DatasetConfig(Checked):
    """A dataset: its generator (programs or listops), seed and splits."""

    seed: int = 0  # fixes every sample (with the generator config and chunk_size), whatever the machine
    programs: ProgramConfig | None = None  # LoLa/MeMe programs (one of programs, listops)
    listops: ListOpsConfig | None = None  # ListOps expressions
    # a split: its SplitConfig keys and the generator knobs it overrides, side by side
    splits: Annotated[Mapping[str, ProgramSplit | ListOpsSplit], Schema({"minProperties": 1})] = field(
        default_factory=lambda: {"train": {"n": 1000}, "test": {"n": 200}})  # fmt: skip
    chunk_size: Annotated[int, AT_LEAST_1] = 4096  # samples per random stream; part of what fixes the content

    def check(self) -> None:
        if self.programs is None and self.listops is None:
            raise ConfigError("programs: a dataset config needs 'programs' (LoLa/MeMe) or 'listops'")
        if self.programs is not None and self.listops is not None:
            raise ConfigError("listops: a dataset config has 'programs' or 'listops', not both")
        for name in self.splits:
            self.split(name)  # validates every split now, naming the bad key

    @property
    def kind(self) -> str:
        return "programs" if self.programs is not None else "listops"

    def split(self, name: str) -> tuple[SplitConfig, ProgramConfig | ListOpsConfig]:
        """The split's settings and its generator config (base knobs + the split's overrides)."""
        if name not in self.splits:
            raise ConfigError(f"no split {name!r}; splits: {', '.join(self.splits)}")
        raw = dict(self.splits[name] or {})
        split_keys = {f.name for f in dataclasses.fields(SplitConfig)} - {"overrides"}
        spec = from_dict(SplitConfig, {k: raw.pop(k) for k in list(raw) if k in split_keys}, f"splits.{name}")
        base = self.programs if self.programs is not None else self.listops
        fixed = sorted(set(raw) & set(WORLD_KNOBS)) if self.programs is not None else []
        if fixed:
            raise ConfigError(
                f"splits.{name}.{fixed[0]}: fixes the world of globals and the semantics, which all splits "
                f"share; set it under 'programs:' (per-split knobs exclude {', '.join(WORLD_KNOBS)})"
            )
        generator = replace(base, raw, f"splits.{name}")
        n = spec.n
        if spec.exposures is not None:
            if not isinstance(generator, ProgramConfig) or generator.n_globals == 0:
                raise ConfigError(f"splits.{name}.exposures needs a programs dataset with n_globals > 0")
            if n is not None and n != generator.n_globals * spec.exposures:
                raise ConfigError(
                    f"splits.{name}: n={n} contradicts exposures={spec.exposures} x n_globals={generator.n_globals}; give one"
                )
            n = generator.n_globals * spec.exposures
        if n is None:
            raise ConfigError(f"splits.{name}.n: the split has no size; give n (or exposures, with globals)")
        return dataclasses.replace(spec, n=n, overrides=raw), generator

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> "DatasetConfig":
        return from_dict(cls, data, where)


def world_of(cfg: DatasetConfig) -> World:
    """The world of globals, shared by every split (train and test see the same values)."""
    base = cfg.programs
    seed = base.world_seed if base.world_seed is not None else cfg.seed
    return _world(json.dumps(to_dict(base), sort_keys=True), seed)


@functools.lru_cache(maxsize=8)
def _world(generator_json: str, seed: int) -> World:
    # Cached: every chunk of every split of a dataset shares the world, and G can be large.
    return World.build(from_dict(ProgramConfig, json.loads(generator_json)), seed)


# ---------------------------------------------------------------------------------------
# Generation of one chunk (runs in worker processes)


def _chunk_batch(cfg: DatasetConfig, split: str, chunk: int, exclude: frozenset[str]) -> pa.RecordBatch:
    """Chunk `chunk` of `split` as a record batch; prompts in `exclude` are redrawn."""
    spec, generator = cfg.split(split)
    start = chunk * cfg.chunk_size
    count = min(cfg.chunk_size, spec.n - start)
    rng = derived_rng(cfg.seed, split, chunk)
    if isinstance(generator, ProgramConfig):
        gen = ProgramGenerator(generator, world_of(cfg), rng)
        featured = None
        if spec.exposures is not None:
            featured = [(start + k) % generator.n_globals for k in range(count)]
        columns = gen.generate(count, featured)
        redraw = lambda ks: gen.generate(len(ks), [featured[k] for k in ks] if featured else None)  # noqa: E731
        constants = {"n_globals": generator.n_globals, "latent_types": generator.latent_types}
    else:
        gen = ListOpsGenerator(generator, rng)
        columns = gen.generate(count)
        redraw = lambda ks: gen.generate(len(ks))  # noqa: E731
        constants = {}
    if exclude:
        _redraw_excluded(columns, exclude, redraw, split)
    columns["answer"] = pa.array(columns["answer"], pa.int64()).cast(pa.string())
    columns["id"] = np.arange(start, start + count, dtype=np.int64)
    columns["split"] = [split] * count
    columns["length"] = [len(p) for p in columns["prompt"]]
    for name, value in constants.items():
        columns[name] = [value] * count
    arrays = [
        columns[f.name] if isinstance(columns.get(f.name), pa.Array)
        else pa.array(columns[f.name], f.type) if f.name in columns
        else pa.nulls(count, f.type)
        for f in SCHEMA
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def _redraw_excluded(columns: dict[str, list], exclude: frozenset[str], draw, split: str) -> None:
    """Replace, in place, samples whose prompt is in `exclude` by fresh draws."""
    for _ in range(1000):
        bad = [k for k, prompt in enumerate(columns["prompt"]) if prompt in exclude]
        if not bad:
            return
        fresh = draw(bad)
        for name, values in columns.items():
            for k, value in zip(bad, fresh[name]):
                values[k] = value
    raise DatasetError(
        f"split {split!r}: could not draw programs outside the evaluation splits in 1000 rounds; the program "
        "space is too small for disjoint splits (widen the knobs or set disjoint_from_train: false)"
    )


# ---------------------------------------------------------------------------------------
# Content hash: independent of how rows are cut into batches or encoded in Parquet


class ContentHash:
    """SHA-256 over each column's values as canonical byte streams, combined in schema order.

    Per column: a validity stream (one byte a row), a values stream (int64/uint8 little
    endian, or for strings their UTF-8 bytes), and for strings a lengths stream. Streams
    are fed batch by batch, so the digest does not depend on batch boundaries.
    """

    def __init__(self, schema: pa.Schema = SCHEMA):
        self.schema = schema
        self.streams = {f.name: [hashlib.sha256() for _ in range(3)] for f in schema}

    def update(self, data: pa.RecordBatch | pa.Table) -> None:
        for f in self.schema:
            column = data.column(f.name)
            chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
            validity, values, lengths = self.streams[f.name]
            for arr in chunks:
                validity.update(arr.is_valid().to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
                if pa.types.is_string(f.type):
                    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
                    if len(arr):
                        data_buffer = arr.buffers()[2]
                        values.update(memoryview(data_buffer)[offsets[0] : offsets[-1]] if data_buffer else b"")
                    lengths.update(np.diff(offsets).astype("<i8").tobytes())
                elif pa.types.is_boolean(f.type):
                    values.update(arr.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8).tobytes())
                else:
                    values.update(arr.fill_null(0).to_numpy().astype("<i8").tobytes())

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        for name, streams in self.streams.items():
            total.update(name.encode() + b"\0" + b"".join(s.digest() for s in streams))
        return total.hexdigest()


# ---------------------------------------------------------------------------------------
# Writing


def _metadata(cfg: DatasetConfig, split: str, n_rows: int, content_hash: str) -> dict[str, str]:
    _, generator = cfg.split(split)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "generator_version": GENERATOR_VERSION,
        "language_version": LANGUAGE_VERSION,
        "lexicon_version": LEXICON.version,
        "vocab_version": VOCAB_VERSION,
        "package_version": thex.__version__,
        "dataset_config": to_dict(cfg),
        "split": split,
        "seed": cfg.seed,
        "n_rows": n_rows,
        "content_hash": content_hash,
    }
    if isinstance(generator, ProgramConfig) and generator.n_globals:
        world = world_of(cfg)
        meta["world"] = {global_name(w): world.values[w] for w in world.names}
    return {_META_PREFIX + k: json.dumps(v, sort_keys=True) for k, v in meta.items()}


_WORKER_STATE: dict[str, Any] = {}


def _init_worker(cfg_dict: dict, exclude: frozenset[str]) -> None:
    _WORKER_STATE["cfg"] = DatasetConfig.from_dict(cfg_dict)
    _WORKER_STATE["exclude"] = exclude


def _work(task: tuple[str, int]) -> pa.RecordBatch:
    split, chunk = task
    return _chunk_batch(_WORKER_STATE["cfg"], split, chunk, _WORKER_STATE["exclude"])


def _batches(cfg: DatasetConfig, split: str, exclude: frozenset[str], workers: int) -> Iterator[pa.RecordBatch]:
    spec, _ = cfg.split(split)
    n_chunks = -(-spec.n // cfg.chunk_size)
    tasks = [(split, k) for k in range(n_chunks)]
    if workers <= 1 or n_chunks == 1:
        for _, k in tasks:
            yield _chunk_batch(cfg, split, k, exclude)
        return
    # spawn, not fork: the parent may hold threads (pyarrow, torch) that fork would copy.
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, n_chunks), _init_worker, (to_dict(cfg), exclude)) as pool:
        yield from pool.imap(_work, tasks)


def write_split(
    cfg: DatasetConfig,
    split: str,
    path: str | os.PathLike,
    workers: int = 1,
    exclude: frozenset[str] = frozenset(),
    progress: bool = False,
) -> str:
    """Generate `split` to the Parquet file `path` atomically; returns the content hash."""
    spec, _ = cfg.split(split)
    digest = ContentHash()
    bar = progress_bar(spec.n, f"generate {split}", progress, unit=" samples")
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(
            tmp, SCHEMA, compression="zstd", use_dictionary=_LOW_CARDINALITY, write_statistics=False
        )
        try:
            for batch in _batches(cfg, split, exclude, workers):
                digest.update(batch)
                writer.write_batch(batch, row_group_size=1 << 20)
                bar.update(batch.num_rows)
            content_hash = digest.hexdigest()
            writer.add_key_value_metadata(_metadata(cfg, split, spec.n, content_hash))
        finally:
            writer.close()
            bar.close()
    return content_hash


def evaluation_prompts(cfg: DatasetConfig, tables: Mapping[str, pa.Table]) -> frozenset[str]:
    """Prompts the train split must not contain: each disjoint split's programs in every language."""
    prompts: set[str] = set()
    for split, table in tables.items():
        spec, generator = cfg.split(split)
        if split == "train" or not spec.disjoint_from_train:
            continue
        for language, prompt in zip(table.column("language").to_pylist(), table.column("prompt").to_pylist()):
            prompts.add(prompt)
            if language in PARSERS:
                program = PARSERS[language](prompt)
                prompts.update(render(program) for render in RENDERERS.values())
    return frozenset(prompts)


def generate_dataset(
    cfg: DatasetConfig, out_dir: str | os.PathLike, workers: int = 1, progress: bool = False
) -> dict[str, Path]:
    """Write every split to `out_dir/{split}.parquet`; evaluation splits first, then train
    without their programs. Returns the paths."""
    out_dir = Path(out_dir)
    paths = {split: out_dir / f"{split}.parquet" for split in cfg.splits}
    order = [s for s in cfg.splits if s != "train"] + [s for s in cfg.splits if s == "train"]
    for split in order:
        exclude = frozenset()
        if split == "train":
            exclude = evaluation_prompts(cfg, {s: read_split(paths[s])[0] for s in cfg.splits if s != "train"})
        write_split(cfg, split, paths[split], workers=workers, exclude=exclude, progress=progress)
    return paths


# ---------------------------------------------------------------------------------------
# Reading


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The thex metadata of a dataset file, checked: every version in CURRENT_VERSIONS present and current."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: dataset file does not exist")
    try:
        raw = pq.ParquetFile(path).metadata.metadata or {}
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet file, it may be truncated or corrupted ({err}); {regenerate_hint(path)}") from None
    meta = {}
    for key, value in raw.items():
        key = key.decode()
        if key.startswith(_META_PREFIX):
            meta[key[len(_META_PREFIX) :]] = json.loads(value)
    for key, current in CURRENT_VERSIONS.items():
        if key not in meta:
            raise DatasetError(f"{path}: not a thex dataset (no {_META_PREFIX}{key} in its metadata)")
        if meta[key] != current:
            raise DatasetError(
                f"{path}: written with {key} {meta[key]}, this package ({thex.__version__}) reads {current}; "
                + regenerate_hint(path)
            )
    return meta


def regenerate_hint(path: Path) -> str:
    """The remedy for a damaged split that works: Snakemake does not rebuild a deleted
    intermediate file while what follows it exists, so force the job that writes it (and
    with it everything that read it)."""
    return f"regenerate it with `snakemake --forcerun {shown_path(path)}` (and your --configfile), which reruns what read it too"


def read_split(path: str | os.PathLike, verify: bool = True) -> tuple[pa.Table, dict[str, Any]]:
    """Read a dataset file, checking schema, versions, row count and (if `verify`) content hash."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"{path}: cannot read the data, the file may be corrupted ({err}); {regenerate_hint(path)}") from None
    schema = table.schema.remove_metadata()
    if not schema.equals(SCHEMA):
        missing = [f.name for f in SCHEMA if f.name not in schema.names]
        differ = [f.name for f in SCHEMA if f.name in schema.names and schema.field(f.name).type != f.type]
        raise DatasetError(f"{path}: schema differs from v{SCHEMA_VERSION} (missing: {missing}, other types: {differ})")
    if table.num_rows != meta["n_rows"]:
        raise DatasetError(f"{path}: has {table.num_rows} rows, its metadata says {meta['n_rows']}; the file is damaged; {regenerate_hint(path)}")
    if verify:
        digest = ContentHash()
        digest.update(table)
        if digest.hexdigest() != meta["content_hash"]:
            raise DatasetError(f"{path}: content hash does not match its metadata; the file is corrupted; {regenerate_hint(path)}")
    return table, meta
