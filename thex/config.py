"""Typed configuration objects built from plain dicts (YAML/JSON), strictly.

Every config in the package is a frozen dataclass, its one definition, and every rule a
config obeys is declared once, in one of two places:

- a rule on one value (a minimum, a range, a pattern, allowed names, no value twice) is a
  `Schema` mark on the field's type: `from_dict` checks it wherever the key is written (a
  top-level `training.lr` is named as that, not as the experiment it is merged into), and
  `thex.schema` writes it into the workflow's JSON schema;
- a rule between values (one budget of two, d_model divisible by n_head, a name that must
  exist elsewhere in the config) is in the class's `check()`, each with its own message.

`Checked`, the base of every config class, runs both on construction, so a config built in
code is checked as one read from YAML. `from_dict` builds one from a mapping and rejects
unknown keys (naming the key, where it was found, and the valid keys) and values of the
wrong type. `load_yaml` reads a config file, rejecting a key given twice.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import json
import math
import operator
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, Mapping, TypeVar

import yaml

from thex.errors import ThexError

T = TypeVar("T")


class ConfigError(ThexError, ValueError):
    """A configuration value or key is invalid; the message names it."""


def _describe(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The annotated type of each init field of config class `cls`."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


class Checked:
    """The base of every config class. Constructing one checks each field against its type
    and `Schema` marks (coercing as `from_dict` does: `1e-3` read as a string becomes a
    number), then calls `check()`, the class's rules between fields. A config built by
    `from_dict` has been checked field by field already, where each key was written, so
    only `check()` can fail there."""

    def __post_init__(self) -> None:
        for name, tp in _field_types(type(self)).items():
            object.__setattr__(self, name, _coerce(tp, getattr(self, name), name))
        self.check()

    def check(self) -> None:
        """Rules between fields; each raises ConfigError with its own message."""


def unknown_key(key: Any, valid: Iterable[str], where: str) -> ConfigError:
    """The error for a key that is none of `valid`, with the nearest valid one."""
    close = difflib.get_close_matches(str(key), list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown key {_describe(where, str(key))!r}{hint}; valid keys: {', '.join(sorted(valid))}")


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass `cls` from `data`, checking keys and types recursively."""
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _field_types(cls)
    unknown = [k for k in data if k not in hints]
    if unknown:
        raise unknown_key(unknown[0], hints, where)
    kwargs = {k: _coerce(hints[k], v, _describe(where, k)) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {err}") from None
    except ConfigError as err:  # a rule between fields (check()): say where the section is
        if where and not str(err).startswith(where):
            raise ConfigError(f"{where}.{err}") from None
        raise


def to_dict(obj: Any) -> Any:
    """Plain (JSON/YAML-ready) form of a config dataclass."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def replace(obj: T, overrides: Mapping[str, Any], where: str = "") -> T:
    """A copy of config `obj` with `overrides` applied, validated like `from_dict`."""
    merged = to_dict(obj)
    merged.update(overrides)
    return from_dict(type(obj), merged, where)


# What every number of a config must fit: numpy's and torch's integers, and float32, the
# precision the models compute in (a float that becomes inf or 0 there is an error)
INT64_MAX = 2**63 - 1
FLOAT32_MAX, FLOAT32_TINY = 3.4028234663852886e38, 1.1754943508222875e-38  # largest, smallest normal

# A number in exponent notation without a dot before the `e` or without a sign after it
# (`1e-3`, `1.0e6`): YAML 1.1, which PyYAML follows, reads these as strings.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Annotated:  # the base type, then the marks: Schema keywords, Overrides keys
        value = _coerce(args[0], value, where)
        for mark in args[1:]:
            if isinstance(mark, Schema):
                _check_keywords(mark.keywords, value, where)
            elif isinstance(mark, Overrides):
                _check_overrides(mark.classes, mark.exclude, value, where)
            elif isinstance(mark, Keyed):
                value = {key: _keyed(mark.class_of(key, where), item, _describe(where, key)) for key, item in value.items()}
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [arg for arg in args if arg is not type(None)]
        if isinstance(value, Mapping) and value:
            # a mapping is of the one form whose keys it uses ({dataset: ...} is a reference,
            # {programs: ...} overrides): that form's error, not every form's; a key that no
            # form has is one unknown key
            forms = {arm: _mapping_keys(arm) for arm in arms}
            fitting = [arm for arm, keys in forms.items() if keys is None or set(value) <= keys]
            if len(fitting) == 1:
                return _coerce(fitting[0], value, where)
            if not fitting and None not in forms.values():
                valid = set().union(*forms.values())
                unknown = [k for k in value if k not in valid]
                if unknown:
                    raise unknown_key(unknown[0], valid, where)
        errors = []
        for arg in arms:
            try:
                return _coerce(arg, value, where)
            except ConfigError as err:
                errors.append((arg, str(err)))
        # Say what the value was meant to be: the error of the one form of its kind (a string
        # that is no known name), else the kinds the forms take, each once.
        same_kind = [message for arm, message in errors if _kind(arm) in (_kind_of(value), None)]
        if len(set(same_kind)) == 1:
            raise ConfigError(same_kind[0])
        if not same_kind:
            kinds = list(dict.fromkeys(_kind(arm) for arm, _ in errors))
            raise ConfigError(f"{where}: expected {' or '.join(kinds)}, got {value!r}")
        raise ConfigError(f"{where}: {value!r} fits none of its {len(same_kind)} forms: " + "; or ".join(dict.fromkeys(same_kind)))
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (tuple,):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin in (dict, Mapping, collections.abc.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(kt, k, where): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, str) and _EXPONENT_FLOAT.match(value) and float(value).is_integer():
            value = int(float(value))  # `tokens: 4e6`, a string to YAML 1.1
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if abs(value) > INT64_MAX:  # numpy and torch hold every integer of a config in 64 bits
            raise ConfigError(f"{where}: {value} does not fit a 64-bit integer (at most {INT64_MAX:.3g} in size)")
        return value
    if tp is float:
        if isinstance(value, str) and _EXPONENT_FLOAT.match(value):
            value = float(value)  # `lr: 1e-3` or `1.0e6`: YAML 1.1 (PyYAML) reads them as strings
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (write numbers unquoted, e.g. 0.001 or 1.0e-3)" if isinstance(value, str) else ""
            raise ConfigError(f"{where}: expected a number, got {value!r}{hint}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: must be a finite number, got {value!r}")
        if abs(value) > FLOAT32_MAX:  # the models compute in float32 (or less)
            raise ConfigError(f"{where}: {value!r} does not fit a float32 (at most {FLOAT32_MAX:.3g} in size)")
        if value != 0 and abs(value) < FLOAT32_TINY:
            raise ConfigError(f"{where}: {value!r} rounds to 0 in float32 (the smallest is {FLOAT32_TINY:.3g}); write 0 if 0 is meant")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"config type {tp} at {where} is not supported")  # a bug in a config class


def _kind(tp: Any) -> str | None:
    """What a value of config type `tp` is, in a message's words (None: any value)."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) or origin in (dict, Mapping, collections.abc.Mapping) or tp is dict:
        return "a mapping"
    if origin is tuple:
        return "a list"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp)


