"""HTML reading: clean text with infobox lines, sections, lists, links; boilerplate dropped."""

from __future__ import annotations

import pytest

from webanchor_env.reader import Link, ParsedPage, parse_html
from webanchor_env.store import PageStore
from wiki_corpus import Page


@pytest.fixture(scope="module")
def lumen(tiny_pages: list[Page]) -> ParsedPage:
    page = tiny_pages[0]
    return parse_html(page.html, title=page.title, url=page.url)


def test_title_lead_and_infobox_lines(lumen: ParsedPage) -> None:
    assert lumen.title == "Lumen Tower"
    assert lumen.lead[0].startswith("Lumen Tower is a 212-metre skyscraper in Cobalt Bay")
    assert ("Architect", "Orlan Vesk") in lumen.infobox
    assert "\nArchitect: Orlan Vesk\nHeight: 212 m\n" in lumen.text
    assert lumen.text.startswith("# Lumen Tower\n\nLumen Tower is a")


def test_boilerplate_is_dropped(lumen: ParsedPage) -> None:
    for noise in ("Main page", "Random article", "generator", "About WikiLocal", "trackPage"):
        assert noise not in lumen.text
    assert "font-family" not in lumen.text
    assert "WikiLocal" not in lumen.text  # the <title> suffix


def test_sections_and_lists(lumen: ParsedPage) -> None:
    headings = [(s.heading, s.level) for s in lumen.sections]
    assert headings[:3] == [("History", 2), ("Construction", 3), ("Design", 2)]
    assert "## History\n\nPlans for a tower" in lumen.text
    assert "### Construction" in lumen.text
    design = lumen.sections[2]
    assert design.blocks[1] == (
        "- Observation deck on floor 56\n- Lantern crown lit by 4,000 amber lamps\n"
        "  - Renewed in 2015\n- Public atrium with a winter garden"
    )
    assert "1. Glasswing Bridge\n2. Cobalt Bay" in lumen.text
    assert "Marrow & Finch" in lumen.text  # entities decoded


def test_links_and_categories(lumen: ParsedPage) -> None:
    urls = [link.url for link in lumen.links]
    assert urls == [
        "https://wiki.local/wiki/Cobalt_Bay",
        "https://wiki.local/wiki/Orlan_Vesk_(architect)",
        "https://wiki.local/wiki/Glasswing_Bridge",
    ]  # in order, de-duplicated, category and nav links left out
    assert Link("Orlan Vesk", "https://wiki.local/wiki/Orlan_Vesk_(architect)") in lumen.links
    assert lumen.categories == ("Skyscrapers in Cobalt Bay", "Buildings completed in 1998")
    assert "- [Cobalt Bay](https://wiki.local/wiki/Cobalt_Bay)" in lumen.text


def test_imported_layout(tiny_pages: list[Page]) -> None:
    page = tiny_pages[-1]
    parsed = parse_html(page.html, title=page.title, url=page.url)
    assert parsed.lead == (
        "Glasswing Bridge is a cable-stayed footbridge across the inner harbour of Cobalt "
        "Bay, opened in 2006.",
        "Its deck is made of laminated glass panels that hum in a strong wind.",
    )
    assert parsed.sections == () and parsed.infobox == () and parsed.links == ()


def test_any_html_without_main() -> None:
    html = """<html><body><div id="x">Loose <b>bold</b> text<br>next line</div>
    <h2>Part</h2><table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>
    <dl><dt>Term</dt><dd>Meaning</dd></dl><!-- a comment --><a href="/wiki/Other">rel</a>
    <nav>skip me</nav></body></html>"""
    parsed = parse_html(html, url="https://wiki.local/wiki/Here")
    assert parsed.title == ""
    assert parsed.lead == ("Loose bold text next line",)
    assert parsed.sections[0].blocks == ("a | b\n1 | 2", "Term", "Meaning", "rel")
    assert parsed.links == (Link("rel", "https://wiki.local/wiki/Other"),)
    assert "skip me" not in parsed.text and "comment" not in parsed.text


@pytest.mark.parametrize(
    "html",
    ["", "plain text only", "<p>unclosed <b>tags", "\x00\xff<<>>&&;", "<table><td>x", "<" * 5000],
)
def test_broken_html_never_raises(html: str) -> None:
    parsed = parse_html(html, title="T", url="https://wiki.local/wiki/T")
    assert parsed.text.startswith("# T")


def test_h1_is_the_title_when_none_is_given() -> None:
    assert parse_html("<main><h1>Only <i>h1</i></h1></main>").title == "Only h1"


def test_json_round_trip(lumen: ParsedPage) -> None:
    assert ParsedPage.from_json(lumen.to_json()) == lumen


def test_store_parses_lazily_once(tiny_pages: list[Page]) -> None:
    store = PageStore(tiny_pages)
    assert store._parsed[0] is None
    first = store.parsed(0)
    assert store.parsed(0) is first and store.text(0) is first.text
    assert len(store.parse_all()) == len(tiny_pages)
