"""How facts are worded: infobox labels, question templates and descriptive phrases.

One table entry per (relation, subject kind) and per (attribute, kind). Templates use
``{s}`` for a phrase naming the subject, ``{o}`` for a phrase naming the other end of a
relation, ``{v}`` for a value and ``{n}`` for a plain name. Both the renderer (labels) and
the question generator (questions, descriptions, visit goals) read these tables, so a
relation is always called the same thing in a page's infobox and in a question about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from wiki_corpus.model import Attr, Kind, Rel

K = Kind


@dataclass(frozen=True)
class RelWording:
    """Wording of one relation for one subject kind."""

    label: str
    """Infobox row header on the subject's page."""
    noun_of: tuple[str, ...]
    """Noun phrases for the object given the subject phrase ``{s}``."""
    ask: tuple[str, ...]
    """Questions whose answer is the object, given ``{s}``."""
    vp: str
    """Verb phrase saying the subject has object ``{o}``."""
    inv_vp: str
    """Verb phrase saying the object has subject ``{o}``."""


@dataclass(frozen=True)
class AttrWording:
    """Wording of one attribute for one kind."""

    label: str
    ask: tuple[str, ...]
    vp: str
    """Verb phrase stating the value ``{v}`` ("was founded in {v}")."""


def _rw(
    label: str, noun_of: tuple[str, ...], ask: tuple[str, ...], vp: str, inv: str
) -> RelWording:
    return RelWording(label, noun_of, ask, vp, inv)


