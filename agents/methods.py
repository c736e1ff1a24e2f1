"""Planning methods as small objects, and the registry the benchmarks run them from.

A :class:`Method` says three things: how plans are produced (the prompt variant and the
agent kind), which steps the planner stage updates (a step choice or any
:class:`~agents.grpo.StepSelector`), and what rewards them (a reward source or any
reward function). The trainer turns it into stages (:meth:`Method.stages`); every
experiment in ``benchmarks/`` looks methods up here, so one registered from a file runs
beside the built-in ones on the same tasks, seeds and budgets::

    # my_method.py  (run with: python -m benchmarks.main_table --methods-file my_method.py
    #                            --methods grpo,plan-length)
    from agents.methods import Method, register
    from agents.train.algos import StepChoice

    def plan_length_reward(trajectories, tasks):
        return [min(len(t.plan), 400) / 400 for t in trajectories]

    register(Method(
        name="plan-length",
        description="stage 1 rewards longer plans (a toy dense reward)",
        planner_steps=StepChoice.FIRST,
        planner_reward=plan_length_reward,
        plan_only=True,
    ))

The built-in methods are the paper's: ``grpo``, ``first-step-grpo``, ``anchor-grpo``, the
ablations ``planner-only``, ``last-step-grpo``, ``random-step-grpo`` and
``anchor-naive``, TraceR1 (``tracer1``: the anticipatory agent trained with the privileged
gold-path alignment reward, then the grounded tool-call reward), plus ``start`` (the
starting policy, untrained) and ``tracer1-start`` (the untrained starting policy run as
TraceR1's anticipatory plan-act agent).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agents.grpo import StepSelector
from agents.rewards.tracer1 import grounded_reward, privileged_alignment_reward
from agents.train.algos import (
    RewardFn,
    RewardSource,
    Stage,
    StepChoice,
    executor_stage,
    planner_stage,
)
from agents.train.config import AgentKind, Algo, TrainConfig

AGENT_KINDS = tuple(kind.value for kind in AgentKind)


@dataclass(frozen=True)
class Method:
    """A planning method: plans, the steps its planner stage updates, and their reward."""

    name: str
    """Registry key and the name in result tables."""
    description: str = ""
    """One line for tables and ``--list``."""
    planner_steps: StepChoice | StepSelector | None = None
    """Stage 1 updates these steps; None: no planner stage."""
    planner_reward: RewardSource | RewardFn = RewardSource.OUTCOME
    """Stage 1's reward: 0/1 outcome, the plan-rubric judge, the naive rating, or a function
    ``(trajectories, tasks) -> [reward or None]``."""
    plan_only: bool = False
    """Stage-1 rollouts stop after the plan turn (Anchor-GRPO)."""
    executor: bool = True
    """Run stage 2: whole trajectories, all policy steps, ``executor_reward``."""
    executor_reward: RewardSource | RewardFn = RewardSource.OUTCOME
    """Stage 2's reward: the 0/1 outcome, or a function as for ``planner_reward``."""
    prompt: str = ""
    """Prompt variant the policy plans and acts with (``agents.prompts``); '' keeps the
    configuration's (the starting model's format)."""
    agent: str = "react"
    """``react`` or ``anticipatory`` (TraceR1: predict several actions, run the first)."""
    trains: bool = True
    """False: the starting policy is evaluated as it is (a baseline row)."""
    algo: Algo | None = None
    """The built-in algorithm this method equals (recorded in the run's config)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig fields this method sets (e.g. ``{"stage2_steps": 0}``)."""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ ,"):
            raise ValueError(
                f"Expected a method name without '/', ',' or spaces, got {self.name!r}."
            )
        if self.agent not in AGENT_KINDS:
            raise ValueError(f"Expected agent in {AGENT_KINDS}, got {self.agent!r}.")
        if self.trains and self.planner_steps is None and not self.executor:
            raise ValueError(f"Method {self.name!r} trains but has neither planner nor executor.")
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))

    def train_config(self, base: TrainConfig) -> TrainConfig:
        """``base`` with this method's prompt, algorithm and config fields."""
        algo = self.algo or (Algo.GRPO if self.planner_steps is None else Algo.ANCHOR_GRPO)
        agent = AgentKind(self.agent)
        prompt = self.prompt or base.prompt
        return base.replace(algo=algo, prompt=prompt, agent=agent, **dict(self.config))

    def equal_budget(self, config: TrainConfig, total: int) -> TrainConfig:
        """``config`` (from :meth:`train_config`) with this method's stages holding a
        comparison's whole budget of ``total`` policy updates (the scale's ``stage1.steps +
        stage2.steps``), whichever stages it has: a two-stage method keeps the scale's split.

        A one-stage method (``grpo``, a planner stage alone) runs all the steps in its one
        stage. With equal group sizes and questions per step every method then samples the
        same number of trajectories and takes the same number of updates (plan-only
        rollouts are shorter: the tokens differ).
        """
        if self.planner_steps is not None and self.executor:
            if config.stage1.steps + config.stage2.steps != total:
                raise ValueError(
                    f"Method {self.name!r} changes the step counts ({config.stage1.steps} + "
                    f"{config.stage2.steps}); a comparison gives every method {total}."
                )
            return config
        if self.planner_steps is not None:
            return config.replace(stage1_steps=total, stage2_steps=0)
        return config.replace(stage1_steps=0, stage2_steps=total)

    def stages(self, config: TrainConfig) -> tuple[Stage, ...]:
        """The training stages under ``config`` (stages of 0 steps dropped)."""
        stages = []
        if self.planner_steps is not None:
            stages.append(
                planner_stage(self.planner_steps, self.planner_reward, self.plan_only, config)
            )
        if self.executor:
            stages.append(executor_stage(config, self.executor_reward))
        return tuple(s for s in stages if s.settings.steps > 0)


