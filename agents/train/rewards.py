"""Stage rewards: the environment's outcome, the plan judge's rubric score, or a
planning method's own reward function; and the construction of the plan judges.

A reward is missing (NaN) when an episode broke or the judge could not score a plan;
missing rewards are excluded from the advantages and counted in the metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from agents.train.algos import RewardFn, RewardSource, Stage
from agents.train.config import PlanJudge, TrainConfig
from agents.train.run import Run
from agents.trajectory import Trajectory


def unscored(t: Trajectory) -> bool:
    """Whether the episode broke (policy, environment or template failure: ``EndReason.broken``)
    or its reward is not a number: then it has no meaningful outcome and its reward is missing."""
    return t.end_reason.broken or not math.isfinite(t.reward)


class RewardBatch(NamedTuple):
    """Rewards of N trajectories; NaN marks a missing one (excluded, counted)."""

    values: Tensor
    """[N] float32."""
    dimensions: dict[str, Tensor]
    """Rubric dimension key -> [N] scores (plan-rubric stages only)."""


def outcome_rewards(trajectories: Sequence[Trajectory]) -> RewardBatch:
    """The environment's 0/1 reward; missing when the episode broke (see :func:`unscored`)."""
    values = [float("nan") if unscored(t) else t.reward for t in trajectories]
    return RewardBatch(torch.tensor(values, dtype=torch.float32), {})


def rubric_rewards(
    trajectories: Sequence[Trajectory], questions: Sequence[str], judge: Any
) -> RewardBatch:
    """The judge's rubric reward of each plan (the first turn); None becomes NaN."""
    results = judge.score(list(questions), [t.plan for t in trajectories])
    nan = float("nan")
    values = torch.tensor([nan if r.reward is None else r.reward for r in results])
    keys = [d.key for d in judge.rubric.dimensions]
    dims = {
        k: torch.tensor([nan if r.scores is None else float(r.scores[k]) for r in results])
        for k in keys
    }
    return RewardBatch(values.float(), dims)


def custom_rewards(
    trajectories: Sequence[Trajectory], tasks: Sequence[Any], reward: RewardFn
) -> RewardBatch:
    """A reward function's values; None, NaN or a wrong count are caught here."""
    values = list(reward(trajectories, tasks))
    if len(values) != len(trajectories):
        raise ValueError(
            f"Expected the reward function to return {len(trajectories)} values, got {len(values)}."
        )
    nan = float("nan")
    floats = [nan if v is None else float(v) for v in values]
    return RewardBatch(torch.tensor(floats, dtype=torch.float32), {})


def score(run: Run, stage: Stage, trajectories: Sequence[Trajectory]) -> RewardBatch:
    if not isinstance(stage.reward, RewardSource):
        tasks = [run.tasks[t.task_id] for t in trajectories]
        return custom_rewards(trajectories, tasks, stage.reward)
    if stage.reward is RewardSource.OUTCOME:
        return outcome_rewards(trajectories)
    if stage.reward not in run.judges:
        run.judges[stage.reward] = build_judge(run, stage.reward)
    questions = [run.tasks[t.task_id].question for t in trajectories]
    return rubric_rewards(trajectories, questions, run.judges[stage.reward])


def build_judge(run: Run, source: RewardSource = RewardSource.PLAN_RUBRIC) -> Any:
    """The stage-1 judge: expected scores (judge_model, or the frozen initial policy), or
    the privileged reference judge (``--judge reference``: reads the gold path).

    The plan rubric is the config's rubric file (checked with ``load_validated_rubric``)
    or the bundled default; the naive reward uses the one-dimension overall rubric.
    """
    from agents.rewards import ExpectedScoreJudge, PrivilegedReferenceJudge, naive_rubric

    c = run.config
    if c.judge is PlanJudge.PRIVILEGED_REFERENCE:
        if source is RewardSource.NAIVE_PLAN:
            raise ValueError(
                "Expected --judge expected for the naive plan reward, got --judge reference "
                "(the privileged reference judge scores the six-dimension plan rubric only)."
            )
        return PrivilegedReferenceJudge(run.tasks.values(), plan_rubric(c))
    if c.judge_model:
        from agents.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(c.judge_model, device=run.accelerator.device)
        model.requires_grad_(False)
    else:
        model, tokenizer = run.initial_model, run.tokenizer
    rubric = naive_rubric() if source is RewardSource.NAIVE_PLAN else plan_rubric(c)
    return ExpectedScoreJudge(model, tokenizer, rubric, batch_size=c.judge_batch_size)


def reward_versions(config: TrainConfig) -> dict[str, int]:
    """The versions of the reward rules ``config`` trains with that live in code, by name
    (empty when none): the privileged reference judge's. An LLM judge is named by the
    config itself (its model and rubric file)."""
    if config.judge is not PlanJudge.PRIVILEGED_REFERENCE:
        return {}
    from agents.rewards import reference

    return {reference.JUDGE_NAME: reference.VERSION}


def plan_rubric(config: TrainConfig) -> Any:
    """The rubric file of ``config`` (validated), or None for the judge's bundled default."""
    if not config.rubric:
        return None
    from agents.rubrics.validation import load_validated_rubric

    return load_validated_rubric(config.rubric, require_thresholds=config.require_validated_rubric)