REL_WORDING: dict[tuple[Rel, Kind], RelWording] = {
    (Rel.COUNTRY, K.CITY): _rw(
        "Country",
        ("the country of {s}", "the country in which {s} lies"),
        ("In which country is {s}?", "Which country is {s} located in?"),
        "lies in {o}",
        "contains {o}",
    ),
    (Rel.CAPITAL, K.COUNTRY): _rw(
        "Capital",
        ("the capital of {s}", "the capital city of {s}"),
        ("What is the capital of {s}?", "Which city is the capital of {s}?"),
        "has {o} as its capital",
        "is the capital of {o}",
    ),
    (Rel.MAYOR, K.CITY): _rw(
        "First mayor",
        ("the first mayor of {s}",),
        ("Who was the first mayor of {s}?", "Who served as the first mayor of {s}?"),
        "had {o} as its first mayor",
        "was the first mayor of {o}",
    ),
    (Rel.BIRTHPLACE, K.PERSON): _rw(
        "Place of birth",
        ("the birthplace of {s}", "the city where {s} was born"),
        ("In which city was {s} born?", "Where was {s} born?"),
        "was born in {o}",
        "is the birthplace of {o}",
    ),
    (Rel.EDUCATION, K.PERSON): _rw(
        "Alma mater",
        ("the university where {s} studied", "the alma mater of {s}"),
        ("Which university did {s} attend?", "At which institution did {s} study?"),
        "studied at {o}",
        "is the alma mater of {o}",
    ),
    (Rel.MEMBER_OF, K.PERSON): _rw(
        "Member of",
        ("the band of {s}", "the band in which {s} played"),
        ("Which band was {s} a member of?", "In which band did {s} play?"),
        "was a member of {o}",
        "counted {o} among its members",
    ),
    (Rel.PLAYS_FOR, K.PERSON): _rw(
        "Team",
        ("the team {s} played for", "the club of {s}"),
        ("Which team did {s} play for?", "For which club did {s} play?"),
        "played for {o}",
        "had {o} among its players",
    ),
    (Rel.AWARD, K.PERSON): _rw(
        "Awards",
        ("the award won by {s}", "the prize that {s} received"),
        ("Which award did {s} win?", "Which prize was awarded to {s}?"),
        "won {o}",
        "was awarded to {o}",
    ),
    (Rel.PREDECESSOR, K.PERSON): _rw(
        "Predecessor",
        ("the person whom {s} succeeded as chief executive", "the predecessor of {s}"),
        ("Whom did {s} succeed as chief executive?", "Who was the predecessor of {s}?"),
        "succeeded {o} as chief executive",
        "was succeeded as chief executive by {o}",
    ),
    (Rel.FOUNDER, K.COMPANY): _rw(
        "Founder",
        ("the founder of {s}", "the person who founded {s}"),
        ("Who founded {s}?", "Who was the founder of {s}?"),
        "was founded by {o}",
        "founded {o}",
    ),
    (Rel.CHIEF, K.COMPANY): _rw(
        "Chief executive",
        ("the chief executive of {s}",),
        ("Who is the chief executive of {s}?", "Who leads {s} as chief executive?"),
        "is led by {o}",
        "is the chief executive of {o}",
    ),
    (Rel.LOCATION, K.COMPANY): _rw(
        "Headquarters",
        ("the city where {s} is headquartered", "the headquarters city of {s}"),
        ("In which city is {s} headquartered?", "Where is {s} based?"),
        "is headquartered in {o}",
        "hosts the headquarters of {o}",
    ),
    (Rel.LOCATION, K.UNIVERSITY): _rw(
        "Location",
        ("the city where {s} is located", "the home city of {s}"),
        ("In which city is {s} located?", "Where is {s}?"),
        "is located in {o}",
        "is home to {o}",
    ),
    (Rel.LOCATION, K.BAND): _rw(
        "Origin",
        ("the city where {s} was formed", "the home town of {s}"),
        ("In which city was {s} formed?", "Where was {s} formed?"),
        "was formed in {o}",
        "is where {o} was formed",
    ),
    (Rel.LOCATION, K.TEAM): _rw(
        "City",
        ("the home city of {s}", "the city where {s} is based"),
        ("In which city is {s} based?", "Which city is home to {s}?"),
        "is based in {o}",
        "is home to {o}",
    ),
    (Rel.LOCATION, K.BUILDING): _rw(
        "Location",
        ("the city where {s} stands", "the city in which {s} was built"),
        ("In which city is {s}?", "Where does {s} stand?"),
        "stands in {o}",
        "is the site of {o}",
    ),
    (Rel.LOCATION, K.EVENT): _rw(
        "Host city",
        ("the host city of {s}", "the city where {s} took place"),
        ("In which city was {s} held?", "Which city hosted {s}?"),
        "was held in {o}",
        "hosted {o}",
    ),
    (Rel.STADIUM, K.TEAM): _rw(
        "Home ground",
        ("the home ground of {s}", "the stadium where {s} plays"),
        ("What is the home ground of {s}?", "At which stadium does {s} play?"),
        "plays its home games at {o}",
        "is the home ground of {o}",
    ),
    (Rel.CREATOR, K.BOOK): _rw(
        "Author",
        ("the author of {s}", "the writer of {s}"),
        ("Who wrote {s}?", "Who is the author of {s}?"),
        "was written by {o}",
        "wrote {o}",
    ),
    (Rel.CREATOR, K.FILM): _rw(
        "Directed by",
        ("the director of {s}", "the person who directed {s}"),
        ("Who directed {s}?", "Who was the director of {s}?"),
        "was directed by {o}",
        "directed {o}",
    ),
    (Rel.CREATOR, K.ALBUM): _rw(
        "Artist",
        ("the band that recorded {s}", "the band behind {s}"),
        ("Which band recorded {s}?", "Which band released {s}?"),
        "was recorded by {o}",
        "recorded {o}",
    ),
    (Rel.CREATOR, K.BUILDING): _rw(
        "Architect",
        ("the architect of {s}", "the architect who designed {s}"),
        ("Who designed {s}?", "Who was the architect of {s}?"),
        "was designed by {o}",
        "designed {o}",
    ),
    (Rel.PUBLISHER, K.BOOK): _rw(
        "Publisher",
        ("the publisher of {s}", "the company that published {s}"),
        ("Which company published {s}?", "Who published {s}?"),
        "was published by {o}",
        "published {o}",
    ),
    (Rel.PUBLISHER, K.FILM): _rw(
        "Studio",
        ("the studio that produced {s}", "the production company of {s}"),
        ("Which studio produced {s}?", "Which company produced {s}?"),
        "was produced by {o}",
        "produced {o}",
    ),
    (Rel.PUBLISHER, K.ALBUM): _rw(
        "Label",
        ("the record label of {s}", "the label that released {s}"),
        ("On which label was {s} released?", "Which record label released {s}?"),
        "was released by {o}",
        "released {o}",
    ),
    (Rel.WINNER, K.EVENT): _rw(
        "Winner",
        ("the winner of {s}",),
        ("Who won {s}?", "Who was the winner of {s}?"),
        "was won by {o}",
        "won {o}",
    ),
    (Rel.PRESENTER, K.AWARD): _rw(
        "Presented by",
        ("the institution that presents {s}", "the presenter of {s}"),
        ("Which institution presents {s}?", "Who presents {s}?"),
        "is presented by {o}",
        "presents {o}",
    ),
}

