"""TraceR1's trajectory reward: how well a predicted action sequence follows the gold one.

TraceR1 (arXiv 2603.16777) has the agent predict several future actions; the
prediction â_1..â_n is compared with the reference actions a*_1..a*_m::

    R = sum_{t=1..n} gamma^(t-1) * (lambda_align * sim(â_t, a*_t) - lambda_rep * rep(â_1:t))

``sim`` rewards predicting the right tool with the right arguments at each step
(0 past the end of the gold sequence); ``rep`` penalizes predicting an action the
agent has already predicted; gamma discounts far-future steps, which matter less
because the agent replans after executing only the first one.

Actions are dicts ``{"name": str, "arguments": dict}`` as in the environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Action = Mapping[str, Any]
SimilarityFn = Callable[[Action, Action], float]
"""sim(predicted, gold) -> similarity, usually in [0, 1]."""
RepetitionFn = Callable[[Sequence[Action]], float]
"""rep(predicted[:t]) -> penalty for the last action of the prefix, usually 0 or 1."""

_TOKEN_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class TraceR1RewardConfig:
    """Weights of the TraceR1 trajectory reward."""

    gamma: float = 0.9
    """Discount per predicted step."""
    lambda_align: float = 1.0
    """Weight of the step-wise similarity to the gold action."""
    lambda_rep: float = 0.5
    """Weight of the penalty for repeating an earlier predicted action."""


def _check_action(action: Any) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(action, Mapping) or not isinstance(action.get("name"), str):
        raise ValueError(f'Expected an action {{"name": str, "arguments": dict}}, got {action!r}.')
    arguments = action.get("arguments", {})
    if not isinstance(arguments, Mapping):
        raise ValueError(
            f"Expected the arguments of {action['name']!r} to be a dict, got {arguments!r}."
        )
    return action["name"], arguments


def _normalize_text(text: str) -> str:
    return " ".join(text.casefold().split())


def argument_strings(action: Action) -> tuple[str, ...]:
    """The action's argument values as normalized strings, lists flattened.

    ``{"query": ["Lumen  Tower", "architect"]}`` -> ``("lumen tower", "architect")``.
    Values that are not strings are written as JSON. Keys are visited in sorted order.
    """
    _, arguments = _check_action(action)
    out: list[str] = []
    for key in sorted(arguments):
        value = arguments[key]
        for item in value if isinstance(value, (list, tuple)) else [value]:
            text = item if isinstance(item, str) else json.dumps(item, sort_keys=True)
            out.append(_normalize_text(text))
    return tuple(out)


def action_signature(action: Action) -> tuple[str, tuple[str, ...]]:
    """(tool name, sorted normalized argument strings): equal for actions that do the
    same thing, e.g. the same queries in a different order or case."""
    name, _ = _check_action(action)
    return _normalize_text(name), tuple(sorted(argument_strings(action)))


def token_jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    """|A & B| / |A | B| over the word tokens of two lists of strings; 1 if both empty."""
    tokens_a = {t for s in a for t in _TOKEN_RE.findall(s)}
    tokens_b = {t for s in b for t in _TOKEN_RE.findall(s)}
    union = tokens_a | tokens_b
    return len(tokens_a & tokens_b) / len(union) if union else 1.0


def action_similarity(predicted: Action, gold: Action) -> float:
    """0 if the tools differ, else 0.5 + 0.5 * token-Jaccard of the arguments."""
    pred_name, _ = _check_action(predicted)
    gold_name, _ = _check_action(gold)
    if _normalize_text(pred_name) != _normalize_text(gold_name):
        return 0.0
    return 0.5 + 0.5 * token_jaccard(argument_strings(predicted), argument_strings(gold))


def repeats_earlier_action(prefix: Sequence[Action]) -> float:
    """1 if the last action of ``prefix`` equals an earlier one (same tool and
    normalized arguments), else 0."""
    if len(prefix) < 2:
        return 0.0
    last = action_signature(prefix[-1])
    return float(any(action_signature(a) == last for a in prefix[:-1]))


def tracer1_reward(
    predicted: Sequence[Action],
    gold: Sequence[Action],
    config: TraceR1RewardConfig | None = None,
    sim: SimilarityFn = action_similarity,
    rep: RepetitionFn = repeats_earlier_action,
) -> float:
    """R = sum_t gamma^(t-1) (lambda_align sim(â_t, a*_t) - lambda_rep rep(â_1:t)).

    Steps past the end of ``gold`` have similarity 0 but can still be penalized
    for repetition. An empty prediction scores 0.
    """
    config = config or TraceR1RewardConfig()
    total = 0.0
    for t, action in enumerate(predicted):
        align = sim(action, gold[t]) if t < len(gold) else 0.0
        penalty = rep(predicted[: t + 1])
        total += config.gamma**t * (config.lambda_align * align - config.lambda_rep * penalty)
    return total


# --- Rewards of TraceR1 training (agents.methods "tracer1") ----------------------------------

STEP_WEIGHT = 0.1
"""Weight of the grounded step reward beside the 0/1 outcome in TraceR1's stage 2."""


