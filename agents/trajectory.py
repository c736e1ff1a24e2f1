"""The rollout engine's output: one episode as tokens, masks, rewards and readable turns.

A :class:`Trajectory` is what GRPO consumes (DESIGN.md, "Trajectory"): the token ids of the
whole conversation as the policy saw it, the sampling log-probabilities, the action mask
(1 on tokens the policy sampled), a step index per token (0 = the plan turn, k = the k-th
turn, -1 = prompt, prefill and tool-response tokens), the reward(s) and the group id. It
also keeps what a person needs to inspect or replay a run: the final conversation, one
:class:`Turn` record per assistant turn, the environment's last ``info`` and why the
episode stopped.

Conventions:

* ``logprobs`` has one entry per token, **0.0 at every position with mask 0** (JSON has no
  NaN, and GRPO multiplies by the mask anyway). It is None when the policy did not report
  log-probabilities for some turn (scripted agents, endpoints that do not return them).
* A forced first turn (the plan-anchor experiment: "fix this plan, run continuations") is
  not sampled: its tokens have mask 0 but step id 0, and ``plan_forced`` is True.
* ``truncated_reason`` is None when the episode ended by answering, else why it stopped, an
  :class:`EndReason` (a str enum, so it compares equal to, and saves as, its plain string);
  ``end_detail`` holds the error message of ``policy_error`` and ``env_error``. Files
  written before the split (``"policy_error: HTTP 500"`` in one string) load into both.
* Text-only policies (an endpoint without a local tokenizer) give empty token fields.

Trajectories save to JSONL, one object a line (:func:`save_jsonl`, :func:`load_jsonl`).
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class EndReason(str, enum.Enum):
    """How an episode ended (``Trajectory.end_reason``; ``truncated_reason`` unless answered).

    The three budgets are the values of ``webanchor_env.env.Truncation`` (tested).
    """

    ANSWERED = "answered"
    """The policy answered: the environment terminated the episode."""
    SEARCH_BUDGET = "search_budget"
    """The environment truncated it: more search calls than its budget."""
    VISIT_BUDGET = "visit_budget"
    """The environment truncated it: more visit calls than its budget."""
    OBSERVATION_BUDGET = "observation_budget"
    """The environment truncated it: more observation characters than its budget."""
    TIME_LIMIT = "time_limit"
    """The environment truncated it without a reason: its turn limit (``TimeLimit``)."""
    MAX_TURNS = "max_turns"
    """The rollout engine's turn limit (``RolloutConfig.max_turns``)."""
    CONTEXT_BUDGET = "context_budget"
    """The next prompt plus ``max_new_tokens`` would not fit the model's context."""
    PLAN_ONLY = "plan_only"
    """Stopped after the first turn, as ``RolloutConfig.plan_only`` asks."""
    POLICY_ERROR = "policy_error"
    """The policy failed to generate the turn; the message is in ``end_detail``."""
    ENV_ERROR = "env_error"
    """The environment's step raised; the exception is in ``end_detail``."""
    TEMPLATE_MISMATCH = "template_mismatch"
    """The chat template did not render the conversation verbatim (no token-exact delta)."""

    def __str__(self) -> str:
        return self.value

    @property
    def broken(self) -> bool:
        """A failure of the policy, environment or template: the reward says nothing."""
        return self in _BROKEN

    @classmethod
    def parse(cls, text: str) -> tuple[EndReason, str | None]:
        """The reason and its detail from a saved string, old ``"env_error: ..."`` form too."""
        if isinstance(text, cls):
            return text, None
        reason, sep, detail = str(text).partition(": ")
        return cls(reason), (detail if sep else None)


_BROKEN = frozenset({EndReason.POLICY_ERROR, EndReason.ENV_ERROR, EndReason.TEMPLATE_MISMATCH})


