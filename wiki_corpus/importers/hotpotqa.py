"""HotpotQA importer: questions whose answers need facts from two Wikipedia paragraphs.

Two record shapes are accepted, recognised per record by their keys:

* **Original** (the official release, usually one JSON list):
  ``{"_id", "question", "answer", "supporting_facts": [[title, sent_idx], ...],
  "context": [[title, [sentence, ...]], ...], "type", "level"}``. A paragraph is its
  sentences joined with single spaces. Gold titles follow the order of ``supporting_facts``;
  ``level`` easy/medium/hard gives difficulty 1/2/3 (2 when absent). The answer has no
  aliases; "yes"/"no" answers are kept as they are.
* **Flat** (the IRCoT-style JSON Lines form): ``{"question_id", "question_text",
  "answers_objects": [{"number", "date", "spans": [...]}], "contexts": [{"id", "title",
  "paragraph_text", "is_supporting"}]}``. The answer is the first span of the first answers
  object and the aliases are all other spans. There is no level, so difficulty is 2.

Hops = the number of distinct supporting titles (at least 1). Sentence indices in
``supporting_facts`` are type-checked but not range-checked: a few official examples point
past the end of their paragraph, and the title is all the gold path needs.
"""

from __future__ import annotations

import os
from itertools import chain
from typing import Any

from wiki_corpus.importers.common import (
    BadRecord,
    Example,
    ImportResult,
    optional,
    require,
    require_object,
    require_strings,
    require_text,
    run_import,
    unique,
)

KIND = "hotpotqa"
LEVELS = {"easy": 1, "medium": 2, "hard": 3}
DEFAULT_DIFFICULTY = 2


def import_hotpotqa(
    path: str | os.PathLike[str], *, skip_bad: bool = False, split: str = "test"
) -> ImportResult:
    """Import a HotpotQA file (JSON list or JSON Lines, original or flat records)."""
    return run_import(path, kind=KIND, parse=parse_example, skip_bad=skip_bad, split=split)


def parse_example(obj: dict[str, Any]) -> Example:
    """One HotpotQA record, in either shape, as an :class:`Example`; raises BadRecord."""
    if "question_id" in obj or "contexts" in obj:
        return parse_flat(obj)
    return parse_original(obj)


# --------------------------------------------------------------------------- original shape


def parse_original(obj: dict[str, Any]) -> Example:
    """A record of the official release (``_id``, ``context``, ``supporting_facts``)."""
    contexts = require(obj, "context", list)
    paragraphs = tuple(_original_paragraph(entry, i) for i, entry in enumerate(contexts))
    gold = _supporting_titles(require(obj, "supporting_facts", list))
    return Example(
        id=require_text(obj, "_id"),
        question=require_text(obj, "question"),
        answer=require_text(obj, "answer"),
        aliases=(),
        paragraphs=paragraphs,
        gold_titles=gold,
        hops=max(1, len(gold)),
        difficulty=_difficulty(obj),
    )


def _original_paragraph(entry: Any, index: int) -> tuple[str, str]:
    """``[title, [sentence, ...]]`` as ``(title, text)``."""
    name = f"context[{index}]"
    if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
        raise BadRecord(f"expected {name} to be [title, [sentences...]]")
    title = entry[0].strip()
    if not title:
        raise BadRecord(f"expected {name} to have a non-empty title")
    sentences = require_strings(entry[1], f"{name}[1] (the sentences)")
    return title, " ".join(s.strip() for s in sentences if s.strip())


def _supporting_titles(facts: list[Any]) -> tuple[str, ...]:
    """Distinct titles of ``[[title, sent_idx], ...]`` in order of first appearance."""
    titles = []
    for i, fact in enumerate(facts):
        ok = isinstance(fact, list) and len(fact) == 2 and isinstance(fact[0], str)
        if not ok or isinstance(fact[1], bool) or not isinstance(fact[1], int):
            raise BadRecord(f"expected supporting_facts[{i}] to be [title, sentence_index]")
        titles.append(fact[0])
    return unique(titles)


def _difficulty(obj: dict[str, Any]) -> int:
    level = optional(obj, "level", str, None)
    if level is None:
        return DEFAULT_DIFFICULTY
    if level not in LEVELS:
        raise BadRecord(f"expected field 'level' to be one of {sorted(LEVELS)}, got {level!r}")
    return LEVELS[level]


# --------------------------------------------------------------------------- flat shape


def parse_flat(obj: dict[str, Any]) -> Example:
    """A record of the flat JSON Lines form (``question_id``, ``contexts``, ``answers_objects``)."""
    answer, aliases = _flat_answers(require(obj, "answers_objects", list))
    contexts = require(obj, "contexts", list)
    paragraphs, gold = [], []
    for i, entry in enumerate(contexts):
        title, text, supporting = _flat_paragraph(entry, i)
        paragraphs.append((title, text))
        if supporting:
            gold.append(title)
    gold_titles = unique(gold)
    return Example(
        id=require_text(obj, "question_id"),
        question=require_text(obj, "question_text"),
        answer=answer,
        aliases=aliases,
        paragraphs=tuple(paragraphs),
        gold_titles=gold_titles,
        hops=max(1, len(gold_titles)),
        difficulty=DEFAULT_DIFFICULTY,
    )


def _flat_answers(objects: list[Any]) -> tuple[str, tuple[str, ...]]:
    """The first span of the first answers object, and every other span as an alias."""
    if not objects:
        raise BadRecord("expected field 'answers_objects' to be a non-empty list")
    spans = [_spans(item, i) for i, item in enumerate(objects)]
    first = unique(spans[0])
    if not first:
        raise BadRecord("expected answers_objects[0].spans to hold a non-empty answer string")
    return first[0], unique(chain.from_iterable(spans), exclude=first[:1])


def _spans(item: Any, index: int) -> list[str]:
    name = f"answers_objects[{index}]"
    spans = require(require_object(item, name), "spans", list, f"{name}.")
    return require_strings(spans, f"{name}.spans")


def _flat_paragraph(entry: Any, index: int) -> tuple[str, str, bool]:
    """``{"title", "paragraph_text", "is_supporting"}`` as ``(title, text, supporting)``."""
    where = f"contexts[{index}]."
    item = require_object(entry, f"contexts[{index}]")
    title = require_text(item, "title", where)
    text = require(item, "paragraph_text", str, where)
    supporting = require(item, "is_supporting", bool, where)
    return title, text, supporting
