"""The Search tool's three modes over one set of passages: dense, BM25, and their fusion.

* ``dense``: MiniLM embeddings in FAISS (:class:`~webanchor_env.index.SearchIndex`);
* ``bm25``: the lexical index (:class:`~webanchor_env.lexical.LexicalIndex`);
* ``hybrid``: both page rankings fused by weighted reciprocal rank fusion (Cormack et al.,
  2009): a page's score is ``Σ_r w_r / (k + rank_r)`` over the rankings it appears in (rank
  from 1).

Lexical and dense retrieval fail on different queries (exact names vs paraphrase); RRF needs
no score calibration between them, only ranks. The fusion settings (``k`` = 5, BM25 weighed
1.5 against dense 1, 40 pages from each) were chosen on the bundled world's ``dev`` split
and then measured on its ``test`` split and on HotpotQA (``benchmarks/bench_retrieval.py``):
there hybrid is at least as good as either mode alone at every depth, and the environment
searches in ``hybrid`` mode by default. The backend's own ``search`` stays dense unless told
(cosine scores, the index's ranking), as does the search service's ``/search``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from webanchor_env.index import Hit  # FAISS loads with the backend, not on import

SEARCH_MODES = ("dense", "bm25", "hybrid")
DEFAULT_SEARCH_MODE = "hybrid"
"""What an environment searches with unless told (``WikiEnv(search_mode=...)``)."""
BACKEND_SEARCH_MODE = "dense"
"""What ``WikiBackend.search``, the service's ``/search`` and their clients use unless told:
the dense index and its cosine scores, as before there were modes."""
RRF_K = 5.0
"""The rank offset of reciprocal rank fusion: small, so the first ranks weigh most."""
LEXICAL_WEIGHT = 1.5
"""The BM25 ranking's weight in the fusion (the dense ranking's is 1)."""
FUSION_POOL = 40
"""Pages taken from each ranking before fusing (at least ``top_k``)."""


class PageSearch(Protocol):
    """What the Search tool reads: the ``top_k`` best distinct pages per query."""

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[list[Hit]]: ...


def check_search_mode(mode: object) -> str:
    """``mode`` if it is one of :data:`SEARCH_MODES`; raises ``ValueError`` otherwise."""
    if mode not in SEARCH_MODES:
        raise ValueError(f"Expected search_mode among {SEARCH_MODES}, got {mode!r}.")
    return mode  # type: ignore[return-value]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: float = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Items of several rankings (best first) as ``(item, Σ w/(k + rank))``, best first;
    equal scores keep the order in which the items first appear. ``weights``: one per
    ranking (default 1 each)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])  # stable: ties keep first seen


class HybridSearch:
    """Dense and lexical page rankings fused by :func:`reciprocal_rank_fusion`.

    A fused hit carries the dense hit's passage (snippet) when the dense ranking has the
    page, the lexical one's otherwise, and its fused score.
    """

    def __init__(
        self,
        dense: PageSearch,
        lexical: PageSearch,
        *,
        k: float = RRF_K,
        lexical_weight: float = LEXICAL_WEIGHT,
        pool: int = FUSION_POOL,
    ) -> None:
        self.dense = dense
        self.lexical = lexical
        self.k = k
        self.weights = (1.0, lexical_weight)
        self.pool = pool

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[list[Hit]]:
        if isinstance(queries, str):
            queries = [queries]
        top_k = max(0, int(top_k))
        if not top_k:
            return [[] for _ in queries]
        depth = max(top_k, self.pool)
        dense_rows = self.dense.search(queries, depth)
        lexical_rows = self.lexical.search(queries, depth)
        out = []
        for dense, lexical in zip(dense_rows, lexical_rows):
            best = {h.page: h for h in lexical} | {h.page: h for h in dense}
            rankings = [[h.page for h in dense], [h.page for h in lexical]]
            fused = reciprocal_rank_fusion(rankings, self.k, self.weights)
            out.append(
                [
                    replace(best[page], rank=rank, score=score)
                    for rank, (page, score) in enumerate(fused[:top_k], start=1)
                ]
            )
        return out
