"""Replaying the gold actions of tasks through `env.step` answers them with reward 1."""

from __future__ import annotations

from collections.abc import Iterator

import gymnasium as gym
import pytest

from webanchor_env import ENV_ID, WikiEnv
from wiki_corpus import Task


def _replay(env: gym.Env, task: Task) -> tuple[float, dict]:
    """Step through the task's gold actions (answering with the gold answer if they stop
    short of an answer); every step must be free of errors."""
    env.reset(options={"task_id": task.id, "split": task.split})
    actions = list(task.gold.actions)
    if not actions or actions[-1].get("name") != "answer":
        actions.append({"name": "answer", "arguments": {"answer": task.answer}})
    for i, action in enumerate(actions, start=1):
        _, reward, terminated, truncated, info = env.step(action)
        assert info["error"] is None, (task.id, i, action, info["error"])
        assert terminated == (i == len(actions)) and not truncated, (task.id, i, info)
    return float(reward), info


def test_gold_replay_on_the_tiny_corpus(tiny_backend) -> None:
    env = WikiEnv(backend=tiny_backend, privileged_info=True)
    for task in tiny_backend.corpus.tasks:
        reward, info = _replay(env, task)
        assert reward == 1.0 and info["em"] == 1.0 and info["f1"] == 1.0


@pytest.fixture(scope="module")
def default_test_env() -> Iterator[gym.Env]:
    """One env on the bundled corpus (builds its search index on first use, ~1 minute)."""
    env = gym.make(ENV_ID, split="test", max_episode_steps=10_000)
    yield env
    env.close()


@pytest.mark.slow
def test_gold_replay_on_every_bundled_test_task(default_test_env: gym.Env) -> None:
    tasks = default_test_env.unwrapped.tasks("test")
    assert tasks, "the bundled corpus has no test tasks"
    failures = []
    for task in tasks:
        assert task.gold.actions, f"task {task.id} has no gold actions"
        reward, info = _replay(default_test_env, task)
        if reward != 1.0:
            failures.append((task.id, info.get("answer"), task.answers))
    assert not failures, f"{len(failures)}/{len(tasks)} gold replays failed: {failures[:5]}"
