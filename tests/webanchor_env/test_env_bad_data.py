"""The environment is loud about data it cannot use well: weak aliases, empty splits."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webanchor_env import WikiEnv
from wiki_corpus import Corpus, Task


def _env(tasks: list[Task], split: str) -> WikiEnv:
    """An env over a corpus of tasks alone: these checks need no index."""
    return WikiEnv(backend=SimpleNamespace(corpus=Corpus(pages=[], tasks=tasks)), split=split)


def test_tasks_that_accept_a_stopword_are_warned_about() -> None:
    tasks = [
        Task("t-1", "Which country?", "Norway", aliases=("NO", "Kingdom of Norway"), split="dev"),
        Task("t-2", "Which river?", "Danube", aliases=("x",), split="dev"),
        Task("t-3", "Which city?", "Oslo", split="dev"),
    ]
    env = _env(tasks, "dev")
    with pytest.warns(UserWarning, match=r"2 answer alias\(es\) in split 'dev' .* 'NO' of task"):
        env.tasks()


def test_an_empty_split_names_the_splits_that_hold_tasks() -> None:
    tasks = [Task(f"t-{i}", "Q?", "A", split="test") for i in range(3)]
    tasks.append(Task("t-9", "Q?", "A", split="train"))
    env = _env(tasks, "dev")
    with pytest.raises(
        ValueError,
        match=r"split 'dev' of the corpus to hold tasks, got none; its tasks are in "
        r"'train' \(1\), 'test' \(3\)",
    ):
        env.reset(seed=0)
    assert env.split_sizes() == {"train": 1, "dev": 0, "test": 3}
