"""The lexical (BM25) index over the same passages as the dense one, by ``bm25s``.

BM25 finds what embeddings blur: exact names, numbers, rare words. Passages are tokenized
the ``bm25s`` way (lowercase, words of two or more characters, English stopwords dropped,
Snowball English stems by PyStemmer), scored with Lucene's BM25 and grouped into distinct
pages like dense hits (:func:`~webanchor_env.index.page_hits`). A passage that shares no term
with the query is never a hit, so a query of stopwords alone finds nothing.

The index is saved next to a manifest that records what it was built from (corpus
fingerprint, passage settings, these settings, package versions) and a checksum for every
file; :func:`load_lexical` refuses a cache whose manifest differs or whose files do not match
(:class:`~webanchor_env.index.CacheError`). ``bm25s`` is imported only when an index is built
or loaded, so ``import webanchor_env`` stays fast.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webanchor_env.index import (
    CacheError,
    Hit,
    IndexManifest,
    atomic_write,
    checked_manifest,
    clean_query,
    page_hits,
    sha256_file,
    write_manifest,
)
from webanchor_env.passages import Passage

INDEX_TYPE = "bm25"
"""The ``index_type`` a lexical index's manifest records."""
INSTALL_HINT = "pip install bm25s PyStemmer"


@dataclass(frozen=True)
class LexicalSettings:
    """How passages and queries are tokenized and scored."""

    k1: float = 1.5
    """Term-frequency saturation."""
    b: float = 0.75
    """Length normalization."""
    stopwords: str = "en"
    """Stopword list of ``bm25s`` (``""``: keep every word)."""
    stemmer: str = "english"
    """Snowball stemmer language of PyStemmer (``""``: no stemming)."""

    def key(self) -> str:
        """What a cached index was built with, as the manifest's ``model`` field."""
        return (
            f"bm25s-{_bm25s().__version__}:lucene:k1={self.k1}:b={self.b}:"
            f"stopwords={self.stopwords or '-'}:stemmer={self.stemmer or '-'}"
        )


def _bm25s() -> Any:
    try:
        import bm25s
    except ImportError:
        raise ImportError(
            f"BM25 and hybrid search need the bm25s package: `{INSTALL_HINT}`."
        ) from None
    return bm25s


def _stemmer(language: str) -> Any:
    if not language:
        return None
    try:
        import Stemmer
    except ImportError:
        raise ImportError(f"BM25 search stems words with PyStemmer: `{INSTALL_HINT}`.") from None
    return Stemmer.Stemmer(language)


