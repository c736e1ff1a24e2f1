"""The demo and its scripted agents, on the tiny corpus."""

from __future__ import annotations

import gymnasium as gym

from webanchor_env import ENV_ID, demo
from webanchor_env.agents_scripted import (
    GoldPathAgent,
    NaiveSearchAgent,
    run_episode,
    top_title,
)


def test_top_title_reads_the_first_result() -> None:
    response = (
        "A search for 'x' found 2 results:\n"
        "1. [Orlan Vesk (architect)](https://wiki.local/wiki/Orlan_Vesk_(architect))\nsnippet\n"
        "2. [Tessary](https://wiki.local/wiki/Tessary)\nsnippet"
    )
    assert top_title(response) == "Orlan Vesk (architect)"
    assert top_title("see https://wiki.local/wiki/Cobalt_Bay") == "Cobalt Bay"
    assert top_title("A search for 'x' found no results.") is None


def test_scripted_agents(tiny_backend) -> None:
    env = gym.make(ENV_ID, backend=tiny_backend, split="train")
    gold = run_episode(env, GoldPathAgent(env), {"task_id": "t-1"})
    assert gold.reward == 1.0 and gold.steps == 3  # search, visit, answer
    naive = run_episode(env, NaiveSearchAgent(), {"task_id": "t-1"})
    question = next(t.question for t in tiny_backend.corpus.tasks if t.id == "t-1")
    searcher = tiny_backend.searcher(env.unwrapped.config.search_mode)
    top = searcher.search(question, 1)[0][0].title
    assert naive.steps == 2 and naive.info["answer"] == top  # the top title
    assert naive.reward == 0.0


def test_demo_runs_on_a_corpus_directory(tiny_corpus_dir, tiny_cache_dir, capsys) -> None:
    rates = demo.main(
        ["--corpus", str(tiny_corpus_dir), "--cache-dir", str(tiny_cache_dir), "--split", "test"]
    )
    out = capsys.readouterr().out
    assert rates["gold"] == 1.0 and 0.0 <= rates["naive"] <= 1.0
    for heading in ("1. The corpus", "2. A sample task", "4. Two scripted agents", "5. Transcript"):
        assert heading in out
    assert "pass rate 100.0%" in out and "Episode end: answered" in out
