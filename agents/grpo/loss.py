"""Token-level clipped surrogate loss and its aggregation.

The per-token GRPO loss is PPO's clipped surrogate with asymmetric clip range
(DAPO's "clip-higher")::

    rho  = exp(logp - old_logp)
    loss = -min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A)

How the per-token losses become one scalar matters (it decides how much a long
sequence weighs against a short one), so it is an explicit choice,
:class:`Aggregation`. In every mode a masked-out token never counts in a
denominator. Which sequences the sequence-level modes divide by is a second choice,
:class:`Normalization`: the paper's (1/G) sum over every sampled sequence, in which a
sequence with zero advantage or no selected token contributes zero but still counts,
or a mean over the sequences that have selected tokens.
"""

from __future__ import annotations

from enum import Enum

import torch
from torch import Tensor


class Aggregation(str, Enum):
    """How per-token losses ``[B, T]`` are reduced to a scalar."""

    TOKEN_MEAN = "token-mean"
    """Sum over all selected tokens / number of selected tokens (DAPO)."""
    SEQ_MEAN_TOKEN_MEAN = "seq-mean-token-mean"
    """Mean over sequences of each sequence's token mean: the 1/|p_i| form of GRPO
    and of the Anchor-GRPO paper."""
    SEQ_MEAN_TOKEN_SUM_NORM = "seq-mean-token-sum-norm"
    """Mean over sequences of (token sum / a fixed length) (Dr. GRPO)."""


class Normalization(str, Enum):
    """What the sequence-level aggregations divide the sum of sequence losses by."""

    SAMPLED = "sampled"
    """Every sampled sequence, dropped ones included (the paper's 1/G): the gradient scale
    does not depend on how many sequences of a batch carry no signal."""
    KEPT = "kept"
    """Only the sequences that were kept and have selected tokens."""


def clipped_surrogate(
    logp: Tensor, old_logp: Tensor, adv: Tensor, eps_low: float, eps_high: float
) -> Tensor:
    """Per-token clipped surrogate loss ``[B, T]`` (to be minimized).

    Args:
        logp: [B, T] log-probs of the sampled tokens under the current policy.
        old_logp: [B, T] log-probs under the sampling policy (no grad needed).
        adv: [B] one advantage per sequence, or [B, T] per token.
        eps_low, eps_high: clip range [1 - eps_low, 1 + eps_high] for the ratio.
    """
    if adv.ndim == 1:
        adv = adv.unsqueeze(-1)  # [B, 1]
    ratio = torch.exp(logp - old_logp)  # [B, T]
    unclipped = ratio * adv  # [B, T]
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv  # [B, T]
    return -torch.minimum(unclipped, clipped)  # [B, T]


def masked_mean(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Mean of ``x`` over entries where ``mask`` is True (along ``dim``, or all).

    Entries with no selected element give 0 (still connected to ``x``'s graph).
    Masked entries are replaced, not multiplied, so a NaN there does not leak in.
    """
    mask = mask.bool()
    filled = x.masked_fill(~mask, 0.0)
    count = mask.to(x.dtype)
    if dim is None:
        return filled.sum() / count.sum().clamp(min=1.0)
    return filled.sum(dim) / count.sum(dim).clamp(min=1.0)


def clip_fraction(
    logp: Tensor, old_logp: Tensor, adv: Tensor, mask: Tensor, eps_low: float, eps_high: float
) -> Tensor:
    """Share of selected tokens whose gradient the clip removed.

    The clip binds only on the side the advantage pushes towards: rho > 1 + eps_high
    with A > 0, rho < 1 - eps_low with A < 0. A ratio outside the range on the other
    side keeps its gradient (the unclipped term is the minimum), and A = 0 has none.

    Args:
        adv: [B] one advantage per sequence, or [B, T] per token.
    """
    if adv.ndim == 1:
        adv = adv.unsqueeze(-1)  # [B, 1]
    with torch.no_grad():
        ratio = torch.exp(logp - old_logp)  # [B, T]
        high = (ratio > 1.0 + eps_high) & (adv > 0)  # [B, T]
        low = (ratio < 1.0 - eps_low) & (adv < 0)  # [B, T]
        return masked_mean((high | low).to(logp.dtype), mask)


def aggregate(
    per_token: Tensor,
    mask: Tensor,
    mode: Aggregation | str = Aggregation.TOKEN_MEAN,
    fixed_length: int | None = None,
    num_sequences: int | None = None,
) -> Tensor:
    """Reduce per-token losses ``[B, T]`` over the selected tokens ``mask [B, T]``.

    The sequence-level modes divide the sum of sequence losses ``l_i`` by the number of
    sequences with at least one selected token, or, when ``num_sequences = G`` is given,
    by G (:attr:`Normalization.SAMPLED`, the paper's ``(1/G) sum_i l_i``, where the
    sequences not in ``per_token``, and those without a selected token, add 0).
    ``token-mean`` always divides by the selected tokens. ``fixed_length`` (required for
    ``seq-mean-token-sum-norm``) is the constant each sequence's token sum is divided by,
    usually the maximum generation length.

    If ``mask`` selects nothing, the result is a zero that is still connected to
    ``per_token``'s graph, so ``loss.backward()`` runs (giving zero gradients)
    instead of failing on a tensor without ``grad_fn``.
    """
    mode = Aggregation(mode)
    if per_token.shape != mask.shape:
        raise ValueError(
            f"Expected per_token and mask of the same shape, got {tuple(per_token.shape)} "
            f"and {tuple(mask.shape)}."
        )
    mask = mask.bool()
    if mode is Aggregation.TOKEN_MEAN:
        return masked_mean(per_token, mask)

    has_tokens = mask.any(dim=-1)  # [B]
    seq_sum = per_token.masked_fill(~mask, 0.0).sum(dim=-1)  # [B]
    if mode is Aggregation.SEQ_MEAN_TOKEN_MEAN:
        seq_loss = seq_sum / mask.sum(dim=-1).clamp(min=1)  # [B]
    else:
        if fixed_length is None or fixed_length <= 0:
            raise ValueError(
                f"Expected a positive fixed_length for {mode.value!r}, got {fixed_length!r}."
            )
        seq_loss = seq_sum / fixed_length  # [B]
    if num_sequences is None:
        return masked_mean(seq_loss, has_tokens)
    if num_sequences < int(has_tokens.sum()):
        raise ValueError(
            f"Expected num_sequences >= the {int(has_tokens.sum())} sequences with selected "
            f"tokens, got {num_sequences}."
        )
    return seq_loss.masked_fill(~has_tokens, 0.0).sum() / max(num_sequences, 1)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the softmax distribution at each position: ``[B, T, V] -> [B, T]``.

    Logits of -inf (tokens masked out of the vocabulary) contribute 0, not NaN.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, T, V]
    finite_logp = torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))  # [B, T, V]
    return -(logp.exp() * finite_logp).sum(dim=-1)  # [B, T]


def approx_kl(logp: Tensor, old_logp: Tensor, mask: Tensor) -> Tensor:
    """k3 estimate of KL(old || new) over selected tokens, as PPO logs it.

    With ``log_ratio = logp - old_logp`` on tokens sampled from the old policy,
    ``(exp(log_ratio) - 1) - log_ratio`` is an unbiased, always non-negative
    estimator of the KL divergence (Schulman, "Approximating KL divergence").
    """
    with torch.no_grad():
        log_ratio = logp - old_logp  # [B, T]
        k3 = torch.expm1(log_ratio) - log_ratio  # [B, T]
        return masked_mean(k3, mask)