def _keyed(cls: type, item: Any, where: str) -> Any:
    """A `Keyed` mapping's value: built as `cls` from a mapping, or one already built."""
    return item if isinstance(item, cls) else from_dict(cls, item, where)


def _kind_of(value: Any) -> str:
    """`_kind`'s word for a value as it was written."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    return {int: "an integer", float: "a number", str: "a string"}.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------
# Annotations read by `from_dict` and the JSON schema (thex/schema.py): `Overrides` (the
# keys a mapping may hold), `Schema` (a rule on one value, in JSON-schema keywords)


@dataclasses.dataclass(frozen=True)
class Overrides:
    """`Annotated[Mapping[str, Any], Overrides(Cls)]`: keys of `Cls` that are deep-merged
    onto a base config before `Cls` is built, so any subset of its keys, at every depth.
    With several classes, the keys of all of them, in one mapping."""

    classes: tuple[type, ...]
    exclude: tuple[str, ...] = ()  # keys set by the code, not by configs

    def __init__(self, *classes: type, exclude: tuple[str, ...] = ()):
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "exclude", exclude)


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes Annotated metadata
class Keyed:
    """`Annotated[Mapping[str, Any], Keyed(class_of)]`: a mapping whose value under each key
    is a config of the class `class_of(key, where)` gives (each mixer's own settings, under
    its name), built and checked where it is written; `class_of` raises ConfigError for a
    key it does not know. The classes come from a registry that users extend, so the JSON
    schema says only "a mapping of mappings": a generated file never changes when they do."""

    class_of: Callable[[str, str], type]


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes Annotated metadata
class Schema:
    """`Annotated[T, Schema({"minimum": 1})]`: JSON-schema keywords added to T's schema and
    checked by `from_dict` (`_check_keywords`), so both layers read one declaration."""

    keywords: Mapping[str, Any]


def _check_overrides(classes: tuple[type, ...], exclude: tuple[str, ...], value: Mapping[str, Any], where: str) -> None:
    """Overrides of `classes` (any subset of their keys, at every depth) are checked where
    they are written: an unknown key or a value of the wrong type is named here (e.g.
    `training.lr`), not later in the config an override is merged into. The mapping
    itself is kept as written; it is merged, then built, later."""
    hints = {k: t for cls in classes for k, t in _field_types(cls).items() if k not in exclude}
    for key, item in value.items():
        if key in exclude:  # set by the code, or not overridable here: the class says why
            continue
        if key not in hints:
            raise unknown_key(key, hints, where)
        field_type = hints[key]
        arms = typing.get_args(field_type) if typing.get_origin(field_type) in (typing.Union, types.UnionType) else (field_type,)
        sections = tuple(arm for arm in arms if dataclasses.is_dataclass(arm))
        if sections and isinstance(item, Mapping):  # a section: its keys are overrides too
            _check_overrides(sections, (), item, _describe(where, str(key)))
        else:
            _coerce(field_type, item, _describe(where, str(key)))


def at_least(n: int) -> Schema:
    """The mark of a number that must be >= n."""
    return Schema({"minimum": n})


# The marks most fields need
AT_LEAST_0, AT_LEAST_1 = at_least(0), at_least(1)
POSITIVE = Schema({"exclusiveMinimum": 0})
FRACTION = Schema({"minimum": 0, "maximum": 1})
FRACTION_BELOW_1 = Schema({"minimum": 0, "exclusiveMaximum": 1})
SOME = Schema({"minItems": 1})  # a list of at least one value
SOME_DISTINCT = Schema({"minItems": 1, "uniqueItems": True})  # ... none given twice


def span(lowest: int) -> Any:
    """The type of a [min, max] pair of integers, each >= lowest (min <= max is a rule
    between the two: `check_span`)."""
    bound = Annotated[int, at_least(lowest)]
    return tuple[bound, bound]


def check_span(key: str, value: tuple[int, int]) -> None:
    if value[0] > value[1]:
        raise ConfigError(f"{key}: expected [min, max] with min <= max, got {list(value)}")


def _mapping_keys(tp: Any) -> set[str] | None:
    """The keys a mapping of config type `tp` knows: a dataclass's fields, an Overrides
    mapping's classes' keys (those it excludes too: they are refused later, with their own
    message); None for any other type (any keys)."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *marks = typing.get_args(tp)
        for mark in marks:
            if isinstance(mark, Overrides):
                return {k for cls in mark.classes for k in _field_types(cls)}
        return _mapping_keys(base)
    return set(_field_types(tp)) if dataclasses.is_dataclass(tp) else None


