"""The retrieval benchmark's measures, on hits fixed by hand."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bench_util import experiment

from webanchor_env.index import Hit
from webanchor_env.passages import Passage

bench = experiment("bench_retrieval")


def _hit(rank: int, url: str, passage: int) -> Hit:
    return Hit(rank, 0, url, url, url, "", 1.0, passage)


class _Backend:
    """Answers every search with the same ranking: pages A, B, C (passages 0, 1, 2)."""

    def __init__(self) -> None:
        passages = [Passage(0, "A. Paris is big", 2), Passage(1, "B. no", 2), Passage(2, "C.", 2)]
        self.index = SimpleNamespace(passages=passages, clear_cache=lambda: None)
        self.modes: list[str] = []

    def search(self, queries: list[str], top_k: int, *, mode: str) -> list[list[Hit]]:
        self.modes.append(mode)
        return [[_hit(1, "A", 0), _hit(2, "B", 1), _hit(3, "C", 2)][:top_k] for _ in queries]


def _task(gold: tuple[str, ...], answer: str) -> SimpleNamespace:
    return SimpleNamespace(
        question="q", answer=answer, aliases=(), gold=SimpleNamespace(pages=gold)
    )


def test_recall_of_gold_pages_and_answer_in_top_5_by_hand():
    backend = _Backend()
    tasks = [_task(("A", "C"), "Paris"), _task(("B", "Z"), "London")]
    result = bench.evaluate(backend, tasks, "bm25")
    # R@1: (1/2 + 0) / 2; R@3 and beyond: (2/2 + 1/2) / 2
    assert result.recall == {1: 0.25, 3: 0.75, 5: 0.75, 10: 0.75}
    assert result.answer_in_top == 0.5  # "Paris" is in passage 0, "London" nowhere
    assert set(backend.modes) == {"bm25"}


def test_the_table_marks_the_best_mode_per_corpus():
    good = bench.ModeResult({1: 0.5, 3: 0.6, 5: 0.7, 10: 0.8}, 0.4, 1.0)
    weak = bench.ModeResult({1: 0.1, 3: 0.6, 5: 0.2, 10: 0.3}, 0.1, 2.0)
    text = bench.table({"world": (2, {"dense": good, "bm25": weak})})
    lines = text.splitlines()
    assert lines[2] == (
        "| world | 2 | dense | **0.500** | **0.600** | **0.700** | **0.800** | 0.400 | 1.0 |"
    )
    assert lines[3] == "| world | 2 | bm25 | 0.100 | **0.600** | 0.200 | 0.300 | 0.100 | 2.0 |"


@pytest.mark.parametrize("k", bench.KS)
def test_every_k_has_a_column(k):
    assert f"R@{k}" in bench.table({})
