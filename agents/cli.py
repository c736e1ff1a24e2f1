"""One command-line convention for every config dataclass of the project.

A config is a frozen dataclass whose fields each carry a one-line docstring right after
them (as in CleanRL). :func:`add_arguments` turns every field into an ``--option`` whose
help is that docstring, typed from the annotation: ``bool`` becomes ``--x/--no-x``, an
enum a choice among its values, ``int | None`` an int whose default is None. A field
whose type is itself such a dataclass (a nested group, e.g. ``stage1: StageSettings``) is
flattened into ``--stage1-steps``, ``--stage1-group-size``, ...; its values are gathered
back by :func:`nest`. ``python -m agents.train`` and ``python -m agents.evaluate`` both
parse this way.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import inspect
import textwrap
import types
import typing
from functools import cache
from typing import Any

SEP = "_"
"""Joins a group's name and its field's name into one flat key: ``stage1_steps``."""


@cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring written right after it in the class body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in zip(body, body[1:]):
        text = getattr(nxt.value, "value", None) if isinstance(nxt, ast.Expr) else None
        named = isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        if named and isinstance(text, str):
            docs[node.target.id] = " ".join(text.split())  # type: ignore[attr-defined]
    return docs


@cache
def field_types(cls: type) -> dict[str, Any]:
    """Field name -> its resolved type; ``X | None`` is given as ``X``."""
    hints = typing.get_type_hints(cls)
    resolved = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        resolved[f.name] = kind
    return resolved


def is_group(kind: Any) -> bool:
    """Whether a field of this type is a nested group of options."""
    return dataclasses.is_dataclass(kind) and isinstance(kind, type)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, *, prefix: str = "", default: Any = None
) -> None:
    """One option per field of ``cls`` (groups flattened); dest is the flat key."""
    docs, kinds = field_docs(cls), field_types(cls)
    for f in dataclasses.fields(cls):
        kind = kinds[f.name]
        value = getattr(default, f.name) if default is not None else _default(f)
        key = f"{prefix}{f.name}"
        if is_group(kind):
            title = "--" + (key + SEP).replace("_", "-") + "*"
            group = parser.add_argument_group(title, docs.get(f.name))
            add_arguments(group, kind, prefix=key + SEP, default=value)  # type: ignore[arg-type]
            continue
        shown = value.value if isinstance(value, enum.Enum) else value
        group = f"{prefix[:-1]}: " if prefix else ""
        help_text = f"{group}{docs.get(f.name, '')} (default: {shown!r})"
        kwargs: dict[str, Any] = {"default": value, "help": help_text, "dest": key}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            kwargs.update(type=kind, choices=list(kind))
            kwargs["metavar"] = "{" + ",".join(m.value for m in kind) + "}"
        else:
            kwargs["type"] = kind
        parser.add_argument("--" + key.replace("_", "-"), **kwargs)


def flat_keys(cls: type) -> dict[str, tuple[str, str | None]]:
    """Flat key -> (field, field of its group or None), for every option of ``cls``."""
    keys: dict[str, tuple[str, str | None]] = {}
    for f in dataclasses.fields(cls):
        kind = field_types(cls)[f.name]
        if is_group(kind):
            for sub in dataclasses.fields(kind):
                keys[f"{f.name}{SEP}{sub.name}"] = (f.name, sub.name)
        else:
            keys[f.name] = (f.name, None)
    return keys


def nest(cls: type, values: dict[str, Any], base: Any = None) -> dict[str, Any]:
    """Constructor arguments of ``cls`` from flat keys (``stage1_steps``), nested groups
    (``stage1={...}`` or an instance) or both; a group's unset fields come from ``base``
    (an instance of ``cls``) or the group's default. Unknown keys are an error."""
    keys, kinds = flat_keys(cls), field_types(cls)
    unknown = sorted(k for k in values if k not in keys and k not in kinds)
    if unknown:
        raise ValueError(f"Expected {cls.__name__} fields, got unknown keys {unknown}.")
    out: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        name, sub = keys.get(key, (key, None))
        if sub is not None:
            groups.setdefault(name, {})[sub] = value
        elif is_group(kinds[name]) and isinstance(value, dict):
            groups.setdefault(name, {}).update(value)
        else:
            out[name] = value
    for name, changes in groups.items():
        start = out.get(name)
        if start is None:
            field = next(f for f in dataclasses.fields(cls) if f.name == name)
            start = getattr(base, name) if base is not None else _default(field)
        out[name] = dataclasses.replace(start, **changes)
    return out


def flatten(obj: Any) -> dict[str, Any]:
    """Flat key -> JSON-ready value (enums as their values) of a config instance."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            flat.update({f"{f.name}{SEP}{k}": v for k, v in flatten(value).items()})
        else:
            flat[f.name] = value.value if isinstance(value, enum.Enum) else value
    return flat


def as_dict(obj: Any) -> dict[str, Any]:
    """Nested JSON-ready dict (enums as their values) of a config instance."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = as_dict(value)
        else:
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return out


def coerce_enums(obj: Any) -> None:
    """Turn enum-typed fields given as their values into members (in __post_init__)."""
    for name, kind in field_types(type(obj)).items():
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            value = getattr(obj, name)
            if value is not None:
                object.__setattr__(obj, name, kind(value))