def max_reward(n: int, config: TraceR1RewardConfig | None = None) -> float:
    """The largest R of ``n`` predicted actions: every one right, none repeated."""
    config = config or TraceR1RewardConfig()
    return config.lambda_align * sum(config.gamma**t for t in range(n))


def turn_alignment(
    predicted: Sequence[Action] | None,
    gold: Sequence[Action],
    config: TraceR1RewardConfig | None = None,
) -> float:
    """R of one turn's prediction against the gold actions from that turn on, divided by
    :func:`max_reward` of its length (1: every predicted action is the gold one); 0 when
    the turn predicted nothing readable."""
    if not predicted:
        return 0.0
    return tracer1_reward(predicted, gold, config) / max_reward(len(predicted), config)


def privileged_alignment_reward(
    trajectories: Sequence[Any],
    tasks: Sequence[Any],
    config: TraceR1RewardConfig | None = None,
) -> list[float | None]:
    """TraceR1's stage-1 reward, **privileged** (it reads the gold path): the mean over the
    turns of an anticipatory episode of :func:`turn_alignment` of turn k's predicted actions
    against gold actions k, k+1, ... (the offline reference trajectory). None (missing)
    for a broken episode or one without predictions (not an anticipatory rollout)."""
    from agents.scripted import gold_actions

    rewards: list[float | None] = []
    for trajectory, task in zip(trajectories, tasks, strict=True):
        if trajectory.end_reason.broken or not trajectory.predicted:
            rewards.append(None)
            continue
        gold = gold_actions(task)
        turns = [turn_alignment(p, gold[k:], config) for k, p in enumerate(trajectory.predicted)]
        rewards.append(sum(turns) / len(turns))
    return rewards


def useful_turns(trajectory: Any) -> list[bool]:
    """Per turn: the environment ran its action without an error code, and it is not a
    repeat of an action the episode ran before (same tool and normalized arguments)."""
    seen: set[Any] = set()
    useful = []
    for turn in trajectory.turns:
        action = turn.action if isinstance(turn.action, Mapping) else None
        try:
            key = action_signature(action) if action is not None else turn.text.strip()
        except ValueError:
            key = turn.text.strip()
        ran = turn.observation is not None and not turn.errors
        useful.append(ran and key not in seen)
        seen.add(key)
    return useful


def grounded_reward(
    trajectories: Sequence[Any], tasks: Sequence[Any], weight: float = STEP_WEIGHT
) -> list[float | None]:
    """TraceR1's stage-2 reward, grounded in tool execution: the 0/1 outcome plus ``weight``
    times the share of :func:`useful_turns`. Not privileged (no gold path); None for a
    broken episode."""
    rewards: list[float | None] = []
    for trajectory in trajectories:
        if trajectory.end_reason.broken or not trajectory.turns:
            rewards.append(None)
            continue
        useful = useful_turns(trajectory)
        rewards.append(trajectory.reward + weight * sum(useful) / len(useful))
    return rewards
