"""The world model: a column store of entities with typed attributes and relations.

Entities are numbered 0..E-1 in contiguous blocks, one per :class:`~wiki_corpus.model.Kind`
(in ``KINDS`` order), so "all cities" is a ``range`` and per-kind filters are slices of
numpy arrays. Columns: ``year`` (int32), ``number`` (int64, -1 when the kind has none),
``category`` (int16 codes into ``vocab``) and one int32 array per relation (-1 when the
entity has no such relation). Names need not be unique (namesakes are deliberate);
titles are. Python-list views and inverse indexes are built lazily and cached, which keeps
generation vectorised and rendering and question building free of numpy scalar overhead.

The world is built by :func:`wiki_corpus.worldgen.build_world`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from wiki_corpus.model import KINDS, Attr, Kind, Rel
from wiki_corpus.schema import title_to_url


@dataclass(frozen=True)
class Entity:
    """A read-only view of one entity."""

    id: int
    kind: Kind
    name: str
    title: str
    year: int
    category: str
    number: int | None


@dataclass
class World:
    """All entities of a generated world, as columns."""

    seed: int
    ranges: dict[Kind, range]
    names: list[str]
    titles: list[str]
    year: np.ndarray  # [E] int32
    number: np.ndarray  # [E] int64, -1 = none
    category: np.ndarray  # [E] int16 codes into vocab
    vocab: tuple[str, ...]
    rels: dict[Rel, np.ndarray]  # each [E] int32, -1 = none
    _inverse: dict[Rel, dict[int, list[int]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    # -- per-entity access ------------------------------------------------------------
    @cached_property
    def kinds(self) -> list[Kind]:
        """The kind of every entity, indexed by id."""
        out: list[Kind] = []
        for kind in KINDS:
            out.extend([kind] * len(self.ranges[kind]))
        return out

    @cached_property
    def years(self) -> list[int]:
        return self.year.tolist()

    @cached_property
    def numbers(self) -> list[int]:
        return self.number.tolist()

    @cached_property
    def categories(self) -> list[str]:
        vocab = self.vocab
        return [vocab[c] for c in self.category.tolist()]

    @cached_property
    def links(self) -> dict[Rel, list[int]]:
        """Every relation as a Python list, indexed by subject id."""
        return {rel: arr.tolist() for rel, arr in self.rels.items()}

    @cached_property
    def urls(self) -> list[str]:
        return [title_to_url(t) for t in self.titles]

    @cached_property
    def anchors(self) -> list[str]:
        """``<a href>`` markup for every entity, text = its name (escaped once, reused)."""
        esc = html.escape
        return [f'<a href="{esc(u)}">{esc(n)}</a>' for u, n in zip(self.urls, self.names)]

    def entity(self, e: int) -> Entity:
        number = self.numbers[e]
        return Entity(
            id=e,
            kind=self.kinds[e],
            name=self.names[e],
            title=self.titles[e],
            year=self.years[e],
            category=self.categories[e],
            number=None if number < 0 else number,
        )

    def attr(self, e: int, attr: Attr) -> int | str | None:
        """The raw value of one attribute (None when the entity's kind has none)."""
        if attr is Attr.YEAR:
            return self.years[e]
        if attr is Attr.CATEGORY:
            return self.categories[e]
        number = self.numbers[e]
        return None if number < 0 else number

    def link(self, e: int, rel: Rel) -> int:
        """The object of ``rel`` for subject ``e``, or -1."""
        return self.links[rel][e]

    # -- indexes ------------------------------------------------------------------------
    def inverse(self, rel: Rel) -> dict[int, list[int]]:
        """Object id -> subject ids (ascending) for one relation."""
        if rel not in self._inverse:
            index: dict[int, list[int]] = {}
            for subject, obj in enumerate(self.links[rel]):
                if obj >= 0:
                    index.setdefault(obj, []).append(subject)
            self._inverse[rel] = index
        return self._inverse[rel]

    @cached_property
    def by_name(self) -> dict[str, list[int]]:
        """Name -> entity ids; lists longer than one are namesakes."""
        index: dict[str, list[int]] = {}
        for e, name in enumerate(self.names):
            index.setdefault(name, []).append(e)
        return index

    def namesakes(self, e: int) -> list[int]:
        """Other entities with exactly the same name."""
        return [o for o in self.by_name[self.names[e]] if o != e]

    @cached_property
    def near_names(self) -> dict[int, int]:
        """Person -> person whose name differs only by the surname's ending (both ways)."""
        out: dict[int, int] = {}
        people = self.ranges[Kind.PERSON]
        by_name = self.by_name
        for e in people:
            given, _, surname = self.names[e].partition(" ")
            for cut in (1, 2):
                base = f"{given} {surname[:-cut]}" if len(surname) > cut + 2 else ""
                for other in by_name.get(base, ()):
                    if other in people and other != e:
                        out[e] = other
                        out[other] = e
        return out

    @cached_property
    def by_kind_year(self) -> dict[tuple[Kind, int], list[int]]:
        """(kind, year) -> ids: entities sharing a year, for distractor mentions."""
        index: dict[tuple[Kind, int], list[int]] = {}
        for e, (kind, year) in enumerate(zip(self.kinds, self.years)):
            index.setdefault((kind, year), []).append(e)
        return index

    def ids(self, kind: Kind) -> range:
        return self.ranges[kind]

    def code(self, category: str) -> int:
        """The vocab code of a category string (-1 when unknown)."""
        try:
            return self.vocab.index(category)
        except ValueError:
            return -1
