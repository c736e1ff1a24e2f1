"""WikiEnv inside Gymnasium's SyncVectorEnv and AsyncVectorEnv."""

from __future__ import annotations

import gymnasium as gym
import pytest

from webanchor_env import ENV_ID

SEARCH = {"name": "search", "arguments": {"query": "Lumen Tower architect"}}


def _run(envs: gym.vector.VectorEnv, tiny_backend) -> list:
    """Reset, search in both envs, answer in both; return the observations seen."""
    questions, infos = envs.reset(seed=123)
    assert len(questions) == 2 and all(isinstance(q, str) for q in questions)
    assert tuple(questions) in envs.observation_space
    answers = {t.id: t.answer for t in tiny_backend.corpus.tasks}
    observations, rewards, terminated, truncated, infos = envs.step((SEARCH, SEARCH))
    assert all("<tool_response>" in o for o in observations)
    assert list(infos["search_calls"]) == [1, 1] and not any(terminated)
    task_ids = list(infos["task_id"])
    final = envs.step(tuple(f"<answer>{answers[t]}</answer>" for t in task_ids))
    assert list(final[1]) == [1.0, 1.0] and all(final[2])
    return [list(questions), list(observations), task_ids]


def test_sync_vector_env(tiny_backend) -> None:
    envs = gym.make_vec(
        ENV_ID, num_envs=2, vectorization_mode="sync", backend=tiny_backend, split="test"
    )
    first = _run(envs, tiny_backend)
    assert first == _run(envs, tiny_backend)  # seeded: the same tasks and observations
    envs.close()


@pytest.mark.parametrize("shared_memory", [True, False])
def test_async_vector_env(tiny_backend, shared_memory: bool) -> None:
    envs = gym.make_vec(
        ENV_ID,
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"shared_memory": shared_memory},
        backend=tiny_backend,
        split="test",
    )
    try:
        sync = gym.make_vec(
            ENV_ID, num_envs=2, vectorization_mode="sync", backend=tiny_backend, split="test"
        )
        assert _run(envs, tiny_backend) == _run(sync, tiny_backend)
    finally:
        envs.close()
