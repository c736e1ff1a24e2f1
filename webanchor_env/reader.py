"""HTML to readable page text: title, lead, infobox, sections, lists, categories and links.

A page is parsed once with BeautifulSoup (lxml parser) into a frozen :class:`ParsedPage`
whose ``text`` is what Visit shows. Navigation boilerplate (``<nav>``, ``<footer>``,
scripts, styles) is dropped. The reader knows the layout of the generated wiki
(``<p class="lead">``, ``<table class="infobox">``, ``<div class="catlinks">``) but accepts
any HTML: without ``<main>`` it reads ``<body>``, and stray text becomes paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Doctype, ProcessingInstruction

PARSER_VERSION = 1
"""Bumped whenever the parsed output changes, so cached parses are rebuilt."""

_DROP_TAGS = frozenset(
    {"nav", "footer", "script", "style", "noscript", "template", "head", "title", "iframe"}
)
_DROP_CLASSES = frozenset({"wiki-nav", "wiki-footer", "navbox", "mw-editsection", "noprint"})
_HEADINGS = {"h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CONTAINERS = frozenset(
    {"main", "body", "html", "div", "section", "article", "aside", "header", "figure", "center"}
    | {"blockquote", "form", "fieldset", "details", "tbody", "thead", "dl"}
)
_PARAGRAPHS = frozenset({"p", "pre", "dd", "dt", "caption", "address"})
_LISTS = frozenset({"ul", "ol"})
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd"}
    | {"mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var"}
    | {"wbr", "del", "ins", "img", "label"}
)
_SKIP_STRINGS = (Comment, Doctype, ProcessingInstruction)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Link:
    """An outgoing link: its anchor text and its absolute URL."""

    text: str
    url: str


@dataclass(frozen=True)
class Section:
    """A headed part of a page; ``blocks`` are paragraphs, list blocks or table blocks."""

    heading: str
    level: int
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class ParsedPage:
    """The readable content of one page, and ``text``: the whole of it as Visit shows it."""

    title: str
    url: str
    lead: tuple[str, ...]
    infobox: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    categories: tuple[str, ...]
    links: tuple[Link, ...]
    text: str

    @classmethod
    def build(
        cls,
        title: str,
        url: str,
        lead: tuple[str, ...] = (),
        infobox: tuple[tuple[str, str], ...] = (),
        sections: tuple[Section, ...] = (),
        categories: tuple[str, ...] = (),
        links: tuple[Link, ...] = (),
    ) -> ParsedPage:
        """A parsed page whose ``text`` is rendered from its parts."""
        text = render_text(title, url, lead, infobox, sections, categories, links)
        return cls(title, url, lead, infobox, sections, categories, links, text)

    def to_json(self) -> list[Any]:
        """A compact JSON form (``text`` is re-rendered on load, not stored)."""
        return [
            self.title,
            self.url,
            list(self.lead),
            [list(kv) for kv in self.infobox],
            [[s.heading, s.level, list(s.blocks)] for s in self.sections],
            list(self.categories),
            [[link.text, link.url] for link in self.links],
        ]

    @classmethod
    def from_json(cls, obj: list[Any]) -> ParsedPage:
        """Inverse of :meth:`to_json`."""
        title, url, lead, infobox, sections, categories, links = obj
        return cls.build(
            title,
            url,
            tuple(lead),
            tuple((k, v) for k, v in infobox),
            tuple(Section(h, lvl, tuple(b)) for h, lvl, b in sections),
            tuple(categories),
            tuple(Link(t, u) for t, u in links),
        )


def render_text(
    title: str,
    url: str,
    lead: tuple[str, ...],
    infobox: tuple[tuple[str, str], ...],
    sections: tuple[Section, ...],
    categories: tuple[str, ...],
    links: tuple[Link, ...],
) -> str:
    """The page as plain text: markdown-like headings, ``key: value`` infobox lines."""
    parts = [f"# {title}"]
    parts.extend(lead)
    if infobox:
        parts.append("Infobox:\n" + "\n".join(f"{k}: {v}" if k else v for k, v in infobox))
    for section in sections:
        parts.append("#" * section.level + " " + section.heading)
        parts.extend(section.blocks)
    if categories:
        parts.append("Categories: " + "; ".join(categories))
    if links:
        parts.append("Links:\n" + "\n".join(f"- [{ln.text}]({ln.url})" for ln in links))
    return "\n\n".join(parts)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _skipped(tag: Tag) -> bool:
    """Boilerplate that is never read: navigation, footers, scripts, styles."""
    if tag.name in _DROP_TAGS:
        return True
    classes = tag.get("class")
    return bool(classes) and not _DROP_CLASSES.isdisjoint(classes)


def _child_tags(node: Tag, names: frozenset[str] | tuple[str, ...]) -> list[Tag]:
    return [c for c in node.contents if isinstance(c, Tag) and c.name in names]


class _Reader:
    """Walks a page's tree once, in document order, gathering its readable parts.

    A hand-written walk over ``.contents`` (rather than ``find_all``/``get_text``) keeps a
    4,000-page corpus to seconds: bs4's generic search machinery dominated the profile.
    """

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.lead: list[str] = []
        self.infobox: list[tuple[str, str]] = []
        self.sections: list[tuple[str, int, list[str]]] = []
        self.categories: list[str] = []
        self.links: list[Link] = []
        self.title: str | None = None
        self._seen_urls = {base_url}
        self._inline: list[str] = []

    # ------------------------------------------------------------- inline text

    def text(self, node: Tag, *, stop: frozenset[str] = frozenset(), links: bool = True) -> str:
        """The clean text of ``node``; ``<br>`` breaks lines, links are recorded."""
        parts: list[str] = []
        self._collect(node, parts, stop, links)
        text = _clean("".join(parts))
        if links and node.name == "a":
            self._link(node, text)
        return text

    def _collect(self, node: Tag, parts: list[str], stop: frozenset[str], links: bool) -> None:
        for child in node.contents:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS):
                    parts.append(str(child))
                continue
            if not isinstance(child, Tag) or child.name in stop or _skipped(child):
                continue
            name = child.name
            if name == "br":
                parts.append("\n")
                continue
            block = name not in _INLINE
            if block:
                parts.append(" ")
            if name == "a" and links:
                start = len(parts)
                self._collect(child, parts, stop, links)
                self._link(child, _clean("".join(parts[start:])))
            else:
                self._collect(child, parts, stop, links)
            if block:
                parts.append(" ")

    def _link(self, anchor: Tag, text: str) -> None:
        href = anchor.get("href")
        if not isinstance(href, str) or not href.strip() or href.strip().startswith("#"):
            return
        url = urljoin(self.base_url, href.strip()) if self.base_url else href.strip()
        url = url.split("#", 1)[0]
        if url not in self._seen_urls:
            self._seen_urls.add(url)
            self.links.append(Link(text or url, url))

    # ------------------------------------------------------------- blocks

    def block(self, text: str) -> None:
        if text:
            (self.sections[-1][2] if self.sections else self.lead).append(text)

    def flush(self) -> None:
        if self._inline:
            self.block(_clean(" ".join(self._inline)))
            self._inline = []

    def walk(self, node: Tag) -> None:
        for child in node.contents:
            if isinstance(child, NavigableString):
                if not isinstance(child, _SKIP_STRINGS) and child.strip():
                    self._inline.append(str(child))
                continue
            if not isinstance(child, Tag) or _skipped(child):
                continue
            name = child.name
            classes = child.get("class") or ()
            if name == "h1":
                self.flush()
                heading = self.text(child)
                self.title = self.title or heading
            elif name in _HEADINGS:
                self.flush()
                self.sections.append((self.text(child), _HEADINGS[name], []))
            elif name in _PARAGRAPHS:
                self.flush()
                self.block(self.text(child))
            elif name in ("ul", "ol"):
                self.flush()
                self.block("\n".join(self.list_lines(child, 0)))
            elif name == "table":
                self.flush()
                if "infobox" in classes:
                    self.infobox.extend(self.infobox_rows(child))
                else:
                    self.block("\n".join(self.table_lines(child)))
            elif "catlinks" in classes:
                self.flush()
                self.categories.extend(self.category_names(child))
            elif name in _CONTAINERS:
                self.flush()
                self.walk(child)
            else:
                self._inline.append(self.text(child))
        self.flush()

    def list_lines(self, node: Tag, depth: int) -> list[str]:
        lines: list[str] = []
        marker = "-"
        for number, item in enumerate(_child_tags(node, ("li",)), start=1):
            if node.name == "ol":
                marker = f"{number}."
            text = self.text(item, stop=_LISTS)
            if text:
                lines.append("  " * depth + f"{marker} {text}")
            for sub in _child_tags(item, _LISTS):
                lines.extend(self.list_lines(sub, depth + 1))
        return lines

    def _rows(self, table: Tag) -> list[Tag]:
        rows = _child_tags(table, ("tr",))
        for part in _child_tags(table, ("thead", "tbody", "tfoot")):
            rows.extend(_child_tags(part, ("tr",)))
        return rows

    def infobox_rows(self, table: Tag) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        for caption in _child_tags(table, ("caption",)):
            if text := self.text(caption):
                rows.append(("", text))
        for tr in self._rows(table):
            heads = _child_tags(tr, ("th",))
            cells = _child_tags(tr, ("td",))
            key = self.text(heads[0]) if heads else ""
            value = " ".join(self.text(c) for c in cells).strip()
            if key and value:
                rows.append((key, value))
            elif key or value:
                rows.append(("", key or value))
        return rows

    def table_lines(self, table: Tag) -> list[str]:
        lines = []
        for tr in self._rows(table):
            cells = [self.text(c) for c in _child_tags(tr, ("th", "td"))]
            if any(cells):
                lines.append(" | ".join(cells))
        return lines

    def category_names(self, node: Tag) -> list[str]:
        anchors = node.find_all("a")
        names = [t for a in anchors if (t := self.text(a, links=False))]
        if names:
            return names
        text = self.text(node, links=False).split(":", 1)[-1]
        return [c.strip() for c in text.split("|") if c.strip()]


def parse_html(html: str, *, title: str = "", url: str = "") -> ParsedPage:
    """Parse one page's HTML into readable parts.

    ``title`` is the page's title in the corpus (the page's own h1 stands in when it is
    empty); ``url`` is its canonical URL, against which relative links are resolved.
    """
    soup = BeautifulSoup(html, "lxml")
    root = soup.find("main") or soup.body or soup
    reader = _Reader(url)
    reader.walk(root)
    title = title or reader.title or ""
    return ParsedPage.build(
        title=title,
        url=url,
        lead=tuple(reader.lead),
        infobox=tuple(kv for kv in reader.infobox if kv != ("", title)),  # caption = title
        sections=tuple(Section(h, lvl, tuple(b)) for h, lvl, b in reader.sections),
        categories=tuple(reader.categories),
        links=tuple(reader.links),
    )
