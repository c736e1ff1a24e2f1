"""MuSiQue importer: 2–4-hop questions composed from single-hop ones.

Record (JSON Lines): ``{"id", "question", "answer", "answer_aliases": [...],
"answerable": bool, "paragraphs": [{"idx", "title", "paragraph_text", "is_supporting"}],
"question_decomposition": [{"id", "question", "answer", "paragraph_support_idx"}]}``.

* Unanswerable questions (MuSiQue-Full's contrast questions) are not errors: they are left
  out and counted in ``meta["counts"]["excluded"]["unanswerable"]``. Since they may share
  their id with the answerable twin, they take no part in the duplicate-id check.
  ``answerable`` may be absent (answerable-only releases); it then counts as true.
* Gold titles follow the decomposition: the paragraph each step points to via
  ``paragraph_support_idx``, in step order; supporting paragraphs no step points to come
  after. Hops = difficulty = the number of decomposition steps.
* Aliases are ``answer_aliases`` without duplicates or the answer itself (absent = none),
  and without those that normalize to a stopword, one letter or nothing (see ``common``).
"""

from __future__ import annotations

import os
from typing import Any

from wiki_corpus.importers.common import (
    BadRecord,
    Example,
    Excluded,
    ImportResult,
    optional,
    require,
    require_object,
    require_strings,
    require_text,
    run_import,
    unique,
)

KIND = "musique"
UNANSWERABLE = "unanswerable"


def import_musique(
    path: str | os.PathLike[str], *, skip_bad: bool = False, split: str = "test"
) -> ImportResult:
    """Import a MuSiQue JSON Lines file (answerable-only or full)."""
    return run_import(
        path,
        kind=KIND,
        parse=parse_example,
        skip_bad=skip_bad,
        split=split,
        exclusion_reasons=(UNANSWERABLE,),
    )


def parse_example(obj: dict[str, Any]) -> Example | Excluded:
    """One MuSiQue record as an :class:`Example`, or Excluded when unanswerable."""
    if not optional(obj, "answerable", bool, True):
        return Excluded(UNANSWERABLE)
    answer = require_text(obj, "answer")
    aliases = require_strings(optional(obj, "answer_aliases", list, []), "field 'answer_aliases'")
    paragraphs = _paragraphs(require(obj, "paragraphs", list))
    steps = require(obj, "question_decomposition", list)
    if not steps:
        raise BadRecord("expected field 'question_decomposition' to be a non-empty list")
    return Example(
        id=require_text(obj, "id"),
        question=require_text(obj, "question"),
        answer=answer,
        aliases=unique(aliases, exclude=(answer,)),
        paragraphs=tuple((title, text) for title, text, _ in paragraphs.values()),
        gold_titles=_gold_titles(steps, paragraphs),
        hops=len(steps),
        difficulty=len(steps),
    )


def _paragraphs(items: list[Any]) -> dict[int, tuple[str, str, bool]]:
    """``{idx: (title, text, is_supporting)}`` in file order; indices must be unique."""
    out: dict[int, tuple[str, str, bool]] = {}
    for i, entry in enumerate(items):
        where = f"paragraphs[{i}]."
        item = require_object(entry, f"paragraphs[{i}]")
        idx = require(item, "idx", int, where)
        if idx in out:
            raise BadRecord(f"expected unique paragraph idx values, {idx} appears twice")
        out[idx] = (
            require_text(item, "title", where),
            require(item, "paragraph_text", str, where),
            require(item, "is_supporting", bool, where),
        )
    return out


def _gold_titles(steps: list[Any], paragraphs: dict[int, tuple[str, str, bool]]) -> tuple[str, ...]:
    """Titles of the paragraphs the steps point to, in step order, then other supporting ones."""
    titles = []
    for i, entry in enumerate(steps):
        where = f"question_decomposition[{i}]."
        step = require_object(entry, f"question_decomposition[{i}]")
        idx = require(step, "paragraph_support_idx", (int, type(None)), where)
        if idx is None:
            continue
        if idx not in paragraphs:
            raise BadRecord(
                f"expected {where}paragraph_support_idx to name a paragraph idx, got {idx}"
            )
        titles.append(paragraphs[idx][0])
    titles.extend(title for title, _, supporting in paragraphs.values() if supporting)
    return unique(titles)
