"""Search-R1's retrieval protocol, so its recipes (and verl's ``SearchTool``) can use our index.

Search-R1's retrieval server answers ``POST /retrieve`` and the clients that speak to it
(Search-R1's rollout, verl's ``search_r1_like_utils``) send and read::

    {"queries": ["q1", "q2"], "topk": 3, "return_scores": true}
    -> {"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"}, "score": 0.83}, ...],
                   ...]}                                  # one list per query, best first

and, with ``return_scores`` false, ``{"result": [[document, ...], ...]}``. A client shows
a document as ``Doc i(Title: <first line of contents>) <the other lines>``, so ``contents``
is the quoted title, a newline and the passage text, as in Search-R1's Wikipedia corpus.
Documents also carry ``title``, ``text`` and ``url`` (clients ignore what they do not read).
``python -m webanchor_env.serve`` answers it next to ``/search`` (see
:mod:`webanchor_env.serve`); the functions here only translate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webanchor_env.passages import Passage

DEFAULT_TOPK = 3
"""What Search-R1's server returns when a request has no ``topk`` (its default setting)."""


class RetrieveRequestError(ValueError):
    """A ``/retrieve`` body that is not in Search-R1's format; the message says what was expected."""


def parse_retrieve(
    body: dict[str, Any], *, max_queries: int, max_topk: int
) -> tuple[list[str], int, bool]:
    """``(queries, topk, return_scores)`` of a ``/retrieve`` body."""
    queries = body.get("queries")
    if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
        raise RetrieveRequestError(
            f'Expected "queries" to be a list of strings, got {queries!r:.100}.'
        )
    if len(queries) > max_queries:
        raise RetrieveRequestError(
            f'Expected at most {max_queries} items in "queries", got {len(queries)}.'
        )
    topk = body.get("topk")
    topk = DEFAULT_TOPK if topk is None else topk
    if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= max_topk:
        raise RetrieveRequestError(
            f'Expected "topk" to be an integer in 0..{max_topk}, got {topk!r}.'
        )
    return_scores = body.get("return_scores", False)
    if not isinstance(return_scores, bool):
        raise RetrieveRequestError(
            f'Expected "return_scores" to be true or false, got {return_scores!r}.'
        )
    return queries, topk, return_scores


def document(hit: dict[str, Any], passage_body: str) -> dict[str, Any]:
    """One search hit (``Hit`` as a dict) as a Search-R1 corpus document."""
    return {
        "id": hit["page_id"],
        "contents": f'"{hit["title"]}"\n{passage_body}',
        "title": hit["title"],
        "text": passage_body,
        "url": hit["url"],
    }


def retrieve_response(
    rows: Sequence[Sequence[dict[str, Any]]], passages: Sequence[Passage], return_scores: bool
) -> dict[str, Any]:
    """The ``/retrieve`` answer for search hits per query (``Hit`` dicts; ``passages`` are the
    index's, so each document holds its hit's best passage)."""
    result = []
    for hits in rows:
        docs = [document(h, passages[h["passage"]].body) for h in hits]
        if return_scores:
            result.append([{"document": d, "score": float(h["score"])} for d, h in zip(docs, hits)])
        else:
            result.append(docs)
    return {"result": result}
