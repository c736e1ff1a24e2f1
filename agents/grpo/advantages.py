"""Group-normalized advantages for GRPO.

Every sampled completion i belongs to a group g(i) (the G samples drawn for one
question). Its advantage is its reward minus the mean reward of its group, divided
by a scale that depends on :class:`AdvantageScale`:

- ``GROUP``: the population std of its group (GRPO, DeepSeekMath).
- ``BATCH``: the population std of all valid rewards in the batch (group mean, batch
  std; more stable when groups are small).
- ``NONE``: no division at all (Dr. GRPO): only centering.

Std is the *population* std (``unbiased=False``): with G samples we describe those
G rewards, not estimate a wider population, and G=2 with the sample std would
inflate advantages by sqrt(2).

Two degenerate cases never produce NaN:

- A group whose valid rewards are all equal (including a group with one valid
  reward) carries no learning signal: its advantages are exactly 0. So does a group
  whose *spread* (max - min of its valid rewards) is below ``min_spread``: dividing a
  spread of 0.0005 (a judge's noise) by its own std would turn it into advantages of
  +-1, as large as those of a group whose rewards really differ.
- A reward that is NaN or infinite (e.g. a judge whose answer could not be parsed)
  is *excluded*: it does not enter any mean or std and its advantage is 0. The
  result reports which rewards were used so the trainer can drop those sequences
  and log how many were excluded.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

import torch
from torch import Tensor


class AdvantageScale(str, Enum):
    """What the centered reward is divided by."""

    GROUP = "group"
    """Std of the group (GRPO)."""
    BATCH = "batch"
    """Std of the whole batch of valid rewards."""
    NONE = "none"
    """No scaling, only centering (Dr. GRPO)."""


class Advantages(NamedTuple):
    """Advantages plus the bookkeeping a trainer logs."""

    values: Tensor
    """[N] float: advantage per sample; 0 for excluded samples and flat groups."""
    valid: Tensor
    """[N] bool: the reward was finite and entered the group statistics."""
    zero_variance_groups: int
    """Flat groups: valid rewards all equal, spread below the floor, or no valid reward."""
    num_groups: int
    """Number of distinct group ids."""
    low_spread_groups: int = 0
    """Of the flat groups, those whose rewards differ but by less than ``min_spread``."""

    @property
    def num_excluded(self) -> int:
        """Number of rewards left out because they were NaN or infinite."""
        return int((~self.valid).sum())

    @property
    def zero_variance_share(self) -> float:
        """Share of groups that give no learning signal, in [0, 1]."""
        return self.zero_variance_groups / self.num_groups if self.num_groups else 0.0


def valid_reward_mask(rewards: Tensor) -> Tensor:
    """[N] bool: True where the reward is a finite number (not NaN, not +-inf)."""
    return torch.isfinite(rewards)


def group_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    scale: AdvantageScale | str = AdvantageScale.GROUP,
    eps: float = 1e-6,
    min_spread: float = 0.0,
) -> Advantages:
    """Advantages normalized within groups, with NaN rewards excluded.

    Args:
        rewards: [N] rewards, float; NaN/inf marks a reward to exclude.
        group_ids: [N] integer group id of each sample (any integers, need not be
            contiguous).
        scale: how to scale the centered rewards, see :class:`AdvantageScale`.
        eps: added to the std before dividing.
        min_spread: a group whose spread ``max - min`` of valid rewards is below this
            counts as flat (advantages 0); 0 keeps only exactly equal rewards flat.

    Returns:
        :class:`Advantages` with values [N] in the dtype of ``rewards`` (float32 if
        ``rewards`` is an integer tensor).
    """
    scale = AdvantageScale(scale)
    if rewards.ndim != 1 or group_ids.shape != rewards.shape:
        raise ValueError(
            f"Expected rewards [N] and group_ids [N], got {tuple(rewards.shape)} "
            f"and {tuple(group_ids.shape)}."
        )
    if not min_spread >= 0:
        raise ValueError(f"Expected min_spread >= 0, got {min_spread!r}.")
    if group_ids.dtype.is_floating_point or group_ids.dtype == torch.bool:
        raise TypeError(f"Expected an integer tensor of group ids, got {group_ids.dtype}.")
    if not rewards.dtype.is_floating_point:
        rewards = rewards.float()

    valid = valid_reward_mask(rewards)  # [N]
    r = torch.where(valid, rewards, torch.zeros_like(rewards))  # [N], 0 where excluded
    uniq, inv = torch.unique(group_ids, return_inverse=True)  # [G], [N]
    num_groups = uniq.numel()

    count = torch.zeros(num_groups, dtype=r.dtype, device=r.device)
    count.index_add_(0, inv, valid.to(r.dtype))  # [G]
    total = torch.zeros_like(count).index_add_(0, inv, r)  # [G]
    mean = total / count.clamp(min=1)  # [G]
    centered = torch.where(valid, r - mean[inv], torch.zeros_like(r))  # [N]

    # A group is flat when max == min over its valid rewards: an exact test, unlike
    # std == 0, which rounding in the mean can miss.
    big = torch.finfo(r.dtype).max
    gmax = torch.full_like(count, -big).scatter_reduce(
        0, inv, torch.where(valid, r, torch.full_like(r, -big)), reduce="amax"
    )  # [G]
    gmin = torch.full_like(count, big).scatter_reduce(
        0, inv, torch.where(valid, r, torch.full_like(r, big)), reduce="amin"
    )  # [G]
    equal = (gmax <= gmin) | (count == 0)  # [G]
    low = ~equal & (gmax - gmin < min_spread)  # [G], differ, but by less than the floor
    flat = equal | low  # [G]

    if scale is AdvantageScale.GROUP:
        sq = torch.zeros_like(count).index_add_(0, inv, centered**2)  # [G]
        std = (sq / count.clamp(min=1)).sqrt()  # [G], population std
        values = centered / (std[inv] + eps)
    elif scale is AdvantageScale.BATCH:
        std = r[valid].std(unbiased=False) if valid.any() else r.new_zeros(())
        values = centered / (std + eps)
    else:
        values = centered

    values = torch.where(valid & ~flat[inv], values, torch.zeros_like(values))  # [N]
    return Advantages(values, valid, int(flat.sum()), num_groups, int(low.sum()))
