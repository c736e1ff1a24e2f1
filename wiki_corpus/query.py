"""The constraint language of questions, and its evaluation against a world.

A question is a :class:`Query`: a :class:`Description` picking its starting entity (a name,
or a set of indirect constraints such as "a river port founded in the 1830s whose first
mayor designed a library"), then a path of relations and at most one final attribute.
Resolving a query against the world gives every entity that matches the description and
every answer reachable from them; a well-posed question has exactly one of each.

Evaluation works on numpy masks over the contiguous id block of a kind, so checking a
question costs O(entities of the kinds it mentions), with no per-entity Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wiki_corpus.model import KINDS, Attr, Kind, Rel
from wiki_corpus.wording import format_number
from wiki_corpus.world import World


@dataclass(frozen=True)
class NameIs:
    """The entity's name is exactly ``name``."""

    name: str


@dataclass(frozen=True)
class AttrIs:
    """The entity's attribute equals ``value``."""

    attr: Attr
    value: int | str


@dataclass(frozen=True)
class AttrRange:
    """The entity's numeric attribute lies in [lo, hi] (a decade, a population band)."""

    attr: Attr
    lo: int
    hi: int


@dataclass(frozen=True)
class Related:
    """The entity is linked by ``rel`` to some entity matching ``other``.

    Forward: entity --rel--> other. Inverse: other --rel--> entity.
    """

    rel: Rel
    other: Description
    inverse: bool = False


Cond = NameIs | AttrIs | AttrRange | Related


@dataclass(frozen=True)
class Description:
    """The entities of ``kind`` (any kind when None) that satisfy every condition."""

    kind: Kind | None
    conds: tuple[Cond, ...]


@dataclass(frozen=True)
class Query:
    """Start from the entities a description picks; follow ``path`` (relations, then at most
    one attribute at the end)."""

    start: Description
    path: tuple[Rel | Attr, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What a query denotes in a world."""

    start: tuple[int, ...]
    """Entities matching the start description."""
    ends: tuple[int, ...]
    """Entities reached at the end of the path (empty when it ends with an attribute)."""
    values: tuple[str, ...]
    """Distinct answer strings reached: entity names, or attribute values as pages state them."""


def surface(world: World, e: int, attr: Attr) -> str:
    """An attribute value as pages state it: "1834", "1,234,567", "river port"."""
    value = world.attr(e, attr)
    if value is None:
        return ""
    if attr is Attr.NUMBER:
        return format_number(int(value))
    return str(value)


def members(world: World, desc: Description) -> np.ndarray:
    """Sorted ids of the entities matching a description."""
    kinds = KINDS if desc.kind is None else (desc.kind,)
    found = [_members_of_kind(world, kind, desc.conds) for kind in kinds]
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _members_of_kind(world: World, kind: Kind, conds: tuple[Cond, ...]) -> np.ndarray:
    r = world.ranges[kind]
    mask = np.ones(len(r), dtype=bool)
    for cond in sorted(conds, key=lambda c: not isinstance(c, NameIs)):
        if not mask.any():
            break
        mask &= _mask(world, r, cond)
    return np.nonzero(mask)[0] + r.start


def _mask(world: World, r: range, cond: Cond) -> np.ndarray:  # [len(r)] bool
    block = slice(r.start, r.stop)
    if isinstance(cond, NameIs):
        mask = np.zeros(len(r), dtype=bool)
        ids = [e - r.start for e in world.by_name.get(cond.name, ()) if e in r]
        mask[ids] = True
        return mask
    if isinstance(cond, (AttrIs, AttrRange)):
        column = _column(world, cond.attr)[block]
        if isinstance(cond, AttrRange):
            return (column >= cond.lo) & (column <= cond.hi)
        if cond.attr is Attr.CATEGORY:
            return column == world.code(str(cond.value))
        return column == int(cond.value)
    inner = members(world, cond.other)
    if not cond.inverse:
        return np.isin(world.rels[cond.rel][block], inner)
    objects = world.rels[cond.rel][inner]
    objects = objects[(objects >= r.start) & (objects < r.stop)]
    mask = np.zeros(len(r), dtype=bool)
    mask[objects - r.start] = True
    return mask


def _column(world: World, attr: Attr) -> np.ndarray:
    return {Attr.YEAR: world.year, Attr.NUMBER: world.number, Attr.CATEGORY: world.category}[attr]


def resolve(world: World, query: Query) -> Resolution:
    """Evaluate a query: the start set, the entities reached and the answer strings."""
    start = members(world, query.start).tolist()
    current = start
    for step in query.path:
        if isinstance(step, Rel):
            links = world.links[step]
            current = sorted({links[e] for e in current if links[e] >= 0})
        else:
            values = sorted({surface(world, e, step) for e in current} - {""})
            return Resolution(tuple(start), (), tuple(values))
    names = sorted({world.names[e] for e in current})
    return Resolution(tuple(start), tuple(current), tuple(names))
