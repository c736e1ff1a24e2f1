"""Generate a fictional world from a seed, in O(n) vectorised numpy steps.

:func:`plan_sizes` turns a page budget into entity counts per kind (a fixed share each) and
a number of namesake pairs, each of which also gets a disambiguation page, so that
entities + disambiguation pages = pages exactly. :func:`build_world` then fills the
columns kind by kind, keeping dates plausible (people are born after their birthplace was
founded, works appear after their creator came of age, a city's first mayor was born
before it was founded) and plants deliberate ambiguity:

* namesakes: pairs of people with one name and different occupations, pairs of works of
  different kinds with one title, pairs of cities with one name in different countries;
  their titles carry a disambiguator ("Orlan Vesk (architect)", "Glass Harbour (film)",
  "Tarsel, Vandoria");
* near-namesakes: people whose surname differs only by its ending ("Vesk" / "Veske");
* shared attributes: many entities share a year, a genre or a city by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wiki_corpus import model as m
from wiki_corpus.model import KINDS, Kind, Rel
from wiki_corpus.names import (
    ADJECTIVES,
    AWARD_PATTERNS,
    BAND_PATTERNS,
    BUILDING_PATTERNS,
    COMPANY_SUFFIXES,
    MASCOTS,
    NOUNS,
    TEAM_PATTERNS,
    UNIVERSITY_PATTERNS,
    WORK_PATTERNS,
    NameBook,
    near_variant,
    plural,
)
from wiki_corpus.wording import KIND_NOUN
from wiki_corpus.world import World

K = Kind
MIN_PAGES = 100
LAST_YEAR = 2024

SHARES: dict[Kind, float] = {
    K.COUNTRY: 0.012,
    K.CITY: 0.08,
    K.PERSON: 0.418,
    K.UNIVERSITY: 0.03,
    K.COMPANY: 0.06,
    K.BAND: 0.035,
    K.TEAM: 0.035,
    K.BOOK: 0.08,
    K.FILM: 0.07,
    K.ALBUM: 0.05,
    K.BUILDING: 0.07,
    K.EVENT: 0.04,
    K.AWARD: 0.02,
}
"""Share of entities of each kind; people take whatever rounding leaves."""

GENERAL_OCCUPATIONS: dict[str, float] = {
    "novelist": 0.08,
    "film director": 0.07,
    "architect": 0.08,
    "musician": 0.12,  # replaced by a role in a band
    "athlete": 0.10,  # replaced by the player of a team's sport
    "entrepreneur": 0.08,
    "chess player": 0.03,
    "long-distance runner": 0.03,
    "pianist": 0.03,
    "politician": 0.04,
    **{occ: 0.29 / len(m.OCCUPATIONS_OTHER) for occ in m.OCCUPATIONS_OTHER},
}
REQUIRED_OCCUPATIONS = (
    "novelist",
    "film director",
    "architect",
    "musician",
    "athlete",
    "entrepreneur",
    "chess player",
    "long-distance runner",
    "pianist",
)
CHIEF_SHARE = 0.4
BUILDING_HEIGHTS = {"tower": (60, 420), "cathedral": (40, 150), "bridge": (15, 120)}


@dataclass(frozen=True)
class Sizes:
    """Entity counts per kind and namesake pairs for a page budget."""

    pages: int
    counts: dict[Kind, int]
    person_pairs: int
    work_pairs: int
    city_pairs: int
    near_pairs: int

    @property
    def disambiguation_pages(self) -> int:
        return self.person_pairs + self.work_pairs + self.city_pairs

    @property
    def chiefs(self) -> int:
        return int(self.counts[K.COMPANY] * CHIEF_SHARE)


def plan_sizes(n_pages: int) -> Sizes:
    """Split a page budget into entity counts and namesake pairs (see module docstring)."""
    if not isinstance(n_pages, int) or n_pages < MIN_PAGES:
        raise ValueError(
            f"Expected a number of pages of at least {MIN_PAGES} (one page of every kind "
            f"and room for namesakes), got {n_pages!r}."
        )
    pairs = max(1, n_pages // 100)
    entities = n_pages - pairs
    counts = {
        kind: max(2 if kind is K.COUNTRY else 1, int(entities * s)) for kind, s in SHARES.items()
    }
    counts[K.PERSON] += entities - sum(counts.values())
    city_pairs = pairs // 5
    work_pairs = (3 * pairs) // 10
    return Sizes(
        pages=n_pages,
        counts=counts,
        person_pairs=pairs - city_pairs - work_pairs,
        work_pairs=work_pairs,
        city_pairs=city_pairs,
        near_pairs=max(1, n_pages // 100),
    )


def build_world(n_pages: int, seed: int) -> World:
    """A deterministic world whose entities and disambiguation pages number ``n_pages``."""
    sizes = plan_sizes(n_pages)
    return _Builder(sizes, seed).build()


class _Builder:
    """Fills the world's columns one kind at a time; each step is vectorised."""

    def __init__(self, sizes: Sizes, seed: int) -> None:
        self.sizes = sizes
        self.seed = seed
        self.rng = np.random.default_rng([seed, 0x57A7])
        start = 0
        self.ranges: dict[Kind, range] = {}
        for kind in KINDS:
            self.ranges[kind] = range(start, start + sizes.counts[kind])
            start += sizes.counts[kind]
        self.n = start
        self.year = np.zeros(self.n, np.int32)
        self.number = np.full(self.n, -1, np.int64)
        self.cat = np.empty(self.n, dtype=object)
        self.rels = {rel: np.full(self.n, -1, np.int32) for rel in Rel}

    def build(self) -> World:
        self._countries()
        self._cities()
        self._universities()
        self._bands()
        self._teams()
        self._people()
        self._companies()
        self._birthplaces_and_education()
        self._works()
        self._buildings()
        self._events()
        self._awards()
        self._stadiums()
        names, titles = _Namer(self).names_and_titles()
        vocab = tuple(sorted(set(self.cat.tolist())))
        codes = {c: i for i, c in enumerate(vocab)}
        category = np.array([codes[c] for c in self.cat.tolist()], dtype=np.int16)
        return World(
            seed=self.seed,
            ranges=self.ranges,
            names=names,
            titles=titles,
            year=self.year,
            number=self.number,
            category=category,
            vocab=vocab,
            rels=self.rels,
        )

    # -- helpers ----------------------------------------------------------------------
    def ids(self, kind: Kind) -> np.ndarray:
        r = self.ranges[kind]
        return np.arange(r.start, r.stop)

    def uniform(self, lo: int | np.ndarray, hi: int | np.ndarray, n: int) -> np.ndarray:
        """Integers in [lo, hi] (inclusive; bounds may be arrays)."""
        lo = np.asarray(lo)
        span = np.maximum(np.asarray(hi) - lo + 1, 1)
        return (lo + np.floor(self.rng.random(n) * span)).astype(np.int64)

    def choice(self, options: tuple[str, ...] | list[str], n: int) -> np.ndarray:
        return np.asarray(options, dtype=object)[self.rng.integers(0, len(options), n)]

    def pick_before(
        self, cands: np.ndarray, years: np.ndarray, allow_none: bool = False
    ) -> np.ndarray:
        """For each target year, a random candidate whose own year is earlier.

        With no earlier candidate, the oldest one is used (or -1 if ``allow_none``).
        """
        if len(cands) == 0:
            return np.full(len(years), -1, np.int64)
        order = np.argsort(self.year[cands], kind="stable")
        sorted_years = self.year[cands][order]
        k = np.searchsorted(sorted_years, years, side="left")
        idx = np.floor(self.rng.random(len(years)) * np.maximum(k, 1)).astype(np.int64)
        picked = cands[order][idx]
        if allow_none:
            picked = np.where(k > 0, picked, -1)
        return picked

    def with_category(self, kind: Kind, category: str) -> np.ndarray:
        ids = self.ids(kind)
        return ids[self.cat[ids] == category]

    # -- places -------------------------------------------------------------------------
    def _countries(self) -> None:
        ids = self.ids(K.COUNTRY)
        self.year[ids] = self.uniform(1640, 1995, len(ids))
        self.cat[ids] = self.choice(m.GOVERNMENTS, len(ids))

    def _cities(self) -> None:
        ids, countries = self.ids(K.CITY), self.ids(K.COUNTRY)
        n, nc = len(ids), len(countries)
        country = np.concatenate([countries, self.rng.choice(countries, max(0, n - nc))])[:n]
        self.rels[Rel.COUNTRY][ids] = country
        self.rels[Rel.CAPITAL][countries[: min(n, nc)]] = ids[:nc]
        self.year[ids] = self.uniform(1100, 1950, n)
        self.cat[ids] = self.choice(m.CITY_TYPES, n)
        population = np.maximum(300, self.rng.lognormal(9.6, 1.1, n)).astype(np.int64)
        population[:nc] *= 4
        self.number[ids] = population
        totals = np.bincount(country - countries[0], weights=population, minlength=nc)
        self.number[countries] = (totals * self.rng.uniform(2.0, 4.0, nc)).astype(np.int64)

    # -- organisations ---------------------------------------------------------------------
    def _universities(self) -> None:
        ids = self.ids(K.UNIVERSITY)
        self.year[ids] = self.uniform(1150, 1965, len(ids))
        self.cat[ids] = self.choice(m.UNIVERSITY_TYPES, len(ids))
        self.rels[Rel.LOCATION][ids] = self.pick_before(self.ids(K.CITY), self.year[ids])
        self.number[ids] = np.maximum(200, self.rng.lognormal(8.6, 0.8, len(ids))).astype(int)

    def _bands(self) -> None:
        ids = self.ids(K.BAND)
        self.year[ids] = self.uniform(1955, 2020, len(ids))
        self.cat[ids] = self.choice(m.MUSIC_GENRES, len(ids))
        self.rels[Rel.LOCATION][ids] = self.pick_before(self.ids(K.CITY), self.year[ids])

    def _teams(self) -> None:
        ids = self.ids(K.TEAM)
        self.year[ids] = self.uniform(1860, 1995, len(ids))
        self.cat[ids] = self.choice(tuple(m.SPORT_PLAYERS), len(ids))
        self.rels[Rel.LOCATION][ids] = self.pick_before(self.ids(K.CITY), self.year[ids])
        self.number[ids] = np.floor(self.rng.exponential(4.0, len(ids))).astype(np.int64)

    def _companies(self) -> None:
        ids = self.ids(K.COMPANY)
        n = len(ids)
        founders = self.with_category(K.PERSON, "entrepreneur")
        founder = self.rng.choice(founders, n)
        self.rels[Rel.FOUNDER][ids] = founder
        self.year[ids] = np.minimum(self.year[founder] + self.uniform(22, 50, n), LAST_YEAR - 1)
        industries = self.choice(m.INDUSTRIES, n)
        industries[:3] = m.INDUSTRIES[: min(3, n)]
        self.cat[ids] = industries
        self.rels[Rel.LOCATION][ids] = self.pick_before(self.ids(K.CITY), self.year[ids])
        self.number[ids] = np.maximum(5, self.rng.lognormal(5.5, 1.6, n)).astype(np.int64)
        chiefs = self.chief_ids
        led = np.sort(self.rng.choice(ids, len(chiefs), replace=False))
        self.rels[Rel.CHIEF][led] = chiefs
        self.rels[Rel.PREDECESSOR][chiefs] = self.rels[Rel.FOUNDER][led]
        born = self.year[self.rels[Rel.FOUNDER][led]] + self.uniform(15, 40, len(chiefs))
        self.year[chiefs] = np.minimum(born, 2000)

    # -- people -----------------------------------------------------------------------------
    @property
    def chief_ids(self) -> np.ndarray:
        start = self.ranges[K.PERSON].start + len(self.ranges[K.CITY])
        return np.arange(start, start + self.sizes.chiefs)

    def _people(self) -> None:
        people, cities = self.ids(K.PERSON), self.ids(K.CITY)
        mayors, chiefs = people[: len(cities)], self.chief_ids
        general = people[len(cities) + len(chiefs) :]
        names = tuple(GENERAL_OCCUPATIONS)
        weights = np.array([GENERAL_OCCUPATIONS[o] for o in names])
        occ = np.asarray(names, dtype=object)[
            self.rng.choice(len(names), len(general), p=weights / weights.sum())
        ]
        occ[: len(REQUIRED_OCCUPATIONS)] = REQUIRED_OCCUPATIONS[: len(general)]
        self.cat[mayors], self.cat[chiefs], self.cat[general] = (
            "politician",
            "business executive",
            occ,
        )
        self.rels[Rel.MAYOR][cities] = mayors
        self.year[mayors] = self.year[cities] - self.uniform(25, 60, len(cities))
        self.year[general] = self.uniform(1780, 1990, len(general))
        self._musicians(general[occ == "musician"])
        self._athletes(general[occ == "athlete"])

    def _musicians(self, ids: np.ndarray) -> None:
        bands = self.ids(K.BAND)
        band = self.rng.choice(bands, len(ids))
        self.rels[Rel.MEMBER_OF][ids] = band
        self.year[ids] = self.year[band] - self.uniform(17, 30, len(ids))
        self.cat[ids] = self.choice(m.MUSICIAN_ROLES, len(ids))

    def _athletes(self, ids: np.ndarray) -> None:
        team = self.rng.choice(self.ids(K.TEAM), len(ids))
        self.rels[Rel.PLAYS_FOR][ids] = team
        self.year[ids] = self.uniform(np.maximum(self.year[team] - 15, 1840), 2004, len(ids))
        self.cat[ids] = np.asarray([m.SPORT_PLAYERS[s] for s in self.cat[team]], dtype=object)

    def _birthplaces_and_education(self) -> None:
        people = self.ids(K.PERSON)
        self.rels[Rel.BIRTHPLACE][people] = self.pick_before(self.ids(K.CITY), self.year[people])
        studied = people[self.rng.random(len(people)) < 0.55]
        unis = self.pick_before(self.ids(K.UNIVERSITY), self.year[studied] + 18, allow_none=True)
        self.rels[Rel.EDUCATION][studied] = unis

    # -- works ------------------------------------------------------------------------------
    def _works(self) -> None:
        self._creations(K.BOOK, "novelist", (22, 70), 1500, m.BOOK_GENRES, (96, 960))
        self._creations(K.FILM, "film director", (25, 70), 1905, m.FILM_GENRES, (72, 195))
        self._publish(K.BOOK, "publishing house", 0.85)
        self._publish(K.FILM, "film studio", 0.8)
        ids = self.ids(K.ALBUM)
        band = self.rng.choice(self.ids(K.BAND), len(ids))
        self.rels[Rel.CREATOR][ids] = band
        self.year[ids] = np.minimum(self.year[band] + self.uniform(0, 30, len(ids)), LAST_YEAR)
        self.cat[ids] = self.cat[band]
        self.number[ids] = self.uniform(6, 20, len(ids))
        self._publish(K.ALBUM, "record label", 0.85)

    def _creations(
        self,
        kind: Kind,
        occupation: str,
        age: tuple[int, int],
        first_year: int,
        genres: tuple[str, ...],
        numbers: tuple[int, int],
    ) -> None:
        ids = self.ids(kind)
        creator = self.rng.choice(self.with_category(K.PERSON, occupation), len(ids))
        self.rels[Rel.CREATOR][ids] = creator
        year = self.year[creator] + self.uniform(age[0], age[1], len(ids))
        self.year[ids] = np.clip(year, first_year, LAST_YEAR)
        self.cat[ids] = self.choice(genres, len(ids))
        self.number[ids] = self.uniform(numbers[0], numbers[1], len(ids))

    def _publish(self, kind: Kind, industry: str, share: float) -> None:
        ids = self.ids(kind)
        ids = ids[self.rng.random(len(ids)) < share]
        houses = self.with_category(K.COMPANY, industry)
        self.rels[Rel.PUBLISHER][ids] = self.pick_before(houses, self.year[ids] + 1, True)

    def _buildings(self) -> None:
        ids = self.ids(K.BUILDING)
        n = len(ids)
        architect = self.rng.choice(self.with_category(K.PERSON, "architect"), n)
        self.rels[Rel.CREATOR][ids] = architect
        self.year[ids] = np.minimum(self.year[architect] + self.uniform(28, 75, n), LAST_YEAR)
        kinds = self.choice(m.BUILDING_TYPES, n)
        self.cat[ids] = kinds
        self.rels[Rel.LOCATION][ids] = self.pick_before(self.ids(K.CITY), self.year[ids])
        lo = np.array([BUILDING_HEIGHTS.get(k, (12, 60))[0] for k in kinds])
        hi = np.array([BUILDING_HEIGHTS.get(k, (12, 60))[1] for k in kinds])
        self.number[ids] = self.uniform(lo, hi, n)

    # -- events and awards -----------------------------------------------------------------
    def _events(self) -> None:
        ids = self.ids(K.EVENT)
        n = len(ids)
        types = self.choice(tuple(m.EVENT_TYPES), n)
        self.cat[ids] = types
        city = self.rng.choice(self.ids(K.CITY), n)
        self.rels[Rel.LOCATION][ids] = city
        self.year[ids] = self.uniform(np.maximum(self.year[city], 1880), LAST_YEAR, n)
        big = types == "marathon"
        self.number[ids] = np.where(big, self.uniform(500, 40000, n), self.uniform(12, 300, n))
        for kind, occupation in m.EVENT_TYPES.items():
            sel = ids[types == kind]
            self.rels[Rel.WINNER][sel] = self._winners(occupation, self.year[sel])

    def _winners(self, occupation: str, years: np.ndarray) -> np.ndarray:
        """People of an occupation aged 16 to 45 in each year (the nearest age otherwise)."""
        pool = self.with_category(K.PERSON, occupation)
        if len(pool) == 0:
            return np.full(len(years), -1, np.int64)
        pool = pool[np.argsort(self.year[pool], kind="stable")]
        births = self.year[pool]
        lo = np.searchsorted(births, years - 45, side="left")
        hi = np.searchsorted(births, years - 16, side="right")
        idx = lo + np.floor(self.rng.random(len(years)) * np.maximum(hi - lo, 1)).astype(int)
        return pool[np.clip(idx, 0, len(pool) - 1)]

    def _awards(self) -> None:
        ids = self.ids(K.AWARD)
        presenters = np.concatenate([self.ids(K.COMPANY), self.ids(K.UNIVERSITY)])
        presenter = self.rng.choice(presenters, len(ids))
        self.rels[Rel.PRESENTER][ids] = presenter
        year = self.year[presenter] + self.uniform(3, 80, len(ids))
        self.year[ids] = np.minimum(year, LAST_YEAR - 2)
        fields = self.choice(m.AWARD_FIELDS, len(ids))
        fields[: len(m.AWARD_FIELDS)] = m.AWARD_FIELDS[: len(ids)]
        self.cat[ids] = fields
        people = self.ids(K.PERSON)
        winners = people[self.rng.random(len(people)) < 0.15]
        fields_of = np.asarray([m.FIELD_OF_OCCUPATION.get(c, "") for c in self.cat[winners]])
        for field_name in m.AWARD_FIELDS:
            pool = ids[fields == field_name]
            if len(pool) == 0:
                continue
            sel = winners[fields_of == field_name]
            self.rels[Rel.AWARD][sel] = self.rng.choice(pool, len(sel))

    def _stadiums(self) -> None:
        stadiums = self.with_category(K.BUILDING, "stadium")
        by_city: dict[int, int] = {}
        for b, city in zip(stadiums.tolist(), self.rels[Rel.LOCATION][stadiums].tolist()):
            by_city.setdefault(city, b)
        teams = self.ids(K.TEAM)
        home = self.rels[Rel.LOCATION][teams].tolist()
        self.rels[Rel.STADIUM][teams] = [by_city.get(c, -1) for c in home]


