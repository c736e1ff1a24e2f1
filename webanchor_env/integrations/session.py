"""One episode of the wiki environment driven by typed tool calls: what every adapter wraps.

Frameworks call tools as functions (``search(query)``, ``visit(url, goal)``,
``answer(answer)``) rather than writing the text grammar of an assistant turn.
:class:`EpisodeSession` turns each call into the matching dict action of
:class:`~webanchor_env.env.WikiEnv`, so budgets, error messages, observations and the
exact-match reward are the Gymnasium environment's own; the backend (store and index) is
the process's shared one (:func:`webanchor_env.backend.get_backend`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from gymnasium.error import ResetNeeded

from webanchor_env.actions import TOOL_SCHEMAS
from webanchor_env.env import WikiEnv
from wiki_corpus.schema import Task

_OPEN, _CLOSE = "<tool_response>\n", "\n</tool_response>"
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "answer",
        "description": "Give the final answer to the question; this ends the episode.",
        "parameters": {
            "type": "object",
            "properties": {
                "answer": {"type": "string", "description": "The answer, as short as possible."}
            },
            "required": ["answer"],
        },
    },
}
"""The answer as a tool, for frameworks whose agents end episodes with a tool call."""


def tool_schemas() -> list[dict[str, Any]]:
    """OpenAI-style function schemas of the tools: the environment's search and visit
    (:data:`webanchor_env.actions.TOOL_SCHEMAS`) and :data:`ANSWER_SCHEMA`."""
    return [*TOOL_SCHEMAS, ANSWER_SCHEMA]


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import an optional framework, or raise an ImportError that names the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"Expected the optional package {package or module!r} for this adapter, but it is not "
            f"installed ({err}). Install it with: pip install 'webanchor[{extra}]'"
        ) from err


def strip_wrapper(observation: str) -> str:
    """The body of one ``<tool_response>`` block (frameworks wrap tool messages themselves)."""
    if observation.startswith(_OPEN) and observation.endswith(_CLOSE):
        inner = observation[len(_OPEN) : -len(_CLOSE)]
        if _OPEN not in inner:
            return inner
    return observation


@dataclass
class SessionConfig:
    """Which corpus and split a session plays, and keyword arguments for :class:`WikiEnv`."""

    corpus: str | os.PathLike[str] = "default"
    """The bundled corpus name or a corpus directory."""
    split: str = "train"
    """The split whose tasks ``reset`` picks from."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """More :class:`WikiEnv` arguments (``top_k``, ``backend``, ``search_url``, budgets...)."""


class EpisodeSession:
    """A :class:`WikiEnv` played one typed tool call at a time.

    ``reward`` is the exact-match reward once the agent has answered (0.0 before), ``done``
    says whether the episode is over (answered or out of budget), ``turns`` counts the tool
    calls and answers played.
    """

    def __init__(self, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self.env = WikiEnv(self.config.corpus, self.config.split, **self.config.env_kwargs)
        self.reward = 0.0
        self.done = False
        self.turns = 0
        self.info: dict[str, Any] = {}

    @property
    def task(self) -> Task | None:
        """The task of the current episode (privileged: it holds the answer and gold path)."""
        return self.env.task

    def find_task(self, task_id: str | None = None, question: str | None = None) -> str:
        """The id of the task named by ``task_id``, else the one asking ``question``."""
        if task_id is not None:
            return task_id
        for task in self.env.tasks():
            if task.question == question:
                return task.id
        raise ValueError(
            f"Expected a task id or a question of split {self.config.split!r}, "
            f"got task_id={task_id!r}, question={question!r}."
        )

    def reset(
        self, task_id: str | None = None, question: str | None = None, seed: int | None = None
    ) -> str:
        """Start an episode on the named task (or a seeded random one); returns the question."""
        options = None
        if task_id is not None or question is not None:
            options = {"task_id": self.find_task(task_id, question)}
        observation, self.info = self.env.reset(seed=seed, options=options)
        self.reward, self.done, self.turns = 0.0, False, 0
        return observation

    def step(self, name: str, arguments: dict[str, Any]) -> str:
        """Play one tool call or answer; returns the tool response's text (never raises on
        what the agent wrote; after the episode ended it says so)."""
        return strip_wrapper(self.play({"name": name, "arguments": arguments}))

    def play(self, action: str | dict[str, Any]) -> str:
        """Play one turn as :meth:`WikiEnv.step` takes it (the text of an assistant turn, or a
        dict action); returns the observation as the environment wrote it."""
        if self.done:
            return "The episode is over: no more tool calls are run."
        try:
            observation, reward, terminated, truncated, self.info = self.env.step(action)
        except ResetNeeded:
            self.done = True
            return "The episode is over: no more tool calls are run."
        self.turns += 1
        self.reward = float(reward)
        self.done = bool(terminated or truncated)
        return observation

    def search(self, query: str | list[str]) -> str:
        """Search the wiki; ``query`` is one query or a list."""
        return self.step("search", {"query": query})

    def visit(self, url: str | list[str], goal: str = "") -> str:
        """Read one page (or a list) by URL or title, with the goal of the visit."""
        return self.step("visit", {"url": url, "goal": goal})

    def answer(self, answer: str) -> str:
        """Submit the final answer; ends the episode and sets ``reward``."""
        return self.step("answer", {"answer": answer})
