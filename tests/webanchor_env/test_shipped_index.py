"""The bundled corpus's prebuilt index: it matches the corpus, loads without building,
and an edited corpus is caught (reported, then built into the cache)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import wiki_corpus
from webanchor_env.backend import (
    SHIPPED_LEXICAL_DIR,
    IndexCacheWarning,
    WikiBackend,
    expected_manifest,
    shipped_index_dir,
)
from webanchor_env.build_index import build_shipped
from webanchor_env.embedding import DEFAULT_MODEL, Encoder
from webanchor_env.index import read_manifest, sha256_file
from webanchor_env.passages import PassageSettings
from webanchor_env.reader import PARSER_VERSION
from wiki_corpus import Page, write_corpus


@pytest.fixture(scope="module")
def bundled() -> wiki_corpus.Corpus:
    return wiki_corpus.load("default")


def test_shipped_index_matches_the_bundled_corpus(bundled: wiki_corpus.Corpus) -> None:
    """Regenerating the corpus without `python -m webanchor_env.build_index` fails here."""
    directory = shipped_index_dir(bundled.path)
    manifest = read_manifest(directory)
    expected = expected_manifest(
        bundled, PassageSettings(), DEFAULT_MODEL, "flat", len(bundled.pages)
    )
    assert manifest.mismatch(expected) is None
    assert manifest.corpus_fingerprint == expected.corpus_fingerprint
    assert (manifest.model, manifest.parser_version) == (DEFAULT_MODEL, PARSER_VERSION)
    assert manifest.n_pages == len(bundled.pages)
    for name, digest in manifest.files.items():
        assert sha256_file(directory / name) == digest, name
    lexical = read_manifest(directory / SHIPPED_LEXICAL_DIR)
    assert lexical.corpus_fingerprint == expected.corpus_fingerprint
    assert lexical.n_passages == manifest.n_passages
    for name, digest in lexical.files.items():
        assert sha256_file(directory / SHIPPED_LEXICAL_DIR / name) == digest, name
    assert manifest.vectors in ("float16", "sq8")
    assert manifest.notes["recall_at_10_vs_float32"] >= 0.99


def test_bundled_corpus_loads_its_shipped_index(tmp_path: Path) -> None:
    backend = WikiBackend.open("default", cache_dir=tmp_path / "cache", show_progress=False)
    assert backend.cache_path == shipped_index_dir(backend.corpus.path)
    assert backend.build_timings == {}  # nothing was built
    assert not (tmp_path / "cache").exists()
    assert backend.index.index_type == "flat"
    task = backend.corpus.tasks_in("test")[0]
    gold_titles = {backend.store.pages[h.page].url for h in backend.search(task.question, 10)[0]}
    assert gold_titles & set(task.gold.pages)
    span = backend.index.page_passages(0)
    assert backend.index.rank_page_passages(0, "history")[0][0] in span  # goal mode reads it
    for mode in ("bm25", "hybrid"):  # the BM25 index ships too
        assert backend.searcher(mode).search(task.question, 5)[0]
    assert not (tmp_path / "cache").exists()


@pytest.fixture
def corpus_with_index(tmp_path: Path, tiny_corpus_dir: Path, hashing_encoder: Encoder) -> Path:
    corpus_dir = Path(shutil.copytree(tiny_corpus_dir, tmp_path / "corpus"))
    build_shipped(
        corpus_dir,
        "sq8",
        k=3,
        min_recall=0.0,
        cache_dir=tmp_path / "build",
        encoder=hashing_encoder,
    )
    return corpus_dir


def test_a_corpus_directory_can_ship_its_index(
    corpus_with_index: Path, tmp_path: Path, hashing_encoder: Encoder
) -> None:
    encoded = hashing_encoder.texts_encoded
    backend = WikiBackend.open(
        corpus_with_index,
        cache_dir=tmp_path / "cache",
        encoder=hashing_encoder,
        show_progress=False,
    )
    assert backend.cache_path == shipped_index_dir(corpus_with_index)
    assert hashing_encoder.texts_encoded == encoded
    assert backend.manifest.vectors == "sq8"
    assert backend.search("Lumen Tower", top_k=1)[0][0].title == "Lumen Tower"


def test_edited_corpus_reports_its_stale_shipped_index(
    corpus_with_index: Path, tmp_path: Path, hashing_encoder: Encoder
) -> None:
    corpus = wiki_corpus.load(corpus_with_index)
    extra = Page("p-new", "https://wiki.local/wiki/Quill_Ferry", "Quill Ferry", "<p>A ferry.</p>")
    shipped = shutil.copytree(shipped_index_dir(corpus_with_index), tmp_path / "shipped")
    write_corpus(corpus_with_index, [*corpus.pages, extra], corpus.tasks, corpus.meta)
    shutil.copytree(shipped, shipped_index_dir(corpus_with_index))  # the index left as it was
    with pytest.warns(IndexCacheWarning, match=r"prebuilt index .* is stale \(corpus fingerprint"):
        backend = WikiBackend.open(
            corpus_with_index,
            cache_dir=tmp_path / "cache",
            encoder=hashing_encoder,
            show_progress=False,
        )
    assert backend.cache_path.is_relative_to(tmp_path / "cache")
    assert backend.search("a ferry", top_k=1)[0][0].title == "Quill Ferry"


def test_build_refuses_an_index_below_the_recall_floor(
    tmp_path: Path, tiny_corpus_dir: Path, hashing_encoder: Encoder
) -> None:
    corpus_dir = Path(shutil.copytree(tiny_corpus_dir, tmp_path / "corpus"))
    with pytest.raises(SystemExit, match=r"Expected recall@3 >= 1.01, got 1.0000: not written"):
        build_shipped(
            corpus_dir, "float16", k=3, min_recall=1.01, cache_dir=tmp_path, encoder=hashing_encoder
        )
    assert not shipped_index_dir(corpus_dir).exists()
