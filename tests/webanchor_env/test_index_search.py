"""Search with the real MiniLM model: right pages, one per result, batched, cached."""

from __future__ import annotations

import numpy as np
import pytest

from webanchor_env.backend import WikiBackend
from webanchor_env.index import MAX_QUERY_CHARS, clean_query


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("tallest skyscraper in Cobalt Bay", "Lumen Tower"),
        ("mezzo-soprano who debuted as Carmen", "Mira Solenne (singer)"),
        ("school of architecture founded by a sculptor", "Varn Institute of Design"),
        ("glass footbridge that hums in the wind", "Glasswing Bridge"),
        ("seascapes in tempera", "Mira Solenne (painter)"),
    ],
)
def test_distinctive_query_finds_its_page(tiny_backend: WikiBackend, query: str, title: str):
    (hits,) = tiny_backend.search([query], top_k=3)
    assert hits[0].title == title
    assert hits[0].rank == 1 and hits[0].url.startswith("https://wiki.local/wiki/")
    assert hits[0].snippet and "\n" not in hits[0].snippet


def test_results_are_distinct_pages_in_score_order(tiny_backend: WikiBackend) -> None:
    (hits,) = tiny_backend.search("Lumen Tower design history construction", top_k=8)
    assert len(hits) == 8  # every page, although Lumen Tower alone has several passages
    assert len({h.page for h in hits}) == 8
    assert [h.rank for h in hits] == list(range(1, 9))
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_top_k_larger_than_the_corpus(tiny_backend: WikiBackend) -> None:
    assert len(tiny_backend.search("bridge", top_k=50)[0]) == 8


def test_a_list_of_queries_is_one_encoder_call(tiny_backend: WikiBackend) -> None:
    encoder = tiny_backend.index.encoder
    calls, texts = encoder.calls, encoder.texts_encoded
    queries = [
        "opera singer 1979",
        "Estmarkian architect born in 1941",
        "",
        "opera singer 1979",
        "port city glaze",
    ]
    results = tiny_backend.search(queries, top_k=2)
    assert encoder.calls == calls + 1
    assert encoder.texts_encoded == texts + 3  # unique, non-empty misses only
    assert [len(r) for r in results] == [2, 2, 0, 2, 2]
    assert results[0] == results[3]
    assert results[1][0].title == "Orlan Vesk (architect)"
    assert results[4][0].title == "Cobalt Bay"


def test_repeated_queries_hit_the_cache(tiny_backend: WikiBackend) -> None:
    encoder = tiny_backend.index.encoder
    first = tiny_backend.search(["winter garden atrium"], top_k=3)
    calls = encoder.calls
    again = tiny_backend.search(["  winter   garden atrium "], top_k=3)
    assert again == first and encoder.calls == calls
    tiny_backend.search(["winter garden atrium"], top_k=4)  # another k is another entry
    assert encoder.calls == calls + 1


def test_batched_search_matches_single_searches(tiny_backend: WikiBackend) -> None:
    queries = [f"question number {i} about harbour glass" for i in range(3)]
    batched = tiny_backend.search(queries, top_k=3)
    tiny_backend.index.clear_cache()
    single = [tiny_backend.search([q], top_k=4)[0] for q in queries]  # the 4th: below the cut
    for b, s in zip(batched, single):
        scores = np.array([h.score for h in s])
        # a batch encodes with other shapes, so scores agree within float tolerance only: the
        # page order is compared because no two of these scores come near a tie
        assert np.all(-np.diff(scores) > 1e-3)
        assert [h.page for h in b] == [h.page for h in s[:3]]
        np.testing.assert_allclose([h.score for h in b], scores[:3], atol=1e-5)


def test_queries_are_cleaned_and_cut() -> None:
    assert clean_query("  a\x00b\n\tc  ") == ("a b c", False)
    text, cut = clean_query("word " * 1_000_000)
    assert cut and len(text) <= MAX_QUERY_CHARS
    assert clean_query(123) == ("", False)


def test_goal_ranking_reuses_stored_vectors(tiny_backend: WikiBackend) -> None:
    page = tiny_backend.store.lookup("Lumen Tower")
    encoder = tiny_backend.index.encoder
    texts = encoder.texts_encoded
    ranked = tiny_backend.index.rank_page_passages(page, "pendulum under the observation deck")
    assert encoder.texts_encoded == texts + 1  # the goal only, not the page
    assert sorted(pos for pos, _ in ranked) == list(tiny_backend.index.page_passages(page))
    assert "pendulum" in tiny_backend.index.passages[ranked[0][0]].text
    again = tiny_backend.index.rank_page_passages(page, "pendulum under the observation deck")
    assert again == ranked and encoder.texts_encoded == texts + 1  # the goal was cached