# A bound's keyword: (whether a value is within it, how a message says it, its bracket)
_BOUNDS = {
    "minimum": (operator.ge, ">=", "["),
    "exclusiveMinimum": (operator.gt, ">", "("),
    "maximum": (operator.le, "<=", "]"),
    "exclusiveMaximum": (operator.lt, "<", ")"),
}
# ... and three of ours: `message` (the rule in an error message, where it names what the
# registries hold), `jsonSchema` (what the JSON schema says instead: no registry in it, so
# that registering a mixer changes no committed file), `description` (docs and messages)
_KEYWORDS = (*_BOUNDS, "pattern", "minItems", "minProperties", "uniqueItems", "propertyNames", "enum", "not", "description", "message", "jsonSchema")


def _check_bounds(keywords: Mapping[str, Any], value: Any, where: str) -> None:
    """A number's bounds, said as one rule: `must be >= 1`, `must be > 0`, `must be in [0, 1)`."""
    bounds = [(keyword, keywords[keyword]) for keyword in _BOUNDS if keyword in keywords]  # the lower one first
    if all(_BOUNDS[keyword][0](value, bound) for keyword, bound in bounds):
        return
    if len(bounds) == 2:
        (low_keyword, low), (high_keyword, high) = bounds
        rule = f"in {_BOUNDS[low_keyword][2]}{low}, {high}{_BOUNDS[high_keyword][2]}"
    else:
        keyword, bound = bounds[0]
        rule = f"{_BOUNDS[keyword][1]} {bound}"
    raise ConfigError(f"{where}: must be {rule}, got {value!r}")


