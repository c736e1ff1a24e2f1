"""get_backend: one shared backend per process and key; broken corpora reported precisely."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import numpy as np
import pytest

from webanchor_env.backend import WikiBackend, corpus_fingerprint, get_backend
from webanchor_env.embedding import DEFAULT_MODEL, Encoder, default_model_path, model_name
from webanchor_env.passages import PassageSettings
from wiki_corpus import CorpusFormatError


def test_get_backend_is_memoized(
    tiny_backend: WikiBackend, tiny_corpus_dir: Path, tiny_cache_dir: Path
) -> None:
    same = get_backend(str(tiny_corpus_dir), cache_dir=tiny_cache_dir, show_progress=False)
    assert same is tiny_backend
    via_alias = get_backend(
        tiny_corpus_dir / ".." / tiny_corpus_dir.name,
        model="sentence-transformers/all-MiniLM-L6-v2",
        cache_dir=str(tiny_cache_dir),
    )
    assert via_alias is tiny_backend


def test_backend_exposes_corpus_store_and_index(tiny_backend: WikiBackend) -> None:
    assert len(tiny_backend.corpus.pages) == len(tiny_backend.store) == 8
    assert [t.id for t in tiny_backend.corpus.tasks] == ["t-1", "t-2", "t-3"]
    assert tiny_backend.store.get("Lumen Tower") is tiny_backend.corpus.pages[0]
    assert tiny_backend.index.dim == 384 and tiny_backend.index.index_type == "flat"
    hits = tiny_backend.search(["Orlan Vesk"], top_k=1)
    assert hits[0][0].page_id == "p-vesk"


def test_fingerprint_depends_on_pages_and_settings(tiny_backend: WikiBackend) -> None:
    corpus = tiny_backend.corpus
    base = corpus_fingerprint(corpus, PassageSettings())
    assert base == tiny_backend.manifest.corpus_fingerprint
    assert corpus_fingerprint(corpus, PassageSettings(max_chars=300)) != base


def test_broken_corpus_file_names_path_and_line(tmp_path: Path) -> None:
    corpus = tmp_path / "broken"
    corpus.mkdir()
    with gzip.open(corpus / "pages.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write('{"id": "a", "url": "https://wiki.local/wiki/A", "title": "A", "html": ""}\n')
        fh.write('{"id": "b", "url": \n')
    with pytest.raises(CorpusFormatError, match=r"pages\.jsonl\.gz:2: invalid JSON"):
        get_backend(corpus, cache_dir=tmp_path / "cache", show_progress=False)


def test_missing_corpus_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Expected a corpus directory"):
        get_backend(tmp_path / "nowhere", cache_dir=tmp_path / "cache")


def test_default_model_loads_from_its_package_without_network(
    monkeypatch: pytest.MonkeyPatch, tiny_backend: WikiBackend
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    encoder = Encoder()  # not the shared one: this really loads the weights again
    vectors = encoder.encode(["Lumen Tower", "a tall building"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert str(default_model_path()).endswith("model")
    assert model_name(None) == model_name("sentence-transformers/all-MiniLM-L6-v2") == DEFAULT_MODEL


def test_query_encodes_run_on_one_thread_and_restore_it(tiny_backend: WikiBackend) -> None:
    import torch

    encoder = tiny_backend.index.encoder
    before = torch.get_num_threads()
    seen: list[int] = []
    with encoder.thread_limit(3):
        seen.append(torch.get_num_threads())
    with encoder.thread_limit(10_000):  # an index build keeps the process setting
        seen.append(torch.get_num_threads())
    assert seen == [min(before, encoder.query_threads), before]
    assert torch.get_num_threads() == before


def test_deepcopy_shares_the_backend(tiny_backend):
    import copy

    assert copy.deepcopy({"backend": tiny_backend})["backend"] is tiny_backend
