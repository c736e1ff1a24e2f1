"""Token-level GRPO math: advantages, step masks, surrogate loss, KL.

Pure functions of tensors; the trainer composes them.
"""

from agents.grpo.advantages import (
    Advantages,
    AdvantageScale,
    group_advantages,
    valid_reward_mask,
)
from agents.grpo.kl import KLConfig, KLEstimator, kl_k1, kl_k3, per_token_kl
from agents.grpo.loss import (
    Aggregation,
    Normalization,
    aggregate,
    approx_kl,
    clip_fraction,
    clipped_surrogate,
    entropy_from_logits,
    masked_mean,
)
from agents.grpo.masks import (
    AllSteps,
    CallableSteps,
    ExplicitSteps,
    FirstStep,
    LastStep,
    RandomStep,
    StepSelector,
    policy_mask,
    sequence_has_tokens,
)

__all__ = [
    "AdvantageScale",
    "Advantages",
    "Aggregation",
    "AllSteps",
    "CallableSteps",
    "ExplicitSteps",
    "FirstStep",
    "KLConfig",
    "KLEstimator",
    "LastStep",
    "Normalization",
    "RandomStep",
    "StepSelector",
    "aggregate",
    "approx_kl",
    "clip_fraction",
    "clipped_surrogate",
    "entropy_from_logits",
    "group_advantages",
    "kl_k1",
    "kl_k3",
    "masked_mean",
    "per_token_kl",
    "policy_mask",
    "sequence_has_tokens",
    "valid_reward_mask",
]
