"""Rendered pages: wiki-like structure, working links, stated facts, varied prose."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from wiki_corpus.generate import render_pages
from wiki_corpus.model import Kind, Rel
from wiki_corpus.query import surface
from wiki_corpus.render import Renderer
from wiki_corpus.validate import normalize, page_text
from wiki_corpus.worldgen import build_world

K = Kind


@pytest.fixture(scope="module")
def rendered():
    world = build_world(400, seed=5)
    htmls, pages = render_pages(world)
    return world, htmls, pages


def test_every_page_has_the_documented_structure(rendered) -> None:
    world, _, pages = rendered
    assert len(pages) == 400
    assert len({p.url for p in pages}) == len(pages) == len({p.id for p in pages})
    for page in pages[::7]:
        soup = BeautifulSoup(page.html, "lxml")
        assert soup.title.get_text() == page.title
        assert soup.select_one("nav.wiki-nav") and soup.select_one("footer.wiki-footer")
        main = soup.find("main")
        assert main.find("h1", id="firstHeading").get_text() == page.title
        assert main.select_one("p.lead") and main.select_one("div.catlinks")
    entity_page = BeautifulSoup(pages[world.ranges[K.PERSON].start].html, "lxml")
    rows = entity_page.select("table.infobox tr")
    assert rows and all(r.find("th") and r.find("td") for r in rows)
    assert len(entity_page.find_all("h2")) >= 2


def test_links_in_main_point_to_pages_of_the_corpus(rendered) -> None:
    _, _, pages = rendered
    urls = {p.url for p in pages}
    for page in pages:
        main = BeautifulSoup(page.html, "lxml").find("main")
        for a in main.find_all("a", href=True):
            if a.find_parent(class_="catlinks") is None:
                assert a["href"] in urls, (page.title, a["href"])


def test_infobox_states_every_relation_and_attribute(rendered) -> None:
    world, htmls, _ = rendered
    from wiki_corpus.model import RELS_OF_KIND, Attr

    for e in range(0, len(world), 5):
        text = normalize(page_text(htmls[e]))
        assert normalize(world.names[e]) in text
        for rel in RELS_OF_KIND[world.kinds[e]]:
            obj = world.link(e, rel)
            if obj >= 0:
                assert normalize(world.names[obj]) in text, (world.titles[e], rel)
        for attr in Attr:
            value = surface(world, e, attr)
            if value:
                assert normalize(value) in text, (world.titles[e], attr)


def test_prose_varies_between_pages_of_one_kind(rendered) -> None:
    world, htmls, _ = rendered
    leads = set()
    for e in world.ranges[K.CITY]:
        lead = BeautifulSoup(htmls[e], "lxml").select_one("p.lead").get_text()
        leads.add(re.sub(re.escape(world.names[e]), "X", lead).split(" in ")[0][:12])
    assert len(leads) >= 2


def test_namesakes_get_hatnotes_and_a_disambiguation_page(rendered) -> None:
    world, htmls, pages = rendered
    name, ids = next((n, ids) for n, ids in world.by_name.items() if len(ids) > 1)
    for e in ids:
        hatnote = BeautifulSoup(htmls[e], "lxml").select_one("div.hatnote")
        assert hatnote is not None and "same name" in hatnote.get_text()
    disambiguation = next(p for p in pages if p.title == name)
    for e in ids:
        assert world.urls[e] in disambiguation.html


def test_text_is_escaped() -> None:
    world = build_world(150, seed=1)
    company = world.ranges[K.COMPANY].start
    world.names[company] = "Vesk & <Sons>"
    html = Renderer(world).entity(company)
    assert "Vesk &amp; &lt;Sons&gt;" in html and "<Sons>" not in html


def test_pages_render_the_same_alone_or_in_bulk(rendered) -> None:
    world, htmls, _ = rendered
    e = world.ranges[K.BOOK].start + 2
    assert Renderer(world).entity(e) == htmls[e]
    assert world.link(e, Rel.CREATOR) >= 0
