"""The algorithms as small stage descriptions: which steps, which reward, which rollouts.

Every GRPO variant is one or two :class:`Stage` s run one after the other with one
policy; each algorithm is defined once, as a method in :mod:`agents.methods` (whose
:func:`~agents.methods.stages_for` gives the stages of ``--algo NAME``). A stage says which tokens the loss touches (a
:class:`~agents.grpo.StepSelector`), where the reward comes from
(:class:`RewardSource`), and whether rollouts stop after the plan turn. Nothing here
runs anything; :mod:`agents.train.trainer` executes the stages.

A stage's steps may also be any :class:`~agents.grpo.StepSelector` and its reward any
:data:`RewardFn`, which is how new planning methods (``agents.methods``) plug in.

========================  =====================================  ===================
algorithm                 stage 1                                stage 2
========================  =====================================  ===================
grpo                      (none)                                 all steps, 0/1
first-step-grpo           whole trajectories, first step, 0/1    all steps, 0/1
anchor-grpo               plans only, plan tokens, rubric reward all steps, 0/1
                          (or the naive reward: --plan-reward naive)
last-step-grpo            whole trajectories, last step, 0/1     all steps, 0/1
random-step-grpo          whole trajectories, random step, 0/1   all steps, 0/1
tracer1                   anticipatory trajectories, all steps,  all steps, 0/1 +
                          gold-path alignment (privileged)       grounded tool calls
========================  =====================================  ===================
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.grpo import AllSteps, FirstStep, LastStep, RandomStep, StepSelector
from agents.train.config import PlanReward, StageSettings, TrainConfig

RewardFn = Callable[[Sequence[Any], Sequence[Any]], Sequence[float | None]]
"""A custom reward: (trajectories, their tasks) -> one reward per trajectory; None or NaN
marks a missing reward (excluded from the advantages and counted, never 0)."""


class RewardSource(str, enum.Enum):
    """Where a stage's reward comes from."""

    OUTCOME = "outcome"
    """The environment's 0/1 exact-match reward of the whole trajectory."""
    PLAN_RUBRIC = "plan-rubric"
    """The plan-rubric judge's score of the first turn, R in [0, 1]."""
    NAIVE_PLAN = "naive-plan"
    """The judge's single overall rating of the first turn, in [0, 1] (ablation)."""

    @property
    def judged(self) -> bool:
        """Whether a judge model scores the plan."""
        return self is not RewardSource.OUTCOME


class StepChoice(str, enum.Enum):
    """Which steps of each trajectory the loss covers."""

    ALL = "all"
    FIRST = "first"
    LAST = "last"
    RANDOM = "random"


@dataclass(frozen=True)
class Stage:
    """One stage of a training schedule."""

    index: int
    """1 or 2 (which ``stageN_*`` settings of the config apply)."""
    steps: StepChoice | StepSelector
    """Tokens the loss covers: a built-in choice or any selector."""
    reward: RewardSource | RewardFn
    """Where rewards come from: a built-in source or any reward function."""
    plan_only: bool
    """Stop every rollout after the plan turn (Anchor-GRPO stage 1)."""
    settings: StageSettings
    """Steps, G, clip range, KL, aggregation."""

    @property
    def name(self) -> str:
        return f"stage{self.index}"


def selector_for(choice: StepChoice | StepSelector, seed: int, step: int) -> StepSelector:
    """The step selector of ``choice`` at trainer step ``step`` (a selector is returned as is).

    :class:`RandomStep` gets a seed derived from (seed, step), so its draws depend only
    on the step and a resumed run draws exactly what an uninterrupted one would.
    """
    if not isinstance(choice, StepChoice):
        return choice
    if choice is StepChoice.ALL:
        return AllSteps()
    if choice is StepChoice.FIRST:
        return FirstStep()
    if choice is StepChoice.LAST:
        return LastStep()
    return RandomStep(seed=derive_seed(seed, "random-step", step))


def derive_seed(seed: int, purpose: str, *parts: int) -> int:
    """A 31-bit seed that depends only on (seed, purpose, parts): stable across runs."""
    text = ":".join([str(seed), purpose, *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


def planner_stage(
    steps: StepChoice | StepSelector,
    reward: RewardSource | RewardFn,
    plan_only: bool,
    config: TrainConfig,
) -> Stage:
    """Stage 1 with ``config``'s settings; the rubric reward becomes the naive one when
    ``config.plan_reward`` asks for it."""
    if reward is RewardSource.PLAN_RUBRIC and config.plan_reward is PlanReward.NAIVE:
        reward = RewardSource.NAIVE_PLAN
    return Stage(1, steps, reward, plan_only, config.stage(1))


def executor_stage(
    config: TrainConfig, reward: RewardSource | RewardFn = RewardSource.OUTCOME
) -> Stage:
    """Stage 2: whole trajectories, all policy steps, the 0/1 outcome reward (or ``reward``)."""
    return Stage(2, StepChoice.ALL, reward, False, config.stage(2))


def stage_at(stages: tuple[Stage, ...], step: int) -> Stage:
    """The stage that trainer step ``step`` (0-based, over the whole run) belongs to."""
    start = 0
    for stage in stages:
        if step < start + stage.settings.steps:
            return stage
        start += stage.settings.steps
    raise IndexError(f"Expected a step below {start}, got {step}.")


def total_steps(stages: tuple[Stage, ...]) -> int:
    return sum(s.settings.steps for s in stages)
