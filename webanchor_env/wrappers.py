"""Small wrappers around :class:`~webanchor_env.env.WikiEnv`.

* :class:`PrivilegedInfo` adds the gold pages, the pages of them visited, the gold answers and
  whether an answer has been seen to ``info`` — for analysis and reward shaping of an env made
  by ``gym.make`` without ``privileged_info=True``.
* :class:`RecordTranscript` keeps every episode as a typed record (question, actions,
  observations, rewards, final info) and can append each finished one to a JSON-lines file.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym

from webanchor_env.env import WikiEnv


def _wiki_env(env: gym.Env) -> WikiEnv:
    inner = env.unwrapped
    if not isinstance(inner, WikiEnv):
        raise TypeError(f"Expected an environment wrapping WikiEnv, got {type(inner).__name__}.")
    return inner


class PrivilegedInfo(gym.Wrapper[str, Any, str, Any]):
    """Add the privileged fields of :meth:`WikiEnv.privileged_fields` to every ``info``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._wiki = _wiki_env(env)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        return observation, {**info, **self._wiki.privileged_fields()}

    def step(self, action: Any) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        return (
            observation,
            reward,
            terminated,
            truncated,
            {**info, **self._wiki.privileged_fields()},
        )


@dataclass(frozen=True)
class Turn:
    """One step: what the agent did and what it got back."""

    action: Any
    observation: str
    reward: float
    error: str | None


@dataclass(frozen=True)
class Episode:
    """A finished (or, while recording, unfinished) episode."""

    task_id: str
    question: str
    turns: tuple[Turn, ...]
    reward: float
    terminated: bool
    truncated: bool
    final_info: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), ensure_ascii=False, default=repr))


class RecordTranscript(gym.Wrapper[str, Any, str, Any]):
    """Keep the last ``max_episodes`` episodes in :attr:`episodes`; optionally write them.

    Args:
        env: the environment to record.
        path: a JSON-lines file each finished episode is appended to (None: keep in memory).
        max_episodes: how many finished episodes to keep in memory.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | os.PathLike[str] | None = None,
        max_episodes: int = 100,
    ) -> None:
        super().__init__(env)
        self.path = Path(path) if path is not None else None
        self.episodes: deque[Episode] = deque(maxlen=max_episodes)
        self._question = ""
        self._task_id = ""
        self._turns: list[Turn] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._question, self._task_id, self._turns = observation, str(info.get("task_id")), []
        return observation, info

    def step(self, action: Any) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._turns.append(Turn(action, observation, float(reward), info.get("error")))
        if terminated or truncated:
            self._finish(float(reward), terminated, truncated, info)
        return observation, reward, terminated, truncated, info

    def _finish(self, reward: float, terminated: bool, truncated: bool, info: dict) -> None:
        episode = Episode(
            self._task_id,
            self._question,
            tuple(self._turns),
            reward,
            terminated,
            truncated,
            dict(info),
        )
        self.episodes.append(episode)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(episode.to_json(), ensure_ascii=False) + "\n")
