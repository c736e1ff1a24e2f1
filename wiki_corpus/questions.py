"""Questions from paths through the world, with answers, aliases and gold paths.

Three styles, all expressed as a :class:`~wiki_corpus.query.Query` so that validation can
re-evaluate them against the world:

* **chain** (1 to 5 hops): start from a named entity and follow relations, asking for the
  last entity or one of its attributes: "In which country is the birthplace of the
  architect of Lumen Tower?". When the starting name has a namesake, the question carries
  the qualifier that tells them apart ("the architect Orlan Vesk"), and nothing else does.
* **inverted** (BrowseComp-style): describe the answer only by indirect constraints that
  together fit one entity: "Which river port was founded in the 1830s and had a
  politician born in 1790 as its first mayor?". Constraints are added greedily until the
  description is unique in the world (at most four).
* **hybrid**: an inverted description of the starting entity, then a chain from it.

The hop count of a task is the number of pages its gold path visits. Difficulty (1 to 5)
is ``hops + 1 if the starting name has a namesake or near-namesake + 1 if the starting
entity is described by three or more constraints``, capped at 5.

The gold path is a search for the starting entity (its name, or the constraint words),
then one visit per gold page in hop order (preceded by a search for the page's name when
the previous page does not link to it), then the answer.
This path is drawn from the world, with hindsight; :func:`wiki_corpus.generate.make_honest`
then checks it against the environment's search and visit responses and makes it causally
honest (or replaces the task), see :mod:`wiki_corpus.honesty`.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from wiki_corpus.model import KINDS, RELS_OF_KIND, Attr, Kind, Rel
from wiki_corpus.query import (
    AttrIs,
    AttrRange,
    Cond,
    Description,
    NameIs,
    Query,
    Related,
    members,
    surface,
)
from wiki_corpus.validate import Evidence
from wiki_corpus.wording import (
    ATTR_WORDING,
    KIND_NOUN,
    NUMBER_UNITS,
    REL_WORDING,
    article,
    format_number,
    head_noun,
    join_names,
)
from wiki_corpus.world import World

K = Kind
STYLES = (("chain", 0.62), ("inverted", 0.26), ("hybrid", 0.12))
CHAIN_HOPS = ((1, 0.2), (2, 0.3), (3, 0.25), (4, 0.15), (5, 0.1))
FINAL_ATTRS = ((Attr.YEAR, 0.5), (Attr.NUMBER, 0.3), (Attr.CATEGORY, 0.2))
MAX_CONSTRAINTS = 4
WORKS = (K.BOOK, K.FILM, K.ALBUM)
TELLING_RELS = frozenset(
    (Rel.MAYOR, Rel.FOUNDER, Rel.CHIEF, Rel.PREDECESSOR, Rel.CREATOR, Rel.WINNER)
    + (Rel.PUBLISHER, Rel.STADIUM)
)
"""Relations whose wording gives away the category of their object ("the director of ...")."""


@dataclass(frozen=True)
class Candidate:
    """A generated question before validation, with everything needed to check and keep it."""

    question: str
    answer: str
    aliases: tuple[str, ...]
    query: Query
    evidence: tuple[Evidence, ...]
    pages: tuple[int, ...]
    """Gold entities, in the order they are visited."""
    goals: tuple[str, ...]
    """One visit goal per gold page."""
    search: tuple[str, ...]
    """Queries of the first search."""
    style: str
    ambiguous: bool
    constraints: int

    @property
    def hops(self) -> int:
        return len(self.pages)

    @property
    def difficulty(self) -> int:
        return difficulty(self.hops, self.ambiguous, self.constraints)


def difficulty(hops: int, ambiguous: bool, constraints: int) -> int:
    """The documented difficulty rule (module docstring), an int in 1..5."""
    return max(1, min(5, hops + int(ambiguous) + int(constraints >= 3)))


@dataclass(frozen=True)
class Clue:
    """One constraint on an entity: its condition, how it reads, and what grounds it."""

    cond: Cond
    phrase: str
    evidence: tuple[Evidence, ...]
    pages: tuple[int, ...] = ()
    search: str = ""


@dataclass(frozen=True)
class Inner:
    """An indefinite description of a witness entity, as used inside a clue."""

    desc: Description
    phrase: str
    evidence: tuple[Evidence, ...]
    pages: tuple[int, ...]
    search: str


@dataclass(frozen=True)
class Start:
    """How a question names or describes its starting entity."""

    entity: int
    description: Description
    phrase: str
    evidence: tuple[Evidence, ...]
    pages: tuple[int, ...]
    goals: tuple[str, ...]
    search: tuple[str, ...]
    ambiguous: bool
    constraints: int
    used: frozenset[Rel] = frozenset()
    """Relations the description already uses (a chain from it avoids them)."""
    used_attrs: frozenset[Attr] = frozenset()
    """Attributes of the entity the description already states."""
    phrase_vps: str = ""
    """For described starts: the joined verb phrases of the constraints."""


def answer_forms(world: World, e: int, attr: Attr | None = None) -> tuple[str, tuple[str, ...]]:
    """The answer string for an entity (or one of its attributes) and its aliases."""
    kind = world.kinds[e]
    if attr is None:
        name = world.names[e]
        aliases = [world.titles[e]] if world.titles[e] != name else []
        if kind is K.PERSON:
            aliases.append(name.rpartition(" ")[2])
        return name, tuple(dict.fromkeys(aliases))
    answer = surface(world, e, attr)
    aliases: list[str] = []
    if attr is Attr.NUMBER:
        plain = str(world.numbers[e])
        aliases += [plain] if plain != answer else []
        if kind in NUMBER_UNITS:
            aliases += [f"{answer} {unit}" for unit in NUMBER_UNITS[kind]]
    elif attr is Attr.CATEGORY:
        head = head_noun(kind, answer)
        aliases += [head] if head != answer else []
    return answer, tuple(aliases)


def _participle(vp: str) -> str:
    """A verb phrase as a post-modifier: 'was founded in' -> 'founded in', 'took place in' ->
    'that took place in'."""
    return vp[4:] if vp.startswith("was ") else f"that {vp}"


class QuestionMaker:
    """Draws candidate questions from a world with a seeded ``random.Random``."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.w = world
        self.rng = rng
        self.url = world.urls
        ambiguous = {e for ids in world.by_name.values() if len(ids) > 1 for e in ids}
        self.ambiguous = sorted(ambiguous | set(world.near_names))
        self.chain_kinds = [k for k in KINDS if RELS_OF_KIND[k] and len(world.ranges[k])]

    def _weighted(self, table: tuple[tuple[Any, float], ...]) -> Any:
        values, weights = zip(*table)
        return self.rng.choices(values, weights)[0]

    def _entity(self, kind: Kind) -> int:
        r = self.w.ranges[kind]
        return self.rng.randrange(r.start, r.stop)

    def make(self) -> Candidate | None:
        """One candidate of a random style, or None when the draw led nowhere."""
        style = self._weighted(STYLES)
        if style == "chain":
            return self.chain(self._weighted(CHAIN_HOPS))
        if style == "inverted":
            return self.inverted()
        return self.hybrid(self.rng.choice((1, 2)))

    # -- starting points ---------------------------------------------------------------
    def named_start(self, e: int) -> Start:
        """Name the start entity, adding the qualifier its namesakes need (or sometimes not)."""
        w, rng = self.w, self.rng
        name, kind, url = w.names[e], w.kinds[e], self.url[e]
        namesake = bool(w.namesakes(e))
        ambiguous = namesake or e in w.near_names
        conds: list[Cond] = [NameIs(name)]
        evidence = [Evidence(url, name)]
        desc_kind: Kind | None = None
        phrase, search = name, name
        used_attrs: frozenset[Attr] = frozenset()
        if kind is K.PERSON and (namesake or rng.random() < 0.4):
            occ = w.categories[e]
            used_attrs = frozenset((Attr.CATEGORY,))
            conds.append(AttrIs(Attr.CATEGORY, occ))
            evidence.append(Evidence(url, occ))
            desc_kind, phrase, search = kind, f"the {occ} {name}", f"{name} {occ}"
        elif kind is K.CITY and (namesake or rng.random() < 0.2):
            country = w.names[w.link(e, Rel.COUNTRY)]
            conds.append(Related(Rel.COUNTRY, Description(K.COUNTRY, (NameIs(country),))))
            evidence.append(Evidence(url, country))
            desc_kind, phrase, search = kind, f"{name} in {country}", f"{name} {country}"
        elif kind in WORKS and (namesake or rng.random() < 0.5):
            noun = KIND_NOUN[kind]
            desc_kind, phrase, search = kind, f"the {noun} {name}", f"{name} {noun}"
        return Start(
            entity=e,
            description=Description(desc_kind, tuple(conds)),
            phrase=phrase,
            evidence=tuple(evidence),
            pages=(),
            goals=(),
            search=(search,),
            ambiguous=ambiguous,
            constraints=len(conds),
            used_attrs=used_attrs,
        )

    def pick_named(self) -> int:
        """A random entity to name in a chain question; namesakes are drawn more often."""
        if self.ambiguous and self.rng.random() < 0.3:
            return self.rng.choice(self.ambiguous)
        return self._entity(self.rng.choice(self.chain_kinds))

    # -- chains ---------------------------------------------------------------------------
    def walk(
        self, e: int, steps: int, avoid: frozenset[Rel] = frozenset()
    ) -> tuple[list[Rel], list[int]] | None:
        """A random path of ``steps`` relations from ``e`` that never revisits an entity."""
        w = self.w
        rels: list[Rel] = []
        entities = [e]
        for _ in range(steps):
            cur = entities[-1]
            options = [
                r
                for r in RELS_OF_KIND[w.kinds[cur]]
                if r not in avoid and w.link(cur, r) >= 0 and w.link(cur, r) not in entities
            ]
            if not options:
                return None
            rel = self.rng.choice(options)
            rels.append(rel)
            entities.append(w.link(cur, rel))
        return rels, entities

    def pick_attr(self, e: int, exclude: tuple[Attr, ...] = ()) -> Attr | None:
        """A random attribute of ``e`` to ask for (None if none is left)."""
        w = self.w
        table = tuple(
            (a, p)
            for a, p in FINAL_ATTRS
            if a not in exclude
            and (a is not Attr.NUMBER or w.numbers[e] >= 0)
            and (a, w.kinds[e]) in ATTR_WORDING
        )
        return self._weighted(table) if table else None

    def chain(self, hops: int) -> Candidate | None:
        """A chain question from a named entity through ``hops`` pages."""
        return self._chain(self.named_start(self.pick_named()), hops, "chain")

    def _chain(self, start: Start, hops: int, style: str) -> Candidate | None:
        """Follow ``hops`` pages from ``start``; ask for the last entity or an attribute."""
        w, rng = self.w, self.rng
        final_attr = rng.random() < 0.45
        steps = hops - 1 if final_attr else hops
        walked = self.walk(start.entity, steps, start.used)
        if walked is None:
            return None
        rels, entities = walked
        attr = None
        if final_attr:
            exclude = tuple(start.used_attrs) if steps == 0 else ()
            if rels and rels[-1] in TELLING_RELS:
                exclude = (Attr.CATEGORY,)
            attr = self.pick_attr(entities[-1], exclude)
            if attr is None:
                return None
        phrase = start.phrase
        evidence = list(start.evidence)
        goals = dict(zip(start.pages, start.goals))
        for i, rel in enumerate(rels):
            subject, obj = entities[i], entities[i + 1]
            wording = REL_WORDING[(rel, w.kinds[subject])]
            evidence.append(Evidence(self.url[subject], w.names[obj]))
            _add_goal(goals, subject, "Find " + wording.noun_of[0].format(s=w.names[subject]))
            if i < len(rels) - 1 or final_attr:
                phrase = rng.choice(wording.noun_of).format(s=phrase)
        if final_attr:
            last = entities[-1]
            aw = ATTR_WORDING[(attr, w.kinds[last])]
            question = rng.choice(aw.ask).format(s=phrase)
            answer, aliases = answer_forms(w, last, attr)
            evidence.append(Evidence(self.url[last], answer))
            _add_goal(goals, last, "Find out: " + aw.ask[0].format(s=w.names[last]))
        else:
            wording = REL_WORDING[(rels[-1], w.kinds[entities[-2]])]
            question = rng.choice(wording.ask).format(s=phrase)
            answer, aliases = answer_forms(w, entities[-1])
        path = tuple(rels) + ((attr,) if attr else ())
        return Candidate(
            question=_capitalize(question),
            answer=answer,
            aliases=aliases,
            query=Query(start.description, path),
            evidence=tuple(evidence),
            pages=tuple(goals),
            goals=tuple(goals.values()),
            search=start.search,
            style=style,
            ambiguous=start.ambiguous,
            constraints=start.constraints,
        )

    # -- inverted descriptions -----------------------------------------------------------------
    def inverted(self) -> Candidate | None:
        """A question whose answer is described only by indirect constraints."""
        start = self.described_start(self._entity(self.rng.choice(KINDS)))
        w, t = self.w, start.entity
        head, vps = start.phrase, start.phrase_vps
        question = self.rng.choice(
            (
                f"Which {head} {vps}?",
                f"What is the name of the {head} that {vps}?",
                f"Name the {head} that {vps}.",
            )
        )
        answer, aliases = answer_forms(w, t)
        return Candidate(
            question=_capitalize(question),
            answer=answer,
            aliases=aliases,
            query=Query(start.description),
            evidence=start.evidence,
            pages=start.pages,
            goals=start.goals,
            search=start.search,
            style="inverted",
            ambiguous=False,
            constraints=start.constraints,
        )

    def hybrid(self, hops: int) -> Candidate | None:
        """A chain question whose starting entity is described, not named."""
        kind = self.rng.choice(self.chain_kinds)
        start = self.described_start(self._entity(kind))
        definite = replace(start, phrase=f"the {start.phrase} that {start.phrase_vps}")
        return self._chain(definite, hops, "hybrid")

    def described_start(self, t: int) -> Start:
        """Describe ``t`` by indirect constraints, added greedily until it is unique."""
        w, rng = self.w, self.rng
        kind = w.kinds[t]
        head, conds, chosen = KIND_NOUN[kind], [], []
        evidence = [Evidence(self.url[t], w.names[t])]
        if (Attr.CATEGORY, kind) in ATTR_WORDING and rng.random() < 0.75:
            category = w.categories[t]
            head = head_noun(kind, category)
            conds.append(AttrIs(Attr.CATEGORY, category))
            evidence.append(Evidence(self.url[t], category))
        pool = self.clues(t)
        rng.shuffle(pool)
        count = len(members(w, Description(kind, tuple(conds)))) if conds else len(w.ranges[kind])
        for clue in pool:
            if len(conds) >= MAX_CONSTRAINTS or (count == 1 and len(conds) >= 2):
                break
            trial = len(members(w, Description(kind, (*conds, clue.cond))))
            if trial < count or (count == 1 and len(conds) < 2):
                conds.append(clue.cond)
                chosen.append(clue)
                count = trial
        pages = [t]
        goals = [f"Check that {w.names[t]} fits: " + "; ".join(c.phrase for c in chosen)]
        for clue in chosen:
            evidence.extend(clue.evidence)
            for p in clue.pages:
                if p not in pages:
                    pages.append(p)
                    goals.append(f"Confirm the facts about {w.names[p]}")
        search = [f"{head} {chosen[0].search or chosen[0].phrase}"] if chosen else [head]
        search += [c.search for c in chosen[1:] if c.pages and c.search][:1]
        return Start(
            entity=t,
            description=Description(kind, tuple(conds)),
            phrase=head,
            evidence=tuple(evidence),
            pages=tuple(pages),
            goals=tuple(goals),
            search=tuple(search),
            ambiguous=False,
            constraints=len(conds),
            used=frozenset(c.cond.rel for c in chosen if isinstance(c.cond, Related)),
            used_attrs=frozenset(
                c.cond.attr for c in chosen if isinstance(c.cond, (AttrIs, AttrRange))
            )
            | frozenset(c.attr for c in conds[:1] if isinstance(c, AttrIs)),
            phrase_vps=join_names([c.phrase for c in chosen]),
        )

    def clues(self, t: int) -> list[Clue]:
        """Every constraint that holds of ``t``: its year, its number, its relations."""
        w, rng = self.w, self.rng
        kind, url = w.kinds[t], self.url[t]
        out = [self._year_clue(t)]
        if w.numbers[t] >= 0 and (Attr.NUMBER, kind) in ATTR_WORDING:
            out.append(self._number_clue(t))
        for rel in RELS_OF_KIND[kind]:
            o = w.link(t, rel)
            if o < 0:
                continue
            vp = REL_WORDING[(rel, kind)].vp
            if rng.random() < 0.35:
                cond = Related(rel, Description(None, (NameIs(w.names[o]),)))
                out.append(Clue(cond, vp.format(o=w.names[o]), (Evidence(url, w.names[o]),)))
                continue
            inner = self.describe(o, avoid=t, depth=int(vp.endswith("{o}")))
            evidence = (Evidence(url, w.names[o]), *inner.evidence)
            phrase = vp.format(o=inner.phrase)
            out.append(Clue(Related(rel, inner.desc), phrase, evidence, inner.pages, inner.search))
        for rel in Rel:
            subjects = w.inverse(rel).get(t)
            if not subjects:
                continue
            x = rng.choice(subjects)
            vp = REL_WORDING[(rel, w.kinds[x])].inv_vp
            inner = self.describe(x, avoid=t, depth=int(vp.endswith("{o}")))
            evidence = (Evidence(self.url[x], w.names[t]), *inner.evidence)
            cond = Related(rel, inner.desc, inverse=True)
            out.append(Clue(cond, vp.format(o=inner.phrase), evidence, inner.pages, inner.search))
        return out

    def _year_clue(self, e: int) -> Clue:
        w = self.w
        year = w.years[e]
        vp = ATTR_WORDING[(Attr.YEAR, w.kinds[e])].vp
        if self.rng.random() < 0.6:
            lo = year // 10 * 10
            cond: Cond = AttrRange(Attr.YEAR, lo, lo + 9)
            value = f"the {lo}s"
        else:
            cond, value = AttrIs(Attr.YEAR, year), str(year)
        phrase = vp.format(v=value)
        return Clue(cond, phrase, (Evidence(self.url[e], str(year)),), (), _participle(phrase))

    def _number_clue(self, e: int) -> Clue:
        w = self.w
        n = w.numbers[e]
        step = 10 ** max(0, len(str(n)) - 1)
        lo, hi = (max(0, n - 2), n + 2) if n < 10 else (n // step * step, n // step * step + step)
        vp = ATTR_WORDING[(Attr.NUMBER, w.kinds[e])].vp
        phrase = vp.format(v=f"between {format_number(lo)} and {format_number(hi)}")
        evidence = (Evidence(self.url[e], format_number(n)),)
        return Clue(AttrRange(Attr.NUMBER, lo, hi), phrase, evidence)

    def describe(self, x: int, avoid: int, depth: int) -> Inner:
        """An indefinite description of ``x`` by its category and year, sometimes with one
        of its own relations: "a library completed in 1902 that was designed by an
        architect born in the 1850s". It may fit other entities too."""
        w = self.w
        kind, category = w.kinds[x], w.categories[x]
        head = head_noun(kind, category)
        year = self._year_clue(x)
        conds: list[Cond] = [AttrIs(Attr.CATEGORY, category), year.cond]
        text = f"{head} {year.search}"
        evidence = [Evidence(self.url[x], category), *year.evidence]
        pages = [x]
        options = [
            r
            for r in RELS_OF_KIND[kind]
            if w.link(x, r) >= 0
            and w.link(x, r) != avoid
            and REL_WORDING[(r, kind)].vp.endswith("{o}")
        ]
        if depth > 0 and options and self.rng.random() < 0.35:
            rel = self.rng.choice(options)
            y = w.link(x, rel)
            deeper = self.describe(y, avoid=x, depth=depth - 1)
            conds.append(Related(rel, deeper.desc))
            vp = REL_WORDING[(rel, kind)].vp.format(o=deeper.phrase)
            text = f"{text} that {vp}"
            evidence += [Evidence(self.url[x], w.names[y]), *deeper.evidence]
            pages += deeper.pages
        desc = Description(kind, tuple(conds))
        phrase = f"{article(head)} {text}"
        search = f"{head} {year.search}"
        return Inner(desc, phrase, tuple(evidence), tuple(pages), search)


def _add_goal(goals: dict[int, str], entity: int, goal: str) -> None:
    """Record a visit goal; a page visited for two reasons gets both."""
    goals[entity] = (
        f"{goals[entity]}; then {goal[0].lower()}{goal[1:]}" if entity in goals else goal
    )


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def gold_actions(cand: Candidate, world: World, html_of: Callable[[int], str]) -> tuple[dict, ...]:
    """The executable reference path: search, visits in hop order, answer."""
    actions: list[dict[str, Any]] = [{"name": "search", "arguments": {"query": list(cand.search)}}]
    previous = None
    for entity, goal in zip(cand.pages, cand.goals):
        url = world.urls[entity]
        if previous is not None and f'href="{html.escape(url)}"' not in html_of(previous):
            actions.append({"name": "search", "arguments": {"query": [world.names[entity]]}})
        actions.append({"name": "visit", "arguments": {"url": [url], "goal": goal}})
        previous = entity
    actions.append({"name": "answer", "arguments": {"answer": cand.answer}})
    return tuple(actions)
