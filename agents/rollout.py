"""The token-exact multi-turn rollout engine: G episodes for each of B tasks, in lockstep.

:class:`RolloutEngine` runs one environment per episode and batches every active episode's
next turn into one ``policy.generate`` call; finished episodes drop out. Each trajectory is
built token by token as it happens, never by decoding and re-tokenizing a whole
conversation:

* the first prompt is the chat template of ``[system, user(question)]`` with the generation
  prompt, plus the first-turn prefill (mask 0, step -1);
* the policy's sampled ids are appended as they came (mask 1, step = turn index), with
  their sampling log-probabilities;
* the rest, the end of the assistant turn (``<|im_end|>\\n`` for SmolLM2; an EOS the policy
  sampled is already there and is not added twice), the tool-response message, the next
  assistant header and prefill, is the *template delta*: the chat template is rendered for
  the conversation before and after the new message, the rendered prefix is checked to be
  unchanged, and only the appended text is tokenized (mask 0, step -1). For SmolLM2 the
  delta of a tool response is ``<|im_start|>user\\n{content}<|im_end|>\\n<|im_start|>assistant\\n``.

Invariants (tested): the mask and step ids have the length of the ids; the tokens under the
mask are exactly the tokens the policy sampled; and the whole sequence equals the chat
template applied to the final conversation. The last holds *exactly, token for token* when
the policy emits the canonical tokenization of its text (scripted agents, and in practice
trained models). A randomly initialized model samples arbitrary ids, and a decoded string
may re-encode to other ids (BPE has many spellings of one string); then the engine keeps
what was sampled, which is what GRPO needs, and the equality holds at the text level:
``decode(token_ids) == template(final conversation)``, with every non-policy segment equal
to the template's tokenization of that segment. A forced first turn (plan-anchor
experiments) is tokenized from its text, with mask 0 and step id 0.

An episode that does not answer ends with an :class:`~agents.trajectory.EndReason`. A
context budget stops an episode cleanly (``CONTEXT_BUDGET``) when the next prompt plus
``max_new_tokens`` would exceed the model's context; the observation that did not fit is
kept in the turn record but not in the tokens. One bad episode never stops the batch: a
failing environment step, a policy row that errors, or a template that does not render a
message verbatim ends that episode with the reason recorded.

Seeds: with ``SamplingParams.seed = s`` every request carries its own seed, a function of
``s``, the group id, the sample index and the turn, so that an episode samples the same
tokens whether it runs in a batch or alone (up to floating-point near-ties).
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import gymnasium as gym

from agents.policy import GenerationRequest, Policy, SampledTurn, SamplingParams
from agents.prompts import DEFAULT_PROMPT, PromptVariant
from agents.trajectory import EndReason, Trajectory, Turn, json_safe
from webanchor_env.actions import TOOL_SCHEMAS

log = logging.getLogger(__name__)

EnvFactory = Callable[[], gym.Env]
Action = Any  # str, or a mapping {"name": ..., "arguments": {...}}
_LARGE_CONTEXT = 10**7  # tokenizers without a limit report ~1e30


class ActionReader(Protocol):
    """Turns an assistant message into the environment's action (and any predicted actions)."""

    def read(self, text: str) -> tuple[Action, tuple[dict[str, Any], ...] | None]: ...


class AgentKind(str, enum.Enum):
    """How an agent's turns are read (:func:`agents.anticipatory.action_reader`)."""

    REACT = "react"
    """A plan in the first turn, then one action a turn: the whole text is the action."""
    ANTICIPATORY = "anticipatory"
    """TraceR1: every turn predicts the next ``horizon`` actions; the first is run."""


@dataclass(frozen=True)
class TextAction:
    """The default reader: the whole assistant message is the action; nothing is predicted."""

    def read(self, text: str) -> tuple[Action, None]:
        return text, None


