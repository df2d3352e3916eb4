"""Every number of a config is checked against what the code can run (issue 30): an extreme
value is either a one-line error naming its key before any job, or a value the stage that
reads it runs with. The walk enumerates the numeric keys from the config classes, so a new
key is covered without editing this file."""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
import yaml

from thex.config import ConfigError, Keyed, Overrides, _field_types, from_dict
from thex.experiments import WorkflowConfig, deep_merge

REPO = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
# A ListOps experiment beside the tiny config's, so that ListOps keys have a place.
BASE["experiments"]["ops"] = {"architectures": ["gpt2"], "data": {"listops": {"length": [1, 20]}, "splits": {"train": {"n": 40}, "test": {"n": 8}}}}

# Where a mapping of names puts the walked key: one existing name per mapping field.
MAPPING_KEYS = {"experiments": "length", "headline": "globals", "training_by_arch": "gpt2", "lr_by_arch": "gpt2", "splits": "train",
                "languages": "lola", "type_moduli": "fruit", "reported": "gpt2"}  # fmt: skip
SKIP_FIELDS = {"conditions"}  # overrides of `data`: the same keys, walked there

HUGE_INT, HUGE_FLOAT = 10**30, 1e300


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    marks = []
    while typing.get_origin(tp) is typing.Annotated:
        tp, *more = typing.get_args(tp)
        marks += more
    return tp, marks


def _leaves(tp: Any, path: tuple[str, ...], seen: set) -> Iterator[tuple[tuple[str, ...], type, str]]:
    """(path, int or float, shape) of every numeric key reachable from config type `tp`:
    each class's field once, at the first path found. shape: scalar, list or pair."""
    tp, marks = _strip(tp)
    keyed = [m for m in marks if isinstance(m, Keyed)]
    if keyed:  # each registered mixer's own settings under its name (model.mixers.hyena.filter_order)
        from thex.models.architecture import MIXERS
        from thex.models.config import settings_class

        for name in MIXERS:
            if settings_class(name) is not None:
                yield from _class_leaves(keyed[0].class_of(name, ".".join(path)), path + (name,), seen)
        return
    overrides = [m for m in marks if isinstance(m, Overrides)]
    if overrides:  # a mapping of another class's keys
        for mark in overrides:
            for cls in mark.classes:
                yield from _class_leaves(cls, path, seen, exclude=mark.exclude)
        return
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, typing.types.UnionType):
        for arm in args:
            if arm is not type(None):
                yield from _leaves(arm, path, seen)
    elif dataclasses.is_dataclass(tp):
        yield from _class_leaves(tp, path, seen)
    elif origin in (dict, Mapping, collections.abc.Mapping):
        if path[-1] in MAPPING_KEYS:
            yield from _leaves(args[1], path + (MAPPING_KEYS[path[-1]],), seen)
    elif origin is tuple:
        base, _ = _strip(args[0])
        if base in (int, float):
            yield path, base, "list" if args[-1] is Ellipsis else "pair"
    elif tp in (int, float):
        yield path, tp, "scalar"


def _class_leaves(cls: type, path: tuple[str, ...], seen: set, exclude: tuple[str, ...] = ()) -> Iterator:
    for name, tp in _field_types(cls).items():
        if name in exclude or name in SKIP_FIELDS or (cls, name) in seen:
            continue
        seen.add((cls, name))
        yield from _leaves(tp, path + (name,), seen)


def numeric_keys() -> list[tuple[tuple[str, ...], type, str]]:
    keys = list(_leaves(WorkflowConfig, (), set()))
    # ListOps keys live in the ListOps experiment
    return [(tuple("ops" if p == "length" and "listops" in path else p for p in path), tp, shape) for path, tp, shape in keys]


def _extremes(tp: type) -> list[tuple[str, Any]]:
    if tp is int:
        return [("huge", HUGE_INT), ("tiny", 0), ("negative", -1), ("non-integer", 1.5)]
    return [("huge", HUGE_FLOAT), ("tiny", 1e-300), ("negative", -1.0)]


def _with(config: dict, path: tuple[str, ...], value: Any) -> dict:
    changed = copy.deepcopy(config)
    node = changed
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key, {}), dict) else node[key]
    node[path[-1]] = value
    return changed


CASES = [(path, shape, kind, value) for path, tp, shape in numeric_keys() for kind, value in _extremes(tp)]


def test_the_walk_reaches_every_section():
    paths = {".".join(path) for path, _, _ in numeric_keys()}
    for expected in ("seeds", "threads", "sweep.lr", "sweep.lr_by_arch.gpt2", "probes.n_probe", "model.d_model", "model.dropout",
                     "training.lr", "training.betas", "headline.globals.reported.gpt2", "experiments.length.seeds",
                     "experiments.length.data.seed", "experiments.length.data.programs.modulus", "experiments.length.data.programs.languages.lola",
                     "experiments.length.data.splits.train.n", "experiments.ops.data.listops.max_args"):  # fmt: skip
        assert expected in paths, expected
    assert len(paths) >= 50


def _run_stage(config: dict, path: tuple[str, ...], tmp_path: Path) -> None:
    """Run, small, the stage that reads the key: the dataset of its experiment, or a
    THEX training job of 2 steps on the tiny config's data; the rest (how jobs are laid out)
    is exercised by building every job, which WorkflowConfig does."""
    from thex.datasets import DatasetConfig, generate_dataset

    workflow = WorkflowConfig.from_dict(config)
    if path[0] == "experiments" and path[2] == "data":
        experiment = path[1]
        condition = next(iter(workflow.experiments[experiment].conditions))
        data = workflow.dataset_dict(experiment, condition)
        data["splits"] = {name: {**(split or {}), "n": min(20, (split or {}).get("n") or 20)} for name, split in data["splits"].items()}
        for split in data["splits"].values():
            split.pop("exposures", None)
        generate_dataset(DatasetConfig.from_dict(data), tmp_path / "data")
    elif path[0] in ("model", "training"):
        from thex.training import train

        generate_dataset(workflow.dataset_config("length", "base"), tmp_path / "data")
        run = workflow.run_config("length", "thex-2")  # attention and Hyena: every model key is read
        training = dataclasses.asdict(run.training) | ({} if path[-1] in ("steps", "tokens") else {"steps": 2, "tokens": None})
        train(from_dict(type(run), {"model": dict(run.model), "training": training}), tmp_path / "data", tmp_path / "run", "thex-2", seed=0)


@pytest.mark.parametrize(("path", "shape", "kind", "value"), CASES, ids=[f"{'.'.join(c[0])}={c[2]}" for c in CASES])
def test_an_extreme_value_is_a_one_line_error_naming_its_key_or_runs(path, shape, kind, value, tmp_path):
    written = {"scalar": value, "list": [value], "pair": [value, value]}[shape]
    config = _with(BASE, path, written)
    try:
        WorkflowConfig.from_dict(config)
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message and path[-1] in message, message
        return
    _run_stage(config, path, tmp_path)  # accepted: it must run (an exception fails this test)