_YEAR_VERBS: dict[Kind, tuple[str, str]] = {
    K.PERSON: ("Born", "was born"),
    K.CITY: ("Founded", "was founded"),
    K.COUNTRY: ("Independence", "became independent"),
    K.COMPANY: ("Founded", "was founded"),
    K.UNIVERSITY: ("Established", "was established"),
    K.BAND: ("Formed", "was formed"),
    K.TEAM: ("Founded", "was founded"),
    K.BOOK: ("Published", "was published"),
    K.FILM: ("Released", "was released"),
    K.ALBUM: ("Released", "was released"),
    K.BUILDING: ("Completed", "was completed"),
    K.EVENT: ("Year", "took place"),
    K.AWARD: ("Established", "was first presented"),
}

_CATEGORY_WORDING: dict[Kind, tuple[str, tuple[str, ...]]] = {
    K.PERSON: ("Occupation", ("What was the occupation of {s}?", "What did {s} work as?")),
    K.CITY: ("Type", ("What kind of settlement is {s}?",)),
    K.COUNTRY: ("Government", ("What form of government does {s} have?",)),
    K.COMPANY: ("Industry", ("What kind of company is {s}?",)),
    K.UNIVERSITY: ("Type", ("What type of institution is {s}?",)),
    K.BAND: ("Genre", ("What genre of music does {s} play?", "Which genre is {s} known for?")),
    K.TEAM: ("Sport", ("Which sport does {s} play?",)),
    K.BOOK: ("Genre", ("What is the genre of {s}?",)),
    K.FILM: ("Genre", ("What is the genre of {s}?",)),
    K.ALBUM: ("Genre", ("What is the genre of {s}?",)),
    K.BUILDING: ("Type", ("What type of building is {s}?",)),
    K.EVENT: ("Type", ("What kind of event was {s}?",)),
    K.AWARD: ("Field", ("In which field is {s} awarded?",)),
}

_NUMBER_WORDING: dict[Kind, tuple[str, tuple[str, ...], str]] = {
    K.CITY: ("Population", ("What is the population of {s}?",), "has a population of {v}"),
    K.COUNTRY: ("Population", ("What is the population of {s}?",), "has a population of {v}"),
    K.COMPANY: ("Employees", ("How many employees does {s} have?",), "has {v} employees"),
    K.UNIVERSITY: ("Students", ("How many students does {s} have?",), "has {v} students"),
    K.BOOK: ("Pages", ("How many pages does {s} have?",), "has {v} pages"),
    K.FILM: (
        "Running time",
        ("What is the running time of {s} in minutes?",),
        "runs for {v} minutes",
    ),
    K.ALBUM: ("Tracks", ("How many tracks are on {s}?",), "has {v} tracks"),
    K.BUILDING: ("Height", ("How tall is {s} in metres?",), "is {v} metres tall"),
    K.TEAM: (
        "League titles",
        ("How many league titles has {s} won?",),
        "has won {v} league titles",
    ),
    K.EVENT: ("Participants", ("How many participants took part in {s}?",), "had {v} participants"),
}

