"""TraceR1's anticipatory planning: predict the next T actions, execute the first, replan.

At every turn the agent writes a numbered list of its next ``horizon`` actions, one JSON
action a line, inside ``<plan></plan>``. :class:`AnticipatoryReader` parses the list
robustly (code fences, single quotes, ``arguments`` as a string, a stray ``<tool_call>`` or
``<answer>`` instead of a list) and hands the environment only the first action, as a dict;
the episode then continues with the observation and the agent plans again. The predicted
lists of every turn are kept in :attr:`agents.trajectory.Trajectory.predicted`, so that
TraceR1's trajectory-level reward (``agents.rewards.tracer1``) can score them against the
gold path. When nothing can be read, the raw text goes to the environment, which answers
with a format error like for any malformed action.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.policy import DEFAULT_STOP, GenerationRequest, Policy, SamplingParams
from agents.prompts import PromptVariant, register_prompt
from agents.rollout import (
    ActionReader,
    AgentKind,
    EnvFactory,
    RolloutConfig,
    RolloutEngine,
    TextAction,
)
from agents.scripted import Move, OraclePolicy, after_prefill, turn_index
from agents.trajectory import Trajectory, json_safe
from webanchor_env.actions import parse_action
from webanchor_env.jsonish import balanced_objects, load_object

DEFAULT_HORIZON = 3
ANTICIPATORY_STOP = ("</plan>", *DEFAULT_STOP)

INSTRUCTIONS = """# How to work

Plan ahead at every turn: write the next {horizon} actions you will take as a numbered \
list inside <plan></plan>, one JSON action a line, for example
<plan>
1. {{"name": "search", "arguments": {{"query": ["a query"]}}}}
2. {{"name": "visit", "arguments": {{"url": ["https://wiki.local/wiki/Title"], \
"goal": "what to find"}}}}
3. {{"name": "answer", "arguments": {{"answer": "the answer"}}}}
</plan>
Only action 1 is carried out. Its result comes back inside <tool_response></tool_response>, \
and then you plan again from there. When you know the answer, make action 1 \
{{"name": "answer", "arguments": {{"answer": "a short phrase"}}}}."""

_PLAN = re.compile(r"<\s*plan\s*>(.*?)(?:<\s*/\s*plan\s*>|$)", re.IGNORECASE | re.DOTALL)


def anticipatory_prompt(horizon: int = DEFAULT_HORIZON, *, prefill: bool = False) -> PromptVariant:
    """The prompt asking for ``horizon`` predicted actions a turn (prefilled ``<plan>`` start)."""
    if horizon < 1:
        raise ValueError(f"Expected horizon >= 1, got {horizon}.")
    start = '<plan>\n1. {"name": "' if prefill else ""
    return PromptVariant(
        name=f"anticipatory-t{horizon}" + ("-prefill" if prefill else ""),
        instructions=INSTRUCTIONS.format(horizon=horizon),
        first_prefill=start,
        later_prefill=start,
        stop=ANTICIPATORY_STOP,
    )


ANTICIPATORY = register_prompt(anticipatory_prompt())
ANTICIPATORY_PREFILL = register_prompt(anticipatory_prompt(prefill=True))


# --- Parsing ----------------------------------------------------------------------------------


def _read_object(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON (or Python-literal) object starting at ``start`` and where it ends."""
    try:
        value, end = json.JSONDecoder().raw_decode(text, start)
        return value, end
    except (json.JSONDecodeError, RecursionError):
        pass
    spans = balanced_objects(text[start:])  # text[start] is "{": a first span starts there
    if not spans:
        return None
    end = start + len(spans[0])
    value = load_object(text[start:end])[0]
    return None if value is None else (value, end)


def normalize_action(obj: Any) -> dict[str, Any] | None:
    """``{"name", "arguments"}`` from a decoded action, or None when it is not one."""
    if not isinstance(obj, Mapping):
        return None
    if isinstance(obj.get("function"), Mapping):
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    arguments = obj.get("arguments", obj.get("parameters"))
    if isinstance(arguments, str):
        found = _read_object(arguments, arguments.find("{")) if "{" in arguments else None
        arguments = found[0] if found else None
    if arguments is None:
        arguments = {k: v for k, v in obj.items() if k not in ("name", "type")}
    if not isinstance(arguments, Mapping):
        return None
    return {"name": name.strip().lower(), "arguments": json_safe(dict(arguments))}


