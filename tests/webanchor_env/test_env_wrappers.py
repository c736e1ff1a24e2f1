"""PrivilegedInfo and RecordTranscript."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from webanchor_env import ENV_ID
from webanchor_env.wrappers import PrivilegedInfo, RecordTranscript


@pytest.fixture
def env(tiny_backend) -> gym.Env:
    return gym.make(ENV_ID, backend=tiny_backend, split="train")


def test_privileged_info_wrapper(env: gym.Env) -> None:
    wrapped = PrivilegedInfo(env)
    _, info = wrapped.reset(seed=0)
    task = env.unwrapped.task
    assert info["gold_pages"] == task.gold.pages and info["answer_seen"] is False
    *_, info = wrapped.step({"name": "visit", "arguments": {"url": task.gold.pages[0]}})
    assert info["gold_pages_visited"] == (task.gold.pages[0],)
    assert info["answer_seen"] is True  # the answer is on the first gold page


def test_privileged_info_needs_a_wiki_env() -> None:
    with pytest.raises(TypeError, match="Expected an environment wrapping WikiEnv, got"):
        PrivilegedInfo(gym.make("CartPole-v1"))


def test_record_transcript(env: gym.Env, tmp_path) -> None:
    path = tmp_path / "runs" / "episodes.jsonl"
    recorder = RecordTranscript(env, path=path, max_episodes=1)
    for answer in ("wrong", "Orlan Vesk"):
        question, _ = recorder.reset(seed=0)
        recorder.step("no tags here")
        recorder.step(f"<answer>{answer}</answer>")
    (episode,) = recorder.episodes  # only the last one kept in memory
    assert episode.question == question and episode.reward == 1.0 and episode.terminated
    assert [t.error for t in episode.turns] == ["no_action", None]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["reward"] for e in lines] == [0.0, 1.0]
    assert lines[1]["turns"][1]["action"] == "<answer>Orlan Vesk</answer>"
    assert lines[1]["final_info"]["em"] == 1.0
