"""The two validators every generated task must pass before it is kept.

1. :func:`check_unique` — against the *world*: the question's starting description picks
   exactly one entity, the path from it reaches exactly one answer, and that answer is the
   task's answer. This rejects, for instance, a question about "Orlan Vesk" when two people
   share that name and the question does not say which.
2. :func:`check_grounded` — against the *rendered pages*: every fact the question needs is
   stated in the text of its gold page, extracted from the HTML with BeautifulSoup (lxml),
   so a renderer bug or a page that omits a fact cannot produce an unanswerable task. Each
   fact is an :class:`Evidence`: a page URL and a string (an entity name, a year, a
   number as written, a category) that must occur in that page's ``<main>`` text,
   compared case-insensitively with whitespace squeezed.

Rejection reasons are short stable strings, counted in ``meta.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from bs4 import BeautifulSoup, SoupStrainer

from wiki_corpus.model import Rel
from wiki_corpus.query import Query, resolve
from wiki_corpus.world import World

NOT_UNIQUE = "not_unique"
WRONG_ANSWER = "wrong_answer"
UNGROUNDED = "ungrounded"
MISSING_PAGE = "missing_page"
DUPLICATE = "duplicate"
_SPACES = re.compile(r"\s+")
_MAIN = SoupStrainer("main")


@dataclass(frozen=True)
class Evidence:
    """A fact a task relies on: ``text`` must be stated on the page at ``url``."""

    url: str
    text: str


class Verdict(NamedTuple):
    """The outcome of a validator: ``reason`` is empty when ``ok``."""

    ok: bool
    reason: str = ""
    detail: str = ""


OK = Verdict(True)


def normalize(text: str) -> str:
    """Casefold and squeeze whitespace, for substring tests on page text."""
    return _SPACES.sub(" ", text).strip().casefold()


def page_text(html: str) -> str:
    """The visible text of a page's ``<main>`` element (whole document if it has none)."""
    soup = BeautifulSoup(html, "lxml", parse_only=_MAIN)
    if not soup.find("main"):
        soup = BeautifulSoup(html, "lxml")
    return soup.get_text(" ")


class PageTexts:
    """Normalized page text by URL, extracted once per page and cached."""

    def __init__(self, html_of: Callable[[str], str | None]) -> None:
        self.html_of = html_of
        self.cache: dict[str, str | None] = {}

    def __call__(self, url: str) -> str | None:
        if url not in self.cache:
            html = self.html_of(url)
            self.cache[url] = None if html is None else normalize(page_text(html))
        return self.cache[url]


def check_unique(world: World, query: Query, answer: str) -> Verdict:
    """Validator 1: exactly one entity fits the question, and it leads to ``answer`` only."""
    res = resolve(world, query)
    if len(res.start) != 1:
        return Verdict(False, NOT_UNIQUE, f"{len(res.start)} entities match the description")
    ends_in_entity = not query.path or isinstance(query.path[-1], Rel)
    if ends_in_entity and len(res.ends) != 1:
        return Verdict(False, NOT_UNIQUE, f"the path reaches {len(res.ends)} entities")
    if len(res.values) != 1:
        return Verdict(False, NOT_UNIQUE, f"the path reaches {len(res.values)} answers")
    if res.values[0] != answer:
        return Verdict(
            False, WRONG_ANSWER, f"expected {answer!r}, the world says {res.values[0]!r}"
        )
    return OK


def check_grounded(evidence: tuple[Evidence, ...], texts: Callable[[str], str | None]) -> Verdict:
    """Validator 2: every evidence string occurs in the extracted text of its page."""
    for fact in evidence:
        text = texts(fact.url)
        if text is None:
            return Verdict(False, MISSING_PAGE, f"no page at {fact.url}")
        if normalize(fact.text) not in text:
            return Verdict(False, UNGROUNDED, f"{fact.text!r} is not stated on {fact.url}")
    return OK