_REGISTRY: dict[str, Method] = {}


def register(method: Method, *, replace: bool = False) -> Method:
    """Add ``method`` to the registry (a second one of the same name needs ``replace``)."""
    if method.name in _REGISTRY and not replace and _REGISTRY[method.name] != method:
        raise ValueError(f"A method named {method.name!r} is registered already.")
    _REGISTRY[method.name] = method
    return method


def get_method(name: str) -> Method:
    """The registered method called ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"Unknown method {name!r}; registered: {known}.") from None


def registered() -> list[Method]:
    """Every registered method, built-ins first."""
    return list(_REGISTRY.values())


def stages_for(config: TrainConfig) -> tuple[Stage, ...]:
    """The stages of ``config.algo`` with their settings (stages of 0 steps dropped): those
    of the built-in method of that name, where every algorithm is defined."""
    if config.algo is Algo.SFT:
        raise ValueError("Expected a GRPO algorithm; sft has no RL stages (see agents.train.sft).")
    return get_method(config.algo.value).stages(config)


_LOADED: dict[Path, list[Method]] = {}


def load_methods_file(path: str | Path) -> list[Method]:
    """Run a Python file that calls :func:`register`; returns the methods it added.

    A file is run once per process: loading it again returns the same methods.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Expected a Python file of methods, got {path} (not found).")
    key = path.resolve()
    if key in _LOADED:
        return list(_LOADED[key])
    before = dict(_REGISTRY)
    digest = hashlib.sha256(str(key).encode()).hexdigest()[:12]
    module_name = f"webanchor_methods_{path.stem}_{digest}"  # stable across processes
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot import {path} as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    added = [m for name, m in _REGISTRY.items() if before.get(name) is not m]
    _LOADED[key] = added
    return list(added)


def _builtins() -> None:
    first, rubric = StepChoice.FIRST, RewardSource.PLAN_RUBRIC
    # Anchor-GRPO and its variants: plans only, first-step tokens, the rubric reward
    anchor: dict[str, Any] = {
        "planner_steps": first, "planner_reward": rubric, "plan_only": True,
        "algo": Algo.ANCHOR_GRPO,
    }  # fmt: skip
    builtin = [
        Method("start", "the starting policy, untrained", trains=False),
        Method(
            "tracer1-start",
            "the starting policy as TraceR1's anticipatory plan-act agent, untrained",
            prompt="",
            agent="anticipatory",
            trains=False,
        ),
        Method(
            "tracer1",
            "TraceR1: stage 1: anticipatory predictions of every turn, gold-path alignment "
            "(privileged); stage 2: all steps, outcome + grounded tool-call reward",
            planner_steps=StepChoice.ALL,
            planner_reward=privileged_alignment_reward,
            executor_reward=grounded_reward,
            prompt="anticipatory-t3-prefill",
            agent="anticipatory",
            algo=Algo.TRACER1,
        ),
        Method("grpo", "whole trajectories, all steps, 0/1 reward", algo=Algo.GRPO),
        Method(
            "first-step-grpo",
            "stage 1: first step of whole trajectories, 0/1; stage 2: grpo",
            planner_steps=first,
            algo=Algo.FIRST_STEP_GRPO,
        ),
        Method(
            "anchor-grpo",
            "stage 1: plans only, plan tokens, rubric reward; stage 2: grpo",
            **anchor,
        ),
        Method(  # the judge is picked through the config, as on the command line
            "anchor-grpo-ref",
            "anchor-grpo whose plan judge is the privileged reference rubric (reads the gold path)",
            **anchor,
            config={"judge": "reference"},
        ),
        Method(
            "planner-only",
            "anchor-grpo's stage 1 alone (no executor stage)",
            **anchor,
            executor=False,
            config={"stage2_steps": 0},
        ),
        Method(  # the naive reward is picked through the config, as on the command line
            "anchor-naive",
            "anchor-grpo with the naive plan reward (one overall rating)",
            **anchor,
            config={"plan_reward": "naive"},
        ),
        Method(
            "last-step-grpo",
            "stage 1: last step of whole trajectories, 0/1; stage 2: grpo",
            planner_steps=StepChoice.LAST,
            algo=Algo.LAST_STEP_GRPO,
        ),
        Method(
            "random-step-grpo",
            "stage 1: a random step of whole trajectories, 0/1; stage 2: grpo",
            planner_steps=StepChoice.RANDOM,
            algo=Algo.RANDOM_STEP_GRPO,
        ),
    ]
    for method in builtin:
        register(method)


_builtins()
