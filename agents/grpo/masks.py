"""Step masks: which policy tokens a GRPO update touches.

A rollout labels every token with a step index (``step_ids [B, T]``): -1 for tokens
the policy did not write (prompt, tool responses, padding, prefilled text), 0 for
the plan turn, k for the k-th later turn. A :class:`StepSelector` turns those labels
into a boolean loss mask ``[B, T]``. Anchor-GRPO stage 1 uses :class:`FirstStep`,
stage 2 and plain GRPO use :class:`AllSteps`; the paper's ablations use
:class:`LastStep` and :class:`RandomStep`.

Selectors never select a token with step id -1. A sequence whose mask is empty
(e.g. it has no policy token) is left out of the loss and of its denominator; see
:func:`sequence_has_tokens` and :func:`agents.grpo.loss.aggregate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@runtime_checkable
class StepSelector(Protocol):
    """Maps ``step_ids [B, T]`` (int, -1 = non-policy) to a loss mask ``[B, T]`` bool."""

    def __call__(self, step_ids: Tensor) -> Tensor: ...


def policy_mask(step_ids: Tensor) -> Tensor:
    """[B, T] bool: tokens written by the policy (step id >= 0)."""
    return step_ids >= 0


def sequence_has_tokens(mask: Tensor) -> Tensor:
    """[B] bool: sequences with at least one selected token in ``mask [B, T]``."""
    return mask.any(dim=-1)


def _last_step(step_ids: Tensor) -> Tensor:
    """[B, 1]: per-sequence largest step id over policy tokens (-1 if none)."""
    return step_ids.masked_fill(~policy_mask(step_ids), -1).amax(dim=-1, keepdim=True)


@dataclass(frozen=True)
class AllSteps:
    """Every policy token (GRPO; Anchor-GRPO stage 2)."""

    def __call__(self, step_ids: Tensor) -> Tensor:
        return policy_mask(step_ids)


@dataclass(frozen=True)
class FirstStep:
    """Only the first step, the plan: the policy tokens of step 0.

    A sequence whose plan the policy did not write (a forced plan: its tokens are
    prompt, step id -1 once collated) has no first step to train, so its mask is
    empty and it drops out of the loss. It does not fall back to the policy's first
    own turn: a first-step update credits the plan for the sequence's reward, and
    turn 1, written after an imposed plan, is not what that reward judged.
    """

    def __call__(self, step_ids: Tensor) -> Tensor:
        return policy_mask(step_ids) & (step_ids == 0)


@dataclass(frozen=True)
class LastStep:
    """Only the last step of each sequence: its largest step id."""

    def __call__(self, step_ids: Tensor) -> Tensor:
        last = _last_step(step_ids)  # [B, 1]
        return policy_mask(step_ids) & (step_ids == last)


@dataclass
class RandomStep:
    """One step per sequence, drawn uniformly among the steps that sequence has.

    The draw comes from a private ``torch.Generator`` seeded with ``seed``: the same
    seed and the same sequence of calls give the same masks, and successive calls
    draw fresh steps.
    """

    seed: int = 0
    _generator: torch.Generator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._generator = torch.Generator().manual_seed(self.seed)

    def __call__(self, step_ids: Tensor) -> Tensor:
        policy = policy_mask(step_ids)  # [B, T]
        if not policy.any():
            return policy  # no policy token anywhere: all False
        num_steps = int(step_ids.max()) + 1
        col = (step_ids.cpu() + 1).clamp(min=0)  # [B, T], non-policy -> column 0
        present = torch.zeros(step_ids.shape[0], num_steps + 1, dtype=torch.bool)
        present = present.scatter_(1, col, True)[:, 1:]  # [B, S]: sequence has step s
        has_any = present.any(dim=-1, keepdim=True)  # [B, 1]
        weights = torch.where(has_any, present, torch.ones_like(present)).float()  # [B, S]
        chosen = torch.multinomial(weights, 1, generator=self._generator)  # [B, 1]
        chosen = chosen.masked_fill(~has_any, -1).to(step_ids.device)
        return policy & (step_ids == chosen)


@dataclass(frozen=True)
class ExplicitSteps:
    """The given step ids, e.g. ``ExplicitSteps(frozenset({0, 2}))``."""

    steps: frozenset[int]

    def __init__(self, steps: Iterable[int]) -> None:
        steps = frozenset(int(s) for s in steps)
        if any(s < 0 for s in steps):
            raise ValueError(f"Expected step ids >= 0, got {sorted(steps)}.")
        object.__setattr__(self, "steps", steps)

    def __call__(self, step_ids: Tensor) -> Tensor:
        wanted = torch.tensor(sorted(self.steps), dtype=step_ids.dtype, device=step_ids.device)
        return policy_mask(step_ids) & torch.isin(step_ids, wanted)


@dataclass(frozen=True)
class CallableSteps:
    """Any function ``step_ids [B, T] -> bool [B, T]``; its result is restricted to
    policy tokens, so a custom rule can never put a prompt token into the loss."""

    fn: Callable[[Tensor], Tensor]

    def __call__(self, step_ids: Tensor) -> Tensor:
        mask = self.fn(step_ids)
        if mask.shape != step_ids.shape or mask.dtype != torch.bool:
            raise ValueError(
                f"Expected the step rule to return a bool mask of shape "
                f"{tuple(step_ids.shape)}, got {mask.dtype} of shape {tuple(mask.shape)}."
            )
        return policy_mask(step_ids) & mask
