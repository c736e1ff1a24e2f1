"""Passages: cut on block boundaries, under the size limit, each prefixed with its title."""

from __future__ import annotations

import pytest

from webanchor_env.passages import PassageSettings, split_page, split_pages
from webanchor_env.reader import ParsedPage, Section, parse_html
from wiki_corpus import Page


@pytest.fixture(scope="module")
def parsed(tiny_pages: list[Page]) -> list[ParsedPage]:
    return [parse_html(p.html, title=p.title, url=p.url) for p in tiny_pages]


@pytest.mark.parametrize("max_chars", [80, 200, 600, 5000])
def test_passages_fit_and_are_title_prefixed(parsed: list[ParsedPage], max_chars: int) -> None:
    passages = split_pages(parsed, PassageSettings(max_chars=max_chars))
    assert passages
    for p in passages:
        assert len(p.text) <= max_chars
        title = parsed[p.page].title
        assert p.text.startswith(title[: max_chars // 4] + "\n")
        assert p.body.strip()
    pages = [p.page for p in passages]
    assert pages == sorted(pages) and set(pages) == set(range(len(parsed)))


def test_passages_keep_all_words_in_order(parsed: list[ParsedPage]) -> None:
    lumen = parsed[0]
    bodies = " ".join(p.body for p in split_page(lumen, 0, PassageSettings(max_chars=120)))
    assert (
        bodies.split()
        == " ".join(
            [*lumen.lead, *(f"{k}: {v}" for k, v in lumen.infobox)]
            + [" ".join([s.heading, *s.blocks]) for s in lumen.sections]
            + ["Categories: " + "; ".join(lumen.categories)]
        ).split()
    )


def test_passages_split_on_paragraph_boundaries(parsed: list[ParsedPage]) -> None:
    passages = split_page(parsed[0], 0, PassageSettings(max_chars=600))
    assert any(p.body.startswith("History\nPlans for a tower") for p in passages)
    assert any(p.body.startswith("Design\nThe tower rises") for p in passages)
    assert all("Links:" not in p.text for p in passages)


def test_oversized_words_are_cut_hard() -> None:
    page = ParsedPage.build("T", "u", lead=("y" * 1000,), sections=(Section("S", 2, ()),))
    passages = split_page(page, 0, PassageSettings(max_chars=100))
    assert all(len(p.text) <= 100 for p in passages)
    assert "".join(p.body for p in passages) == "y" * 1000 + "\nS"


def test_empty_page_still_has_a_passage() -> None:
    (only,) = split_page(ParsedPage.build("Lonely", "u"), 3, PassageSettings())
    assert only.text == "Lonely" and only.body == "" and only.page == 3