def _objects(region: str) -> list[dict[str, Any]]:
    """Every action object in ``region``, in order."""
    actions: list[dict[str, Any]] = []
    position = region.find("{")
    while position >= 0:
        found = _read_object(region, position)
        action = normalize_action(found[0]) if found else None
        if action is not None and found is not None:
            actions.append(action)
            position = region.find("{", found[1])
        else:
            position = region.find("{", position + 1)
    return actions


def _from_grammar(text: str) -> list[dict[str, Any]]:
    """Fallback: the tool calls or answer of a turn written in the ordinary grammar."""
    parsed = parse_action(text)
    if parsed.answer is not None:
        return [{"name": "answer", "arguments": {"answer": parsed.answer}}]
    return [
        {"name": c.name, "arguments": json_safe(c.arguments)}
        for c in parsed.tool_calls
        if c.error is None
    ]


def parse_predicted_actions(text: str, horizon: int | None = None) -> tuple[dict[str, Any], ...]:
    """The predicted actions of an anticipatory turn, in order, at most ``horizon`` of them."""
    match = _PLAN.search(text)
    actions = _objects(match.group(1)) if match else []
    if not actions:
        actions = _from_grammar(text) or (_objects(text) if not match else [])
    return tuple(actions if horizon is None else actions[:horizon])


@dataclass(frozen=True)
class AnticipatoryReader:
    """Sends the first predicted action to the environment and keeps the whole prediction."""

    horizon: int = DEFAULT_HORIZON

    def read(self, text: str) -> tuple[Any, tuple[dict[str, Any], ...]]:
        predicted = parse_predicted_actions(text, self.horizon)
        return (predicted[0] if predicted else text), predicted


def action_reader(agent: str, horizon: int = DEFAULT_HORIZON) -> ActionReader:
    """How an ``agent`` kind's turns are read: the whole text as the action (react), or the
    predicted list whose first action is run (anticipatory)."""
    if AgentKind(agent) is AgentKind.ANTICIPATORY:
        return AnticipatoryReader(horizon)
    return TextAction()


# --- The agent --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnticipatoryAgent:
    """A policy run the anticipatory way: predict ``horizon`` actions, execute one, replan."""

    policy: Policy
    make_env: EnvFactory
    horizon: int = DEFAULT_HORIZON
    group_size: int = 1
    params: SamplingParams = field(default_factory=SamplingParams)
    prefill: bool = False
    max_turns: int | None = None

    def config(self) -> RolloutConfig:
        return RolloutConfig(
            group_size=self.group_size,
            prompt=anticipatory_prompt(self.horizon, prefill=self.prefill),
            params=self.params,
            max_turns=self.max_turns,
            reader=AnticipatoryReader(self.horizon),
        )

    def run(self, task_ids: Sequence[str], **run_kwargs: Any) -> list[Trajectory]:
        """Trajectories whose ``predicted`` holds each turn's predicted actions."""
        with RolloutEngine(self.policy, self.make_env, self.config()) as engine:
            return engine.run(task_ids, **run_kwargs)


def plan_list_text(actions: Sequence[Mapping[str, Any]]) -> str:
    """``<plan>`` with the actions as a numbered JSON list: what the prompt asks for."""
    lines = [f"{i}. {json.dumps(dict(a), ensure_ascii=False)}" for i, a in enumerate(actions, 1)]
    return "<plan>\n" + "\n".join(lines) + "\n</plan>"


class AnticipatoryOracle(OraclePolicy):
    """The gold path written anticipatorily: at turn k, gold actions k..k+T-1."""

    def __init__(self, tasks=(), tokenizer: Any = None, *, horizon: int = DEFAULT_HORIZON):
        super().__init__(tasks, tokenizer)
        self.horizon = horizon

    def write(self, move: Move, request: GenerationRequest) -> str:
        actions = self.gold_actions(self.book.find(request.messages))
        turn = min(turn_index(request.messages), len(actions) - 1)
        return after_prefill(request.prefill, plan_list_text(actions[turn : turn + self.horizon]))
