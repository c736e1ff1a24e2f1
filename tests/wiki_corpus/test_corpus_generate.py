"""Generated corpora: determinism, task contract, gold paths, splits, bad settings."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from wiki_corpus import load, write_corpus
from wiki_corpus.generate import check_settings, default_task_counts, generate
from wiki_corpus.schema import SPLITS

N_TASKS = {"train": 40, "dev": 10, "test": 10}


@pytest.fixture(scope="module")
def result():
    return generate(300, seed=0, n_tasks=N_TASKS)


def _files(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_same_seed_and_size_give_byte_identical_files(result, tmp_path) -> None:
    again = generate(300, seed=0, n_tasks=N_TASKS)
    assert again.pages == result.pages and again.tasks == result.tasks
    assert again.meta == result.meta
    a = write_corpus(tmp_path / "a", result.pages, result.tasks, result.meta)
    first = _files(a)
    write_corpus(tmp_path / "a", again.pages, again.tasks, again.meta)
    b = write_corpus(tmp_path / "b", again.pages, again.tasks, again.meta)
    assert _files(a) == first == _files(b)
    assert set(first) == {"pages.jsonl.gz", "tasks.jsonl", "meta.json"}


def test_different_seed_gives_a_different_corpus(result) -> None:
    other = generate(300, seed=1, n_tasks=N_TASKS)
    assert [p.html for p in other.pages] != [p.html for p in result.pages]
    assert {t.question for t in other.tasks} != {t.question for t in result.tasks}


def test_page_and_task_counts(result) -> None:
    assert len(result.pages) == 300
    assert Counter(t.split for t in result.tasks) == N_TASKS
    assert result.meta["counts"]["tasks"] == N_TASKS
    validation = result.meta["validation"]
    assert validation["kept"] == 60
    assert validation["generated"] == 60 + sum(validation["rejected"].values())


def test_task_contract(result) -> None:
    ids = [t.id for t in result.tasks]
    assert len(set(ids)) == len(ids)
    assert len({t.question for t in result.tasks}) == len(ids)
    for task in result.tasks:
        assert re.fullmatch(rf"wa-{task.split}-\d{{5}}", task.id)
        assert task.source == "synthetic" and task.split in SPLITS
        assert 1 <= task.difficulty <= 5 and 1 <= task.hops <= 9
        assert task.answer and task.answer not in task.aliases
        assert task.question.endswith(("?", "."))


def test_gold_paths_are_executable(result) -> None:
    urls = {p.url for p in result.pages}
    for task in result.tasks:
        gold = task.gold
        assert gold.pages and set(gold.pages) <= urls
        assert task.hops == len(gold.pages)
        actions = gold.actions
        assert actions[0]["name"] == "search" and actions[0]["arguments"]["query"]
        assert actions[-1] == {"name": "answer", "arguments": {"answer": task.answer}}
        visits = [a["arguments"]["url"][0] for a in actions if a["name"] == "visit"]
        assert visits == list(gold.pages)
        for action in actions:
            assert action["name"] in ("search", "visit", "answer")
            if action["name"] == "visit":
                assert action["arguments"]["goal"]


def test_splits_mix_difficulties_and_hops() -> None:
    big = generate(1200, seed=2, n_tasks={"train": 200, "dev": 100, "test": 100})
    for split in SPLITS:
        levels = {t.difficulty for t in big.tasks if t.split == split}
        assert len(levels) >= 4, (split, levels)
    assert {t.hops for t in big.tasks} >= {1, 2, 3, 4, 5}
    styles = {t.question.split()[0] for t in big.tasks}
    assert {"Which", "Who"} <= styles


def test_round_trip_through_a_corpus_directory(result, tmp_path) -> None:
    out = write_corpus(tmp_path / "c", result.pages, result.tasks, result.meta)
    corpus = load(out)
    assert corpus.pages == result.pages and corpus.tasks == result.tasks
    assert corpus.meta["validation"] == result.meta["validation"]


@pytest.mark.parametrize(
    ("n_pages", "seed", "n_tasks", "message"),
    [
        (
            300,
            0,
            {"train": 1000},
            r"Too few pages for 1000 tasks: expected n_pages >= 2000.*got 300",
        ),
        (-5, 0, {}, r"n_pages to be an integer >= 100, got -5"),
        (500, -1, {}, r"seed to be a non-negative integer, got -1"),
        (500, 0, {"train": -3}, r"train tasks to be a non-negative integer, got -3"),
        (500, 0, {"validation": 3}, r"splits among .*got \['validation'\]"),
    ],
)
def test_impossible_settings_are_refused(n_pages, seed, n_tasks, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_settings(n_pages, seed, n_tasks)
    with pytest.raises(ValueError, match=message):
        generate(n_pages, seed, n_tasks)


def test_default_task_counts_scale_with_small_worlds() -> None:
    assert default_task_counts(4000) == {"train": 1000, "dev": 200, "test": 300}
    small = default_task_counts(300)
    assert sum(small.values()) * 2 <= 300 and all(v >= 1 for v in small.values())
