"""Evaluation refuses what it cannot measure: an empty split, an oracle without gold paths."""

from __future__ import annotations

from typing import Any

import pytest

from agents.evaluate import EvalConfig, EvaluationError, main, tasks_to_play
from wiki_corpus import Corpus, Task


class _Probe:
    """What ``tasks_to_play`` asks of an environment, over a list of tasks."""

    def __init__(self, tasks: list[Task]) -> None:
        self.unwrapped = self
        self.corpus = Corpus(pages=[], tasks=tasks)

    def tasks(self, split: str) -> list[Task]:
        return self.corpus.tasks_in(split)

    def split_sizes(self) -> dict[str, int]:
        return {split: len(self.tasks(split)) for split in ("train", "dev", "test")}

    def close(self) -> None:
        pass


NO_GOLD = Task("q-9", "Who built it?", "Someone", split="test")


def _play(tasks: list[Task], **config: Any) -> tuple[list[str], list[str]]:
    playable, left_out = tasks_to_play(EvalConfig(**config), lambda: _Probe(tasks))
    return [t.id for t in playable], left_out


def test_the_oracle_leaves_out_tasks_without_a_gold_path_and_counts_them(tasks, capsys) -> None:
    assert _play([*tasks, NO_GOLD], policy="oracle") == (["q-1", "q-2", "q-3"], ["q-9"])
    assert "Left out 1 of 4 tasks without a gold path" in capsys.readouterr().err
    assert _play([*tasks, NO_GOLD], policy="naive") == (["q-1", "q-2", "q-3", "q-9"], [])
    with pytest.raises(EvaluationError, match="gold path .* got none of 1"):
        _play([NO_GOLD], policy="oracle")


def test_an_empty_split_is_an_error_naming_the_splits_that_exist(
    tasks, agents_corpus_dir, tmp_path, capsys
) -> None:
    with pytest.raises(EvaluationError, match=r"its tasks are in 'train' \(1\), 'test' \(3\)"):
        _play(tasks, split="dev")
    argv = ["--corpus", str(agents_corpus_dir), "--split", "dev", "--out", str(tmp_path / "e")]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "error: Expected split 'dev' of corpus" in err and "(choose one with --split)" in err
