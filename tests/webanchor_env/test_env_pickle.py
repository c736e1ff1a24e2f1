"""Pickling an environment mid-episode, and a backend failure that leaves the turn untaken."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import pytest

from webanchor_env import ENV_ID, WikiEnv
from webanchor_env.remote import SearchServiceUnavailable

SEARCH = {"name": "search", "arguments": {"query": "Lumen Tower architect"}}
VISIT = {"name": "visit", "arguments": {"url": "Lumen Tower", "goal": "architect"}}


@pytest.fixture
def make(tiny_corpus_dir, tiny_cache_dir):
    """Envs that load their backend themselves (the shared one: ``get_backend`` memoizes)."""

    def make(**kwargs: Any) -> gym.Env:
        kwargs.setdefault("split", "train")
        return gym.make(
            ENV_ID, corpus=tiny_corpus_dir, cache_dir=tiny_cache_dir, show_progress=False, **kwargs
        )

    return make


def test_an_env_round_trips_mid_episode(make, tiny_backend) -> None:
    env = make(render_mode="ansi", privileged_info=True)
    env.reset(seed=3)
    env.step(SEARCH)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.unwrapped.backend is tiny_backend  # loaded again: the process's shared one
    assert copy.unwrapped.task == env.unwrapped.task
    assert copy.render() == env.render()
    # Both go on identically: same step index, same counters, same observations.
    for action in (VISIT, {"name": "answer", "arguments": {"answer": "Orlan Vesk"}}):
        assert _timeless(copy.step(action)) == _timeless(env.step(action))
    assert copy.unwrapped.privileged_fields() == env.unwrapped.privileged_fields()
    assert copy.render() == env.render()
    # The random state travels too.
    assert copy.unwrapped.np_random.random() == env.unwrapped.np_random.random()


def _timeless(transition: tuple) -> tuple:
    """A step's result without its latencies (the only thing that may differ)."""
    *head, info = transition
    return (*head, {k: v for k, v in info.items() if k != "latency_s"})


def test_the_episode_state_survives_exactly(make) -> None:
    env = make(max_search_calls=2)
    env.reset(seed=0)
    env.step(SEARCH)
    copy = pickle.loads(pickle.dumps(env))
    *_, truncated, info = copy.step(SEARCH)
    assert info["step"] == 2 and info["search_calls"] == 2 and not truncated
    *_, truncated, info = copy.step(SEARCH)
    assert truncated and info["truncation_reason"] == "search_budget"


def test_an_env_given_a_local_backend_says_how_to_pickle(tiny_backend) -> None:
    env = WikiEnv(backend=tiny_backend)
    with pytest.raises(TypeError, match=r"Create the env with corpus=\.\.\. instead"):
        pickle.dumps(env)


class _FailingSearch:
    """The tiny backend whose search service goes down on demand."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.down = inner, False
        self.corpus, self.store = inner.corpus, inner.store

    def search_call(self, *args: Any, **kwargs: Any) -> str:
        if self.down:
            raise SearchServiceUnavailable("Search service at http://x:1 is unreachable.")
        return self.inner.search_call(*args, **kwargs)

    def visit_call(self, *args: Any, **kwargs: Any) -> str:
        return self.inner.visit_call(*args, **kwargs)


def test_a_backend_failure_leaves_the_turn_untaken(tiny_backend) -> None:
    backend = _FailingSearch(tiny_backend)
    env = WikiEnv(backend=backend, split="train", render_mode="ansi")
    env.reset(seed=0)
    *_, info = env.step(VISIT)
    assert (info["step"], info["visit_calls"]) == (1, 1)
    backend.down = True
    turn = '<tool_call>{"name": "visit", "arguments": {"url": "Tessary"}}</tool_call>' + (
        '<tool_call>{"name": "search", "arguments": {"query": "x"}}</tool_call>'
    )
    with pytest.raises(SearchServiceUnavailable):
        env.step(turn)  # the visit ran, then the search failed: the whole turn is undone
    assert "Turn 2 failed, not taken: SearchServiceUnavailable" in env.render()
    backend.down = False
    *_, info = env.step(turn)  # retried: counted once
    assert (info["step"], info["visit_calls"], info["search_calls"]) == (2, 2, 1)
    assert env.render().count("--- Turn 2 ---") == 1
