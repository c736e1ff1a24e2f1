"""The FAISS passage index: build it, save and load it with a manifest, search it by page.

Embeddings are normalized, so inner product is cosine. ``flat`` (exact, the default) suits
the bundled wiki; ``ivf`` (IVF-Flat, trained on the embeddings, ``nprobe`` settable) and
``hnsw`` (HNSW-Flat, ``ef_search`` settable) are for large corpora. A search retrieves
several passages per wanted page and keeps each page's best passage, so results are
distinct pages. Repeated queries hit an LRU cache; a batch of queries encodes only its
cache misses, in one encoder call.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from cachetools import LRUCache

from webanchor_env.actions import MAX_QUERY_CHARS
from webanchor_env.embedding import Encoder
from webanchor_env.passages import Passage

INDEX_TYPES = ("flat", "ivf", "hnsw")
VECTOR_CODES = ("float32", "float16", "sq8")
"""How a flat index stores its vectors: exact, half precision, or 8-bit scalar quantized."""
SNIPPET_CHARS = 300
MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.faiss"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")  # and surrogates


@dataclass(frozen=True)
class Hit:
    """One search result: a page, its rank (from 1), and its best-matching passage."""

    rank: int
    page: int
    """Position of the page in the store."""
    page_id: str
    title: str
    url: str
    snippet: str
    score: float
    passage: int
    """Position of the best-matching passage in the index."""


@dataclass(frozen=True)
class IndexManifest:
    """What a cached index was built from; a cache whose manifest differs is stale."""

    corpus_fingerprint: str
    model: str
    dim: int
    index_type: str
    package_version: str
    passage_settings: str
    parser_version: int
    n_pages: int
    n_passages: int
    files: dict[str, str] = field(default_factory=dict, compare=False)
    """File name -> sha256 of the files the cache holds (checked on load)."""
    vectors: str = "float32"
    """How a flat index stores its vectors (one of ``VECTOR_CODES``)."""
    notes: dict[str, Any] = field(default_factory=dict, compare=False)
    """Free-form facts about the build (e.g. a quantized index's measured recall)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> IndexManifest:
        return cls(**obj)

    def mismatch(self, expected: IndexManifest) -> str | None:
        """The first field that differs from ``expected`` (counts excluded), or ``None``."""
        for name in ("corpus_fingerprint", "model", "index_type", "passage_settings"):
            if getattr(self, name) != getattr(expected, name):
                return f"{name.replace('_', ' ')} changed"
        if self.parser_version != expected.parser_version:
            return "parser version changed"
        if self.package_version != expected.package_version:
            return "package version changed"
        return None


class CacheError(Exception):
    """A cached index that cannot be used; the message says why in a few words."""


def clean_query(query: object) -> tuple[str, bool]:
    """``(query, was_cut)``: control characters dropped, spaces squeezed, cut to the limit.

    Anything that is not a string becomes the empty query.
    """
    if not isinstance(query, str):
        return "", False
    query = query[: MAX_QUERY_CHARS * 4]
    text = " ".join(_CONTROL.sub(" ", query).split())
    if len(text) > MAX_QUERY_CHARS:
        return text[:MAX_QUERY_CHARS].rstrip(), True
    return text, False


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def build_faiss(
    embeddings: np.ndarray, index_type: str = "flat", vectors: str = "float32"
) -> faiss.Index:
    """An inner-product FAISS index over normalized ``embeddings`` ``[N, D]``.

    ``vectors`` applies to ``flat``: ``float16`` halves the index, ``sq8`` (one byte a
    dimension, ranges trained on ``embeddings``) quarters it, both at a measured recall cost.
    """
    n, dim = embeddings.shape
    if vectors not in VECTOR_CODES:
        raise ValueError(f"Expected vectors among {VECTOR_CODES}, got {vectors!r}.")
    if vectors != "float32" and index_type != "flat":
        raise ValueError(f"Quantized vectors apply to a 'flat' index, not {index_type!r}.")
    if vectors != "float32":
        code = (
            faiss.ScalarQuantizer.QT_fp16 if vectors == "float16" else faiss.ScalarQuantizer.QT_8bit
        )
        index = faiss.IndexScalarQuantizer(dim, code, faiss.METRIC_INNER_PRODUCT)
        index.train(embeddings)
    elif index_type == "flat":
        index = faiss.IndexFlatIP(dim)
    elif index_type == "ivf":
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(embeddings)
        index.nprobe = min(nlist, 16)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        raise ValueError(f"Expected an index type among {INDEX_TYPES}, got {index_type!r}.")
    if n:
        index.add(embeddings)
    if index_type == "ivf":
        index.make_direct_map()  # lets goal mode reconstruct a page's passage vectors
    return index


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def page_hits(
    passages: Sequence[Passage],
    pages: Sequence[tuple[str, str, str]],
    scores: np.ndarray,
    ids: np.ndarray,
    top_k: int,
) -> tuple[Hit, ...]:
    """The first ``top_k`` distinct pages of a passage ranking (``ids`` best first, -1 for
    none), each hit with its best passage; ``pages`` holds ``(id, title, url)``."""
    seen: set[int] = set()
    hits: list[Hit] = []
    for score, pid in zip(scores.tolist(), ids.tolist()):
        if pid < 0:
            continue
        passage = passages[pid]
        if passage.page in seen:
            continue
        seen.add(passage.page)
        page_id, title, url = pages[passage.page]
        hits.append(
            Hit(
                len(hits) + 1, passage.page, page_id, title, url, _snippet(passage.body), score, pid
            )
        )
        if len(hits) == top_k:
            break
    return tuple(hits)


class SearchIndex:
    """Passages, their FAISS index and the encoder that embeds queries against it."""

    def __init__(
        self,
        faiss_index: faiss.Index,
        passages: Sequence[Passage],
        pages: Sequence[tuple[str, str, str]],
        encoder: Encoder,
        *,
        cache_size: int = 4096,
    ) -> None:
        """``pages`` holds ``(id, title, url)`` per store position, to label hits."""
        if faiss_index.ntotal != len(passages):
            raise ValueError(
                f"Expected one vector per passage ({len(passages)}), got {faiss_index.ntotal}."
            )
        self.faiss_index = faiss_index
        self.passages = list(passages)
        self.pages = list(pages)
        self.encoder = encoder
        page_of = np.fromiter((p.page for p in self.passages), np.int64, len(self.passages))
        self.passage_page = page_of  # [P]
        self.page_start = np.searchsorted(page_of, np.arange(len(self.pages) + 1))  # [pages+1]
        self.cache_size = cache_size
        self._cache: LRUCache[tuple[str, int], tuple[Hit, ...]] = LRUCache(max(cache_size, 1))
        self._lock = threading.Lock()
        # rollouts of one task repeat goals, so the embeddings of recent ones are kept
        self._goal_vector = functools.lru_cache(maxsize=cache_size)(self._encode_goal)

    @property
    def dim(self) -> int:
        return int(self.faiss_index.d)

    @property
    def index_type(self) -> str:
        if isinstance(self.faiss_index, faiss.IndexIVF):
            return "ivf"
        if isinstance(self.faiss_index, faiss.IndexHNSW):
            return "hnsw"
        return "flat"

    @property
    def nprobe(self) -> int | None:
        """IVF lists probed per query (``None`` for other index types)."""
        ivf = faiss.try_extract_index_ivf(self.faiss_index)
        return None if ivf is None else int(ivf.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        ivf = faiss.try_extract_index_ivf(self.faiss_index)
        if ivf is None:
            raise ValueError(f"nprobe applies to an 'ivf' index, this one is {self.index_type!r}.")
        ivf.nprobe = int(value)
        self.clear_cache()

    @property
    def ef_search(self) -> int | None:
        """HNSW search breadth (``None`` for other index types)."""
        if isinstance(self.faiss_index, faiss.IndexHNSW):
            return int(self.faiss_index.hnsw.efSearch)
        return None

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if not isinstance(self.faiss_index, faiss.IndexHNSW):
            raise ValueError(
                f"ef_search applies to an 'hnsw' index, this one is {self.index_type!r}."
            )
        self.faiss_index.hnsw.efSearch = int(value)
        self.clear_cache()

    # ----------------------------------------------------------------- search

    def clear_cache(self) -> None:
        """Forget cached query results and goal embeddings."""
        with self._lock:
            self._cache.clear()
        self._goal_vector.cache_clear()

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[list[Hit]]:
        """The ``top_k`` best pages per query, each with its best passage as snippet.

        Queries are cleaned with :func:`clean_query`; an empty one gets no hits. Cache
        misses are encoded together in one encoder call.
        """
        if isinstance(queries, str):
            queries = [queries]
        top_k = max(0, int(top_k))
        cleaned = [clean_query(q)[0] for q in queries]
        results: list[tuple[Hit, ...] | None] = []
        with self._lock:
            for q in cleaned:
                if not q or not top_k:
                    results.append(())
                    continue
                results.append(self._cache.get((q, top_k)))  # (a hit counts as a use)
        misses = list(dict.fromkeys(q for q, r in zip(cleaned, results) if r is None))
        if misses:
            found = dict(zip(misses, self._search_uncached(misses, top_k)))
            if self.cache_size > 0:
                with self._lock:
                    self._cache.update(((q, top_k), hits) for q, hits in found.items())
            results = [found[q] if r is None else r for q, r in zip(cleaned, results)]
        return [list(r) for r in results]  # type: ignore[arg-type]

    def _search_uncached(self, queries: list[str], top_k: int) -> list[tuple[Hit, ...]]:
        vectors = self.encoder.encode(queries)  # [Q, D]
        return self.search_vectors(vectors, top_k)

    def depth(self, top_k: int) -> int:
        """How many passages one search retrieves to find ``top_k`` distinct pages."""
        return min(self.faiss_index.ntotal, max(4 * top_k, 16))

    def search_vectors(self, vectors: np.ndarray, top_k: int) -> list[tuple[Hit, ...]]:
        """Page-level hits for query vectors ``[Q, D]`` (no encoding, no cache)."""
        ntotal = self.faiss_index.ntotal
        if not ntotal or not len(vectors):
            return [() for _ in range(len(vectors))]
        depth = self.depth(top_k)
        scores, ids = self.faiss_index.search(vectors, depth)  # [Q, depth]
        out = []
        for row in range(len(vectors)):
            hits = self._dedup(scores[row], ids[row], top_k)
            wider = depth
            while len(hits) < top_k and wider < ntotal:
                wider = min(ntotal, wider * 4)
                s, i = self.faiss_index.search(vectors[row : row + 1], wider)
                hits = self._dedup(s[0], i[0], top_k)
            out.append(hits)
        return out

    def _dedup(self, scores: np.ndarray, ids: np.ndarray, top_k: int) -> tuple[Hit, ...]:
        return page_hits(self.passages, self.pages, scores, ids, top_k)

    # ----------------------------------------------------------------- goal mode

    def _encode_goal(self, goal: str) -> np.ndarray:
        """The goal's embedding ``[D]`` (cached per index as ``_goal_vector``)."""
        return self.encoder.encode([goal])[0]

    def page_passages(self, page: int) -> range:
        """Positions of one page's passages (they are contiguous)."""
        return range(int(self.page_start[page]), int(self.page_start[page + 1]))

    def rank_page_passages(self, page: int, goal: str) -> list[tuple[int, float]]:
        """A page's passages as ``(position, cosine)`` by similarity to ``goal``, best first.

        The passages' vectors are read back from the index, not re-encoded.
        """
        span = self.page_passages(page)
        if not len(span):
            return []
        text, _ = clean_query(goal)
        if not text:
            return [(i, 0.0) for i in span]
        goal_vec = self._goal_vector(text)  # [D]
        vectors = self.faiss_index.reconstruct_n(span.start, len(span))  # [n, D]
        sims = vectors @ goal_vec  # [n]
        order = np.argsort(-sims, kind="stable")
        return [(span.start + int(j), float(sims[j])) for j in order]


def save_faiss(faiss_index: faiss.Index, directory: Path) -> dict[str, str]:
    """Write a FAISS index into ``directory`` atomically; ``{file name: sha256}``."""
    data = faiss.serialize_index(faiss_index).tobytes()
    atomic_write(directory / INDEX_FILE, data)
    return {INDEX_FILE: hashlib.sha256(data).hexdigest()}


def read_faiss(directory: Path, expected_sha256: str) -> faiss.Index:
    """Read a saved FAISS index, checking its bytes; raises :class:`CacheError`."""
    path = directory / INDEX_FILE
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CacheError(f"{INDEX_FILE} unreadable ({err.strerror})") from None
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CacheError(f"{INDEX_FILE} checksum mismatch")
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError:
        raise CacheError(f"{INDEX_FILE} unreadable by FAISS") from None
    if isinstance(index, faiss.IndexIVF):
        index.make_direct_map()
    return index


def write_manifest(directory: Path, manifest: IndexManifest) -> None:
    """Write the manifest last: a cache is complete once its manifest is in place."""
    data = json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"
    atomic_write(directory / MANIFEST_FILE, data.encode("utf-8"))


def checked_manifest(directory: Path, expected: IndexManifest) -> IndexManifest:
    """The manifest of a cache built for ``expected``; raises :class:`CacheError`: 'no
    manifest', 'corrupt (...)' (unreadable) or 'stale (...)' (built from something else)."""
    try:
        manifest = read_manifest(directory)
    except CacheError as err:
        if str(err) == "no manifest":
            raise
        raise CacheError(f"corrupt ({err})") from None
    reason = manifest.mismatch(expected)
    if reason:
        raise CacheError(f"stale ({reason})")
    return manifest


def read_manifest(directory: Path) -> IndexManifest:
    """The manifest of a cache directory; raises :class:`CacheError` when absent or broken."""
    path = directory / MANIFEST_FILE
    try:
        return IndexManifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, NotADirectoryError):
        raise CacheError("no manifest") from None
    except (OSError, ValueError, TypeError) as err:
        raise CacheError(f"manifest unreadable ({type(err).__name__})") from None
