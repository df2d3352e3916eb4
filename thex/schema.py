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

from thex.config import _EXPONENT_FLOAT, Overrides, Schema

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
                    extra.update(mark.keywords)
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
