"""The two validators: uniqueness against the world, facts stated in the rendered pages.

Each validator is shown to accept good tasks and to REJECT deliberately broken ones.
"""

from __future__ import annotations

import random

import pytest

from wiki_corpus import generate as gen
from wiki_corpus.generate import make_tasks, render_pages
from wiki_corpus.model import Attr, Kind, Rel
from wiki_corpus.query import AttrIs, AttrRange, Description, NameIs, Query, Related, resolve
from wiki_corpus.questions import QuestionMaker
from wiki_corpus.validate import (
    MISSING_PAGE,
    NOT_UNIQUE,
    UNGROUNDED,
    WRONG_ANSWER,
    Evidence,
    PageTexts,
    check_grounded,
    check_unique,
)
from wiki_corpus.worldgen import build_world

K = Kind


@pytest.fixture(scope="module")
def corpus():
    world = build_world(500, seed=7)
    htmls, _ = render_pages(world)
    return world, htmls


def _texts(world, htmls):
    entity_of = {u: e for e, u in enumerate(world.urls)}
    return PageTexts(lambda url: htmls[entity_of[url]] if url in entity_of else None)


def _person_namesakes(world):
    return next(
        ids for ids in world.by_name.values() if len(ids) > 1 and world.kinds[ids[0]] is K.PERSON
    )


# -- validator 1: uniqueness against the world ----------------------------------------------
def test_named_question_about_a_namesake_needs_its_qualifier(corpus) -> None:
    world, _ = corpus
    a, b = _person_namesakes(world)
    name = world.names[a]
    birthplace = world.names[world.link(a, Rel.BIRTHPLACE)]
    careless = Query(Description(None, (NameIs(name),)), (Rel.BIRTHPLACE,))
    verdict = check_unique(world, careless, birthplace)
    assert not verdict.ok and verdict.reason == NOT_UNIQUE
    qualified = Description(K.PERSON, (NameIs(name), AttrIs(Attr.CATEGORY, world.categories[a])))
    assert check_unique(world, Query(qualified, (Rel.BIRTHPLACE,)), birthplace).ok
    assert resolve(world, careless).start == tuple(sorted((a, b)))


def test_wrong_answer_and_empty_descriptions_are_rejected(corpus) -> None:
    world, _ = corpus
    film = world.ranges[K.FILM].start
    query = Query(Description(K.FILM, (NameIs(world.names[film]),)), (Rel.CREATOR,))
    director = world.names[world.link(film, Rel.CREATOR)]
    assert check_unique(world, query, director).ok
    assert check_unique(world, query, director + "x").reason == WRONG_ANSWER
    nothing = Query(Description(K.FILM, (NameIs("No Such Film"),)))
    assert check_unique(world, nothing, "No Such Film").reason == NOT_UNIQUE


def test_under_constrained_inverted_question_is_rejected(corpus) -> None:
    world, _ = corpus
    city = world.ranges[K.CITY].start
    decade = world.years[city] // 10 * 10
    loose = Query(Description(K.CITY, (AttrRange(Attr.YEAR, 0, 3000),)))
    assert check_unique(world, loose, world.names[city]).reason == NOT_UNIQUE
    mayor = world.link(city, Rel.MAYOR)
    tight = Description(
        K.CITY,
        (
            AttrRange(Attr.YEAR, decade, decade + 9),
            AttrIs(Attr.CATEGORY, world.categories[city]),
            Related(Rel.MAYOR, Description(K.PERSON, (NameIs(world.names[mayor]),))),
        ),
    )
    assert check_unique(world, Query(tight), world.names[city]).ok


def test_inverse_relations_are_evaluated_against_the_world(corpus) -> None:
    world, _ = corpus
    building = world.ranges[K.BUILDING].start
    architect = world.link(building, Rel.CREATOR)
    designed = Related(
        Rel.CREATOR,
        Description(K.BUILDING, (NameIs(world.names[building]),)),
        inverse=True,
    )
    res = resolve(world, Query(Description(K.PERSON, (designed,))))
    assert res.start == (architect,)


# -- validator 2: facts stated in the rendered text -------------------------------------------
def test_generated_evidence_is_grounded(corpus) -> None:
    world, htmls = corpus
    maker = QuestionMaker(world, random.Random(0))
    texts = _texts(world, htmls)
    checked = 0
    while checked < 40:
        cand = maker.make()
        if cand is not None and check_unique(world, cand.query, cand.answer).ok:
            assert check_grounded(cand.evidence, texts).ok, cand.question
            checked += 1


def test_a_page_that_omits_a_fact_is_rejected(corpus) -> None:
    world, htmls = corpus
    person = world.ranges[K.PERSON].start + 20
    city = world.names[world.link(person, Rel.BIRTHPLACE)]
    url = world.urls[person]
    evidence = (Evidence(url, world.names[person]), Evidence(url, city))
    assert check_grounded(evidence, _texts(world, htmls)).ok
    broken = list(htmls)
    broken[person] = htmls[person].replace(city, "somewhere")
    verdict = check_grounded(evidence, _texts(world, broken))
    assert not verdict.ok and verdict.reason == UNGROUNDED and city in verdict.detail


def test_text_outside_main_does_not_count(corpus) -> None:
    world, htmls = corpus
    e = world.ranges[K.TEAM].start
    html = htmls[e].replace("</footer>", "<p>Secret Fact 1234</p></footer>")
    texts = PageTexts(lambda url: html)
    assert check_grounded((Evidence("u", "Secret Fact 1234"),), texts).reason == UNGROUNDED
    assert check_grounded((Evidence("u", world.names[e]),), texts).ok


def test_missing_gold_page_is_rejected(corpus) -> None:
    world, htmls = corpus
    verdict = check_grounded(
        (Evidence("https://wiki.local/wiki/Nowhere", "x"),), _texts(world, htmls)
    )
    assert verdict.reason == MISSING_PAGE


# -- the generation loop rejects, regenerates and counts --------------------------------------
def test_broken_pages_make_generation_reject_and_count(corpus, monkeypatch) -> None:
    world, htmls = corpus
    # Empty the <main> of half the pages: nothing is stated there any more.
    broken = [
        h if e % 2 else h.split("<main>")[0] + "<main></main></body></html>"
        for e, h in enumerate(htmls)
    ]
    monkeypatch.setattr(gen, "ATTEMPTS_PER_TASK", 2)
    with pytest.raises(RuntimeError, match="passed validation"):
        make_tasks(world, broken, {"train": 200, "dev": 0, "test": 0}, seed=0)
    monkeypatch.setattr(gen, "ATTEMPTS_PER_TASK", 30)
    tasks, validation = make_tasks(world, broken, {"train": 20, "dev": 5, "test": 5}, seed=0)
    assert len(tasks) == 30
    assert validation["rejected"][UNGROUNDED] > 0
    assert validation["generated"] == validation["kept"] + sum(validation["rejected"].values())
    entity_of = {u: e for e, u in enumerate(world.urls)}
    for task in tasks:
        for url in task.gold.pages:
            page = broken[entity_of[url]]
            assert '<p class="lead">' in page
