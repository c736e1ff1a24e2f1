"""verifiers: ``load_environment`` for the wiki, a tool environment scored by exact match.

::

    import verifiers as vf
    from webanchor_env.integrations.verifiers import load_environment

    env = load_environment(split="dev", num_examples=50)
    client = vf.ClientConfig(api_base_url="http://127.0.0.1:8000/v1")  # any OpenAI-compatible server
    results = env.evaluate_sync(client, model="Qwen/Qwen2.5-7B-Instruct", rollouts_per_example=4)

Each rollout plays one task in its own :class:`EpisodeSession` (the process's shared
search backend): the model calls ``search``, ``visit`` and ``answer`` as tools, and the
reward is the environment's exact match of the answer (when the model ends without
calling ``answer``, its last message is taken as the answer). With ``plan_judge`` (any
judge of :mod:`agents.rewards` with ``score(questions, plans)``) the first assistant turn is
scored as the plan by a second rubric, ``plan_rubric``, weighted ``plan_weight``; a plan the
judge could not score gets 0.0 there and ``plan_judge_failed`` = 1.0 among the metrics.

The adapter uses verifiers' classic environment API (``MultiTurnEnv``, ``Rubric``,
``RubricGroup``, ``evaluate``), which verifiers 0.3 serves at its top level; 0.4 removed it
(its agents run as separate programs set up with ``uv``). Install it on its own
(``pip install 'webanchor[verifiers]'``): verifiers 0.2-0.3 require ``openai-agents``, whose
top-level module is also named ``agents`` and, installed next to this project, shadows
this project's ``agents`` package in any process not started from the repository root.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from webanchor_env.integrations.session import (
    EpisodeSession,
    SessionConfig,
    require,
    tool_schemas,
)

vf = require("verifiers", "verifiers")

TESTED_VERSIONS = ">=0.3,<0.4"
"""The verifiers versions this adapter is tested with (the classic tool-environment API)."""
SYSTEM_PROMPT = (
    "You answer questions about a wiki. First write a short plan, then use the tools: "
    "search finds pages, visit reads a page, answer submits your final answer (a short "
    "name, number or date)."
)
SESSION = "webanchor_session"
"""The key of a rollout's :class:`EpisodeSession` in its verifiers state."""


def _text(message: Any) -> str:
    content = getattr(message, "content", None)
    if content is None and isinstance(message, dict):
        content = message.get("content")
    return content if isinstance(content, str) else ""


def _assistant_texts(completion: Any) -> list[str]:
    return [_text(m) for m in completion or [] if getattr(m, "role", None) == "assistant"]


class WikiToolEnv(vf.MultiTurnEnv):
    """A verifiers multi-turn tool environment whose tools act on the rollout's own episode.

    It runs the tool calls itself rather than through verifiers' ``ToolEnv``: that class
    builds tool schemas with the ``openai-agents`` package, whose top-level module name
    (``agents``) is this project's own package. The schemas are the environment's
    (:func:`~webanchor_env.integrations.session.tool_schemas`).
    """

    def __init__(self, session_config: SessionConfig, **kwargs: Any) -> None:
        tools = [vf.Tool(**schema["function"]) for schema in tool_schemas()]
        super().__init__(tool_defs=tools, **kwargs)
        self.session_config = session_config

    async def setup_state(self, state: Any) -> Any:
        session = EpisodeSession(self.session_config)
        session.reset(task_id=state["info"]["task_id"])
        state[SESSION] = session
        return state

    @vf.stop
    async def episode_over(self, state: Any) -> bool:
        """Stop once the episode ended (answered, or a budget spent)."""
        session = state.get(SESSION)
        return session is not None and session.done

    @vf.stop
    async def no_tool_call(self, state: Any) -> bool:
        """Stop when the model's last turn called no tool (its text is then the answer)."""
        if not state["trajectory"]:
            return False
        last = state["trajectory"][-1]["completion"][-1]
        return last.role == "assistant" and not getattr(last, "tool_calls", None)

    async def env_response(self, messages: Any, state: Any, **_: Any) -> Any:
        """One tool message per tool call of the last assistant turn."""
        session: EpisodeSession = state[SESSION]
        replies = []
        for call in getattr(messages[-1], "tool_calls", None) or []:
            try:
                arguments = json.loads(call.arguments)
            except json.JSONDecodeError as err:
                text = f"Expected the arguments of {call.name!r} as a JSON object, got an error: {err}."
            else:
                text = await asyncio.to_thread(session.step, call.name, arguments)
            replies.append(vf.ToolMessage(role="tool", content=text, tool_call_id=call.id))
        if session.done:  # the last word: no further model turn
            state["final_env_response"] = replies
        return replies


async def exact_match(completion: Any, state: Any) -> float:
    """The environment's exact-match reward of the rollout's answer."""
    session: EpisodeSession = state[SESSION]
    if not session.done:  # ended without the answer tool: its last message is the answer
        texts = _assistant_texts(completion)
        session.answer(texts[-1] if texts else "")
    return session.reward


async def tool_calls(state: Any) -> float:
    """Tool calls and answers the episode played (a metric, weight 0)."""
    return float(state[SESSION].turns)


class PlanRubric:
    """The plan-rubric judge's reward of the first assistant turn (the plan)."""

    def __init__(self, judge: Any) -> None:
        self.judge = judge

    async def plan_rubric(self, completion: Any, state: Any) -> float:
        plans = _assistant_texts(completion)
        question = state[SESSION].task.question
        result = await asyncio.to_thread(self.judge.score, [question], [plans[0] if plans else ""])
        state["plan_judge_failed"] = 0.0 if result[0].ok else 1.0
        return float(result[0].reward) if result[0].ok else 0.0

    async def plan_judge_failed(self, state: Any) -> float:
        return float(state.get("plan_judge_failed", 0.0))


def tasks_dataset(session_config: SessionConfig, num_examples: int = -1) -> Any:
    """A ``datasets.Dataset`` of the split's tasks: ``question``, ``answer``, ``info.task_id``."""
    from datasets import Dataset

    tasks = EpisodeSession(session_config).env.tasks()
    if num_examples > 0:
        tasks = tasks[:num_examples]
    return Dataset.from_list(
        [{"question": t.question, "answer": t.answer, "info": {"task_id": t.id}} for t in tasks]
    )


def load_environment(
    corpus: str | os.PathLike[str] = "default",
    split: str = "dev",
    num_examples: int = -1,
    *,
    max_turns: int = 12,
    system_prompt: str = SYSTEM_PROMPT,
    plan_judge: Any = None,
    plan_weight: float = 0.0,
    **env_kwargs: Any,
) -> Any:
    """A verifiers environment over the corpus's tasks of ``split`` (``env_kwargs`` go to
    :class:`~webanchor_env.env.WikiEnv`: ``top_k``, ``visit_chars``, ``search_url``...)."""
    config = SessionConfig(corpus=corpus, split=split, env_kwargs=dict(env_kwargs))
    rubric = vf.Rubric(funcs=[exact_match], weights=[1.0])
    rubric.add_metric(tool_calls)
    if plan_judge is not None:
        plan = PlanRubric(plan_judge)
        plan_rubric = vf.Rubric(funcs=[plan.plan_rubric], weights=[plan_weight])
        plan_rubric.add_metric(plan.plan_judge_failed)
        rubric = vf.RubricGroup(rubrics=[rubric, plan_rubric])
    return WikiToolEnv(
        config,
        eval_dataset=tasks_dataset(config, num_examples),
        system_prompt=system_prompt,
        rubric=rubric,
        max_turns=max_turns,
    )
