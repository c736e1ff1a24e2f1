"""Collating trajectories into the padded tensors one GRPO update consumes.

Every ``[B, T]`` tensor is aligned with the tokens: column t describes ``input_ids[:, t]``
(its sampling log-prob, whether the policy wrote it, its step, whether the loss covers it).
Sequences are right-padded; padding has attention 0, step id -1 and is never in a mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from agents.grpo import StepSelector, sequence_has_tokens


class TrajectoryLike(Protocol):
    """What collation reads from a trajectory (:class:`agents.trajectory.Trajectory`)."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...] | None
    action_mask: tuple[int, ...]
    step_ids: tuple[int, ...]


class TrainBatch(NamedTuple):
    """A padded batch of B sequences of length T, ready for the loss."""

    input_ids: Tensor
    """[B, T] long: token ids, right-padded."""
    attention_mask: Tensor
    """[B, T] long: 1 on real tokens."""
    old_logp: Tensor
    """[B, T] float: sampling log-prob of each token (0 off the action mask; NaN if unknown)."""
    action_mask: Tensor
    """[B, T] bool: tokens the policy sampled."""
    step_ids: Tensor
    """[B, T] long: step of each sampled token, -1 elsewhere."""
    loss_mask: Tensor
    """[B, T] bool: the tokens the loss covers (the selected steps)."""
    advantages: Tensor
    """[B] float: one advantage per sequence."""
    ref_logp: Tensor | None = None
    """[B, T] float: log-probs under the reference policy (only when KL is on)."""

    @property
    def num_sequences(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, index: Tensor) -> TrainBatch:
        """The sub-batch of rows ``index`` (a [b] long or [B] bool tensor), trimmed of
        columns that are padding in every kept row."""
        rows = [None if t is None else t[index] for t in self]
        width = int(rows[1].sum(dim=-1).max()) if rows[1].numel() else 0
        return TrainBatch(*[t if t is None or t.ndim == 1 else t[:, :width] for t in rows])

    def to(self, device: torch.device | str) -> TrainBatch:
        return TrainBatch(*[None if t is None else t.to(device) for t in self])


def pad_trajectories(
    trajectories: Sequence[TrajectoryLike], pad_id: int
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(input_ids, attention_mask, old_logp, action_mask, step_ids), each [B, T].

    Step ids are set to -1 wherever the action mask is 0 (e.g. a forced plan), so that
    step selectors only ever see tokens the policy sampled.
    """
    width = max((len(t.token_ids) for t in trajectories), default=0)
    shape = (len(trajectories), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention = torch.zeros(shape, dtype=torch.long)
    old_logp = torch.zeros(shape, dtype=torch.float32)
    action = torch.zeros(shape, dtype=torch.bool)
    steps = torch.full(shape, -1, dtype=torch.long)
    for i, t in enumerate(trajectories):
        n = len(t.token_ids)
        input_ids[i, :n] = torch.tensor(t.token_ids, dtype=torch.long)
        attention[i, :n] = 1
        action[i, :n] = torch.tensor(t.action_mask, dtype=torch.bool)
        steps[i, :n] = torch.tensor(t.step_ids, dtype=torch.long)
        logp = t.logprobs if t.logprobs is not None else [float("nan")] * n
        old_logp[i, :n] = torch.tensor(logp, dtype=torch.float32)
    steps = steps.masked_fill(~action, -1)  # [B, T]
    old_logp = old_logp.masked_fill(~action, 0.0)  # [B, T]
    return input_ids, attention, old_logp, action, steps


def collate(
    trajectories: Sequence[TrajectoryLike],
    advantages: Tensor,
    keep: Tensor,
    selector: StepSelector,
    pad_id: int,
) -> TrainBatch | None:
    """The batch of the kept trajectories whose selected steps hold at least one token.

    Args:
        trajectories: N trajectories.
        advantages: [N] one advantage per trajectory.
        keep: [N] bool, e.g. the reward was valid (NaN rewards are excluded upstream).
        selector: which steps the loss covers.
        pad_id: token id used for padding.

    Returns:
        The batch, or None when no sequence is left.
    """
    if len(trajectories) != advantages.shape[0] or keep.shape != advantages.shape:
        raise ValueError(
            f"Expected one advantage and keep flag per trajectory ({len(trajectories)}), got "
            f"{tuple(advantages.shape)} and {tuple(keep.shape)}."
        )
    if not trajectories:
        return None
    input_ids, attention, old_logp, action, steps = pad_trajectories(trajectories, pad_id)
    loss_mask = selector(steps)  # [N, T]
    rows = keep.bool() & sequence_has_tokens(loss_mask)  # [N]
    if not rows.any():
        return None
    full = TrainBatch(
        input_ids, attention, old_logp, action, steps, loss_mask, advantages.float(), None
    )
    return full.select(rows)


def plan_token_counts(batch_steps: Tensor) -> tuple[int, int]:
    """(plan tokens, other policy tokens) among ``step_ids [B, T]``."""
    plan = int((batch_steps == 0).sum())
    return plan, int((batch_steps > 0).sum())