NUMBER_UNITS: dict[Kind, tuple[str, str]] = {
    K.FILM: ("min", "minutes"),
    K.BUILDING: ("m", "metres"),
}
"""Kinds whose number carries a unit: (short form in infoboxes, long form in prose)."""


def _attr_wording() -> dict[tuple[Attr, Kind], AttrWording]:
    table: dict[tuple[Attr, Kind], AttrWording] = {}
    for kind, (label, verb) in _YEAR_VERBS.items():
        asks = (f"In what year {_invert(verb, '{s}')}?", f"When {_invert(verb, '{s}')}?")
        table[(Attr.YEAR, kind)] = AttrWording(label, asks, f"{verb} in {{v}}")
    for kind, (label, asks) in _CATEGORY_WORDING.items():
        table[(Attr.CATEGORY, kind)] = AttrWording(label, asks, "is a {v}")
    for kind, (label, asks, vp) in _NUMBER_WORDING.items():
        table[(Attr.NUMBER, kind)] = AttrWording(label, asks, vp)
    return table


def _invert(verb: str, subject: str) -> str:
    """Question word order: "was founded" -> "was {s} founded", "took place" -> "did {s} take place"."""
    head, _, rest = verb.partition(" ")
    if head in ("was", "is"):
        return f"{head} {subject} {rest}"
    base = {"took": "take", "became": "become"}.get(head, head)
    return f"did {subject} {base} {rest}".rstrip()


ATTR_WORDING: dict[tuple[Attr, Kind], AttrWording] = _attr_wording()


def year_verb(kind: Kind) -> str:
    """The verb phrase of a kind's year: "was founded", "was born", ..."""
    return _YEAR_VERBS[kind][1]


def head_noun(kind: Kind, category: str) -> str:
    """The noun phrase naming an entity by its category: "crime novel", "river port"."""
    if kind in (K.BAND, K.BOOK, K.FILM, K.ALBUM, K.TEAM):
        noun = {K.BAND: "band", K.BOOK: "novel", K.FILM: "film", K.ALBUM: "album", K.TEAM: "team"}
        return f"{category} {noun[kind]}"
    if kind is K.EVENT:
        return category
    if kind is K.AWARD:
        return f"award for {category}"
    return category


KIND_NOUN: dict[Kind, str] = {
    K.PERSON: "person",
    K.CITY: "city",
    K.COUNTRY: "country",
    K.UNIVERSITY: "institution",
    K.COMPANY: "company",
    K.BAND: "band",
    K.TEAM: "team",
    K.BOOK: "novel",
    K.FILM: "film",
    K.ALBUM: "album",
    K.BUILDING: "building",
    K.EVENT: "event",
    K.AWARD: "award",
}
"""The plain noun of a kind; also the disambiguator of works: "Glass Harbour (film)"."""


def join_names(items: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def article(noun_phrase: str) -> str:
    """The indefinite article for a noun phrase."""
    return "an" if noun_phrase[:1].lower() in "aeiou" else "a"


def format_number(value: int) -> str:
    """A count with thousands separators, as pages state it: 1234567 -> "1,234,567"."""
    return f"{value:,}"


def demonym(country: str) -> str:
    """An adjective for a fictional country: "Vandoria" -> "Vandorian"."""
    if country.endswith("ia") or country.endswith("a"):
        return country + "n"
    if country.endswith(("e", "i", "o", "u", "y")):
        return country[:-1] + "ian"
    return country + "ian"
