"""The JSON schema of a config, derived from its dataclasses (thex/config.py).

The dataclasses are the one definition of every config: `from_dict` builds them strictly,
and this module turns the same type hints into the JSON schema that Snakemake validates
the workflow config against (workflow/schemas/config.schema.yaml, written by
`python -m thex schema`; a test checks that the committed file is this output). Rules on
one value that a type cannot say (bounds, patterns, allowed names, no value twice) are
`Schema` marks, declared once and checked by `from_dict` too; rules between values (names
that must exist, one budget of two) are the classes' `check()` and cannot be said here.
"""

from __future__ import annotations

import ast
import collections.abc
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
import types
import typing
from typing import Any

from thex.config import _EXPONENT_FLOAT, Keyed, Overrides, Schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# YAML 1.1 (PyYAML) reads `1e-3` and `4e6` as strings; from_dict takes them as numbers.
_EXPONENT_STRING = {"type": "string", "pattern": _EXPONENT_FLOAT.pattern}
_SCALARS = {
    int: ("integer", {"anyOf": [{"type": "integer"}, _EXPONENT_STRING]}),
    float: ("number", {"anyOf": [{"type": "number"}, _EXPONENT_STRING]}),
}


class SchemaBuilder:
    """Schemas of config types; each dataclass (and its overrides form) is written once,
    under `$defs`, and referred to wherever it is used."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def document(self, tp: Any) -> dict[str, Any]:
        """A complete schema document for type `tp`."""
        body = self._object_body((tp,), partial=False, exclude=())
        return {"$schema": DIALECT, **body, "$defs": dict(sorted(self.defs.items()))}

    def schema(self, tp: Any, partial: bool = False) -> dict[str, Any]:
        """The schema of values `from_dict` accepts for type `tp`. With `partial`, a
        dataclass's keys are all optional, at every depth (overrides merged onto a base)."""
        extra: dict[str, Any] = {}
        if typing.get_origin(tp) is typing.Annotated:
            tp, *marks = typing.get_args(tp)
            for mark in marks:
                if isinstance(mark, Overrides):
                    return self._object(mark.classes, partial=True, exclude=mark.exclude)
                if isinstance(mark, Schema):
                    keywords = dict(mark.keywords)
                    extra.update(keywords.pop("jsonSchema", keywords))  # a mark may say what the JSON schema says instead
                    extra.pop("message", None)
        return {**self._plain(tp, partial), **extra}

    def _plain(self, tp: Any, partial: bool) -> dict[str, Any]:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any:
            return {}
        if dataclasses.is_dataclass(tp):
            return self._object((tp,), partial)
        if origin in (typing.Union, types.UnionType):
            arms = [self.schema(a, partial) for a in args if a is not type(None)]
            if type(None) in args:
                arms.append({"type": "null"})
            return arms[0] if len(arms) == 1 else {"anyOf": arms}
        if origin is typing.Literal:
            return {"enum": list(args)}
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.schema(args[0], partial)}
            items = [self.schema(a, partial) for a in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if origin in (dict, collections.abc.Mapping) or tp is dict:
            return {"type": "object", "additionalProperties": self.schema(args[1] if args else Any, partial)}
        if tp in _SCALARS:
            name, body = _SCALARS[tp]
            return self._ref(name, lambda: body)
        if tp is bool:
            return {"type": "boolean"}
        if tp is str:
            return {"type": "string"}
        raise TypeError(f"no JSON schema for config type {tp}")  # a bug in a config class

    def _ref(self, name: str, build) -> dict[str, Any]:
        if name not in self.defs:
            self.defs[name] = None  # placeholder: a class may refer to itself
            self.defs[name] = build()
        return {"$ref": f"#/$defs/{name}"}

    def _object(self, classes: tuple[type, ...], partial: bool, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        name = "+".join(cls.__name__ for cls in classes) + ("Overrides" if partial else "")
        return self._ref(name, lambda: self._object_body(classes, partial, exclude))

    def _object_body(self, classes: tuple[type, ...], partial: bool, exclude: tuple[str, ...]) -> dict[str, Any]:
        """An object with the keys of `classes` (one class, or the union of several)."""
        body: dict[str, Any] = {"type": "object"}
        names = " and ".join(cls.__name__ for cls in classes)
        doc = (classes[0].__doc__ or "").strip()
        if partial:
            body["description"] = f"keys of {names}, merged onto a base config (all optional)"
        elif doc and not doc.startswith(classes[0].__name__ + "("):  # not the dataclass's generated signature
            body["description"] = " ".join(doc.split("\n\n")[0].split())
        body["additionalProperties"] = False
        body["properties"], required = {}, []
        for cls in classes:
            hints = typing.get_type_hints(cls, include_extras=True)
            for f in dataclasses.fields(cls):
                if f.init and f.name not in exclude:
                    body["properties"][f.name] = self.schema(hints[f.name], partial)
                    comment = field_comments(cls).get(f.name)
                    if comment:
                        body["properties"][f.name] = {"description": comment, **body["properties"][f.name]}
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                        required.append(f.name)
        if required and not partial:
            body["required"] = required
        return body


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """The comment of each field of dataclass `cls`, as written in its source: the comment
    lines just above the field, or the comment at the end of its line."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    found = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above, line = [], node.lineno - 1
            while line in comments and lines[line - 1].lstrip().startswith("#"):  # a comment line of its own
                above.insert(0, comments[line])
                line -= 1
            text = " ".join(above) or comments.get(node.end_lineno, "")
            if text:
                found[node.target.id] = text
    return found


def workflow_schema() -> dict[str, Any]:
    """The schema of a workflow config (config/*.yaml)."""
    from thex.experiments import WorkflowConfig

    return SchemaBuilder().document(WorkflowConfig)


def workflow_schema_yaml() -> str:
    """`workflow_schema()` as the YAML file the workflow validates with."""
    import yaml

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    header = "# Generated by `python -m thex schema` from the config classes (thex/schema.py): do not edit.\n"
    return header + yaml.dump(workflow_schema(), Dumper=NoAliases, sort_keys=False, width=100, allow_unicode=True)


# ---------------------------------------------------------------------------------------
# config/README.md: every key of every section, from the same classes and comments

_RULES = {"minimum": ">= {}", "exclusiveMinimum": "> {}", "maximum": "<= {}", "exclusiveMaximum": "< {}"}


def _rule_text(keywords: dict[str, Any]) -> list[str]:
    rules = [template.format(keywords[k]) for k, template in _RULES.items() if k in keywords]
    if "pattern" in keywords:
        rules.append(keywords.get("description", f"matches `{keywords['pattern']}`"))
    if "enum" in keywords:
        rules.append("one of " + ", ".join(map(str, keywords["enum"])))
    if keywords.get("minItems") == 1 or keywords.get("minProperties") == 1:
        rules.append("at least one")
    if keywords.get("uniqueItems"):
        rules.append("no value twice")
    if "propertyNames" in keywords:
        names = keywords["propertyNames"]
        rules.append("names: " + "; ".join(_rule_text(names) + ([f"not {', '.join(names['not']['enum'])}"] if "not" in names else [])))
    return rules


def _type_text(tp: Any, rules: list[str]) -> str:
    """A config type in words; its Schema rules are appended to `rules`."""
    if typing.get_origin(tp) is typing.Annotated:
        tp, *marks = typing.get_args(tp)
        for mark in marks:
            if isinstance(mark, Overrides):
                return "overrides: any keys of " + " and ".join(f"[{c.__name__}](#{_anchor(c)})" for c in mark.classes)
            if isinstance(mark, Keyed):
                return "mapping: registered mixer name -> its settings"
            if isinstance(mark, Schema):
                rules += _rule_text(dict(mark.keywords))
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return f"[{tp.__name__}](#{_anchor(tp)})"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_text(a, rules) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list of {_type_text(args[0], rules)}"
        return "[" + ", ".join(_type_text(a, []) for a in args) + "]"
    if origin in (dict, collections.abc.Mapping) or tp is dict:
        return f"mapping: name -> {_type_text(args[1], rules) if args else 'any'}"
    return {int: "integer", float: "number", bool: "true/false", str: "string", Any: "any"}.get(tp, str(tp))


def _anchor(cls: type) -> str:
    return cls.__name__.lower()


def _default_text(f: dataclasses.Field) -> str:
    import yaml

    from thex.config import to_dict

    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        return "required"
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return "`" + yaml.safe_dump(to_dict(value), default_flow_style=True, width=1000).strip().removesuffix("...").strip() + "`"


def config_reference_markdown() -> str:
    """config/README.md: what every config key is, its type, bounds and default."""
    from thex.datasets import DatasetConfig, SplitConfig
    from thex.experiments import RESERVED_NAMES, ExperimentConfig, Headline, Probes, Sweep, WorkflowConfig
    from thex.languages.generate import ListOpsConfig, ProgramConfig
    from thex.models.config import HyenaSettings, ModelConfig
    from thex.run_config import TrainConfig

    sections = [
        (WorkflowConfig, "the top level of a config file", ()),
        (Sweep, "`sweep:` (top level, or `experiments.NAME.sweep`, key by key)", ()),
        (Probes, "`probes:`", ()),
        (Headline, "`headline.NAME:` one headline setting", ()),
        (ExperimentConfig, "`experiments.NAME:` one experiment", ()),
        (ModelConfig, "`model:` (top level, or `experiments.NAME.model`)", ("vocab_size",)),
        (HyenaSettings, "`model.mixers.hyena:`", ()),
        (TrainConfig, "`training:` (top level, `training_by_arch.ARCH`, or `experiments.NAME.training`)", ()),
        (DatasetConfig, "`experiments.NAME.data:` a dataset (conditions override its keys)", ()),
        (ProgramConfig, "`data.programs:` LoLa/MeMe programs (docs/languages.md)", ()),
        (ListOpsConfig, "`data.listops:` ListOps expressions", ()),
        (SplitConfig, "`data.splits.NAME:` one split (beside any generator key it overrides)", ("overrides",)),
    ]
    out = [
        "# Config reference",
        "",
        "Generated by `python -m thex schema --docs config/README.md` from the config classes and their",
        "comments (thex/schema.py); a test checks this file is current. Do not edit it by hand.",
        "",
        "A config is a YAML file given with `snakemake --configfile FILE` (the default is",
        "`config/config.yaml`). Every key below is checked before any job runs: a key that is not",
        "here, a value of the wrong type or out of its bounds, is one line naming it (with the",
        "nearest valid key for a misspelling). Beyond the bounds listed: every integer must fit 64",
        "bits and every number float32 (not infinite, not so small it rounds to 0); a job whose",
        "estimated memory exceeds both `mem_mb` and the machine's memory (a GPU's 80 GB with `gpus`) is refused with the figure; names",
        "of experiments and conditions become folders, so they cannot start with a dot, and",
        ", ".join(f"`{name}`" for name in RESERVED_NAMES) + " are reserved. `1e-3` and `4e6` are read as numbers.",
        "",
        "Sections: " + ", ".join(f"[{cls.__name__}](#{_anchor(cls)})" for cls, _, _ in sections) + ".",
    ]
    for cls, where, exclude in sections:
        doc = (cls.__doc__ or "").strip()
        doc = "" if doc.startswith(cls.__name__ + "(") else " ".join(doc.split("\n\n")[0].split())
        out += ["", f"## {cls.__name__}", "", where + (f": {doc}" if doc else ""), "",
                "| key | type | default | meaning |", "|---|---|---|---|"]  # fmt: skip
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if not f.init or f.name in exclude:
                continue
            rules: list[str] = []
            text = _type_text(hints[f.name], rules)
            if rules:
                text += " (" + "; ".join(dict.fromkeys(rules)) + ")"
            meaning = field_comments(cls).get(f.name, "")
            out.append(f"| `{f.name}` | {text.replace('|', '/')} | {_default_text(f).replace('|', '/')} | {meaning.replace('|', '/')} |")
    return "\n".join(out) + "\n"
