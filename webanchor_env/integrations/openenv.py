"""OpenEnv: the wiki environment as an OpenEnv ``Environment``, its server and its client.

Server (one process, one shared index, one environment per WebSocket session)::

    python -m webanchor_env.integrations.openenv --corpus default --port 8000

Client::

    from webanchor_env.integrations.openenv import WikiAction, WikiEnvClient

    with WikiEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(task_id="wa-dev-00001")        # or seed=...
        result = env.step(WikiAction(tool="search", query=result.observation.question))
        result = env.step(WikiAction(tool="answer", answer="Lumen Tower"))
        print(result.reward, result.done)

The app comes from OpenEnv's own factory (``create_app``) with a **session timeout**: by
default OpenEnv keeps a session until its WebSocket closes cleanly, so a client that
vanishes without closing (a killed worker, a dropped network) holds its environment and
a slot of ``max_concurrent_envs`` for ever. Here an idle session is reaped after
``session_timeout_s`` (OpenEnv's reaper looks every ``max(timeout / 4, 5)`` seconds).
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from webanchor_env.integrations.session import EpisodeSession, SessionConfig, require

_core = require("openenv.core", "openenv", "openenv-core")
from openenv.core.client_types import StepResult  # noqa: E402
from openenv.core.env_server import (  # noqa: E402
    Action,
    ConcurrencyConfig,
    Environment,
    Observation,
    State,
    create_app,
)

TESTED_VERSIONS = ">=0.3,<0.4"
"""The openenv-core versions this adapter is tested with."""
DEFAULT_SESSION_TIMEOUT_S = 300.0


class WikiAction(Action):
    """One tool call: ``search`` a query, ``visit`` a URL (or title) with a goal, or ``answer``."""

    tool: Literal["search", "visit", "answer"] = Field(description="Which tool to call.")
    query: str | None = Field(default=None, description="search: what to look for.")
    url: str | None = Field(default=None, description="visit: a page URL or title.")
    goal: str = Field(default="", description="visit: what to look for on the page.")
    answer: str | None = Field(default=None, description="answer: the final answer.")

    def arguments(self) -> dict[str, Any]:
        """The arguments of the environment's dict action for this call."""
        if self.tool == "search":
            return {"query": self.query}
        if self.tool == "visit":
            return {"url": self.url, "goal": self.goal}
        return {"answer": self.answer}


class WikiObservation(Observation):
    """The question (after ``reset``) or a tool's response; ``reward`` is the exact match
    once answered, ``done`` whether the episode is over."""

    text: str = Field(description="The question after reset, else the tool's response.")
    question: str = Field(default="", description="The episode's question.")
    task_id: str = Field(default="", description="The episode's task id.")
    turn: int = Field(default=0, description="Tool calls and answers played so far.")


class WikiState(State):
    """Where the episode stands (``episode_id`` and ``step_count`` come from OpenEnv)."""

    task_id: str | None = None
    split: str = "train"
    search_calls: int = 0
    visit_calls: int = 0
    answered: bool = False
    reward: float = 0.0


class WikiEnvironment(Environment[WikiAction, WikiObservation, WikiState]):
    """An :class:`EpisodeSession` behind OpenEnv's ``reset`` / ``step`` / ``state``.

    Sessions share the process's search backend and keep their own episode, so
    concurrent sessions are safe.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True
    open_sessions = 0
    """How many instances are open (not closed) in this process."""
    _lock = threading.Lock()

    def __init__(self, config: SessionConfig | None = None) -> None:
        super().__init__()
        self._session = EpisodeSession(config)
        self._state = WikiState(split=self._session.config.split)
        self._closed = False
        self._count(+1)

    @staticmethod
    def _count(delta: int) -> None:
        with WikiEnvironment._lock:
            WikiEnvironment.open_sessions += delta

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        **_: Any,
    ) -> WikiObservation:
        question = self._session.reset(task_id=task_id, seed=seed)
        task = self._session.task
        assert task is not None
        self._state = WikiState(
            episode_id=episode_id, step_count=0, task_id=task.id, split=self._session.config.split
        )
        return WikiObservation(text=question, question=question, task_id=task.id, reward=0.0)

    def step(self, action: WikiAction, timeout_s: float | None = None, **_: Any) -> WikiObservation:
        text = self._session.step(action.tool, action.arguments())
        info = self._session.info
        task = self._session.task
        self._state.step_count += 1
        self._state.search_calls = int(info.get("search_calls", 0))
        self._state.visit_calls = int(info.get("visit_calls", 0))
        self._state.answered = "em" in info
        self._state.reward = self._session.reward
        return WikiObservation(
            text=text,
            question=task.question if task else "",
            task_id=task.id if task else "",
            turn=self._session.turns,
            reward=self._session.reward,
            done=self._session.done,
        )

    @property
    def state(self) -> WikiState:
        return self._state

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._count(-1)


class WikiEnvClient(_core.EnvClient[WikiAction, WikiObservation, WikiState]):
    """OpenEnv's WebSocket client for :class:`WikiEnvironment` (``.sync()`` for blocking use)."""

    def _step_payload(self, action: WikiAction) -> dict[str, Any]:
        return action.model_dump(exclude={"metadata"})

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[WikiObservation]:
        observation = WikiObservation(
            **payload.get("observation", {}),
            reward=payload.get("reward"),
            done=payload.get("done", False),
        )
        return StepResult(observation=observation, reward=observation.reward, done=observation.done)

    def _parse_state(self, payload: dict[str, Any]) -> WikiState:
        return WikiState(**payload)


def create_wiki_app(
    corpus: str | os.PathLike[str] = "default",
    split: str = "train",
    *,
    max_concurrent_envs: int = 64,
    session_timeout_s: float = DEFAULT_SESSION_TIMEOUT_S,
    **env_kwargs: Any,
) -> Any:
    """The FastAPI app of OpenEnv's ``create_app`` serving :class:`WikiEnvironment` sessions,
    with an idle-session timeout (``env_kwargs`` go to :class:`WikiEnv`)."""
    config = SessionConfig(corpus=corpus, split=split, env_kwargs=dict(env_kwargs))
    concurrency = ConcurrencyConfig(
        max_concurrent_envs=max_concurrent_envs, session_timeout=session_timeout_s
    )
    return create_app(
        functools.partial(WikiEnvironment, config),
        WikiAction,
        WikiObservation,
        env_name="webanchor_wiki",
        concurrency_config=concurrency,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the wiki environment with uvicorn (loopback unless ``--host`` says otherwise)."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="default", help="bundled name or corpus directory")
    parser.add_argument("--split", default="train", help="split whose tasks reset draws from")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-concurrent-envs", type=int, default=64)
    parser.add_argument("--session-timeout-s", type=float, default=DEFAULT_SESSION_TIMEOUT_S)
    args = parser.parse_args(argv)
    app = create_wiki_app(
        args.corpus,
        args.split,
        max_concurrent_envs=args.max_concurrent_envs,
        session_timeout_s=args.session_timeout_s,
    )
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
