"""The index cache: reused without re-encoding; stale or corrupt caches are rebuilt."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import wiki_corpus
from webanchor_env.backend import TEXT_FILE, IndexCacheWarning, WikiBackend, default_cache_dir
from webanchor_env.embedding import Encoder
from webanchor_env.index import INDEX_FILE, MANIFEST_FILE
from wiki_corpus import Page, write_corpus


@pytest.fixture
def corpus_dir(tmp_path: Path, tiny_corpus_dir: Path) -> Path:
    corpus = wiki_corpus.load(tiny_corpus_dir)
    return write_corpus(tmp_path / "corpus", corpus.pages, corpus.tasks, corpus.meta)


@pytest.fixture
def open_backend(hashing_encoder: Encoder) -> Callable[..., WikiBackend]:
    """Open a backend with the instant hashing encoder (the machinery, not the model)."""

    def _open(corpus_dir: Path, cache_dir: Path, **kwargs) -> WikiBackend:
        return WikiBackend.open(
            corpus_dir, cache_dir=cache_dir, show_progress=False, encoder=hashing_encoder, **kwargs
        )

    return _open


def test_real_model_cache_is_reused_without_encoding(
    tiny_backend: WikiBackend, tiny_corpus_dir: Path, tiny_cache_dir: Path
) -> None:
    encoder = tiny_backend.index.encoder
    before = encoder.texts_encoded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = WikiBackend.open(tiny_corpus_dir, cache_dir=tiny_cache_dir, show_progress=False)
    assert again is not tiny_backend and again.index.encoder is encoder
    assert encoder.texts_encoded == before  # nothing re-encoded
    assert again.index.passages == tiny_backend.index.passages
    assert again.manifest == tiny_backend.manifest


def test_second_load_reads_the_cache_without_encoding(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    first = open_backend(corpus_dir, tmp_path / "cache")
    encoder = first.index.encoder
    assert encoder.texts_encoded == len(first.index.passages)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = open_backend(corpus_dir, tmp_path / "cache")
    assert encoder.texts_encoded == len(first.index.passages)  # nothing re-encoded
    assert second.index.faiss_index.ntotal == first.index.faiss_index.ntotal
    assert second.index.passages == first.index.passages
    assert second.store.parsed(0) == first.store.parsed(0)
    assert second.store._parsed[5] is not None  # parsed text came from the cache


def test_manifest_records_what_the_index_was_built_from(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    backend = open_backend(corpus_dir, tmp_path / "cache")
    assert backend.cache_path is not None and backend.cache_path.is_relative_to(tmp_path)
    manifest = json.loads((backend.cache_path / MANIFEST_FILE).read_text())
    assert manifest["model"] == "test-hashing-encoder"
    assert manifest["dim"] == 256
    assert manifest["index_type"] == "flat"
    assert manifest["n_pages"] == 8
    assert manifest["n_passages"] == len(backend.index.passages)
    assert len(manifest["corpus_fingerprint"]) == 64
    assert set(manifest["files"]) == {INDEX_FILE, TEXT_FILE}
    assert "package_version" in manifest


def test_changed_corpus_gets_its_own_cache(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    """The cache is keyed by content: an edited corpus never reads the old index."""
    before = open_backend(corpus_dir, tmp_path / "cache")
    corpus = wiki_corpus.load(corpus_dir)
    extra = Page("p-new", "https://wiki.local/wiki/Quill_Ferry", "Quill Ferry", "<p>A ferry.</p>")
    write_corpus(corpus_dir, [*corpus.pages, extra], corpus.tasks, corpus.meta)
    encoder = before.index.encoder
    encoded = encoder.texts_encoded
    rebuilt = open_backend(corpus_dir, tmp_path / "cache")
    assert rebuilt.cache_path != before.cache_path
    assert encoder.texts_encoded > encoded  # built, not read from the old cache
    assert rebuilt.store.get("Quill Ferry") is not None
    assert rebuilt.search("a ferry", top_k=1)[0][0].title == "Quill Ferry"


def test_same_content_in_two_places_shares_one_cache(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    """Two checkouts of one corpus (other paths, other folder names) build it once."""
    first = open_backend(corpus_dir, tmp_path / "cache")
    copy = shutil.copytree(corpus_dir, tmp_path / "elsewhere" / "other-name")
    encoder = first.index.encoder
    encoded = encoder.texts_encoded
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = open_backend(copy, tmp_path / "cache")
    assert second.cache_path == first.cache_path
    assert encoder.texts_encoded == encoded


def test_parser_version_change_makes_the_cache_stale(
    open_backend: Callable[..., WikiBackend],
    corpus_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = open_backend(corpus_dir, tmp_path / "cache")
    monkeypatch.setattr("webanchor_env.backend.PARSER_VERSION", 10_000)
    with pytest.warns(IndexCacheWarning, match=r"stale \(parser version changed\); rebuilding"):
        again = open_backend(corpus_dir, tmp_path / "cache")
    assert again.cache_path == first.cache_path  # rebuilt in place
    assert again.manifest.parser_version == 10_000


def test_manifest_without_a_checksum_is_corrupt(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    """Every file the cache holds needs its checksum: none means nothing can be trusted."""
    backend = open_backend(corpus_dir, tmp_path / "cache")
    path = backend.cache_path / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    del manifest["files"][INDEX_FILE]
    path.write_text(json.dumps(manifest))
    with pytest.warns(IndexCacheWarning, match="lists no checksum for index.faiss"):
        rebuilt = open_backend(corpus_dir, tmp_path / "cache")
    assert INDEX_FILE in rebuilt.manifest.files


def test_garbage_index_file_is_detected_and_rebuilt(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    backend = open_backend(corpus_dir, tmp_path / "cache")
    index_file = backend.cache_path / INDEX_FILE
    index_file.write_bytes(b"\x00garbage\xff" * 100)
    encoder = backend.index.encoder
    before = encoder.texts_encoded
    with pytest.warns(IndexCacheWarning, match=r"is corrupt \(index.faiss checksum mismatch\)"):
        rebuilt = open_backend(corpus_dir, tmp_path / "cache")
    assert encoder.texts_encoded > before
    assert rebuilt.search("Lumen Tower", top_k=1)[0][0].title == "Lumen Tower"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_backend(corpus_dir, tmp_path / "cache")  # the rebuilt cache is good again


@pytest.mark.parametrize("victim", [MANIFEST_FILE, TEXT_FILE])
def test_broken_manifest_or_text_is_rebuilt(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path, victim: str
) -> None:
    backend = open_backend(corpus_dir, tmp_path / "cache")
    (backend.cache_path / victim).write_text("{not json")
    with pytest.warns(IndexCacheWarning, match="rebuilding"):
        open_backend(corpus_dir, tmp_path / "cache")


@pytest.mark.parametrize("index_type", ["ivf", "hnsw"])
def test_approximate_index_types(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path, index_type: str
) -> None:
    backend = open_backend(corpus_dir, tmp_path / "cache", index_type=index_type)
    assert backend.index.index_type == index_type
    assert backend.search("mezzo-soprano opera singer", top_k=1)[0][0].title == (
        "Mira Solenne (singer)"
    )
    again = open_backend(corpus_dir, tmp_path / "cache", index_type=index_type)
    assert again.index.index_type == index_type
    if index_type == "ivf":
        again.index.nprobe = 1
        assert again.index.nprobe == 1
        with pytest.raises(ValueError, match="ef_search applies to an 'hnsw' index"):
            again.index.ef_search = 10
    else:
        again.index.ef_search = 16
        assert again.index.ef_search == 16
    assert again.visit_text("Lumen Tower", goal="height", goal_mode=True).count("Passages") == 1


def test_unknown_index_type(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"Expected an index type among .*, got 'pq'"):
        open_backend(corpus_dir, tmp_path / "cache", index_type="pq")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WEBANCHOR_CACHE", str(tmp_path / "wa"))
    assert default_cache_dir() == tmp_path / "wa"
    monkeypatch.delenv("WEBANCHOR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "webanchor"


def test_in_memory_corpus_is_cached_by_content(
    hashing_encoder: Encoder, tiny_pages: list[Page], tmp_path: Path
) -> None:
    def open_pages(pages: list[Page]) -> WikiBackend:
        return WikiBackend.open(
            wiki_corpus.Corpus(pages=pages, tasks=[]),
            cache_dir=tmp_path,
            show_progress=False,
            encoder=hashing_encoder,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # two corpora, two caches: neither is ever stale
        first, other = open_pages(tiny_pages), open_pages(tiny_pages[:3])
        again = open_pages(tiny_pages)
    assert first.cache_path != other.cache_path and again.cache_path == first.cache_path
    assert hashing_encoder.texts_encoded == len(first.index.passages) + len(other.index.passages)


def test_unwritable_cache_still_gives_a_backend(
    open_backend: Callable[..., WikiBackend], corpus_dir: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    with pytest.warns(IndexCacheWarning, match="the index lives in memory only"):
        backend = open_backend(corpus_dir, blocker)
    assert backend.search("Lumen Tower", top_k=1)[0][0].title == "Lumen Tower"