def _check_keywords(keywords: Mapping[str, Any], value: Any, where: str) -> None:
    """The JSON-schema keywords a `Schema` mark may carry, checked on a coerced value."""
    if any(k in keywords for k in _BOUNDS):
        _check_bounds(keywords, value, where)
    for keyword, arg in keywords.items():
        if keyword == "uniqueItems" and arg and len(set(value)) != len(value):
            twice = next(v for i, v in enumerate(value) if v in value[:i])
            raise ConfigError(f"{where}: {twice!r} is given twice in {list(value)}")
        elif keyword == "pattern" and not re.search(arg, value):
            if "message" in keywords or "description" in keywords:  # the rule in words, not the expression
                raise ConfigError(f"{where}: {value!r} is not {keywords.get('message', keywords.get('description'))}")
            raise ConfigError(f"{where}: {value!r} does not match {arg}")
        elif keyword == "not" and set(arg) == {"enum"} and value in arg["enum"]:
            raise ConfigError(f"{where}: {value!r} is reserved ({', '.join(arg['enum'])} are not allowed here)")
        elif keyword in ("minItems", "minProperties") and len(value) < arg:
            noun = where.rsplit(".", 1)[-1].removesuffix("s")  # experiments -> experiment
            raise ConfigError(f"{where}: at least {'one' if arg == 1 else arg} {noun} is needed")
        elif keyword == "propertyNames":
            for key in value:  # a name is said as a value of its mapping: `experiments: '..' is not ...`
                _check_keywords(arg, key, where)
        elif keyword == "enum" and value not in arg:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, arg))}")
        elif keyword not in _KEYWORDS:
            raise TypeError(f"{where}: Schema keyword {keyword!r} is not checked by from_dict")  # a bug in a config class


# ---------------------------------------------------------------------------------------
# Reading config files


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error: PyYAML keeps
    the last value silently, so `steps: 12` followed by `steps: 5` would run 5 steps."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"line {line}: duplicate key {key!r} (first given on line {seen[key]})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | os.PathLike) -> Any:
    """A YAML file's content; errors name the file (and the line, for syntax errors and
    duplicate keys)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def load_config_source(value: str) -> Any:
    """A config given on the command line: inline JSON (as the workflow passes it) or a
    YAML/JSON file."""
    if value.lstrip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ConfigError(f"inline JSON config is not valid JSON ({err})") from None
    return load_yaml(value)
