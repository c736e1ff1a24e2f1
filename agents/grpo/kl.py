"""Per-token KL penalty to a frozen reference policy.

Anchor-GRPO, like DAPO and Dr. GRPO, trains without a KL term: :class:`KLConfig`
defaults to ``beta = 0`` and a trainer should then skip the reference forward pass
altogether. When enabled, the trainer adds ``beta * per_token_kl(...)`` to the
per-token loss before aggregation.

Both estimators take tokens sampled from the current (or sampling) policy and
estimate KL(pi || pi_ref) (Schulman, "Approximating KL divergence"):

- k1 = logp - ref_logp: unbiased, high variance, can be negative per token.
- k3 = exp(ref_logp - logp) - (ref_logp - logp) - 1: unbiased, always >= 0, low
  variance (the GRPO paper's choice).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import Tensor


class KLEstimator(str, Enum):
    """Which per-token KL estimator to use."""

    K1 = "k1"
    K3 = "k3"


@dataclass(frozen=True)
class KLConfig:
    """KL penalty settings; off by default."""

    beta: float = 0.0
    """Weight of the KL term; 0 disables it (no reference model is needed)."""
    estimator: KLEstimator = KLEstimator.K3
    """Per-token estimator."""

    @property
    def enabled(self) -> bool:
        """Whether the trainer needs reference log-probs at all."""
        return self.beta != 0.0


def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """[B, T]: k1 = logp - ref_logp."""
    return logp - ref_logp


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """[B, T]: k3 = exp(ref_logp - logp) - (ref_logp - logp) - 1, always >= 0."""
    log_ratio = ref_logp - logp  # [B, T]
    return torch.expm1(log_ratio) - log_ratio


def per_token_kl(
    logp: Tensor, ref_logp: Tensor, estimator: KLEstimator | str = KLEstimator.K3
) -> Tensor:
    """[B, T]: the chosen per-token KL estimate of KL(pi || pi_ref)."""
    estimator = KLEstimator(estimator)
    return kl_k1(logp, ref_logp) if estimator is KLEstimator.K1 else kl_k3(logp, ref_logp)
