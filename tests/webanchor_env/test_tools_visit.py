"""Visit: a character budget with exact continuation, not-found help, goal mode, no I/O."""

from __future__ import annotations

import builtins
import io
import os
import re
import socket

import pytest

from webanchor_env import tools
from webanchor_env.backend import WikiBackend
from webanchor_env.store import PageStore
from wiki_corpus import Page

NEXT = re.compile(r'visit again with "offset": (\d+) to continue\]$')
HOSTILE = [
    "file:///etc/passwd",
    "http://127.0.0.1:8080/",
    "../secret",
    "javascript:alert(1)",
    "ftp://x",
    "data:text/html,<script>alert(1)</script>",
    "\x00\xff\x1b[2J junk",
    "x" * 1_000_000,
    "https://evil.example/wiki/Lumen_Tower",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
]


def _window(response: str) -> str:
    """The page text of a visit response (between the header block and the hint)."""
    body = response.split("\n\n", 1)[1]
    return NEXT.sub("", body).removesuffix("\n\n[... ").rsplit("\n\n[... ", 1)[0]


@pytest.mark.parametrize("max_chars", [97, 300, 1000])
def test_offsets_cover_the_whole_text_exactly_once(tiny_backend: WikiBackend, max_chars: int):
    page = tiny_backend.store.lookup("Lumen Tower")
    text = tiny_backend.store.text(page)
    offset, pieces = 0, []
    while True:
        response = tiny_backend.visit_text(["Lumen Tower"], offset=offset, max_chars=max_chars)
        assert response.startswith("Page: [Lumen Tower](https://wiki.local/wiki/Lumen_Tower)")
        pieces.append(_window(response))
        assert len(pieces[-1]) <= max_chars
        match = NEXT.search(response)
        if match is None:
            break
        offset = int(match.group(1))
        assert f"[... {len(text) - offset:,} more characters;" in response
    assert "".join(pieces) == text
    assert len(pieces) >= len(text) // max_chars


def test_whole_page_within_budget_has_no_hint(tiny_backend: WikiBackend) -> None:
    response = tiny_backend.visit_text(["Glasswing Bridge"])
    assert response == (
        "Page: [Glasswing Bridge](https://wiki.local/wiki/Glasswing_Bridge)\n\n"
        + tiny_backend.store.text(tiny_backend.store.lookup("Glasswing Bridge"))
    )
    assert "offset" not in response


@pytest.mark.parametrize(
    "offset",
    [10**5000, -(10**5000), "9" * 5000, "\u00b2", 1e308],
    ids=["huge", "huge-negative", "5000-digit-text", "superscript-two", "huge-float"],
)
def test_huge_or_odd_offsets_answer_without_raising(tiny_backend: WikiBackend, offset) -> None:
    """The service hands tools raw JSON values: none may raise (here, in the message's
    formatting of a 5,000-digit integer)."""
    response = tiny_backend.visit_text("Tessary", offset=offset)
    assert response.startswith(("Page: [Tessary]", "The page 'Tessary' is past its end"))


def test_offset_past_the_end(tiny_backend: WikiBackend) -> None:
    response = tiny_backend.visit_text("Tessary", offset=10**9)
    assert "is past its end" in response and '"offset": 0' in response


@pytest.mark.parametrize("offset", [-5, "12", None, 3.7, True, "abc"])
def test_odd_offsets_do_not_raise(tiny_backend: WikiBackend, offset: object) -> None:
    assert tiny_backend.visit_text("Tessary", offset=offset).startswith("Page: [Tessary]")


def test_unknown_page_lists_closest_titles(tiny_backend: WikiBackend) -> None:
    response = tiny_backend.visit_text(["https://wiki.local/wiki/Lumen_Towr"])
    assert response.startswith(
        "The page 'https://wiki.local/wiki/Lumen_Towr' was not found in this wiki."
    )
    assert "Closest titles: [Lumen Tower](https://wiki.local/wiki/Lumen_Tower)" in response
    ambiguous = tiny_backend.visit_text("Mira Solenne")
    assert "[Mira Solenne (painter)]" in ambiguous and "[Mira Solenne (singer)]" in ambiguous


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_not_found(tiny_backend: WikiBackend, url: str) -> None:
    response = tiny_backend.visit_text([url], goal="read it", goal_mode=True)
    assert "was not found in this wiki" in response
    assert len(response) < 1000
    assert "root:" not in response and "\x00" not in response


@pytest.mark.parametrize("urls", [None, 42, {"url": "x"}, [None], [b"bytes"], [["nested"]], []])
def test_wrong_types_get_a_message(tiny_backend: WikiBackend, urls: object) -> None:
    response = tiny_backend.visit_text(urls)  # type: ignore[arg-type]
    assert response.startswith(("Visit expects", "A URL must be", "Visit needs"))


def test_several_urls_one_block_each(tiny_backend: WikiBackend) -> None:
    response = tiny_backend.visit_text(["Tessary", "nowhere at all", 7], max_chars=50)
    blocks = response.split(tools.SEPARATOR)
    assert len(blocks) == 3
    assert blocks[0].startswith("Page: [Tessary]")
    assert "was not found" in blocks[1]
    assert blocks[2] == "A URL must be a string, got int."


def test_goal_mode_shows_the_most_relevant_passages(tiny_backend: WikiBackend) -> None:
    goal = "the pendulum that steadies the tower against gales"
    response = tiny_backend.visit_text(["Lumen Tower"], goal, goal_mode=True, max_chars=500)
    assert f"most relevant to the goal '{goal}' first:" in response
    assert "340-tonne pendulum" in response
    match = re.search(r'visit again with "offset": (\d+) for the next ones', response)
    assert match is not None
    more = tiny_backend.visit_text("Lumen Tower", goal, goal_mode=True, offset=match.group(1))
    assert f"Passages {int(match.group(1)) + 1}–" in more
    assert "340-tonne pendulum" not in more
    plain = tiny_backend.visit_text(["Lumen Tower"], goal, max_chars=500)
    assert plain.split("\n\n", 1)[1].startswith("# Lumen Tower")


def test_visit_opens_no_file_and_no_connection(
    monkeypatch: pytest.MonkeyPatch, tiny_pages: list[Page], tiny_backend: WikiBackend
) -> None:
    store = PageStore(tiny_pages)  # unparsed: the first visit parses under the guard
    tiny_backend.index.encoder.model  # noqa: B018 - loaded before the guard goes up

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"I/O attempted: {args!r}")

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(io, "open", forbidden)
    monkeypatch.setattr(os, "open", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    for url in [*HOSTILE, "Lumen Tower", "https://wiki.local/wiki/Cobalt_Bay", "Nowhere"]:
        tools.visit_text(store, None, [url])
        tiny_backend.visit_text([url], goal="height", goal_mode=True)
    assert store._parsed[0] is not None
