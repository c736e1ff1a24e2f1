"""The vocabulary of the fictional world: entity kinds, attributes and relations.

Every entity has one :class:`Kind`, a name, a unique page title and three typed attributes
(:class:`Attr`): a characteristic year (born, founded, published, completed, ...), a
category (occupation, settlement type, industry, genre, sport, ...) and, for most kinds, a
count or measure (population, employees, pages, height, ...). Relations (:class:`Rel`) are
functional: each subject has at most one object, so following a relation from one entity
always leads to one entity. What a relation means depends on the subject's kind (the
``CREATOR`` of a film is its director, of a building its architect); :data:`REL_SPECS`
says which kinds it links. The wording of facts lives in :mod:`wiki_corpus.wording`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """An entity type. The member order is the order of the id blocks in a world."""

    COUNTRY = "country"
    CITY = "city"
    PERSON = "person"
    UNIVERSITY = "university"
    COMPANY = "company"
    BAND = "band"
    TEAM = "team"
    BOOK = "book"
    FILM = "film"
    ALBUM = "album"
    BUILDING = "building"
    EVENT = "event"
    AWARD = "award"


KINDS: tuple[Kind, ...] = tuple(Kind)


class Attr(str, Enum):
    """A typed attribute; its meaning per kind is in ``wording.ATTR_WORDING``."""

    YEAR = "year"
    CATEGORY = "category"
    NUMBER = "number"


class Rel(str, Enum):
    """A functional relation from a subject entity to an object entity."""

    COUNTRY = "country"
    CAPITAL = "capital"
    MAYOR = "mayor"
    BIRTHPLACE = "birthplace"
    EDUCATION = "education"
    MEMBER_OF = "member_of"
    PLAYS_FOR = "plays_for"
    AWARD = "award"
    PREDECESSOR = "predecessor"
    FOUNDER = "founder"
    CHIEF = "chief"
    LOCATION = "location"
    STADIUM = "stadium"
    CREATOR = "creator"
    PUBLISHER = "publisher"
    WINNER = "winner"
    PRESENTER = "presenter"


@dataclass(frozen=True)
class RelSpec:
    """Which subject kinds a relation is defined on and which kinds its objects have."""

    rel: Rel
    subjects: tuple[Kind, ...]
    objects: tuple[Kind, ...]


K = Kind
REL_SPECS: dict[Rel, RelSpec] = {
    spec.rel: spec
    for spec in (
        RelSpec(Rel.COUNTRY, (K.CITY,), (K.COUNTRY,)),
        RelSpec(Rel.CAPITAL, (K.COUNTRY,), (K.CITY,)),
        RelSpec(Rel.MAYOR, (K.CITY,), (K.PERSON,)),
        RelSpec(Rel.BIRTHPLACE, (K.PERSON,), (K.CITY,)),
        RelSpec(Rel.EDUCATION, (K.PERSON,), (K.UNIVERSITY,)),
        RelSpec(Rel.MEMBER_OF, (K.PERSON,), (K.BAND,)),
        RelSpec(Rel.PLAYS_FOR, (K.PERSON,), (K.TEAM,)),
        RelSpec(Rel.AWARD, (K.PERSON,), (K.AWARD,)),
        RelSpec(Rel.PREDECESSOR, (K.PERSON,), (K.PERSON,)),
        RelSpec(Rel.FOUNDER, (K.COMPANY,), (K.PERSON,)),
        RelSpec(Rel.CHIEF, (K.COMPANY,), (K.PERSON,)),
        RelSpec(
            Rel.LOCATION,
            (K.UNIVERSITY, K.COMPANY, K.BAND, K.TEAM, K.BUILDING, K.EVENT),
            (K.CITY,),
        ),
        RelSpec(Rel.STADIUM, (K.TEAM,), (K.BUILDING,)),
        RelSpec(Rel.CREATOR, (K.BOOK, K.FILM, K.ALBUM, K.BUILDING), (K.PERSON, K.BAND)),
        RelSpec(Rel.PUBLISHER, (K.BOOK, K.FILM, K.ALBUM), (K.COMPANY,)),
        RelSpec(Rel.WINNER, (K.EVENT,), (K.PERSON,)),
        RelSpec(Rel.PRESENTER, (K.AWARD,), (K.COMPANY, K.UNIVERSITY)),
    )
}

RELS_OF_KIND: dict[Kind, tuple[Rel, ...]] = {
    kind: tuple(r for r, spec in REL_SPECS.items() if kind in spec.subjects) for kind in KINDS
}
"""The relations each kind can be the subject of, in a fixed order."""

# Category vocabularies. Works, bands and teams store a bare genre or sport ("crime",
# "football"); wording.head_noun turns it into a noun phrase ("crime novel").
OCCUPATIONS_OTHER = (
    "physicist",
    "painter",
    "chemist",
    "journalist",
    "engineer",
    "historian",
    "composer",
    "sculptor",
    "botanist",
)
MUSICIAN_ROLES = ("singer", "guitarist", "drummer", "bassist", "keyboardist")
SPORT_PLAYERS = {
    "football": "footballer",
    "basketball": "basketball player",
    "ice hockey": "ice hockey player",
    "rugby": "rugby player",
    "handball": "handball player",
}
CITY_TYPES = (
    "river port",
    "market town",
    "mountain town",
    "coastal city",
    "mining town",
    "spa town",
    "garrison town",
    "lake town",
    "cathedral city",
)
GOVERNMENTS = ("republic", "kingdom", "federation", "principality", "grand duchy")
INDUSTRIES = (
    "publishing house",
    "record label",
    "film studio",
    "shipping company",
    "brewery",
    "railway company",
    "software company",
    "bank",
    "textile manufacturer",
    "airline",
    "shipyard",
    "insurance company",
)
UNIVERSITY_TYPES = (
    "public university",
    "technical university",
    "art academy",
    "medical school",
    "private university",
)
MUSIC_GENRES = ("folk", "jazz", "rock", "synth-pop", "post-punk", "blues", "metal", "bluegrass")
BOOK_GENRES = (
    "crime",
    "historical",
    "science fiction",
    "fantasy",
    "literary",
    "gothic",
    "adventure",
    "satirical",
)
FILM_GENRES = (
    "drama",
    "comedy",
    "thriller",
    "western",
    "musical",
    "documentary",
    "horror",
    "war",
)
BUILDING_TYPES = (
    "tower",
    "library",
    "concert hall",
    "stadium",
    "bridge",
    "museum",
    "railway station",
    "cathedral",
    "opera house",
    "town hall",
    "lighthouse",
)
EVENT_TYPES = {
    "marathon": "long-distance runner",
    "chess championship": "chess player",
    "film festival": "film director",
    "piano competition": "pianist",
}
AWARD_FIELDS = ("literature", "architecture", "music", "film", "science", "sport", "journalism")

FIELD_OF_OCCUPATION = {
    "novelist": "literature",
    "architect": "architecture",
    "pianist": "music",
    "composer": "music",
    "film director": "film",
    "physicist": "science",
    "chemist": "science",
    "engineer": "science",
    "botanist": "science",
    "long-distance runner": "sport",
    "chess player": "sport",
    "journalist": "journalism",
    **{role: "music" for role in MUSICIAN_ROLES},
    **{player: "sport" for player in SPORT_PLAYERS.values()},
}
"""The award field a person of each occupation can win a prize in."""