class LexicalIndex:
    """BM25 over passages; :meth:`search` returns distinct pages like the dense index."""

    def __init__(
        self,
        retriever: Any,
        passages: Sequence[Passage],
        pages: Sequence[tuple[str, str, str]],
        settings: LexicalSettings,
    ) -> None:
        """``retriever`` is a ``bm25s.BM25`` indexed over ``passages`` in order; ``pages``
        holds ``(id, title, url)`` per store position, to label hits."""
        self.retriever = retriever
        self.passages = list(passages)
        self.pages = list(pages)
        self.settings = settings
        self._stem = _stemmer(settings.stemmer)

    @classmethod
    def build(
        cls,
        passages: Sequence[Passage],
        pages: Sequence[tuple[str, str, str]],
        settings: LexicalSettings | None = None,
    ) -> LexicalIndex:
        """Tokenize and index the passages' texts (title prefix and body)."""
        settings = settings or LexicalSettings()
        bm25s = _bm25s()
        tokens = bm25s.tokenize(
            [p.text for p in passages],
            stopwords=settings.stopwords or None,
            stemmer=_stemmer(settings.stemmer),
            show_progress=False,
        )
        retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        retriever.index(tokens, show_progress=False)
        return cls(retriever, passages, pages, settings)

    def tokenize(self, queries: Sequence[str]) -> list[list[str]]:
        """The index's terms of each query, as its passages were tokenized."""
        return _bm25s().tokenize(
            list(queries),
            stopwords=self.settings.stopwords or None,
            stemmer=self._stem,
            return_ids=False,
            show_progress=False,
        )

    def search_passages(self, queries: Sequence[str], depth: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, ids)`` ``[Q, depth]`` of the best passages per query, best first;
        ``-1`` where fewer passages share a term with the query."""
        depth = min(depth, len(self.passages))
        scores = np.zeros((len(queries), depth), np.float32)
        ids = np.full((len(queries), depth), -1, np.int64)
        if not depth:
            return scores, ids
        found, found_scores = self.retriever.retrieve(
            self.tokenize(queries), k=depth, show_progress=False, n_threads=0
        )  # [Q, depth] each
        matched = found_scores > 0  # a passage with no query term scores 0
        scores[matched] = found_scores[matched]
        ids[matched] = found[matched]
        return scores, ids

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[list[Hit]]:
        """The ``top_k`` best pages per query (fewer when fewer share a term with it)."""
        if isinstance(queries, str):
            queries = [queries]
        top_k = max(0, int(top_k))
        cleaned = [clean_query(q)[0] for q in queries]
        if not cleaned or not top_k:
            return [[] for _ in cleaned]
        depth = max(4 * top_k, 16)
        out: list[list[Hit]] = [[] for _ in cleaned]
        pending = list(range(len(cleaned)))
        while pending:
            scores, ids = self.search_passages([cleaned[i] for i in pending], depth)
            wider = []
            for row, i in enumerate(pending):
                out[i] = list(page_hits(self.passages, self.pages, scores[row], ids[row], top_k))
                if len(out[i]) < top_k and ids[row, -1] >= 0 and depth < len(self.passages):
                    wider.append(i)  # every passage retrieved matched, on too few pages
            pending, depth = wider, depth * 4
        return out

    # ----------------------------------------------------------------- cache

    def save(self, directory: Path, manifest: IndexManifest) -> IndexManifest:
        """Write the index files, then the manifest with their checksums (so it comes last)."""
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        with tempfile.TemporaryDirectory(dir=directory, prefix=".bm25-") as tmp:
            self.retriever.save(tmp, show_progress=False)
            for path in sorted(Path(tmp).iterdir()):
                data = path.read_bytes()
                atomic_write(directory / path.name, data)
                files[path.name] = hashlib.sha256(data).hexdigest()
        manifest = IndexManifest(
            **{**manifest.to_json(), "n_passages": len(self.passages), "files": files}
        )
        write_manifest(directory, manifest)
        return manifest


def lexical_manifest(dense: IndexManifest, settings: LexicalSettings) -> IndexManifest:
    """What a lexical index over the passages of the dense index ``dense`` records: the same
    corpus fingerprint, passage settings and versions, these settings for the model."""
    return IndexManifest(
        corpus_fingerprint=dense.corpus_fingerprint,
        model=settings.key(),
        dim=0,
        index_type=INDEX_TYPE,
        package_version=dense.package_version,
        passage_settings=dense.passage_settings,
        parser_version=dense.parser_version,
        n_pages=dense.n_pages,
        n_passages=0,
    )


def load_lexical(
    directory: Path,
    expected: IndexManifest,
    passages: Sequence[Passage],
    pages: Sequence[tuple[str, str, str]],
    settings: LexicalSettings,
) -> LexicalIndex:
    """A saved index built for ``expected``; raises :class:`CacheError` ('no manifest',
    'stale (...)' or 'corrupt (...)')."""
    manifest = checked_manifest(directory, expected)
    if not manifest.files:
        raise CacheError("corrupt (the manifest lists no files)")
    for name, digest in manifest.files.items():
        try:
            actual = sha256_file(directory / name)
        except OSError:
            raise CacheError(f"corrupt ({name} unreadable)") from None
        if actual != digest:
            raise CacheError(f"corrupt ({name} checksum mismatch)")
    try:
        retriever = _bm25s().BM25.load(str(directory), show_progress=False)
    except (OSError, ValueError, KeyError) as err:
        raise CacheError(f"corrupt (unreadable by bm25s: {type(err).__name__})") from None
    if manifest.n_passages != len(passages) or retriever.scores["num_docs"] != len(passages):
        raise CacheError("corrupt (counts do not match the passages)")
    return LexicalIndex(retriever, passages, pages, settings)
