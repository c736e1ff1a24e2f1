"""Plausible but fictional names, built from syllables and small word lists.

Names are made so that no language model can know facts about them: given names and
surnames, places and countries are syllable compounds ("Orlan Vesk", "Tarselmouth",
"Vandoria"); titles of works, bands, companies and buildings combine English words with
such compounds ("The Glass Harbour", "Vesk Pictures", "Tarsel Central Library").

All randomness comes from the ``numpy.random.Generator`` passed in, so the same seed gives
the same names. :class:`NameBook` remembers every name handed out and never repeats one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ONSETS = """b br c ch d dr f g gr h k kr l m n p pr r s sh st t tr v w z th sk gl vr""".split()  # noqa: SIM905
SIMPLE_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z"]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "a", "e", "o", "ei", "ia", "ou", "y"]
CODAS = ["", "", "", "", "n", "r", "l", "s", "m", "nd", "rt", "sk", "th", "v", "ll", "rn"]
GIVEN_ENDINGS = """a o an el in ia ek us ine eth ard is ar en ette ira on""".split()  # noqa: SIM905
SURNAME_ENDINGS = ["", "", "sen", "ard", "ley", "wick", "mont", "ev", "ik", "ston", "holm"]
SURNAME_ENDINGS += ["berg", "ez", "ow", "ane", "ett", "rin", "quist", "ovic", "ier", "as"]
PLACE_ENDINGS = ["", "mouth", "ford", "holm", "by", "stad", "ora", "ane", "wick", "haven"]
PLACE_ENDINGS += ["dale", "burg", "ara", "ica", "et", "ton", "mere", "gate"]
COUNTRY_ENDINGS = ["ia", "ora", "mark", "avia", "esh", "onia", "and", "ene"]

ADJECTIVES = """Silent Glass Hollow Crimson Amber Distant Broken Quiet Northern Iron Velvet Pale
Burning Golden Secret Sleeping Wild Bitter Lonely Hidden Last Winter Summer Copper
Silver Salt Paper Electric Endless Fading Forgotten Lost Midnight Morning Narrow
Painted Restless Scarlet Shattered Stolen Strange Sunken Tender Violet Wandering Woven
Ashen Bright Cold Dark Deep Falling Green Grey High Long Open Red Rising Slow Still
Sweet Twin White Black Blue Brass Crooked Drowned Empty Gentle""".split()  # noqa: SIM905
NOUNS = """Harbour Lantern River Garden Mirror Window Bridge Tower Shadow Orchard Engine Letter
Island Mountain Forest Valley Station Bell Crown Feather Flame Compass Anchor Ladder
Voyage Meadow Kingdom Signal Circus Machine Carnival Horizon Lighthouse Archive
Theatre Market Palace Winter Ocean Desert Comet Planet Garden Hunter Stranger Witness
Daughter Brother Sister Widow Sailor Soldier Dancer Painter Singer Pilgrim Falcon
Raven Heron Wolf Fox Stag Swan Orchid Thorn Willow Ember Storm Tide Wave Cloud Stone
Ring Key Door Road Song Dream Promise Secret Season Harvest Canal Quarry Atlas Cipher""".split()  # noqa: SIM905
MASCOTS = """Wolves Falcons Otters Herons Badgers Comets Mariners Rovers Stags Foxes Ravens Lions
Bears Hawks Pilots Miners Sailors Titans Hornets Owls""".split()  # noqa: SIM905

COMPANY_SUFFIXES = {
    "publishing house": ("Press", "Books", "Publishing"),
    "record label": ("Records", "Sound", "Music"),
    "film studio": ("Pictures", "Films", "Studios"),
    "shipping company": ("Shipping", "Lines", "Maritime"),
    "brewery": ("Brewery", "Breweries", "Ales"),
    "railway company": ("Railway", "Rail", "Railways"),
    "software company": ("Systems", "Software", "Labs"),
    "bank": ("Bank", "Savings Bank", "& Co."),
    "textile manufacturer": ("Textiles", "Mills", "Weavers"),
    "airline": ("Air", "Airways", "Aviation"),
    "shipyard": ("Shipyard", "Yards", "Dockworks"),
    "insurance company": ("Insurance", "Assurance", "Mutual"),
}
UNIVERSITY_PATTERNS = {
    "public university": ("University of {c}", "{c} State University", "{c} University"),
    "technical university": ("{c} Institute of Technology", "{c} Polytechnic"),
    "art academy": ("{c} Academy of Arts", "{s} Academy of Fine Arts"),
    "medical school": ("{c} Medical School", "{s} School of Medicine"),
    "private university": ("{s} University", "{s} College"),
}
BUILDING_PATTERNS = {
    "tower": ("{s} Tower", "{w} Tower"),
    "library": ("{c} Central Library", "{s} Library"),
    "concert hall": ("{s} Hall", "{c} Concert Hall"),
    "stadium": ("{s} Park", "{c} Stadium", "{w} Arena"),
    "bridge": ("{s} Bridge", "{w} Bridge"),
    "museum": ("{c} Museum", "{s} Museum", "{c} Museum of Art"),
    "railway station": ("{c} Central Station", "{c} {w} Station"),
    "cathedral": ("{c} Cathedral", "Cathedral of Saint {g}"),
    "opera house": ("{c} Opera House", "{s} Opera House"),
    "town hall": ("{c} Town Hall", "Old Town Hall of {c}"),
    "lighthouse": ("{w} Lighthouse", "{s} Point Lighthouse"),
}
TEAM_PATTERNS = ("{c} {m}", "FC {c}", "{c} Athletic", "{c} United", "Sporting {c}", "{c} {m}")
AWARD_PATTERNS = ("{s} Prize for {F}", "{s} Medal", "{g} {s} Award", "{s} Prize")
BAND_PATTERNS = (
    "The {A} {P}",
    "{A} {N}",
    "{P} of {w}",
    "{g} and the {P}",
    "The {w} {P}",
)
WORK_PATTERNS = (
    "The {A} {N}",
    "{A} {P}",
    "The {N} of {w}",
    "{P} of {w}",
    "{Art} {N} for {g}",
    "The {g} {P}",
    "{w}",
    "The Last {N} of {w}",
    "{A} {N} in {w}",
    "Return to {w}",
)


class NameBook:
    """Hands out fictional names, never the same one twice."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.taken: set[str] = set()
        self._word_batch: list[str] = []

    # -- syllable compounds ---------------------------------------------------------------
    def _words(self, n: int, syllables: int, endings: list[str] | tuple[str, ...]) -> list[str]:
        """``n`` syllable compounds; consonant clusters are kept short to stay pronounceable."""
        rng = self.rng

        def draw(options: list[str] | tuple[str, ...]) -> np.ndarray:
            return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]

        word = draw(ONSETS) + draw(VOWELS)
        for _ in range(syllables - 1):
            coda = draw(CODAS)
            word = word + coda + np.where(coda == "", draw(ONSETS), draw(SIMPLE_ONSETS))
            word = word + draw(VOWELS)
        ending = draw(endings)
        vowel_start = np.array([e[:1] in "aeiouy" and e != "" for e in ending.tolist()])
        link = np.where(vowel_start, draw(SIMPLE_ONSETS), np.where(ending == "", draw(CODAS), ""))
        return [_tidy(w) for w in (word + link + ending).tolist()]

    def _unique(self, n: int, make: Callable[[int], list[str]]) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            for word in make(max(16, (n - len(out)) * 2)):
                if word not in self.taken and len(word) > 2:
                    self.taken.add(word)
                    out.append(word)
                    if len(out) == n:
                        break
        return out

    def pool(self, n: int, syllables: int, endings: list[str] | tuple[str, ...]) -> list[str]:
        """``n`` distinct words, not reserved (for building other names from)."""
        seen: set[str] = set()
        out: list[str] = []
        while len(out) < n:
            for word in self._words(max(16, n * 2), syllables, endings):
                if word not in seen and len(word) > 2:
                    seen.add(word)
                    out.append(word)
        return out[:n]

    def countries(self, n: int) -> list[str]:
        return self._unique(n, lambda m: self._words(m, 2, COUNTRY_ENDINGS))

    def places(self, n: int) -> list[str]:
        return self._unique(n, lambda m: self._words(m, 2, PLACE_ENDINGS))

    def people(self, n: int) -> list[str]:
        """Full names "Given Surname" from pools sized to keep collisions rare."""
        given = self.pool(max(50, int(n**0.5) * 6), 1, GIVEN_ENDINGS)
        surnames = self.pool(max(200, n // 3), 2, SURNAME_ENDINGS)

        def make(m: int) -> list[str]:
            g = self.rng.integers(0, len(given), m).tolist()
            s = self.rng.integers(0, len(surnames), m).tolist()
            return [f"{given[i]} {surnames[j]}" for i, j in zip(g, s)]

        return self._unique(n, make)

    # -- composite names ------------------------------------------------------------------
    def compose(self, patterns: tuple[str, ...], fill: Callable[[], dict[str, str]]) -> str:
        """A new name from one of ``patterns`` filled by ``fill()``; retries until unused."""
        for attempt in range(200):
            pattern = patterns[int(self.rng.integers(len(patterns)))]
            name = pattern.format(**fill())
            if attempt > 100:
                name = f"{name} {_roman(attempt - 99)}"
            if name not in self.taken:
                self.taken.add(name)
                return name
        raise RuntimeError(f"Could not find an unused name for patterns {patterns}.")

    def word(self) -> str:
        """One place-like word (not reserved), for composite names; drawn from batches."""
        if not self._word_batch:
            self._word_batch = self._words(1024, 2, PLACE_ENDINGS)[::-1]
        return self._word_batch.pop()

    def pick(self, words: list[str] | tuple[str, ...]) -> str:
        return words[int(self.rng.integers(len(words)))]


def plural(noun: str) -> str:
    """English plural of the nouns used in titles: "Witness" -> "Witnesses", "Wolf" -> "Wolves"."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def near_variant(surname: str, k: int) -> str:
    """A surname that differs from ``surname`` by its ending: "Vesk" -> "Veske"."""
    endings = ("e", "er", "o", "s", "a", "en")
    return _tidy(surname + endings[k % len(endings)])


def _tidy(word: str) -> str:
    """Capitalise, dropping a letter that would triple or make a run of four consonants."""
    out: list[str] = []
    run = 0
    for ch in word:
        consonant = ch not in "aeiouy"
        if out and ch == out[-1] and (len(out) < 2 or ch == out[-2] or ch not in "lnrst"):
            continue
        if consonant and run >= 3:
            continue
        run = run + 1 if consonant else 0
        out.append(ch)
    return "".join(out).capitalize()


def _roman(k: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, sym in numerals:
        while k >= value:
            out += sym
            k -= value
    return out
