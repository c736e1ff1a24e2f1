"""Readable summaries of a corpus and of single tasks (``python -m wiki_corpus stats``)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from wiki_corpus.io import Corpus
from wiki_corpus.schema import SPLITS, Task

BAR_WIDTH = 30


@dataclass(frozen=True)
class CorpusStats:
    """Counts that describe a corpus."""

    pages: int
    tasks: dict[str, int]
    """Tasks per split."""
    difficulty: dict[str, dict[int, int]]
    """Per split: difficulty -> number of tasks."""
    hops: dict[int, int]
    sources: dict[str, int]
    with_gold: int
    validation: dict[str, Any] | None
    """Generator validation counts (candidates, kept, rejected per reason)."""
    imported: dict[str, Any] | None
    """Importer counts (records, tasks, pages, skipped, excluded) for imported corpora."""
    command: str | None


def corpus_stats(corpus: Corpus) -> CorpusStats:
    """Count pages, tasks per split, difficulties, hops and sources of a loaded corpus."""
    difficulty: dict[str, dict[int, int]] = {}
    for split in SPLITS:
        counts = Counter(t.difficulty for t in corpus.tasks if t.split == split)
        difficulty[split] = dict(sorted(counts.items()))
    return CorpusStats(
        pages=len(corpus.pages),
        tasks={split: sum(t.split == split for t in corpus.tasks) for split in SPLITS},
        difficulty=difficulty,
        hops=dict(sorted(Counter(t.hops for t in corpus.tasks).items())),
        sources=dict(sorted(Counter(t.source for t in corpus.tasks).items())),
        with_gold=sum(bool(t.gold.pages) for t in corpus.tasks),
        validation=corpus.meta.get("validation"),
        imported=corpus.meta.get("counts") if "source_file" in corpus.meta else None,
        command=corpus.meta.get("command"),
    )


def _histogram(counts: dict[int, int], label: str) -> list[str]:
    top = max(counts.values(), default=0)
    lines = []
    for key, count in counts.items():
        bar = "#" * (round(BAR_WIDTH * count / top) if top else 0)
        lines.append(f"  {label} {key}: {count:>6,}  {bar}")
    return lines


def format_stats(stats: CorpusStats, name: str) -> str:
    """A multi-line summary: sizes, splits, difficulty and hop histograms, validation."""
    total = sum(stats.tasks.values())
    splits = " · ".join(f"{s} {n:,}" for s, n in stats.tasks.items())
    lines = [
        f"Corpus: {name}",
        f"Pages: {stats.pages:,}",
        f"Tasks: {total:,} ({splits}); {stats.with_gold:,} with a gold path",
        "Sources: " + ", ".join(f"{k} {v:,}" for k, v in stats.sources.items()),
        "Difficulty per split (1 = easiest, 5 = hardest):",
    ]
    levels = sorted({d for per in stats.difficulty.values() for d in per})
    lines.append("  split  " + "".join(f"{d:>7}" for d in levels))
    for split, per in stats.difficulty.items():
        lines.append(f"  {split:<6} " + "".join(f"{per.get(d, 0):>7,}" for d in levels))
    lines.append("Hops:")
    lines.extend(_histogram(stats.hops, "hops"))
    if stats.imported is not None:
        lines.append(_format_import(stats.imported))
    else:
        lines.append(_format_validation(stats.validation))
    if stats.command:
        lines.append(f"Built with: {stats.command}")
    return "\n".join(lines)


def _format_validation(validation: dict[str, Any] | None) -> str:
    if not validation:
        return "Validation: not recorded for this corpus"
    rejected = validation.get("rejected", {})
    reasons = ", ".join(f"{k} {v:,}" for k, v in rejected.items()) or "none"
    line = (
        f"Validation: {validation.get('generated', 0):,} candidates generated, "
        f"{validation.get('kept', 0):,} kept, {sum(rejected.values()):,} rejected ({reasons})"
    )
    return line + "\n" + _format_honesty(validation.get("honesty"))


def _format_honesty(honesty: dict[str, Any] | str | None) -> str:
    """One line per split: gold paths honest as drawn, fixed, and tasks replaced."""
    if not isinstance(honesty, dict):
        return f"Honest gold paths: {honesty or 'not recorded'}"
    lines = ["Honest gold paths (as drawn / fixed / task replaced):"]
    for split, c in honesty.get("splits", {}).items():
        lines.append(f"  {split:<6} {c['honest']:>6,} {c['fixed']:>6,} {c['replaced']:>6,}")
    return "\n".join(lines)


def _format_import(counts: dict[str, Any]) -> str:
    excluded = counts.get("excluded") or {}
    reasons = ", ".join(f"{k} {v:,}" for k, v in excluded.items()) or "none"
    return (
        f"Import: {counts.get('records', 0):,} records, {counts.get('tasks', 0):,} tasks, "
        f"{counts.get('skipped', 0):,} bad records skipped, excluded by design: {reasons}"
    )


def describe_task(task: Task) -> str:
    """One task and its gold path, for people to read."""
    lines = [
        f"Task {task.id} ({task.split}, difficulty {task.difficulty}, {task.hops} hops, "
        f"{task.source})",
        f"Q: {task.question}",
        f"A: {task.answer}"
        + (f"  (also accepted: {'; '.join(task.aliases)})" if task.aliases else ""),
    ]
    if not task.gold.actions and not task.gold.pages:
        lines.append("Gold path: none")
        return "\n".join(lines)
    lines.append("Gold pages: " + ", ".join(task.gold.pages))
    lines.append("Gold path:")
    for i, action in enumerate(task.gold.actions, start=1):
        lines.append(f"  {i}. {_describe_action(action)}")
    return "\n".join(lines)


def _describe_action(action: dict[str, Any]) -> str:
    name, args = action.get("name", "?"), action.get("arguments", {})
    if name == "search":
        return "search " + json.dumps(args.get("query", []), ensure_ascii=False)
    if name == "visit":
        urls = ", ".join(args.get("url", []))
        goal = args.get("goal")
        return f"visit {urls}" + (f"  (goal: {goal})" if goal else "")
    if name == "answer":
        return "answer " + json.dumps(args.get("answer", ""), ensure_ascii=False)
    return f"{name} {json.dumps(args, ensure_ascii=False)}"
