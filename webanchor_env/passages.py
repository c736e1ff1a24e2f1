"""Passages: a page cut on paragraph and section boundaries into title-prefixed chunks.

Passages are what the search index embeds. Each one starts with its page's title (so a
chunk from deep in a page still says what it is about) and stays under a character limit
that fits the encoder's window. A block longer than the limit is cut on line, then
sentence, then word boundaries. The links list of a page is not indexed: it is navigation,
not content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from webanchor_env.reader import ParsedPage

_SPLITTERS = (
    (re.compile(r"\n+"), "\n"),  # lines (list items, infobox rows)
    (re.compile(r"(?<=[.!?;])\s+"), " "),  # sentences
    (re.compile(r"\s+"), " "),  # words
)


@dataclass(frozen=True)
class PassageSettings:
    """How pages are cut; part of the index cache's fingerprint."""

    max_chars: int = 600
    """Upper bound on a passage's length, title prefix included."""

    def key(self) -> str:
        """A short string that changes whenever the passages would change."""
        return f"max_chars={self.max_chars}"


@dataclass(frozen=True)
class Passage:
    """One indexed chunk: the page it comes from and its title-prefixed text."""

    page: int
    """Position of the page in the store (not its id)."""
    text: str
    """``title + newline + body``: what the encoder sees."""
    prefix_len: int
    """Length of the title prefix, so the body can be shown without repeating the title."""

    @property
    def body(self) -> str:
        """The passage without its title prefix."""
        return self.text[self.prefix_len :]


def page_blocks(parsed: ParsedPage) -> list[str]:
    """The indexable blocks of a page in reading order; a section's heading opens its first."""
    blocks = list(parsed.lead)
    if parsed.infobox:
        blocks.append("\n".join(f"{k}: {v}" if k else v for k, v in parsed.infobox))
    for section in parsed.sections:
        if section.blocks:
            blocks.append(f"{section.heading}\n{section.blocks[0]}")
            blocks.extend(section.blocks[1:])
        elif section.heading:
            blocks.append(section.heading)
    if parsed.categories:
        blocks.append("Categories: " + "; ".join(parsed.categories))
    return [b for b in blocks if b.strip()]


def _pieces(block: str, limit: int) -> Iterator[str]:
    """Cut one block into pieces no longer than ``limit``, preferring natural boundaries."""
    if len(block) <= limit:
        yield block
        return
    for splitter, sep in _SPLITTERS:
        parts = [p for p in splitter.split(block) if p]
        if len(parts) > 1:
            yield from _pack(parts, limit, sep)
            return
    for start in range(0, len(block), limit):
        yield block[start : start + limit]


def _pack(parts: Iterable[str], limit: int, sep: str) -> Iterator[str]:
    """Greedily join consecutive parts while they fit; parts too long are cut further."""
    current = ""
    for part in parts:
        for piece in _pieces(part, limit):
            if not current:
                current = piece
            elif len(current) + len(sep) + len(piece) <= limit:
                current = current + sep + piece
            else:
                yield current
                current = piece
    if current:
        yield current


def split_page(parsed: ParsedPage, page: int, settings: PassageSettings) -> list[Passage]:
    """The passages of one page; a page without content still gets one (its title)."""
    title = parsed.title.strip() or parsed.url
    prefix = title[: max(1, settings.max_chars // 4)] + "\n"
    budget = settings.max_chars - len(prefix)
    bodies = list(_pack(page_blocks(parsed), budget, "\n"))
    if not bodies:
        return [Passage(page, prefix.rstrip("\n"), len(prefix) - 1)]
    return [Passage(page, prefix + body, len(prefix)) for body in bodies]


def split_pages(parsed_pages: Iterable[ParsedPage], settings: PassageSettings) -> list[Passage]:
    """The passages of many pages, in page order (a page's passages are contiguous)."""
    out: list[Passage] = []
    for i, parsed in enumerate(parsed_pages):
        out.extend(split_page(parsed, i, settings))
    return out
