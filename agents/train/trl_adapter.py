"""TRL adapter: this environment's multi-turn rollouts, step masks and rewards for TRL's
``GRPOTrainer``.

TRL (>= 0.20) lets a custom ``rollout_func(prompts, trainer)`` produce the completions.
It receives this process's prompts (TRL's sampler already repeats each one
``num_generations`` times; TRL >= 1.0 passes them on without repeating them again) and must
return, per prompt, ``prompt_ids``, ``completion_ids`` and ``logprobs``; any other key is
passed to the reward functions, and ``env_mask`` (1 = train on this completion token,
0 = not) is multiplied into TRL's loss mask. :func:`make_rollout_func` plays each prompt's
task through the rollout engine with the trainer's own model and returns:

* ``prompt_ids``: the first prompt (system, question, first prefill);
* ``completion_ids``: everything after it (the turns, tool responses, later prefills);
* ``env_mask``: 1 only on tokens of the steps a :class:`~agents.grpo.StepSelector` picks,
  so ``FirstStep()`` gives First-step GRPO / Anchor-GRPO stage 1 in TRL, ``AllSteps()``
  plain multi-turn GRPO (tool responses and prefills are always 0);
* ``logprobs``: the sampler's log-probabilities (0.0 on masked tokens);
* ``plan_mask``: 1 on the plan (first-step) tokens the policy wrote, whatever the selector,
  for reward functions and logging (with ``FirstStep()`` it equals ``env_mask``);
* extra fields for rewards: ``outcome`` (0/1, None when the episode broke), ``plan``
  (the first turn's text), ``task_id`` and ``question``.

Rewards: :func:`outcome_reward` and :class:`PlanRubricReward` (the rubric judge).
Leave ``mask_truncated_completions`` off: a completion ends with the chat template's
end-of-turn text, not always with an EOS token.

Usage::

    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, args=GRPOConfig(num_generations=4, ...),
        train_dataset=trl_dataset(tasks),
        reward_funcs=[PlanRubricReward(judge)],
        rollout_func=make_rollout_func(make_env, FirstStep(), tasks, plan_only=True),
    )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from agents.grpo import StepSelector
from agents.policy import SamplingParams
from agents.prompts import DEFAULT_PROMPT, PromptVariant
from agents.rollout import RolloutConfig, RolloutEngine
from agents.train.algos import derive_seed
from agents.train.batch import pad_trajectories
from agents.train.rewards import unscored
from agents.trajectory import Trajectory

RolloutFunc = Callable[[list[Any], Any], dict[str, list[Any]]]


def prompt_question(prompt: str | Sequence[Mapping[str, Any]]) -> str:
    """The question a TRL prompt carries: the string itself, or the last user message."""
    if isinstance(prompt, str):
        return prompt
    users = [m["content"] for m in prompt if m.get("role") == "user"]
    if not users or not isinstance(users[-1], str):
        raise ValueError(
            f"Expected a prompt with a user message holding the question, got {prompt!r}."
        )
    return users[-1]


def trl_dataset(tasks: Iterable[Any]) -> Any:
    """A ``datasets.Dataset`` with one row per task: ``prompt`` (the question), ``task_id``."""
    from datasets import Dataset

    rows = [{"prompt": t.question, "task_id": t.id} for t in tasks]
    return Dataset.from_list(rows)


def split_trajectory(t: Trajectory, selector: StepSelector) -> dict[str, list[Any]]:
    """One trajectory as TRL's prompt / completion / env_mask / logprobs, and its plan mask."""
    ids, _, logp, action, steps = pad_trajectories([t], pad_id=0)
    chosen = selector(steps)[0]  # [T]
    policy = action[0].nonzero()
    cut = int(policy[0]) if policy.numel() else max(len(t.token_ids) - 1, 0)
    return {
        "prompt_ids": ids[0, :cut].tolist(),
        "completion_ids": ids[0, cut:].tolist(),
        "logprobs": logp[0, cut:].tolist(),
        "env_mask": chosen[cut:].long().tolist(),
        "plan_mask": (steps[0, cut:] == 0).long().tolist(),
    }


def trajectories_to_trl(
    trajectories: Sequence[Trajectory], selector: StepSelector, questions: Sequence[str]
) -> dict[str, list[Any]]:
    """The dict a TRL ``rollout_func`` returns, one entry per trajectory."""
    out: dict[str, list[Any]] = {
        k: [] for k in ("prompt_ids", "completion_ids", "logprobs", "env_mask", "plan_mask")
    }
    for t in trajectories:
        for key, value in split_trajectory(t, selector).items():
            out[key].append(value)
    out["outcome"] = [_outcome(t) for t in trajectories]
    out["plan"] = [t.plan for t in trajectories]
    out["task_id"] = [t.task_id for t in trajectories]
    out["question"] = list(questions)
    return out


def _outcome(t: Trajectory) -> float | None:
    broken = unscored(t)
    return None if broken else float(t.reward)


def make_rollout_func(
    make_env: Callable[[], Any],
    selector: StepSelector,
    tasks: Iterable[Any],
    *,
    prompt: PromptVariant = DEFAULT_PROMPT,
    params: SamplingParams | None = None,
    max_turns: int | None = 6,
    plan_only: bool = False,
    split: str | None = None,
    seed: int = 0,
) -> RolloutFunc:
    """A TRL ``rollout_func`` playing each prompt's task in the environment.

    Args:
        make_env: builds one environment (see :class:`agents.rollout.RolloutEngine`).
        selector: which steps TRL trains on (``env_mask``).
        tasks: the tasks the prompts come from; a prompt is matched to its task by question.
        prompt, params, max_turns, plan_only, split: as in :class:`agents.rollout.RolloutConfig`.
        seed: rollouts at trainer step s on process r use seeds derived from (seed, s, r).
    """
    from agents.hf_policy import HFPolicy

    by_question = {}
    for task in tasks:
        by_question.setdefault(task.question, task.id)
    base = params or SamplingParams()

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        questions = [prompt_question(p) for p in prompts]
        missing = sorted({q for q in questions if q not in by_question})
        if missing:
            raise KeyError(
                f"Expected prompts that are questions of the given tasks, got {missing}."
            )
        step = int(trainer.state.global_step)
        rank = int(trainer.accelerator.process_index)
        sampling = replace(base, seed=derive_seed(seed, "trl-rollout", step, rank))
        config = RolloutConfig(
            prompt=prompt, params=sampling, max_turns=max_turns, plan_only=plan_only, split=split
        )
        model = trainer.accelerator.unwrap_model(trainer.model)
        policy = HFPolicy(model, trainer.processing_class)
        with RolloutEngine(policy, make_env, config) as engine:
            played = engine.run([by_question[q] for q in questions])
        return trajectories_to_trl(played, selector, questions)

    return rollout_func


def outcome_reward(prompts: list[Any], completions: list[Any], outcome: list, **_: Any) -> list:
    """The environment's 0/1 exact-match reward (None, i.e. excluded, for broken episodes)."""
    return list(outcome)


class PlanRubricReward:
    """The plan-rubric reward of each completion's first turn, from any judge with
    ``score(questions, plans) -> [JudgeResult]`` (None rewards are excluded by TRL)."""

    __name__ = "plan_rubric"

    def __init__(self, judge: Any) -> None:
        self.judge = judge

    def __call__(
        self, prompts: list[Any], completions: list[Any], plan: list, question: list, **_: Any
    ) -> list[float | None]:
        return [r.reward for r in self.judge.score(list(question), list(plan))]
