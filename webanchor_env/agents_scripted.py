"""Two scripted agents for the demo and for sanity checks (a later issue moves them to agents/).

* :class:`GoldPathAgent` replays a task's gold actions: an upper bound that checks the
  environment, the corpus and the gold paths agree (it reads the task, so it is privileged).
* :class:`NaiveSearchAgent` searches the question once and answers with the title of the top
  result: a floor any learned agent should beat.

Both speak the environment's action formats: the gold agent passes dicts, the naive agent
writes text as an LLM would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym

from webanchor_env.env import WikiEnv
from wiki_corpus.schema import WIKI_PREFIX, url_to_title

_RESULT_LINE = re.compile(r"^\s*1\.\s*\[(?P<title>.+)\]\((?P<url>\S+)\)\s*$", re.MULTILINE)
_WIKI_URL = re.compile(re.escape(WIKI_PREFIX) + r"[^\s\]]+")


class ScriptedAgent(Protocol):
    """An agent that plays one episode at a time."""

    def reset(self, question: str, info: dict[str, Any]) -> None: ...

    def act(self, observation: str, info: dict[str, Any]) -> str | dict[str, Any]: ...


class GoldPathAgent:
    """Replay the current task's gold actions, then answer with the gold answer if they
    do not end with one."""

    def __init__(self, env: gym.Env) -> None:
        inner = env.unwrapped
        if not isinstance(inner, WikiEnv):
            raise TypeError(f"Expected a WikiEnv, got {type(inner).__name__}.")
        self._env = inner
        self._actions: list[dict[str, Any]] = []

    def reset(self, question: str, info: dict[str, Any]) -> None:
        task = self._env.task
        assert task is not None
        self._actions = [dict(a) for a in task.gold.actions]
        if not self._actions or self._actions[-1].get("name") != "answer":
            self._actions.append({"name": "answer", "arguments": {"answer": task.answer}})
        self._actions.reverse()

    def act(self, observation: str, info: dict[str, Any]) -> dict[str, Any]:
        return self._actions.pop()


class NaiveSearchAgent:
    """Search the question; answer with the title of the first result."""

    def __init__(self) -> None:
        self._question = ""
        self._searched = False

    def reset(self, question: str, info: dict[str, Any]) -> None:
        self._question, self._searched = question, False

    def act(self, observation: str, info: dict[str, Any]) -> str:
        if not self._searched:
            self._searched = True
            call = {"name": "search", "arguments": {"query": [self._question]}}
            return f"<tool_call>{json.dumps(call)}</tool_call>"
        return f"<answer>{top_title(observation) or 'unknown'}</answer>"


def top_title(search_response: str) -> str | None:
    """The title of the first result in a search response, if any."""
    line = _RESULT_LINE.search(search_response)
    if line:
        return line.group("title").strip()
    url = _WIKI_URL.search(search_response)
    return url_to_title(url.group(0)) if url else None


@dataclass(frozen=True)
class EpisodeResult:
    """How one scripted episode went."""

    task_id: str
    reward: float
    steps: int
    info: dict[str, Any]


def run_episode(
    env: gym.Env, agent: ScriptedAgent, options: dict[str, Any] | None = None
) -> EpisodeResult:
    """Play one episode to its end and report the final reward and info."""
    observation, info = env.reset(options=options)
    agent.reset(observation, info)
    reward, steps, done = 0.0, 0, False
    while not done:
        observation, r, terminated, truncated, info = env.step(agent.act(observation, info))
        reward, steps, done = float(r), steps + 1, terminated or truncated
    return EpisodeResult(str(info["task_id"]), reward, steps, info)
