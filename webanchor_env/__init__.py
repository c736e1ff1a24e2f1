"""An offline Gymnasium web environment over a local wiki.

Importing the package registers ``WebAnchor-Wiki-v0`` (the bundled default corpus, train
split, 20 turns). Keyword arguments of ``gym.make`` choose another corpus directory, the
split, top-k and budgets (see :class:`webanchor_env.env.WikiEnv`)::

    import gymnasium as gym
    import webanchor_env

    env = gym.make("WebAnchor-Wiki-v0", split="dev")
    question, info = env.reset(seed=0)
    action = '<tool_call>{"name": "search", "arguments": {"query": ["..."]}}</tool_call>'
    observation, reward, terminated, truncated, info = env.step(action)

Importing stays light: the search backend (torch, sentence-transformers, FAISS) loads when
the first environment is built.
"""

from __future__ import annotations

from typing import Any

from gymnasium.envs.registration import register, registry

from webanchor_env.actions import (
    TOOL_SCHEMAS,
    ActionError,
    ErrorCode,
    ParsedAction,
    SearchArgs,
    ToolCall,
    VisitArgs,
    parse_action,
)
from webanchor_env.env import WikiEnv, WikiEnvConfig
from webanchor_env.scoring import exact_match, f1_score, normalize_answer
from webanchor_env.spaces import UnicodeText

ENV_ID = "WebAnchor-Wiki-v0"
MAX_TURNS = 20

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="webanchor_env.env:WikiEnv",
        max_episode_steps=MAX_TURNS,
        kwargs={"corpus": "default", "split": "train"},
    )

_LAZY = {"WikiBackend", "get_backend"}  # heavy: imported on first use only


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from webanchor_env import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'webanchor_env' has no attribute {name!r}")


__all__ = [
    "ENV_ID",
    "MAX_TURNS",
    "TOOL_SCHEMAS",
    "ActionError",
    "ErrorCode",
    "ParsedAction",
    "SearchArgs",
    "ToolCall",
    "UnicodeText",
    "VisitArgs",
    "WikiBackend",
    "WikiEnv",
    "WikiEnvConfig",
    "exact_match",
    "f1_score",
    "get_backend",
    "normalize_answer",
    "parse_action",
]
