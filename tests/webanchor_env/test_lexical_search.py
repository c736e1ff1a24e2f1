"""BM25 and hybrid search: the lexical index, rank fusion, the cache, and the three modes
through the backend, the environment and the search service."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import pytest

import webanchor_env
from webanchor_env.backend import IndexCacheWarning, WikiBackend
from webanchor_env.index import Hit
from webanchor_env.lexical import LexicalIndex
from webanchor_env.remote import RemoteSearchBackend, SearchServiceError, ServiceClient
from webanchor_env.retrieval import HybridSearch, reciprocal_rank_fusion
from webanchor_env.serve import serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[2]


def _hit(page: int, passage: int, title: str = "") -> Hit:
    return Hit(0, page, f"p{page}", title or f"P{page}", f"u{page}", f"s{passage}", 0.0, passage)


class _Fixed:
    """A searcher that returns the same hits for every query."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, queries: list[str], top_k: int = 5) -> list[list[Hit]]:
        return [self.hits[:top_k] for _ in queries]


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    # 1: 1/61 + 1/62 = .032522; 3: 1/63 + 1/61 = .032266; 2: 1/62 = .016129
    assert [item for item, _ in fused] == [1, 3, 2]
    assert [round(score, 6) for _, score in fused] == [0.032522, 0.032266, 0.016129]
    assert reciprocal_rank_fusion([[5, 6], [6, 5]], k=60) == [
        (5, 1 / 61 + 1 / 62),
        (6, 1 / 62 + 1 / 61),
    ]


def test_hybrid_fuses_pages_and_keeps_the_dense_passage():
    dense = _Fixed([_hit(1, 10), _hit(2, 20), _hit(3, 30)])
    lexical = _Fixed([_hit(4, 40), _hit(2, 21)])
    (hits,) = HybridSearch(dense, lexical, k=60, lexical_weight=1, pool=5).search(["q"], 3)
    assert [h.page for h in hits] == [2, 1, 4]  # 2 is in both; 1 ranks 1st in dense, 4 in bm25
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].passage == 20  # the dense hit's passage when both have the page
    assert hits[2].passage == 40
    assert hits[0].score == pytest.approx(1 / 62 + 1 / 62)
    assert HybridSearch(dense, lexical).search(["q"], 0) == [[]]
    (weighted,) = HybridSearch(dense, lexical, k=60, lexical_weight=1.5, pool=5).search(["q"], 4)
    # 2: 1/62 + 1.5/62; 4: 1.5/61; 1: 1/61; 3: 1/63
    assert [h.page for h in weighted] == [2, 4, 1, 3]


def test_weighted_fusion_by_hand():
    fused = reciprocal_rank_fusion([[1, 2], [2, 1]], k=5, weights=[1.0, 2.0])
    # 1: 1/6 + 2/7 = .452381; 2: 1/7 + 2/6 = .476190
    assert [(item, round(score, 6)) for item, score in fused] == [(2, 0.47619), (1, 0.452381)]


@pytest.fixture(scope="module")
def lexical(tiny_backend) -> LexicalIndex:
    return LexicalIndex.build(tiny_backend.index.passages, tiny_backend.index.pages)


def test_bm25_ranks_the_page_that_names_the_words_first(lexical):
    (hits,) = lexical.search(["Orlan Vesk Tessary clock shop"], 3)
    assert hits[0].title == "Orlan Vesk (architect)"
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert len({h.page for h in hits}) == len(hits)  # distinct pages
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_bm25_stems_words_and_drops_stopwords(lexical):
    assert lexical.tokenize(["The towers of the designs"]) == [["tower", "design"]]
    assert lexical.search("architects", 1)[0][0].title == "Orlan Vesk (architect)"


def test_a_query_without_a_known_word_finds_nothing(lexical):
    assert lexical.search(["the of and", "zzzqx", ""], 5) == [[], [], []]
    assert lexical.search("Lumen Tower", 0) == [[]]


def test_bm25_returns_as_many_pages_as_share_a_word(lexical, tiny_backend):
    (hits,) = lexical.search("Lumen Tower", 50)
    assert hits[0].title == "Lumen Tower"
    assert len(hits) <= len(tiny_backend.store)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_searches_through_the_backend(tiny_backend, mode):
    (hits,) = tiny_backend.search(["Lumen Tower architect"], 3, mode=mode)
    assert hits[0].title in {"Lumen Tower", "Orlan Vesk (architect)"}
    text = tiny_backend.search_text(["Lumen Tower"], 2, mode=mode)
    assert "[Lumen Tower](https://wiki.local/wiki/Lumen_Tower)" in text


