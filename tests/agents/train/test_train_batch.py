"""Collating trajectories: alignment, padding, forced plans, dropped rows."""

from __future__ import annotations

import math

import torch

from agents.grpo import AllSteps, FirstStep
from agents.train.batch import collate, pad_trajectories
from agents.trajectory import Trajectory


def traj(ids, mask, steps, logprobs=None, group=0):
    if logprobs is None:
        logprobs = [-0.5 * m for m in mask]
    return Trajectory("t", group, 0, tuple(ids), tuple(logprobs), tuple(mask), tuple(steps), 0.0)


def test_padding_alignment_and_forced_plan_tokens_are_not_policy_tokens():
    a = traj([5, 6, 7, 8], [0, 1, 1, 0], [-1, 0, 0, -1])
    forced = traj([5, 9, 9, 6, 7], [0, 0, 0, 1, 1], [-1, 0, 0, 1, 1])  # a forced plan: mask 0
    ids, attn, logp, action, steps = pad_trajectories([a, forced], pad_id=2)
    assert ids.tolist() == [[5, 6, 7, 8, 2], [5, 9, 9, 6, 7]]
    assert attn.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert steps.tolist() == [[-1, 0, 0, -1, -1], [-1, -1, -1, 1, 1]]
    assert logp.tolist() == [[0, -0.5, -0.5, 0, 0], [0, 0, 0, -0.5, -0.5]]
    assert action.dtype == torch.bool


def test_collate_keeps_rows_with_a_valid_reward_and_selected_tokens():
    a = traj([5, 6, 7], [0, 1, 1], [-1, 0, 0])
    b = traj([5, 6, 7, 8, 9, 10], [0, 1, 0, 1, 1, 0], [-1, 0, -1, 1, 1, -1])
    c = traj([5, 6], [0, 1], [-1, 0])
    forced = traj([5, 9, 6], [0, 0, 1], [-1, 0, 1])
    adv = torch.tensor([1.0, -1.0, 0.5, 2.0])
    keep = torch.tensor([True, True, False, True])
    batch = collate([a, b, c, forced], adv, keep, FirstStep(), pad_id=0)
    # c is dropped (keep False); forced has no plan of its own: no first step, dropped
    assert batch.advantages.tolist() == [1.0, -1.0]
    assert batch.loss_mask.tolist() == [
        [False, True, True, False, False, False],
        [False, True, False, False, False, False],
    ]
    with_turn_1 = collate([forced], adv[3:], keep[3:], AllSteps(), pad_id=0)
    assert with_turn_1.loss_mask.tolist() == [[False, False, True]]
    all_steps = collate([a, b], adv[:2], keep[:2], AllSteps(), pad_id=0)
    assert all_steps.loss_mask.sum().item() == 2 + 3


def test_collate_trims_columns_and_returns_none_when_nothing_is_left():
    short = traj([5, 6], [0, 1], [-1, 0])
    long = traj([5, 6, 7, 8, 9], [0, 1, 1, 1, 1], [-1, 0, 0, 0, 0])
    batch = collate([short, long], torch.ones(2), torch.tensor([True, False]), AllSteps(), 0)
    assert batch.input_ids.shape == (1, 2)
    none = collate([short], torch.ones(1), torch.tensor([False]), AllSteps(), 0)
    assert none is None
    assert collate([], torch.ones(0), torch.ones(0, dtype=torch.bool), AllSteps(), 0) is None


def test_unknown_logprobs_become_nan_on_policy_tokens_only():
    t = Trajectory("t", 0, 0, (5, 6, 7), None, (0, 1, 1), (-1, 0, 0), 1.0)
    _, _, logp, _, _ = pad_trajectories([t], pad_id=0)
    assert logp[0, 0] == 0 and all(math.isnan(x) for x in logp[0, 1:].tolist())