class _Namer:
    """Names every entity, then plants namesakes and near-namesakes and sets titles."""

    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.book = NameBook(np.random.default_rng([builder.seed, 0x4E41]))
        self.names: list[str] = [""] * builder.n
        self.titles: list[str] = []

    def names_and_titles(self) -> tuple[list[str], list[str]]:
        b, names = self.b, self.names
        for kind, make in ((K.COUNTRY, self.book.countries), (K.CITY, self.book.places)):
            r = b.ranges[kind]
            names[r.start : r.stop] = make(len(r))
        r = b.ranges[K.PERSON]
        names[r.start : r.stop] = self.book.people(len(r))
        self.titles = list(names)
        self._city_pairs()
        self._person_pairs()
        self._near_pairs()
        self._organisations()
        self._works()
        self._events()
        for e, title in enumerate(self.titles):
            if not title:
                self.titles[e] = names[e]
        self._work_pairs()
        if len(set(self.titles)) != len(self.titles):
            raise RuntimeError("World generation produced duplicate titles.")
        return names, self.titles

    # -- namesakes -------------------------------------------------------------------------
    def _pairs(
        self, ids: np.ndarray, count: int, differ: Callable[[int, int], bool]
    ) -> list[tuple[int, int]]:
        """``count`` disjoint random pairs of ids for which ``differ(i, j)`` holds."""
        order = self.b.rng.permutation(ids).tolist()
        pairs: list[tuple[int, int]] = []
        used: set[int] = set()
        for pos, i in enumerate(order):
            if len(pairs) == count:
                return pairs
            if i in used:
                continue
            for j in order[pos + 1 : pos + 64]:
                if j not in used and differ(i, j):
                    pairs.append((i, j))
                    used.update((i, j))
                    break
        if len(pairs) < count:
            raise RuntimeError(f"Could only plant {len(pairs)} of {count} namesake pairs.")
        return pairs

    def _city_pairs(self) -> None:
        country = self.b.rels[Rel.COUNTRY]
        pairs = self._pairs(
            self.b.ids(K.CITY), self.b.sizes.city_pairs, lambda i, j: country[i] != country[j]
        )
        for i, j in pairs:
            self.names[j] = self.names[i]
            for e in (i, j):
                self.titles[e] = f"{self.names[e]}, {self.names[country[e]]}"

    def _person_pairs(self) -> None:
        cat = self.b.cat
        pairs = self._pairs(
            self.b.ids(K.PERSON), self.b.sizes.person_pairs, lambda i, j: cat[i] != cat[j]
        )
        for i, j in pairs:
            self.names[j] = self.names[i]
            for e in (i, j):
                self.titles[e] = f"{self.names[e]} ({cat[e]})"

    def _near_pairs(self) -> None:
        people = self.b.ids(K.PERSON)
        plain = [e for e in people.tolist() if self.titles[e] == self.names[e]]
        pairs = self._pairs(np.asarray(plain), self.b.sizes.near_pairs, lambda i, j: True)
        for k, (i, j) in enumerate(pairs):
            given, _, surname = self.names[i].partition(" ")
            variant = f"{given} {near_variant(surname, k)}"
            if variant not in self.book.taken:
                self.book.taken.add(variant)
                self.names[j] = self.titles[j] = variant

    def _work_pairs(self) -> None:
        works = np.concatenate([self.b.ids(K.BOOK), self.b.ids(K.FILM), self.b.ids(K.ALBUM)])
        kinds = {e: kind for kind in (K.BOOK, K.FILM, K.ALBUM) for e in self.b.ranges[kind]}
        pairs = self._pairs(works, self.b.sizes.work_pairs, lambda i, j: kinds[i] != kinds[j])
        for i, j in pairs:
            self.names[j] = self.names[i]
            for e in (i, j):
                self.titles[e] = f"{self.names[e]} ({KIND_NOUN[kinds[e]]})"

    # -- composite names -------------------------------------------------------------------
    def _surname(self, person: int) -> str:
        return self.names[person].rpartition(" ")[2]

    def _random_person(self) -> int:
        r = self.b.ranges[K.PERSON]
        return r.start + int(self.b.rng.integers(len(r)))

    def _fill(self, e: int, city: int = -1) -> dict[str, str]:
        """Pattern fields: {c} city, {s} surname, {g} given name, {w} word, {A}/{N} words."""
        book = self.book
        person = self._random_person()
        return {
            "c": self.names[city] if city >= 0 else book.word(),
            "s": self._surname(person),
            "g": self.names[person].partition(" ")[0],
            "w": book.word(),
            "A": book.pick(ADJECTIVES),
            "N": (noun := book.pick(NOUNS)),
            "P": plural(noun),
            "Art": "An" if noun[0] in "AEIOU" else "A",
            "m": book.pick(MASCOTS),
            "F": self.b.cat[e].title() if isinstance(self.b.cat[e], str) else "",
        }

    def _organisations(self) -> None:
        b, book, loc = self.b, self.book, self.b.rels[Rel.LOCATION]
        for e in b.ids(K.COMPANY).tolist():
            suffixes = COMPANY_SUFFIXES[b.cat[e]]
            owner = self._surname(int(b.rels[Rel.FOUNDER][e]))
            patterns = tuple(f"{{{k}}} {s}" for s in suffixes for k in ("o", "c", "w"))
            self.names[e] = book.compose(
                patterns, lambda e=e, o=owner: {**self._fill(e, loc[e]), "o": o}
            )
        for kind, table in ((K.UNIVERSITY, UNIVERSITY_PATTERNS), (K.BUILDING, BUILDING_PATTERNS)):
            for e in b.ids(kind).tolist():
                self.names[e] = book.compose(table[b.cat[e]], lambda e=e: self._fill(e, loc[e]))
        for kind, patterns in ((K.TEAM, TEAM_PATTERNS), (K.BAND, BAND_PATTERNS)):
            for e in b.ids(kind).tolist():
                self.names[e] = book.compose(patterns, lambda e=e: self._fill(e, loc[e]))
        for e in b.ids(K.AWARD).tolist():
            self.names[e] = book.compose(AWARD_PATTERNS, lambda e=e: self._fill(e))

    def _works(self) -> None:
        for kind in (K.BOOK, K.FILM, K.ALBUM):
            for e in self.b.ids(kind).tolist():
                self.names[e] = self.book.compose(WORK_PATTERNS, lambda e=e: self._fill(e))

    def _events(self) -> None:
        b = self.b
        for e in b.ids(K.EVENT).tolist():
            city = self.names[int(b.rels[Rel.LOCATION][e])]
            label = b.cat[e].title()
            year = int(b.year[e])
            for step in range(200):
                candidate = year + (step + 1) // 2 * (1 if step % 2 else -1)
                name = f"{candidate} {city} {label}"
                if candidate <= LAST_YEAR and name not in self.book.taken:
                    break
            self.book.taken.add(name)
            b.year[e] = candidate
            self.names[e] = name
