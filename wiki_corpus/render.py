"""Render a world as wiki-like HTML pages.

Every page has this structure (the environment's reader relies on it)::

    <!DOCTYPE html>
    <html><head><meta charset="utf-8"><title>TITLE</title></head><body>
    <nav class="wiki-nav"> boilerplate links (Special: pages, not in the corpus) </nav>
    <main>
      <h1 id="firstHeading">TITLE</h1>
      <div class="hatnote">namesake / near-namesake notes</div>            (optional)
      <p class="lead">lead paragraph, the subject's name in <b></p>
      <table class="infobox"><caption>NAME</caption>
        <tr><th>key</th><td>value, may contain <a href="URL">links</a></td></tr> ...
      </table>
      <h2>Section</h2> <p>prose</p> <ul><li>list item</li></ul> ...      (several)
      <div class="catlinks">Categories: <a href="…/Category:X">X</a> | ...</div>
    </main>
    <footer class="wiki-footer"> boilerplate </footer>
    </body></html>

Every ``<a href>`` inside ``<main>`` outside the category box points to a page of the
corpus; link texts are entity names. Every fact of the world about an entity is stated in
its infobox, and most again in prose chosen from several templates (picked by a hash of
the seed and the entity id, so a page renders the same way alone or in bulk). Pages also
mention other entities (notable people of a city, same-year works, namesakes): true facts
about other entities, which make keyword search noisy. All text goes through
``html.escape``.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field

from wiki_corpus.model import Kind, Rel
from wiki_corpus.names import plural
from wiki_corpus.schema import title_to_url
from wiki_corpus.wording import (
    KIND_NOUN,
    NUMBER_UNITS,
    article,
    demonym,
    format_number,
    head_noun,
    join_names,
    year_verb,
)
from wiki_corpus.world import World

K = Kind
esc = html.escape
_MASK = (1 << 64) - 1
SPECIAL = "https://wiki.local/wiki/Special:"
NAV = (
    '<nav class="wiki-nav"><ul>'
    f'<li><a href="{SPECIAL}Main_Page">Main page</a></li>'
    f'<li><a href="{SPECIAL}Random">Random page</a></li>'
    f'<li><a href="{SPECIAL}Recent_changes">Recent changes</a></li>'
    f'<li><a href="{SPECIAL}Help">Help</a></li>'
    f'<li><a href="{SPECIAL}About">About WebAnchor Wiki</a></li>'
    "</ul></nav>"
)
FOOTER = (
    '<footer class="wiki-footer"><p>This page is part of WebAnchor Wiki, a fictional '
    "encyclopedia generated for research on web agents. Text is available under the "
    "Creative Commons Attribution-ShareAlike License.</p>"
    f'<p><a href="{SPECIAL}Privacy">Privacy policy</a> · '
    f'<a href="{SPECIAL}Disclaimers">Disclaimers</a></p></footer>'
)
LIST_CAP = 12


class Chooser:
    """Deterministic template choice from (seed, entity id), via splitmix64."""

    __slots__ = ("state",)

    def __init__(self, seed: int, key: int) -> None:
        self.state = (seed * 0x9E3779B97F4A7C15 + key * 0xBF58476D1CE4E5B9 + 1) & _MASK

    def index(self, n: int) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return (z ^ (z >> 31)) % n

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[self.index(len(options))]


@dataclass
class Parts:
    """The content of one page before it is wrapped in the common layout."""

    lead: str
    infobox: list[tuple[str, str]]
    sections: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    hatnote: str = ""

    def section(self, heading: str, paragraphs: list[str], items: list[str] | None = None) -> None:
        """Add a section if it has any content."""
        paragraphs = [p for p in paragraphs if p]
        if paragraphs or items:
            self.sections.append((heading, paragraphs, items or []))


def layout(title: str, caption: str, parts: Parts) -> str:
    """Wrap page parts in the common HTML structure (see module docstring)."""
    t = esc(title)
    out = [
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{t}</title></head><body>',
        NAV,
        f'<main><h1 id="firstHeading">{t}</h1>',
    ]
    if parts.hatnote:
        out.append(f'<div class="hatnote">{parts.hatnote}</div>')
    out.append(f'<p class="lead">{parts.lead}</p>')
    if parts.infobox:
        rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in parts.infobox)
        out.append(f'<table class="infobox"><caption>{esc(caption)}</caption>{rows}</table>')
    for heading, paragraphs, items in parts.sections:
        out.append(f"<h2>{heading}</h2>")
        out.extend(f"<p>{p}</p>" for p in paragraphs)
        if items:
            out.append("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    if parts.categories:
        cats = " | ".join(
            f'<a href="{esc(title_to_url("Category:" + c))}">{esc(c)}</a>' for c in parts.categories
        )
        out.append(f'<div class="catlinks">Categories: {cats}</div>')
    out.append("</main>")
    out.append(FOOTER)
    out.append("</body></html>")
    return "\n".join(out)


def plural_category(category: str) -> str:
    """A category page name from a category: "cathedral city" -> "Cathedral cities"."""
    head, _, last = category.rpartition(" ")
    return f"{head} {plural(last)}".strip().capitalize()


class Renderer:
    """Renders entity pages and disambiguation pages of one world."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.a = world.anchors
        self.inv = {rel: world.inverse(rel) for rel in Rel}
        self.builders = {
            K.PERSON: self._person,
            K.CITY: self._city,
            K.COUNTRY: self._country,
            K.UNIVERSITY: self._university,
            K.COMPANY: self._company,
            K.BAND: self._band,
            K.TEAM: self._team,
            K.BOOK: self._work,
            K.FILM: self._work,
            K.ALBUM: self._work,
            K.BUILDING: self._building,
            K.EVENT: self._event,
            K.AWARD: self._award,
        }

    # -- entry points ------------------------------------------------------------------
    def entity(self, e: int) -> str:
        w = self.w
        c = Chooser(w.seed, e)
        parts = self.builders[w.kinds[e]](e, c)
        self._hatnote(e, parts)
        return layout(w.titles[e], w.names[e], parts)

    def disambiguation(self, name: str, ids: list[int]) -> str:
        items = [f"{self.title_link(x)}, {self.short(x)}" for x in ids]
        parts = Parts(
            lead=f"<b>{esc(name)}</b> may refer to:",
            infobox=[],
            categories=["Disambiguation pages"],
        )
        parts.section("Entries", [], items)
        return layout(name, name, parts)

    # -- small helpers -------------------------------------------------------------------
    def title_link(self, e: int) -> str:
        return f'<a href="{esc(self.w.urls[e])}">{esc(self.w.titles[e])}</a>'

    def rel(self, e: int, rel: Rel) -> int:
        return self.w.links[rel][e]

    def subjects(self, e: int, rel: Rel, kind: Kind | None = None) -> list[int]:
        subjects = self.inv[rel].get(e, [])
        if kind is not None:
            kinds = self.w.kinds
            subjects = [s for s in subjects if kinds[s] is kind]
        return subjects

    def short(self, e: int) -> str:
        """A short description used in lists: "an architect born in 1902"."""
        w = self.w
        kind, cat, year = w.kinds[e], w.categories[e], w.years[e]
        if kind is K.PERSON:
            return f"{article(cat)} {esc(cat)} born in {year}"
        if kind is K.CITY:
            country = self.rel(e, Rel.COUNTRY)
            return f"{article(cat)} {esc(cat)} in {self.a[country]}"
        noun = head_noun(kind, cat)
        creator = self.rel(e, Rel.CREATOR)
        by = f" by {self.a[creator]}" if creator >= 0 else ""
        return f"{article(str(year))} {year} {esc(noun)}{by}"

    def person_item(self, p: int) -> str:
        w = self.w
        return f"{self.a[p]} (born {w.years[p]}), {esc(w.categories[p])}"

    def work_item(self, x: int) -> str:
        return f"<i>{self.a[x]}</i> ({self.w.years[x]})"

    def number(self, e: int, long: bool = False) -> str:
        value = format_number(self.w.numbers[e])
        unit = NUMBER_UNITS.get(self.w.kinds[e])
        if unit is None:
            return value
        return f"{value} {unit[1] if long else unit[0]}"

    def _hatnote(self, e: int, parts: Parts) -> None:
        w = self.w
        notes = []
        for other in w.namesakes(e):
            notes.append(
                f"For the {self._what(other)} of the same name, see {self.title_link(other)}."
            )
        near = w.near_names.get(e)
        if near is not None:
            notes.append(f"Not to be confused with the {esc(w.categories[near])} {self.a[near]}.")
        parts.hatnote = " ".join(notes)

    def _what(self, e: int) -> str:
        """What a namesake is, for hatnotes: "footballer", "film", "river port in Ostmark"."""
        w = self.w
        kind = w.kinds[e]
        if kind is K.CITY:
            return f"{esc(w.categories[e])} in {esc(w.names[self.rel(e, Rel.COUNTRY)])}"
        if kind is K.PERSON:
            return esc(w.categories[e])
        return KIND_NOUN[kind]

    # -- people ---------------------------------------------------------------------------
    def _person(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, occ, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        surname = esc(w.names[e].rpartition(" ")[2])
        city = self.rel(e, Rel.BIRTHPLACE)
        country = self.rel(city, Rel.COUNTRY)
        verb = "was" if year < 1940 else "is"
        dem = esc(demonym(w.names[country]))
        lead = c.pick(
            (
                f"<b>{name}</b> (born {year}) {verb} {article(dem)} {dem} {occ}.",
                f"<b>{name}</b>, born in {year}, {verb} {article(occ)} {occ} from {a[country]}.",
                f"<b>{name}</b> {verb} {article(dem)} {dem} {occ} born in {year}.",
            )
        )
        parts = Parts(lead, [("Born", f"{year}, {a[city]}, {a[country]}"), ("Occupation", occ)])
        early = [
            c.pick(
                (
                    f"{name} was born in {a[city]} in {year}.",
                    f"Born in {year} in {a[city]}, {a[country]}, {surname} grew up there.",
                    f"{surname} was born in the {esc(w.categories[city])} of {a[city]} in {year}.",
                )
            )
        ]
        uni = self.rel(e, Rel.EDUCATION)
        if uni >= 0:
            parts.infobox.append(("Alma mater", a[uni]))
            early.append(
                c.pick(
                    (
                        f"{surname} studied at {a[uni]}.",
                        f"{surname} later attended {a[uni]}.",
                        f"After school, {surname} enrolled at {a[uni]}.",
                    )
                )
            )
        parts.section("Early life", early)
        parts.section("Career", self._career(e, c, parts, surname, occ))
        works = self.subjects(e, Rel.CREATOR)[:25]
        if works:
            heading = {K.BOOK: "Novels", K.FILM: "Filmography", K.BUILDING: "Buildings"}
            parts.section(
                heading.get(w.kinds[works[0]], "Works"), [], [self.work_item(x) for x in works]
            )
        parts.section("Contemporaries", [self._contemporaries(e, city)])
        parts.categories = [f"{year} births", plural_category(w.categories[e])]
        parts.categories.append(f"People from {w.names[city]}")
        return parts

    def _career(self, e: int, c: Chooser, parts: Parts, surname: str, occ: str) -> list[str]:
        w, a = self.w, self.a
        out = [f"{surname} worked as {article(occ)} {occ}."]
        band, team = self.rel(e, Rel.MEMBER_OF), self.rel(e, Rel.PLAYS_FOR)
        if band >= 0:
            parts.infobox.append(("Member of", a[band]))
            out.append(
                c.pick(
                    (
                        f"{surname} joined {a[band]} as its {occ}.",
                        f"{surname} was the {occ} of the band {a[band]}.",
                    )
                )
            )
        if team >= 0:
            parts.infobox.append(("Team", a[team]))
            sport = esc(w.categories[team])
            out.append(
                c.pick(
                    (
                        f"{surname} played {sport} for {a[team]}.",
                        f"As {article(occ)} {occ}, {surname} spent a career at {a[team]}.",
                    )
                )
            )
        for city in self.subjects(e, Rel.MAYOR):
            out.append(f"{surname} became the first mayor of {a[city]} in {w.years[city]}.")
        for company in self.subjects(e, Rel.FOUNDER)[:LIST_CAP]:
            out.append(f"In {w.years[company]}, {surname} founded {a[company]}.")
        pred = self.rel(e, Rel.PREDECESSOR)
        if pred >= 0:
            parts.infobox.append(("Predecessor", a[pred]))
            for company in self.subjects(e, Rel.CHIEF):
                out.append(f"{surname} succeeded {a[pred]} as chief executive of {a[company]}.")
        for event in self.subjects(e, Rel.WINNER)[:LIST_CAP]:
            out.append(c.pick((f"{surname} won the {a[event]}.", f"{surname} won {a[event]}.")))
        award = self.rel(e, Rel.AWARD)
        if award >= 0:
            parts.infobox.append(("Awards", a[award]))
            out.append(
                c.pick(
                    (
                        f"{surname} received the {a[award]}.",
                        f"{surname} was awarded the {a[award]}.",
                    )
                )
            )
        return out

    def _contemporaries(self, e: int, city: int) -> str:
        """Other people born in the same city: mentions that are not about this page."""
        born = self.subjects(city, Rel.BIRTHPLACE)
        i = born.index(e)
        others = [p for p in born[i + 1 : i + 3] + born[max(0, i - 2) : i] if p != e][:2]
        if not others:
            return ""
        items = join_names([self.person_item(p) for p in others])
        return f"Other people born in {self.a[city]} include {items}."

    # -- places ---------------------------------------------------------------------------
    def _city(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, kind, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        country, mayor, pop = self.rel(e, Rel.COUNTRY), self.rel(e, Rel.MAYOR), self.number(e)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(kind)} {kind} in {a[country]}.",
                f"<b>{name}</b> is {article(kind)} {kind} in {a[country]}, founded in {year}.",
                f"The {kind} of <b>{name}</b> lies in {a[country]}.",
            )
        )
        parts = Parts(
            lead,
            [
                ("Country", a[country]),
                ("Type", kind),
                ("Founded", str(year)),
                ("Population", pop),
                ("First mayor", a[mayor]),
            ],
        )
        history = [
            c.pick((f"{name} was founded in {year}.", f"The town was established in {year}.")),
            c.pick(
                (
                    f"Its first mayor was {a[mayor]}.",
                    f"{a[mayor]} served as the first mayor of {name}.",
                )
            ),
        ]
        if self.subjects(e, Rel.CAPITAL):
            history.append(f"{name} is the capital of {a[country]}.")
        parts.section("History", history)
        parts.section(
            "Demographics",
            [
                c.pick(
                    (
                        f"{name} has a population of {pop}.",
                        f"At the last census, {name} had {pop} inhabitants.",
                    )
                )
            ],
        )
        located = self.subjects(e, Rel.LOCATION)
        self._city_lists(e, located, parts)
        born = self.subjects(e, Rel.BIRTHPLACE)[:LIST_CAP]
        parts.section("Notable people", [], [self.person_item(p) for p in born])
        parts.categories = [f"Cities in {w.names[country]}", plural_category(w.categories[e])]
        parts.categories.append(f"Populated places established in {year}")
        return parts

    def _city_lists(self, e: int, located: list[int], parts: Parts) -> None:
        w, a = self.w, self.a
        by_kind: dict[Kind, list[int]] = {}
        for x in located:
            by_kind.setdefault(w.kinds[x], []).append(x)
        name = esc(w.names[e])
        companies = by_kind.get(K.COMPANY, [])[:6]
        if companies:
            items = join_names([a[x] for x in companies])
            parts.section("Economy", [f"Companies headquartered in {name} include {items}."])
        landmarks = [
            f"{a[x]} ({esc(w.categories[x])}, {w.years[x]})"
            for x in by_kind.get(K.BUILDING, [])[:LIST_CAP]
        ]
        parts.section("Landmarks", [], landmarks)
        culture = [a[x] for kind in (K.UNIVERSITY, K.BAND, K.TEAM) for x in by_kind.get(kind, [])]
        if culture:
            items = join_names(culture[:8])
            parts.section("Culture and education", [f"{name} is home to {items}."])
        events = [a[x] for x in by_kind.get(K.EVENT, [])[:6]]
        if events:
            parts.section("Events", [f"{name} hosted the {join_names(events)}."])

    def _country(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, gov, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        capital, pop = self.rel(e, Rel.CAPITAL), self.number(e)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(gov)} {gov} whose capital is {a[capital]}.",
                f"<b>{name}</b> is {article(gov)} {gov}. Its capital is {a[capital]}.",
            )
        )
        parts = Parts(
            lead,
            [
                ("Capital", a[capital]),
                ("Government", gov),
                ("Independence", str(year)),
                ("Population", pop),
            ],
        )
        parts.section(
            "History",
            [
                c.pick(
                    (
                        f"{name} became independent in {year}.",
                        f"{name} gained its independence in {year}.",
                    )
                )
            ],
        )
        parts.section("Demographics", [f"The population of {name} is {pop}."])
        cities = self.subjects(e, Rel.COUNTRY)[:30]
        parts.section("Cities", [], [a[x] for x in cities])
        parts.categories = ["Countries", plural_category(w.categories[e])]
        return parts

    # -- organisations ------------------------------------------------------------------------
    def _university(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, kind, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city, students = self.rel(e, Rel.LOCATION), self.number(e)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(kind)} {kind} in {a[city]}.",
                f"<b>{name}</b> is {article(kind)} {kind} located in {a[city]}. "
                f"It was established in {year}.",
            )
        )
        parts = Parts(
            lead,
            [
                ("Type", kind),
                ("Established", str(year)),
                ("Location", a[city]),
                ("Students", students),
            ],
        )
        parts.section(
            "History",
            [
                c.pick((f"{name} was established in {year}.", f"It was founded in {year}.")),
                f"The institution has {students} students.",
            ],
        )
        alumni = self.subjects(e, Rel.EDUCATION)[:LIST_CAP]
        parts.section("Notable alumni", [], [self.person_item(p) for p in alumni])
        self._presented(e, parts)
        parts.categories = [f"Education in {w.names[city]}", plural_category(w.categories[e])]
        return parts

    def _presented(self, e: int, parts: Parts) -> None:
        awards = self.subjects(e, Rel.PRESENTER)
        if awards:
            items = join_names([f"the {self.a[x]}" for x in awards])
            parts.section("Awards", [f"{esc(self.w.names[e])} presents {items}."])

    def _company(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, industry, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city, founder, chief = (self.rel(e, r) for r in (Rel.LOCATION, Rel.FOUNDER, Rel.CHIEF))
        employees = self.number(e)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(industry)} {industry} headquartered in {a[city]}.",
                f"<b>{name}</b> is {article(industry)} {industry} founded in {year} "
                f"by {a[founder]}.",
            )
        )
        parts = Parts(
            lead,
            [
                ("Industry", industry),
                ("Founded", str(year)),
                ("Founder", a[founder]),
                ("Headquarters", a[city]),
            ],
        )
        history = [
            c.pick(
                (
                    f"{name} was founded by {a[founder]} in {year}.",
                    f"{a[founder]} established {name} in {year}.",
                )
            ),
            f"The company is headquartered in {a[city]} and employs {employees} people.",
        ]
        if chief >= 0:
            parts.infobox.append(("Chief executive", a[chief]))
            history.append(f"{a[chief]} succeeded {a[founder]} as chief executive.")
        parts.infobox.append(("Employees", employees))
        parts.section("History", history)
        products = self.subjects(e, Rel.PUBLISHER)[:LIST_CAP]
        parts.section("Releases", [], [self.work_item(x) for x in products])
        self._presented(e, parts)
        parts.categories = [f"Companies based in {w.names[city]}", f"Companies founded in {year}"]
        return parts

    def _band(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, genre, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city = self.rel(e, Rel.LOCATION)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(genre)} {genre} band from {a[city]}, formed in {year}.",
                f"<b>{name}</b> are {article(genre)} {genre} band formed in {a[city]} in {year}.",
            )
        )
        members = self.subjects(e, Rel.MEMBER_OF)
        parts = Parts(lead, [("Origin", a[city]), ("Genre", genre), ("Formed", str(year))])
        if members:
            parts.infobox.append(("Members", ", ".join(a[p] for p in members[:8])))
        items = [f"{a[p]} – {esc(w.categories[p])}" for p in members[:LIST_CAP]]
        parts.section("Members", [], items)
        albums = self.subjects(e, Rel.CREATOR)[:LIST_CAP]
        parts.section("Discography", [], [self.work_item(x) for x in albums])
        parts.section("See also", [self._same_year(e, "Other bands formed in")])
        parts.categories = [
            f"{w.categories[e].capitalize()} bands",
            f"Musical groups from {w.names[city]}",
        ]
        return parts

    def _team(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, sport, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city, stadium, titles = self.rel(e, Rel.LOCATION), self.rel(e, Rel.STADIUM), self.number(e)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(sport)} {sport} team based in {a[city]}.",
                f"<b>{name}</b> is a professional {sport} club from {a[city]}, founded in {year}.",
            )
        )
        parts = Parts(lead, [("Sport", sport), ("Founded", str(year)), ("City", a[city])])
        history = [f"The club was founded in {year}.", f"{name} has won {titles} league titles."]
        if stadium >= 0:
            parts.infobox.append(("Home ground", a[stadium]))
            history.append(f"{name} plays its home games at {a[stadium]}.")
        parts.infobox.append(("League titles", titles))
        parts.section("History", history)
        players = self.subjects(e, Rel.PLAYS_FOR)[:LIST_CAP]
        parts.section("Notable players", [], [self.person_item(p) for p in players])
        parts.categories = [f"{w.categories[e].capitalize()} teams", f"Sport in {w.names[city]}"]
        return parts

    # -- works and buildings ----------------------------------------------------------------
    def _work(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        kind = w.kinds[e]
        name, genre, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        creator, publisher, count = (
            self.rel(e, Rel.CREATOR),
            self.rel(e, Rel.PUBLISHER),
            self.number(e),
        )
        noun = {K.BOOK: "novel", K.FILM: "film", K.ALBUM: "album"}[kind]
        by = {K.BOOK: "written by", K.FILM: "directed by", K.ALBUM: "recorded by"}[kind]
        verb = year_verb(kind)
        lead = c.pick(
            (
                f"<b><i>{name}</i></b> is a {year} {genre} {noun} {by} {a[creator]}.",
                f"<b><i>{name}</i></b> is {article(genre)} {genre} {noun} by {a[creator]}, "
                f"which {verb} in {year}.",
            )
        )
        creator_label = {K.BOOK: "Author", K.FILM: "Directed by", K.ALBUM: "Artist"}[kind]
        year_label = {K.BOOK: "Published", K.FILM: "Released", K.ALBUM: "Released"}[kind]
        count_label = {K.BOOK: "Pages", K.FILM: "Running time", K.ALBUM: "Tracks"}[kind]
        parts = Parts(
            lead, [(creator_label, a[creator]), ("Genre", genre), (year_label, str(year))]
        )
        release = [c.pick((f"The {noun} {verb} in {year}.", f"It {verb} in {year}."))]
        if publisher >= 0:
            label = {K.BOOK: "Publisher", K.FILM: "Studio", K.ALBUM: "Label"}[kind]
            parts.infobox.append((label, a[publisher]))
            pverb = {K.BOOK: "published", K.FILM: "produced", K.ALBUM: "released"}[kind]
            release.append(f"It was {pverb} by {a[publisher]}.")
        parts.infobox.append((count_label, count))
        long_count = self.number(e, long=True)
        release.append(
            {
                K.BOOK: f"The novel has {long_count} pages.",
                K.FILM: f"The film runs for {long_count}.",
                K.ALBUM: f"The album has {long_count} tracks.",
            }[kind]
        )
        parts.section("Release", release)
        parts.section("Synopsis", [self._synopsis(e, c, noun)])
        parts.section("Reception", [self._same_year(e, f"Other {noun}s of")])
        parts.categories = [f"{year} {noun}s", f"{w.categories[e].capitalize()} {noun}s"]
        return parts

    def _synopsis(self, e: int, c: Chooser, noun: str) -> str:
        """A plot line that mentions a place the work is not about (a distractor)."""
        cities = self.w.ranges[K.CITY]
        place = self.a[cities.start + c.index(len(cities))]
        hero = c.pick(("a young sailor", "two sisters", "an ageing detective", "a cartographer"))
        goal = c.pick(("a lost letter", "a stolen map", "an old debt", "a forgotten song"))
        return f"The {noun} is set in {place} and follows {hero} in search of {goal}."

    def _same_year(self, e: int, prefix: str) -> str:
        w, a = self.w, self.a
        kind, year = w.kinds[e], w.years[e]
        peers = [x for x in w.by_kind_year.get((kind, year), []) if x != e][:2]
        if not peers:
            return ""
        items = []
        for x in peers:
            creator = self.rel(x, Rel.CREATOR)
            by = f" by {a[creator]}" if creator >= 0 else ""
            items.append(f"{a[x]}{by}")
        return f"{prefix} {year} include {join_names(items)}."

    def _building(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, kind, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city, architect = self.rel(e, Rel.LOCATION), self.rel(e, Rel.CREATOR)
        country = self.rel(city, Rel.COUNTRY)
        lead = c.pick(
            (
                f"<b>{name}</b> is {article(kind)} {kind} in {a[city]}, designed by {a[architect]}.",
                f"<b>{name}</b> is {article(kind)} {kind} in {a[city]}, {a[country]}. "
                f"It was completed in {year}.",
            )
        )
        parts = Parts(
            lead,
            [
                ("Type", kind),
                ("Location", a[city]),
                ("Architect", a[architect]),
                ("Completed", str(year)),
                ("Height", self.number(e)),
            ],
        )
        parts.section(
            "History",
            [
                c.pick((f"Construction was completed in {year}.", f"It opened in {year}.")),
                c.pick(
                    (
                        f"The building was designed by {a[architect]}.",
                        f"{a[architect]} designed the {kind}.",
                    )
                ),
            ],
        )
        height = self.number(e, long=True)
        parts.section(
            "Architecture",
            [c.pick((f"It is {height} tall.", f"The {kind} rises to a height of {height}."))],
        )
        teams = self.subjects(e, Rel.STADIUM)
        if teams:
            parts.section("Use", [f"It is the home ground of {join_names([a[t] for t in teams])}."])
        others = [x for x in self.subjects(city, Rel.LOCATION, K.BUILDING) if x != e][:3]
        if others:
            items = join_names([f"{a[x]} ({w.years[x]})" for x in others])
            parts.section("See also", [f"Other landmarks in {a[city]} include {items}."])
        parts.categories = [f"Buildings in {w.names[city]}", plural_category(w.categories[e])]
        return parts

    # -- events and awards ------------------------------------------------------------------
    def _event(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, kind, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        city, winner, count = self.rel(e, Rel.LOCATION), self.rel(e, Rel.WINNER), self.number(e)
        lead = c.pick(
            (
                f"The <b>{name}</b> was {article(kind)} {kind} held in {a[city]} in {year}.",
                f"The <b>{name}</b> took place in {a[city]} in {year}.",
            )
        )
        parts = Parts(
            lead,
            [("Type", kind), ("Year", str(year)), ("Host city", a[city]), ("Participants", count)],
        )
        results = [f"{count} participants took part."]
        if winner >= 0:
            parts.infobox.append(("Winner", a[winner]))
            results.insert(
                0,
                c.pick((f"The {kind} was won by {a[winner]}.", f"{a[winner]} won the event.")),
            )
        parts.section("Results", results)
        others = [x for x in self.subjects(city, Rel.LOCATION, K.EVENT) if x != e][:4]
        parts.section("Other events in the city", [], [a[x] for x in others])
        parts.categories = [f"{year} in sport and culture", f"Events in {w.names[city]}"]
        return parts

    def _award(self, e: int, c: Chooser) -> Parts:
        w, a = self.w, self.a
        name, field_name, year = esc(w.names[e]), esc(w.categories[e]), w.years[e]
        presenter = self.rel(e, Rel.PRESENTER)
        lead = c.pick(
            (
                f"The <b>{name}</b> is an award for {field_name} presented by {a[presenter]}.",
                f"The <b>{name}</b> is a prize in {field_name}, first presented in {year} "
                f"by {a[presenter]}.",
            )
        )
        parts = Parts(
            lead,
            [("Field", field_name), ("Presented by", a[presenter]), ("Established", str(year))],
        )
        parts.section("History", [f"The award was first presented in {year}."])
        recipients = self.subjects(e, Rel.AWARD)[:20]
        parts.section("Recipients", [], [self.person_item(p) for p in recipients])
        parts.categories = [f"Awards for {w.categories[e]}", f"Awards established in {year}"]
        return parts


def iter_html(world: World) -> Iterator[tuple[str, str]]:
    """(title, html) for every entity page, then every disambiguation page."""
    renderer = Renderer(world)
    for e in range(len(world)):
        yield world.titles[e], renderer.entity(e)
    for name, ids in disambiguation_groups(world):
        yield name, renderer.disambiguation(name, ids)


def disambiguation_groups(world: World) -> list[tuple[str, list[int]]]:
    """Names shared by several entities, in order of first appearance."""
    return [(name, ids) for name, ids in world.by_name.items() if len(ids) > 1]
