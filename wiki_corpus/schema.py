"""Typed records for the two corpus files: pages and tasks (see DESIGN.md, "Contracts").

A corpus directory holds ``pages.jsonl.gz`` (or ``pages.jsonl``), ``tasks.jsonl`` and
``meta.json``. These dataclasses are the in-memory form; ``wiki_corpus.io`` reads and
writes them and reports malformed lines with their file and line number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

WIKI_PREFIX = "https://wiki.local/wiki/"
SPLITS = ("train", "dev", "test")


def title_to_url(title: str) -> str:
    """The canonical URL of a page title: spaces become underscores, the rest is quoted."""
    return WIKI_PREFIX + quote(title.strip().replace(" ", "_"), safe="_()',-.!:;&+$*@~")


def url_to_title(url: str) -> str | None:
    """The title a wiki URL points to, or ``None`` when the URL is not under the wiki prefix."""
    if not url.startswith(WIKI_PREFIX):
        return None
    return unquote(url[len(WIKI_PREFIX) :]).replace("_", " ")


@dataclass(frozen=True)
class Page:
    """One wiki page: its id, canonical URL, title and raw HTML."""

    id: str
    url: str
    title: str
    html: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "url": self.url, "title": self.title, "html": self.html}


@dataclass(frozen=True)
class Gold:
    """The reference path that solves a task: the pages holding its facts and the actions."""

    pages: tuple[str, ...] = ()
    actions: tuple[dict[str, Any], ...] = ()

    @property
    def has_path(self) -> bool:
        """Whether the actions search or visit: a path to replay, not just the answer."""
        return any(action.get("name") in ("search", "visit") for action in self.actions)

    def to_json(self) -> dict[str, Any]:
        return {"pages": list(self.pages), "actions": [dict(a) for a in self.actions]}


@dataclass(frozen=True)
class Task:
    """One question with its answer, aliases, split, difficulty, hop count and gold path."""

    id: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    split: str = "train"
    difficulty: int = 1
    hops: int = 1
    source: str = "synthetic"
    gold: Gold = field(default_factory=Gold)

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer followed by its aliases: every surface form counted as correct."""
        return (self.answer, *self.aliases)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "aliases": list(self.aliases),
            "split": self.split,
            "difficulty": self.difficulty,
            "hops": self.hops,
            "source": self.source,
            "gold": self.gold.to_json(),
        }