class TrajectoryFormatError(ValueError):
    """A trajectory file line that is not a valid trajectory; names the file and line."""

    def __init__(self, path: str | os.PathLike[str], line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


def json_safe(value: Any) -> Any:
    """A JSON-serializable copy: tuples become lists, numpy scalars numbers, NaN None.

    Environment ``info`` dicts hold tuples, numpy numbers and the like; what JSON cannot
    hold is written as its ``repr``.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "value") and isinstance(value.value, (str, int)):  # enums
        return value.value
    return repr(value)


@dataclass(frozen=True)
class Turn:
    """One assistant turn and what the environment made of it."""

    text: str
    """The whole assistant message: prefill followed by what the policy wrote."""
    prefill: str = ""
    """The prefilled start of ``text`` (prompt tokens, not the policy's)."""
    finish_reason: str = "stop"
    """The policy's: "stop", "length" or "error" ("forced" for a forced first turn)."""
    num_tokens: int = 0
    """Tokens the policy sampled in this turn (0 for text-only policies)."""
    action: Any = None
    """What was sent to the environment when it was not ``text`` (e.g. the anticipatory
    agent's first predicted action as a dict); None otherwise."""
    tool_calls: tuple[str, ...] = ()
    """The tools the environment ran (``info["tool_calls"]``)."""
    errors: tuple[str, ...] = ()
    """Error codes of the turn (``info["errors"]``)."""
    observation: str | None = None
    """The environment's response; None when the environment was not stepped."""
    reward: float = 0.0
    """The environment's reward for this turn."""

    @property
    def forced(self) -> bool:
        """Whether this turn was given, not sampled (the plan-anchor experiment)."""
        return self.finish_reason == "forced"

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "prefill": self.prefill,
            "finish_reason": self.finish_reason,
            "num_tokens": self.num_tokens,
            "action": json_safe(self.action),
            "tool_calls": list(self.tool_calls),
            "errors": list(self.errors),
            "observation": self.observation,
            "reward": self.reward,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Turn:
        return cls(
            text=obj["text"],
            prefill=obj.get("prefill", ""),
            finish_reason=obj.get("finish_reason", "stop"),
            num_tokens=int(obj.get("num_tokens", 0)),
            action=obj.get("action"),
            tool_calls=tuple(obj.get("tool_calls", ())),
            errors=tuple(obj.get("errors", ())),
            observation=obj.get("observation"),
            reward=float(obj.get("reward", 0.0)),
        )


@dataclass(frozen=True)
class Trajectory:
    """One episode, token-exact (see the module docstring for the conventions)."""

    task_id: str
    group_id: int
    """Episodes of the same task in one rollout share it (GRPO's group)."""
    sample: int
    """Index of this episode within its group, 0..G-1."""
    token_ids: tuple[int, ...]
    """The whole conversation as the policy saw it, ending with the last turn's closing."""
    logprobs: tuple[float, ...] | None
    """Sampling log-probability per token; 0.0 where mask is 0; None if unknown."""
    action_mask: tuple[int, ...]
    """1 on tokens the policy sampled, 0 on prompt, prefill and tool-response tokens."""
    step_ids: tuple[int, ...]
    """Turn index per token: 0 plan turn, k k-th turn, -1 for non-policy tokens."""
    reward: float
    """The exact-match reward of the episode (sum of the environment's rewards)."""
    rewards: dict[str, float] = field(default_factory=dict)
    """Further rewards by name (``f1``, rubric or TraceR1 scores added later)."""
    messages: tuple[dict[str, str], ...] = ()
    """The final conversation, as chat messages."""
    turns: tuple[Turn, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    """The environment's last info, made JSON-safe."""
    truncated_reason: EndReason | None = None
    """None when the episode ended by answering, else why it stopped."""
    prompt: str = ""
    """Name of the prompt variant used."""
    plan_forced: bool = False
    """The first turn was given (mask 0), not sampled."""
    predicted: tuple[tuple[dict[str, Any], ...], ...] | None = None
    """Anticipatory agent: the actions predicted at each turn (the first was executed)."""
    end_detail: str | None = None
    """The error message of a ``policy_error`` or ``env_error`` end, else None."""

    def __post_init__(self) -> None:
        if self.truncated_reason is not None:  # a member, or a string (old files): parsed
            reason, detail = EndReason.parse(self.truncated_reason)
            answered = reason is EndReason.ANSWERED
            object.__setattr__(self, "truncated_reason", None if answered else reason)
            if self.end_detail is None:
                object.__setattr__(self, "end_detail", detail)
        n = len(self.token_ids)
        if len(self.action_mask) != n or len(self.step_ids) != n:
            raise ValueError(
                f"Expected action_mask and step_ids of length {n} (the token ids), got "
                f"{len(self.action_mask)} and {len(self.step_ids)}."
            )
        if self.logprobs is not None and len(self.logprobs) != n:
            raise ValueError(f"Expected {n} logprobs (one per token), got {len(self.logprobs)}.")

    @property
    def terminated(self) -> bool:
        """The episode ended by answering."""
        return self.truncated_reason is None

    @property
    def end_reason(self) -> EndReason:
        """How the episode ended: ``truncated_reason``, or ``EndReason.ANSWERED``."""
        return self.truncated_reason or EndReason.ANSWERED

    @property
    def end_text(self) -> str:
        """The end reason with its detail, for people: ``"env_error: KeyError: 'x'"``."""
        detail = f": {self.end_detail}" if self.end_detail is not None else ""
        return f"{self.end_reason.value}{detail}"

    @property
    def num_turns(self) -> int:
        return len(self.turns)

    @property
    def plan(self) -> str:
        """The first assistant turn (the Anchor Plan), or "" when there was none."""
        return self.turns[0].text if self.turns else ""

    @property
    def policy_token_ids(self) -> tuple[int, ...]:
        """The tokens under the mask, in order: exactly what the policy sampled."""
        return tuple(t for t, m in zip(self.token_ids, self.action_mask) if m)

    def to_json(self) -> dict[str, Any]:
        reason = self.truncated_reason
        return {
            "task_id": self.task_id,
            "group_id": self.group_id,
            "sample": self.sample,
            "token_ids": list(self.token_ids),
            "logprobs": None if self.logprobs is None else list(self.logprobs),
            "action_mask": list(self.action_mask),
            "step_ids": list(self.step_ids),
            "reward": self.reward,
            "rewards": json_safe(self.rewards),
            "messages": [dict(m) for m in self.messages],
            "turns": [t.to_json() for t in self.turns],
            "info": json_safe(self.info),
            "truncated_reason": None if reason is None else reason.value,
            "end_detail": self.end_detail,
            "prompt": self.prompt,
            "plan_forced": self.plan_forced,
            "predicted": json_safe(self.predicted),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Trajectory:
        """Rebuild a trajectory; raises KeyError/TypeError/ValueError on a malformed object."""
        missing = [f.name for f in fields(cls) if f.name not in obj and f.name in _REQUIRED]
        if missing:
            raise KeyError(f"missing field(s) {', '.join(missing)}")
        logprobs = obj.get("logprobs")
        predicted = obj.get("predicted")
        return cls(
            task_id=str(obj["task_id"]),
            group_id=int(obj["group_id"]),
            sample=int(obj["sample"]),
            token_ids=tuple(int(t) for t in obj["token_ids"]),
            logprobs=None if logprobs is None else tuple(float(x) for x in logprobs),
            action_mask=tuple(int(m) for m in obj["action_mask"]),
            step_ids=tuple(int(s) for s in obj["step_ids"]),
            reward=float(obj["reward"]),
            rewards={str(k): v for k, v in dict(obj.get("rewards") or {}).items()},
            messages=tuple(dict(m) for m in obj.get("messages", ())),
            turns=tuple(Turn.from_json(t) for t in obj.get("turns", ())),
            info=dict(obj.get("info") or {}),
            truncated_reason=obj.get("truncated_reason"),  # a str: __post_init__ parses it
            end_detail=obj.get("end_detail"),
            prompt=str(obj.get("prompt", "")),
            plan_forced=bool(obj.get("plan_forced", False)),
            predicted=None
            if predicted is None
            else tuple(tuple(dict(a) for a in step) for step in predicted),
        )


_REQUIRED = ("task_id", "group_id", "sample", "token_ids", "action_mask", "step_ids", "reward")


def dumps(trajectories: Iterable[Trajectory]) -> str:
    """JSONL text of the trajectories, one line each."""
    return "".join(
        json.dumps(t.to_json(), ensure_ascii=False, allow_nan=False) + "\n" for t in trajectories
    )


def save_jsonl(
    path: str | os.PathLike[str], trajectories: Iterable[Trajectory], *, append: bool = False
) -> Path:
    """Write (or append) trajectories as JSONL; the text of a call goes out in one write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w", encoding="utf-8") as fh:
        fh.write(dumps(trajectories))
        fh.flush()
    return path


def load_jsonl(
    path: str | os.PathLike[str], *, allow_partial_tail: bool = False
) -> list[Trajectory]:
    """Read trajectories; a bad line raises :class:`TrajectoryFormatError` naming file and line.

    ``allow_partial_tail`` drops an unreadable *last* line instead (an interrupted write,
    as a killed evaluation may leave behind); a bad line anywhere else still raises.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    out: list[Trajectory] = []
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict):
                raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
            out.append(Trajectory.from_json(obj))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            if allow_partial_tail and index == last:
                break
            raise TrajectoryFormatError(path, index + 1, f"not a trajectory ({err})") from None
    return out


def first_step(trajectory: Trajectory) -> str:
    """The first assistant turn as written after its prefill: what the rollout engine's
    ``forced_first_turns`` imposes to replay it."""
    turn = trajectory.turns[0]
    return turn.text[len(turn.prefill) :] if turn.text.startswith(turn.prefill) else turn.text
