"""The page store: pages looked up by URL, id, title or alias, with their parsed text cached.

A key is only ever a key into the corpus: URLs on the wiki's own host (``http`` or
``https``, percent-encoded or not, with or without a trailing slash, or the relative
``/wiki/Title`` form), page ids, and titles compared without case and with ``_`` read as a
space. A title without its disambiguator ("Orlan Vesk" for "Orlan Vesk (architect)",
"Drorkygora" for "Drorkygora, Droulnigand") redirects when exactly one page carries it.
Nothing here opens a file or a connection; unknown keys get the closest titles from a
character-trigram index.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from webanchor_env.reader import ParsedPage, parse_html
from wiki_corpus import Page

MAX_KEY_CHARS = 2048
"""Longer keys cannot name a page; they are cut before any processing."""

_DISAMBIGUATOR = re.compile(r"^(.*?)\s*\([^()]*\)$")  # "Orlan Vesk (architect)"
_QUALIFIER = re.compile(r"^([^,]+),\s+[^,]+$")  # "Drorkygora, Droulnigand"
_SPACES = re.compile(r"\s+")
_WIKI_PATH = "/wiki/"


def normalize_title(text: str) -> str:
    """The comparison form of a title: NFC, ``_`` as space, squeezed spaces, casefolded."""
    text = unicodedata.normalize("NFC", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip().casefold()


def _trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class PageStore:
    """All pages of a corpus, their lookup tables, and their parsed text (parsed once)."""

    def __init__(self, pages: Sequence[Page]) -> None:
        self.pages: list[Page] = list(pages)
        self._parsed: list[ParsedPage | list[Any] | None] = [None] * len(self.pages)
        self._by_id: dict[str, int] = {}
        self._by_url: dict[str, int] = {}
        self._by_title: dict[str, int] = {}
        self._hosts: set[str] = set()
        self._trigram_index: dict[str, list[int]] | None = None
        for i, page in enumerate(self.pages):
            self._by_id.setdefault(page.id, i)
            host_path = self._host_path(page.url)
            if host_path is not None:
                self._hosts.add(host_path[0])
                self._by_url.setdefault(host_path[0] + host_path[1], i)
            self._by_title.setdefault(normalize_title(page.title), i)
        self.redirects: dict[str, int] = self._redirects()

    def __len__(self) -> int:
        return len(self.pages)

    # ----------------------------------------------------------------- lookup

    def _redirects(self) -> dict[str, int]:
        """Titles shorn of "(…)" or ", place" that name exactly one page and no real title."""
        bases: dict[str, list[int]] = {}
        for i, page in enumerate(self.pages):
            match = _DISAMBIGUATOR.match(page.title.strip()) or _QUALIFIER.match(page.title)
            if match and match.group(1).strip():
                bases.setdefault(normalize_title(match.group(1)), []).append(i)
        return {
            base: hits[0]
            for base, hits in bases.items()
            if len(hits) == 1 and base not in self._by_title
        }

    @staticmethod
    def _host_path(url: str) -> tuple[str, str] | None:
        """``(host, decoded path)`` of an absolute http(s) URL, without query or fragment."""
        try:
            parts = urlsplit(url)
            scheme, hostname, port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError:
            return None
        if scheme not in ("http", "https") or not hostname or port is not None:
            return None
        host = hostname.lower().removeprefix("www.")
        path = unquote(parts.path).rstrip("/")
        return host, path

    def on_wiki_host(self, url: str) -> bool:
        """Whether ``url`` is an http(s) URL on the host of this corpus's pages."""
        host_path = self._host_path(url[:MAX_KEY_CHARS].strip())
        return host_path is not None and host_path[0] in self._hosts

    def lookup(self, key: object) -> int | None:
        """The position of the page a key names (URL, id, title or alias), or ``None``."""
        if not isinstance(key, str):
            return None
        key = key[:MAX_KEY_CHARS].strip()
        if not key:
            return None
        path: str | None = None
        lowered = key.lower()
        if lowered.startswith(("http://", "https://", "//")):
            host_path = self._host_path(key if not key.startswith("//") else "https:" + key)
            if host_path is None or host_path[0] not in self._hosts:
                return None
            exact = self._by_url.get(host_path[0] + host_path[1])
            if exact is not None:
                return exact
            path = host_path[1]
        elif key.startswith(_WIKI_PATH):
            path = unquote(key.split("#", 1)[0].split("?", 1)[0]).rstrip("/")
        if path is not None:
            if not path.startswith(_WIKI_PATH):
                return None
            return self._title_lookup(path[len(_WIKI_PATH) :])
        if key in self._by_id:
            return self._by_id[key]
        hit = self._title_lookup(key)
        if hit is None and "%" in key:
            hit = self._title_lookup(unquote(key))
        return hit

    def _title_lookup(self, title: str) -> int | None:
        norm = normalize_title(title)
        hit = self._by_title.get(norm)
        return hit if hit is not None else self.redirects.get(norm)

    def get(self, key: object) -> Page | None:
        """The page a key names, or ``None``."""
        i = self.lookup(key)
        return None if i is None else self.pages[i]

    # ----------------------------------------------------------------- parsed text

    def parsed(self, i: int) -> ParsedPage:
        """The parsed page at position ``i``; parsed on first use, then cached."""
        cached = self._parsed[i]
        if cached is None:
            page = self.pages[i]
            cached = self._parsed[i] = parse_html(page.html, title=page.title, url=page.url)
        elif not isinstance(cached, ParsedPage):  # its JSON form, read from the index cache
            cached = self._parsed[i] = ParsedPage.from_json(cached)
        return cached

    def text(self, i: int) -> str:
        """The readable text of the page at position ``i``."""
        return self.parsed(i).text

    def parse_all(self, *, show_progress: bool = False) -> list[ParsedPage]:
        """Parse every page not parsed yet (with a progress bar if asked); all parsed pages."""
        todo = [i for i, p in enumerate(self._parsed) if p is None]
        if todo:
            from tqdm.auto import tqdm

            for i in tqdm(todo, desc="Parsing pages", disable=not show_progress, unit="page"):
                self.parsed(i)
        return [self.parsed(i) for i, p in enumerate(self._parsed) if p is not None]

    def set_parsed(self, parsed: Sequence[ParsedPage | list[Any]]) -> None:
        """Adopt parses made earlier (read from the index cache), one per page, in order;
        a page still in its JSON form (:meth:`ParsedPage.to_json`) is built on first use."""
        if len(parsed) != len(self.pages):
            raise ValueError(f"Expected {len(self.pages)} parsed pages, got {len(parsed)}.")
        self._parsed = list(parsed)

    # ----------------------------------------------------------------- suggestions

    def _trigrams_index(self) -> dict[str, list[int]]:
        if self._trigram_index is None:
            index: dict[str, list[int]] = {}
            for i, page in enumerate(self.pages):
                for gram in _trigrams(normalize_title(page.title)):
                    index.setdefault(gram, []).append(i)
            self._trigram_index = index
        return self._trigram_index

    def closest_titles(self, key: object, n: int = 5) -> list[str]:
        """Up to ``n`` titles most like ``key`` (a title or a wiki URL), best first."""
        return [self.pages[i].title for i in self.closest_pages(key, n)]

    def closest_pages(self, key: object, n: int = 5) -> list[int]:
        """Positions of up to ``n`` pages whose titles are most like ``key``, best first.

        Candidates are the pages sharing the most character trigrams with the key (rare
        trigrams first, so common ones cost little on 100k titles); difflib ranks them.
        The trigram index is built on first use.
        """
        if not isinstance(key, str) or n <= 0:
            return []
        text = key[:200]
        if "/wiki/" in text:
            text = text.rsplit("/wiki/", 1)[1]
        text = normalize_title(unquote(text.split("#", 1)[0]))
        if not text:
            return []
        index = self._trigrams_index()
        grams = sorted((g for g in _trigrams(text) if g in index), key=lambda g: len(index[g]))
        counts: Counter[int] = Counter()
        budget = 200_000
        for gram in grams:
            postings = index[gram]
            if len(postings) > budget and counts:
                break
            budget -= len(postings)
            counts.update(postings)
        candidates = [i for i, _ in counts.most_common(max(20, 4 * n))]
        matcher = difflib.SequenceMatcher(a=None, b=text, autojunk=False)
        scored = []
        for i in candidates:
            matcher.set_seq1(normalize_title(self.pages[i].title))
            scored.append((-matcher.ratio(), i))
        scored.sort()
        return [i for _, i in scored[:n]]