@dataclass(frozen=True)
class RolloutConfig:
    """How to run a batch of episodes."""

    group_size: int = 1
    """G: episodes per task (a GRPO group)."""
    prompt: PromptVariant = DEFAULT_PROMPT
    """The prompt format; its name is recorded in each trajectory."""
    params: SamplingParams = field(default_factory=SamplingParams)
    """Per-turn sampling; ``prompt.stop`` replaces ``params.stop`` when set."""
    max_turns: int | None = None
    """Assistant turns per episode (None: only the environment's own limit applies)."""
    max_context: int | None = None
    """Context of the model in tokens (None: read from the policy, see :func:`context_limit`)."""
    plan_only: bool = False
    """Stop every episode after its first (plan) turn without stepping the environment."""
    reader: ActionReader = field(default_factory=TextAction)
    """Maps an assistant message to the environment's action."""
    split: str | None = None
    """Split passed to ``reset`` with each task id (None: the environment's own)."""
    tools: tuple[dict[str, Any], ...] = TOOL_SCHEMAS
    """Tool schemas rendered into the system prompt."""

    def __post_init__(self) -> None:
        if self.group_size < 1:
            raise ValueError(f"Expected group_size >= 1, got {self.group_size}.")
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError(f"Expected max_turns >= 1 or None, got {self.max_turns}.")

    @property
    def sampling(self) -> SamplingParams:
        """The sampling parameters with the prompt's stop strings applied."""
        if self.prompt.stop is None:
            return self.params
        return replace(self.params, stop=self.prompt.stop)


def context_limit(policy: Any) -> int | None:
    """The policy's context in tokens: ``policy.max_context``, its model's
    ``max_position_embeddings`` or its tokenizer's ``model_max_length``; None if unknown."""
    candidates = (
        getattr(policy, "max_context", None),
        getattr(
            getattr(getattr(policy, "model", None), "config", None), "max_position_embeddings", None
        ),
        getattr(getattr(policy, "tokenizer", None), "model_max_length", None),
    )
    for value in candidates:
        if isinstance(value, int) and 0 < value < _LARGE_CONTEXT:
            return value
    return None


def request_seed(base: int | None, group_id: int, sample: int, turn: int) -> int | None:
    """The seed of one episode's turn: independent of which other episodes share the batch."""
    if base is None:
        return None
    return base + 1_000_003 * group_id + 1_009 * sample + turn


class ChatTemplate:
    """Renders conversations with a tokenizer's chat template and tokenizes template deltas."""

    def __init__(self, tokenizer: Any, eos_ids: Iterable[int] = ()) -> None:
        self.tokenizer = tokenizer
        eos = tokenizer.eos_token_id
        self.eos_ids = frozenset([*eos_ids, *([eos] if isinstance(eos, int) else ())])

    def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in messages],
            tokenize=False,
            add_generation_prompt=add_generation_prompt,
        )

    def encode(self, text: str) -> list[int]:
        """Token ids of template text; special tokens in it are parsed, none are added."""
        return list(self.tokenizer.encode(text, add_special_tokens=False)) if text else []

    def eos_text(self, token_ids: Sequence[int]) -> str:
        """The text of the EOS token that ends ``token_ids``, or "" when none does."""
        if not token_ids or token_ids[-1] not in self.eos_ids:
            return ""
        return self.tokenizer.decode([token_ids[-1]], skip_special_tokens=False)


class _TemplateMismatch(Exception):
    """The chat template did not render a message verbatim after the conversation so far."""


@dataclass
class _Episode:
    """Mutable state of one episode while it runs."""

    slot: int
    task_id: str
    group_id: int
    sample: int
    env: gym.Env
    messages: list[dict[str, str]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    text: str = ""  # the template text the ids stand for
    pending: str = ""  # template text after the last turn, not yet tokenized
    prefill: str = ""
    turns: list[Turn] = field(default_factory=list)
    predicted: list[tuple[dict[str, Any], ...]] = field(default_factory=list)
    reward: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)
    done: bool = False
    truncated_reason: EndReason | None = None
    end_detail: str | None = None
    logprobs_known: bool = True
    plan_forced: bool = False

    def add(self, ids: Sequence[int], mask: int, step: int, logprobs: Sequence[float] = ()):
        """Append tokens with their mask, step id and log-probabilities (0.0 when absent)."""
        self.ids.extend(ids)
        self.mask.extend([mask] * len(ids))
        self.steps.extend([step] * len(ids))
        self.logprobs.extend(logprobs if logprobs else [0.0] * len(ids))

    def end(self, reason: EndReason | None, detail: str | None = None) -> None:
        self.done, self.truncated_reason, self.end_detail = True, reason, detail


