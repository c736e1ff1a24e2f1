"""Shared fixtures: the tiny hand-written wiki (``wiki_corpus.tiny``: 8 pages, 3 tasks) and
a backend over it."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from webanchor_env.backend import WikiBackend, get_backend
from webanchor_env.embedding import Encoder
from wiki_corpus import Page
from wiki_corpus.tiny import PAGES, write_tiny_corpus


@pytest.fixture(scope="session")
def tiny_pages() -> list[Page]:
    """The 8 hand-written pages of the tiny corpus (in file order)."""
    return list(PAGES)


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the tiny hand-written corpus (8 pages, 3 tasks)."""
    return write_tiny_corpus(tmp_path_factory.mktemp("corpus") / "tiny")


@pytest.fixture(scope="session")
def tiny_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index cache directory used by ``tiny_backend``."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_backend(tiny_corpus_dir: Path, tiny_cache_dir: Path) -> WikiBackend:
    """The shared backend (``get_backend``) over the tiny corpus: default model, flat index."""
    return get_backend(tiny_corpus_dir, cache_dir=tiny_cache_dir, show_progress=False)


class HashingEncoder(Encoder):
    """Bag of words hashed into 256 dimensions: instant and deterministic, for tests of the
    index machinery (caching, index types) that do not need a real model."""

    def __init__(self) -> None:
        super().__init__("test-hashing-encoder")

    @property
    def dim(self) -> int:
        return 256

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, zlib.crc32(word.encode()) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def hashing_encoder() -> HashingEncoder:
    """A fresh :class:`HashingEncoder` (its counters start at zero)."""
    return HashingEncoder()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module (``pytest.mark.usefixtures``): on a small
    shared machine, more threads make encoding slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def hashing_backend(tiny_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> WikiBackend:
    """A backend over the tiny corpus searched with :class:`HashingEncoder`: instant, for
    tests that step the environment thousands of times."""
    return WikiBackend.open(
        tiny_corpus_dir,
        encoder=HashingEncoder(),
        cache_dir=tmp_path_factory.mktemp("hashing-cache"),
        show_progress=False,
    )
