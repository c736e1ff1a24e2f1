"""TRL: the wiki environment as a ``GRPOTrainer(environment_factory=...)`` class.

TRL builds one instance per rollout with a no-argument constructor, calls
``reset(**row)`` with the dataset row (the string it returns is appended to the row's last
user message), exposes every public method but ``reset`` as a tool (the JSON schema comes
from the type hints and the Google-style docstring), parses the model's tool calls and
runs them, and then calls the reward functions with ``environments=[...]``::

    from trl import GRPOConfig, GRPOTrainer
    from webanchor_env.integrations.trl import environment_reward, make_environment_class, trl_dataset

    WikiTools = make_environment_class(corpus="default", split="train")
    trainer = GRPOTrainer(
        model="Qwen/Qwen3-0.6B", args=GRPOConfig(...), train_dataset=trl_dataset(WikiTools),
        reward_funcs=environment_reward, environment_factory=WikiTools,
    )

The tools play the task through :class:`~webanchor_env.integrations.session.EpisodeSession`,
so every instance in a process uses the one shared search backend. The token-exact
multi-turn alternative, with plan (first-step) masks for Anchor-GRPO stage 1, is the
``rollout_func`` of :mod:`agents.train.trl_adapter`.
"""

from __future__ import annotations

import os
from typing import Any

from webanchor_env.integrations.session import EpisodeSession, SessionConfig, require

TESTED_VERSIONS = ">=1.0,<2"
"""The TRL versions this adapter is tested with (the ``environment_factory`` API)."""
INSTRUCTIONS = (
    "Answer the question about the wiki. Use the search tool to find pages, the visit tool "
    "to read them, and call answer with a short answer once you know it.\n\nQuestion: "
)
"""The user message each dataset row carries; ``reset`` appends the question to it."""


class WikiToolEnv:
    """One rollout's episode: ``reset`` picks the row's task, the tools act, ``reward`` scores.

    Subclass it (or use :func:`make_environment_class`) to choose the corpus and split:
    TRL calls the constructor without arguments.
    """

    config = SessionConfig()

    def __init__(self) -> None:
        self._session = EpisodeSession(self.config)

    @property
    def reward(self) -> float:
        """The exact-match reward: 1.0 when the answer matched, 0.0 otherwise or unanswered."""
        return self._session.reward

    @property
    def done(self) -> bool:
        """Whether the episode is over (answered, or a budget is spent)."""
        return self._session.done

    @property
    def session(self) -> EpisodeSession:
        """The underlying episode (its ``env``, ``task`` and ``info``)."""
        return self._session

    def reset(self, **row: Any) -> str:
        """Start the task of a dataset row (``task_id``, else ``question``); returns the question."""
        return self._session.reset(task_id=row.get("task_id"), question=row.get("question"))

    def search(self, query: str) -> str:
        """Search the wiki for pages about a query.

        Args:
            query: What to look for, e.g. a name and the fact you need.

        Returns:
            The top pages: their URLs, titles and matching snippets.
        """
        return self._session.search(query)

    def visit(self, url: str, goal: str) -> str:
        """Read a wiki page.

        Args:
            url: The page's URL (from search results or links) or its title.
            goal: What you are looking for on the page.

        Returns:
            The text of the page.
        """
        return self._session.visit(url, goal)

    def answer(self, answer: str) -> str:
        """Give the final answer to the question; this ends the episode.

        Args:
            answer: The answer, as short as possible (a name, a number, a date).

        Returns:
            A confirmation that the answer was recorded.
        """
        return self._session.answer(answer)


def make_environment_class(
    corpus: str | os.PathLike[str] = "default", split: str = "train", **env_kwargs: Any
) -> type[WikiToolEnv]:
    """A :class:`WikiToolEnv` subclass bound to a corpus, split and :class:`WikiEnv` options
    (``top_k``, ``visit_chars``, ``backend``, ``search_url``...), for ``environment_factory``."""
    config = SessionConfig(corpus=corpus, split=split, env_kwargs=dict(env_kwargs))
    return type("WikiToolEnv", (WikiToolEnv,), {"config": config})


def environment_reward(environments: list[WikiToolEnv], **_: Any) -> list[float]:
    """A TRL reward function: each rollout's exact-match reward, read from its environment."""
    return [env.reward for env in environments]


def trl_dataset(env_class: type[WikiToolEnv] = WikiToolEnv, *, limit: int | None = None) -> Any:
    """A ``datasets.Dataset`` of the class's split: a conversational ``prompt`` holding the
    instructions, and the ``task_id`` and ``question`` that ``reset`` reads."""
    require("trl", "trl")
    from datasets import Dataset

    tasks = env_class().session.env.tasks()[:limit]
    return Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": INSTRUCTIONS}],
                "task_id": t.id,
                "question": t.question,
            }
            for t in tasks
        ]
    )


def tool_calling_tokenizer(tokenizer: Any) -> Any:
    """Give a ChatML tokenizer (SmolLM2's) the Qwen2.5 chat template that ships with TRL, whose
    tool calls TRL can parse (``<tool_call>{json}</tool_call>``, this project's own grammar).

    TRL parses tool calls only for chat templates it knows; SmolLM2 uses the same
    ``<|im_start|>``/``<|im_end|>`` turn markers as Qwen2.5, so the template fits it as is.
    The tokenizer is changed in place and returned.
    """
    require("trl", "trl")
    from trl.chat_template_utils import qwen2_5_chat_template

    if "<|im_start|>" not in tokenizer.get_vocab():
        raise ValueError(
            "Expected a ChatML tokenizer (with <|im_start|> and <|im_end|> tokens), got "
            f"{type(tokenizer).__name__} without them."
        )
    tokenizer.chat_template = qwen2_5_chat_template
    return tokenizer