class RolloutEngine:
    """Runs G episodes per task in lockstep, one environment each, batching their turns.

    ``make_env`` builds one environment (e.g. ``lambda: gym.make("WebAnchor-Wiki-v0",
    backend=backend)``); the engine keeps a pool of them across :meth:`run` calls and
    resets one per episode with ``options={"task_id": ...}``. Close the engine (or use it as
    a context manager) to close the environments.
    """

    def __init__(
        self, policy: Policy, make_env: EnvFactory, config: RolloutConfig | None = None
    ) -> None:
        self.policy = policy
        self.make_env = make_env
        self.config = config or RolloutConfig()
        tokenizer = getattr(policy, "tokenizer", None)
        eos_ids = getattr(policy, "eos_token_ids", None) or ()
        self.template = ChatTemplate(tokenizer, eos_ids) if tokenizer is not None else None
        self.max_context = self.config.max_context or context_limit(policy)
        self._envs: list[gym.Env] = []

    def __enter__(self) -> RolloutEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every environment of the pool."""
        for env in self._envs:
            env.close()
        self._envs.clear()

    def run(
        self,
        task_ids: Sequence[str],
        *,
        group_ids: Sequence[int] | None = None,
        forced_first_turns: Sequence[str | None] | None = None,
        on_finish: Callable[[Trajectory], None] | None = None,
        first_sample: int = 0,
    ) -> list[Trajectory]:
        """Play ``group_size`` episodes of each task; trajectories in task-major order.

        Args:
            task_ids: the B tasks, in order.
            group_ids: one group id per task (default ``0..B-1``).
            forced_first_turns: per task, a first assistant turn to impose (the text after
                the first-turn prefill) instead of sampling one, or None to sample.
            on_finish: called with each trajectory as soon as its episode ends.
            first_sample: the sample index of each group's first episode: a group's
                samples are ``first_sample .. first_sample + group_size - 1``, so more
                episodes can be added to a group already played, each with the seeds it
                would have had in one larger group.
        """
        if first_sample < 0:
            raise ValueError(f"first_sample must be >= 0, got {first_sample}.")
        task_ids = list(task_ids)
        groups = list(range(len(task_ids)) if group_ids is None else group_ids)
        forced = list(forced_first_turns or [None] * len(task_ids))
        if not len(groups) == len(forced) == len(task_ids):
            raise ValueError(
                f"Expected one group id and one forced turn per task ({len(task_ids)}), got "
                f"{len(groups)} and {len(forced)}."
            )
        size = self.config.group_size
        while len(self._envs) < len(task_ids) * size:
            self._envs.append(self.make_env())
        episodes: list[_Episode] = []
        for task_id, group_id, first in zip(task_ids, groups, forced):
            for sample in range(first_sample, first_sample + size):
                episode = self._start(len(episodes), task_id, group_id, sample)
                episodes.append(episode)
                if first is not None and not episode.done:
                    self._forced_turn(episode, first)
        keeping = getattr(self.policy, "keeping_states", None)  # an episode's turns share states
        with keeping() if callable(keeping) else contextlib.nullcontext():
            return self._loop(episodes, on_finish)

    def _loop(
        self, episodes: list[_Episode], on_finish: Callable[[Trajectory], None] | None
    ) -> list[Trajectory]:
        """Generate for every active episode at once until none is left."""
        params = self.config.sampling
        done: dict[int, Trajectory] = {}
        while True:
            for ep in episodes:
                if ep.done and ep.slot not in done:
                    done[ep.slot] = self._trajectory(ep)
                    if on_finish is not None:
                        on_finish(done[ep.slot])
            active = [ep for ep in episodes if not ep.done]
            if not active:
                return [done[ep.slot] for ep in episodes]
            requests = [self._request(ep, params) for ep in active]
            sampled = self.policy.generate(requests, params)
            if len(sampled) != len(requests):
                raise RuntimeError(
                    f"Expected the policy to return {len(requests)} turns, got {len(sampled)}."
                )
            for ep, turn in zip(active, sampled):
                self._play(ep, turn)

    # --- One episode ----------------------------------------------------------------------

    def _start(self, slot: int, task_id: str, group_id: int, sample: int) -> _Episode:
        """Reset the slot's environment and tokenize the first prompt."""
        ep = _Episode(slot, task_id, group_id, sample, self._envs[slot])
        options: dict[str, Any] = {"task_id": task_id}
        if self.config.split is not None:
            options["split"] = self.config.split
        question, info = ep.env.reset(options=options)
        ep.info = dict(info)
        ep.messages = self.config.prompt.initial_messages(question, self.config.tools)
        ep.prefill = self.config.prompt.prefill(0)
        if self.template is not None:
            ep.text = self.template.render(ep.messages, True) + ep.prefill
            ep.add(self.template.encode(ep.text), 0, -1)
            if self._over_budget(len(ep.ids)):
                self._end(ep, EndReason.CONTEXT_BUDGET)
        return ep

    def _request(self, ep: _Episode, params: SamplingParams) -> GenerationRequest:
        return GenerationRequest(
            prompt_ids=tuple(ep.ids),
            messages=tuple(dict(m) for m in ep.messages),
            prefill=ep.prefill,
            seed=request_seed(params.seed, ep.group_id, ep.sample, len(ep.turns)),
        )

    def _forced_turn(self, ep: _Episode, text: str) -> None:
        """Impose the first turn: tokenized from text, mask 0, step id 0, then acted on."""
        ids = self.template.encode(text) if self.template is not None else []
        ep.plan_forced = True
        ep.add(ids, 0, 0)
        self._play(ep, SampledTurn(tuple(ids), None, text, "stop"), forced=True)

    def _play(self, ep: _Episode, sampled: SampledTurn, forced: bool = False) -> None:
        """Record one assistant turn, close it, and step the environment with it."""
        index = len(ep.turns)
        if self.template is not None and not forced:
            ep.add(sampled.token_ids, 1, index, sampled.logprobs or ())
            ep.logprobs_known &= sampled.logprobs is not None or not sampled.token_ids
        content = ep.prefill + sampled.text
        ep.messages.append({"role": "assistant", "content": content})
        action, predicted = self.config.reader.read(content)
        ep.predicted.append(predicted)
        turn = Turn(
            text=content,
            prefill=ep.prefill,
            finish_reason="forced" if forced else sampled.finish_reason,
            num_tokens=0 if forced else len(sampled.token_ids),
            action=None if isinstance(action, str) and action == content else action,
        )
        if not self._close_turn(ep, sampled):
            ep.turns.append(turn)
            self._end(ep, EndReason.TEMPLATE_MISMATCH)
        elif sampled.finish_reason == "error":
            ep.turns.append(turn)
            self._end(ep, EndReason.POLICY_ERROR, sampled.error or "unknown")
        elif self.config.plan_only:
            ep.turns.append(turn)
            self._end(ep, EndReason.PLAN_ONLY)
        else:
            self._act(ep, action, turn)

    def _close_turn(self, ep: _Episode, sampled: SampledTurn) -> bool:
        """Find the template text that ends the assistant turn (tokenized later)."""
        if self.template is None:
            return True
        full = self.template.render(ep.messages, False)
        head = ep.text + sampled.text
        if not full.startswith(head):
            log.warning("The chat template does not render the assistant turn verbatim.")
            return False
        tail = full[len(head) :]
        eos = self.template.eos_text(sampled.token_ids)
        if eos and tail.startswith(eos):
            tail = tail[len(eos) :]  # the policy sampled it: not added twice
        ep.text, ep.pending = full, tail
        return True

    def _act(self, ep: _Episode, action: Action, turn: Turn) -> None:
        """Step the environment; end the episode or show it the observation."""
        try:
            observation, reward, terminated, truncated, info = ep.env.step(action)
        except Exception as err:  # one bad episode never stops the batch: record and end it
            ep.turns.append(turn)
            self._end(ep, EndReason.ENV_ERROR, f"{type(err).__name__}: {err}")
            return
        ep.reward += float(reward)
        ep.info = dict(info)
        ep.turns.append(
            replace(
                turn,
                tool_calls=tuple(info.get("tool_calls", ())),
                errors=tuple(info.get("errors", ())),
                observation=observation,
                reward=float(reward),
            )
        )
        max_turns = self.config.max_turns
        if terminated:
            self._end(ep, None)
        elif truncated:
            self._end(ep, EndReason(info.get("truncation_reason") or EndReason.TIME_LIMIT))
        elif max_turns is not None and len(ep.turns) >= max_turns:
            self._end(ep, EndReason.MAX_TURNS)
        else:
            self._observe(ep, observation)

    def _observe(self, ep: _Episode, observation: str) -> None:
        """Append the tool-response message and the next assistant header as a template delta."""
        ep.messages.append(self.config.prompt.observation_message(observation))
        prefill = self.config.prompt.prefill(len(ep.turns))
        if self.template is None:
            ep.prefill = prefill
            return
        following = self.template.render(ep.messages, True) + prefill
        if not following.startswith(ep.text):
            ep.messages.pop()
            log.warning("The chat template changed the conversation's prefix.")
            self._end(ep, EndReason.TEMPLATE_MISMATCH)
            return
        ids = self.template.encode(ep.pending + following[len(ep.text) :])
        if self._over_budget(len(ep.ids) + len(ids)):
            ep.messages.pop()
            self._end(ep, EndReason.CONTEXT_BUDGET)
            return
        ep.add(ids, 0, -1)
        ep.text, ep.pending, ep.prefill = following, "", prefill

    def _over_budget(self, prompt_tokens: int) -> bool:
        if self.max_context is None:
            return False
        return prompt_tokens + self.config.sampling.max_new_tokens > self.max_context

    def _end(self, ep: _Episode, reason: EndReason | None, detail: str | None = None) -> None:
        """End the episode (reason None: answered); the pending end-of-turn text becomes tokens."""
        if self.template is not None and ep.pending:
            ep.add(self.template.encode(ep.pending), 0, -1)
        ep.pending = ""
        ep.end(reason, detail)

    def _trajectory(self, ep: _Episode) -> Trajectory:
        predicted = None
        if any(p is not None for p in ep.predicted):
            predicted = tuple(tuple(p or ()) for p in ep.predicted)
        return Trajectory(
            task_id=ep.task_id,
            group_id=ep.group_id,
            sample=ep.sample,
            token_ids=tuple(ep.ids),
            logprobs=tuple(ep.logprobs) if ep.logprobs_known else None,
            action_mask=tuple(ep.mask),
            step_ids=tuple(ep.steps),
            reward=ep.reward,
            rewards={"f1": float(ep.info.get("f1", 0.0))},
            messages=tuple(ep.messages),
            turns=tuple(ep.turns),
            info=json_safe(ep.info),
            truncated_reason=ep.truncated_reason,
            end_detail=ep.end_detail,
            prompt=self.config.prompt.name,
            plan_forced=ep.plan_forced,
            predicted=predicted,
        )


def rollout(
    policy: Policy,
    make_env: EnvFactory,
    task_ids: Iterable[str],
    config: RolloutConfig | None = None,
    **run_kwargs: Any,
) -> list[Trajectory]:
    """One-shot :meth:`RolloutEngine.run` with its own environments (closed afterwards)."""
    with RolloutEngine(policy, make_env, config) as engine:
        return engine.run(list(task_ids), **run_kwargs)