def test_an_unknown_mode_is_refused(tiny_backend):
    with pytest.raises(ValueError, match=r"Expected search_mode among \('dense', 'bm25', "):
        tiny_backend.search("x", 1, mode="sparse")


def _open(corpus_dir: Path, cache_dir: Path, encoder) -> WikiBackend:  # noqa: ANN001
    return WikiBackend.open(corpus_dir, cache_dir=cache_dir, encoder=encoder, show_progress=False)


def test_the_bm25_index_is_cached_by_content_and_loaded_the_next_time(
    tiny_corpus_dir, tmp_path, hashing_encoder, monkeypatch
):
    first = _open(tiny_corpus_dir, tmp_path, hashing_encoder)
    expected = first.search("Glasswing Bridge", 3, mode="bm25")
    (directory,) = (tmp_path / "index").glob("bm25s*-bm25-*")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["corpus_fingerprint"] == first.manifest.corpus_fingerprint
    assert manifest["files"] and all(len(d) == 64 for d in manifest["files"].values())

    def no_build(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the cached BM25 index should be loaded, not built")

    monkeypatch.setattr(LexicalIndex, "build", no_build)
    again = _open(tiny_corpus_dir, tmp_path, hashing_encoder)
    assert again.search("Glasswing Bridge", 3, mode="bm25") == expected


def test_a_corrupt_bm25_cache_is_reported_and_rebuilt(tiny_corpus_dir, tmp_path, hashing_encoder):
    _open(tiny_corpus_dir, tmp_path, hashing_encoder).searcher("bm25")
    (directory,) = (tmp_path / "index").glob("bm25s*-bm25-*")
    vocab = directory / "vocab.index.json"
    vocab.write_text(vocab.read_text().replace('"tower"', '"towel"'))
    with pytest.warns(
        IndexCacheWarning, match=r"is corrupt \(vocab.index.json checksum mismatch\); rebuilding"
    ):
        hits = _open(tiny_corpus_dir, tmp_path, hashing_encoder).search("tower", 1, mode="bm25")
    assert hits[0][0].title == "Lumen Tower"
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "files": {}}))
    with pytest.warns(IndexCacheWarning, match=r"corrupt \(the manifest lists no files\)"):
        _open(tiny_corpus_dir, tmp_path, hashing_encoder).searcher("hybrid")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt and saved again: it loads cleanly now
        _open(tiny_corpus_dir, tmp_path, hashing_encoder).searcher("bm25")


def test_importing_the_package_or_searching_densely_does_not_import_bm25s():
    code = (
        "import sys, webanchor_env, webanchor_env.backend, webanchor_env.serve; "
        "print('bm25s' in sys.modules, 'Stemmer' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_the_env_takes_a_search_mode(tiny_backend):
    search = {"name": "search", "arguments": {"query": ["Glasswing Bridge"]}}
    for mode in ("dense", "bm25", "hybrid"):
        env = gym.make(webanchor_env.ENV_ID, backend=tiny_backend, split="train", search_mode=mode)
        env.reset(seed=0)
        observation, *_ = env.step(search)
        assert "[Glasswing Bridge](https://wiki.local/wiki/Glasswing_Bridge)" in observation
        assert env.unwrapped.config.search_mode == mode
    with pytest.raises(ValueError, match=r"Expected search_mode among .*, got 'bm42'\."):
        gym.make(webanchor_env.ENV_ID, backend=tiny_backend, search_mode="bm42")


def test_the_service_searches_in_the_mode_asked(tiny_backend):
    with serve(tiny_backend) as srv:
        remote = RemoteSearchBackend(srv.url)
        for mode in ("dense", "bm25", "hybrid"):
            assert remote.search(["Orlan Vesk"], 3, mode=mode) == tiny_backend.search(
                ["Orlan Vesk"], 3, mode=mode
            )
        assert remote.search_text("Cobalt Bay", 2, mode="bm25") == tiny_backend.search_text(
            "Cobalt Bay", 2, mode="bm25"
        )
        with pytest.raises(SearchServiceError, match=r'-> 400: Expected "mode" among'):
            ServiceClient(srv.url).request("POST", "/search", {"queries": ["x"], "mode": "bm"})
