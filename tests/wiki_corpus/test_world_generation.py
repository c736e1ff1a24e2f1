"""The fictional world: sizes, determinism, namesakes, plausible dates, typed relations."""

from __future__ import annotations

import numpy as np
import pytest

from wiki_corpus.model import KINDS, REL_SPECS, Kind, Rel
from wiki_corpus.names import NameBook, plural
from wiki_corpus.worldgen import MIN_PAGES, build_world, plan_sizes

K = Kind


@pytest.fixture(scope="module")
def world():
    return build_world(600, seed=3)


def test_plan_sizes_adds_up_to_the_page_budget() -> None:
    for n in (MIN_PAGES, 301, 4000, 123_457):
        sizes = plan_sizes(n)
        assert sum(sizes.counts.values()) + sizes.disambiguation_pages == n
        assert all(count >= 1 for count in sizes.counts.values())


@pytest.mark.parametrize("bad", [MIN_PAGES - 1, 0, -5, 2.5])
def test_plan_sizes_rejects_impossible_budgets(bad) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_PAGES}.*got {bad!r}"):
        plan_sizes(bad)


def test_same_seed_same_world_and_other_seed_differs() -> None:
    a, b, c = build_world(300, 11), build_world(300, 11), build_world(300, 12)
    assert a.names == b.names and a.titles == b.titles
    assert np.array_equal(a.year, b.year) and np.array_equal(a.number, b.number)
    assert all(np.array_equal(a.rels[r], b.rels[r]) for r in Rel)
    assert a.names != c.names


def test_titles_are_unique_and_blocks_cover_every_kind(world) -> None:
    assert len(set(world.titles)) == len(world.titles)
    assert [world.kinds[r.start] for r in world.ranges.values() if len(r)] == list(KINDS)


def test_relations_link_the_declared_kinds(world) -> None:
    for rel, spec in REL_SPECS.items():
        links = world.links[rel]
        for subject, obj in enumerate(links):
            if obj >= 0:
                assert world.kinds[subject] in spec.subjects, (rel, subject)
                assert world.kinds[obj] in spec.objects, (rel, obj)


def test_mandatory_relations_are_always_set(world) -> None:
    mandatory = {
        Rel.COUNTRY: K.CITY,
        Rel.MAYOR: K.CITY,
        Rel.BIRTHPLACE: K.PERSON,
        Rel.FOUNDER: K.COMPANY,
        Rel.CREATOR: K.FILM,
        Rel.LOCATION: K.BUILDING,
        Rel.PRESENTER: K.AWARD,
    }
    for rel, kind in mandatory.items():
        r = world.ranges[kind]
        assert (world.rels[rel][r.start : r.stop] >= 0).all(), rel


def test_namesakes_have_disambiguated_titles(world) -> None:
    groups = [ids for ids in world.by_name.values() if len(ids) > 1]
    assert groups, "the world should plant namesakes"
    kinds = {world.kinds[ids[0]] for ids in groups}
    assert {K.PERSON, K.CITY} <= kinds and kinds & {K.BOOK, K.FILM, K.ALBUM}
    for ids in groups:
        titles = [world.titles[e] for e in ids]
        assert len(set(titles)) == len(ids)
        assert all(t != world.names[ids[0]] for t in titles)
        if world.kinds[ids[0]] is K.PERSON:
            assert len({world.categories[e] for e in ids}) == len(ids)
    assert world.near_names, "the world should plant near-namesakes"


def test_dates_are_plausible(world) -> None:
    y, links = world.years, world.links
    for film in world.ranges[K.FILM]:
        assert y[film] > y[links[Rel.CREATOR][film]]
    for city in world.ranges[K.CITY]:
        assert y[links[Rel.MAYOR][city]] < y[city]
    for company in world.ranges[K.COMPANY]:
        assert y[company] > y[links[Rel.FOUNDER][company]]
    for building in world.ranges[K.BUILDING]:
        assert y[building] > y[links[Rel.CREATOR][building]]


def test_name_book_never_repeats_and_pluralizes() -> None:
    book = NameBook(np.random.default_rng(0))
    names = book.people(500) + book.places(500) + book.countries(50)
    assert len(set(names)) == len(names)
    assert all(n[:1].isupper() for n in names)
    assert [plural(w) for w in ("Witness", "Wolf", "Key", "Harbour")] == [
        "Witnesses",
        "Wolves",
        "Keys",
        "Harbours",
    ]


def test_entity_view_is_typed(world) -> None:
    city = world.ranges[K.CITY].start
    entity = world.entity(city)
    assert entity.kind is K.CITY and entity.name == world.names[city]
    assert isinstance(entity.year, int) and isinstance(entity.number, int)
    person = world.entity(world.ranges[K.PERSON].start)
    assert person.number is None and person.category == "politician"
