"""The bundled default corpus: shipped, small, complete, and loadable without regenerating."""

from __future__ import annotations

import shlex
from collections import Counter

import wiki_corpus
from wiki_corpus.io import bundled_path
from wiki_corpus.stats import corpus_stats, describe_task, format_stats

MAX_BYTES = 15 * 1024 * 1024


def test_bundled_corpus_counts_size_and_gold_pages() -> None:
    directory = bundled_path("default")
    assert sum(p.stat().st_size for p in directory.iterdir()) <= MAX_BYTES
    assert (directory / "pages.jsonl.gz").exists()
    corpus = wiki_corpus.load("default")
    assert len(corpus.pages) >= 3000
    assert Counter(t.split for t in corpus.tasks) == {"train": 1000, "dev": 200, "test": 300}
    for split in ("train", "dev", "test"):
        assert {t.difficulty for t in corpus.tasks_in(split)} == {1, 2, 3, 4, 5}
    urls = {p.url for p in corpus.pages}
    assert len(urls) == len(corpus.pages)
    for task in corpus.tasks:
        assert task.gold.pages and set(task.gold.pages) <= urls, task.id
    meta = corpus.meta
    assert meta["counts"]["pages"] == len(corpus.pages)
    argv = shlex.split(meta["command"])
    assert argv[:4] == ["python", "-m", "wiki_corpus", "generate"]
    assert argv[argv.index("--pages") + 1] == str(meta["n_pages"])
    assert argv[argv.index("--out") + 1] == "wiki_corpus/data/default"
    assert meta["validation"]["kept"] == len(corpus.tasks)
    summary = format_stats(corpus_stats(corpus), "default")
    assert "Pages: 4,000" in summary or f"Pages: {len(corpus.pages):,}" in summary
    assert "Gold path:" in describe_task(corpus.tasks_in("dev")[0])
