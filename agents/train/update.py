"""One GRPO update: several optimizer steps over one batch of rollouts.

The rollout batch is shuffled and split into ``optimizer_steps`` mini-batches; each
mini-batch is processed in micro-batches whose gradients accumulate, then clipped, and
one optimizer step is taken. Old log-probs stay fixed for the whole update, so from the
second mini-batch on the ratio moves away from 1 and clipping starts to matter.

The loss of a micro-batch is the mini-batch loss restricted to its rows: the aggregate
over the micro-batch is scaled by (its share of the mini-batch's denominator) x (number of
processes), so that accumulating micro-batches and averaging gradients across processes
gives exactly the aggregate over the whole mini-batch on all processes together.

The mini-batch's denominator is what it kept (sequences or tokens) with
``Normalization.KEPT``. With ``Normalization.SAMPLED`` (the paper's 1/G) the shuffle splits
every *sampled* sequence, the dropped ones (zero advantage, excluded reward, nothing
selected) included, and the sequence-level aggregations divide by the mini-batch's number
of sampled sequences (over all processes); the dropped ones add zero and cost no forward. A mini-batch with no selected token on any
process takes no optimizer step: Adam would otherwise move the weights on a zero gradient.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from agents.grpo import (
    Aggregation,
    KLConfig,
    Normalization,
    aggregate,
    approx_kl,
    clip_fraction,
    clipped_surrogate,
    per_token_kl,
    sequence_has_tokens,
)
from agents.train.batch import TrainBatch
from agents.train.logprobs import CHUNK_SIZE, by_length, masked_entropy, token_logprobs
from agents.train.memory import transient_activations


@dataclass(frozen=True)
class UpdateSettings:
    """How one rollout batch is turned into optimizer steps."""

    eps_low: float = 0.2
    eps_high: float = 0.28
    kl: KLConfig = KLConfig()
    aggregation: Aggregation = Aggregation.SEQ_MEAN_TOKEN_MEAN
    fixed_length: int | None = None
    """Denominator of seq-mean-token-sum-norm."""
    normalization: Normalization = Normalization.SAMPLED
    """Sequence-level modes: divide by every sampled sequence (paper) or the kept ones."""
    optimizer_steps: int = 1
    micro_batch_size: int = 4
    max_grad_norm: float = 1.0
    """0 disables clipping (the norm is still measured)."""
    temperature: float = 1.0
    chunk_size: int = CHUNK_SIZE
    bounded_heap: bool = True
    """Run each micro-batch under :func:`~agents.train.memory.transient_activations`."""


class UpdateStats(NamedTuple):
    """Means over the update's micro-batches (per process; the trainer gathers them)."""

    loss: float
    clip_fraction: float
    approx_kl: float
    """k3 estimate of KL(old || new) on the selected tokens."""
    entropy: float
    grad_norm: float
    """Mean over optimizer steps of the gradient norm before clipping."""
    ref_kl: float
    """Mean per-token KL to the reference policy (0 when KL is off)."""
    optimizer_steps: int
    """Optimizer steps taken (mini-batches with nothing selected take none)."""


class LossParts(NamedTuple):
    """The per-token loss and what is logged about it."""

    per_token: Tensor
    """[b, T] per-token loss (surrogate + beta * KL)."""
    ref_kl: Tensor
    """[b, T] per-token KL to the reference (zeros when KL is off)."""


def policy_loss(logp: Tensor, batch: TrainBatch, settings: UpdateSettings) -> LossParts:
    """Per-token clipped surrogate (plus the KL penalty) of ``batch``'s sequences."""
    surrogate = clipped_surrogate(
        logp, batch.old_logp, batch.advantages, settings.eps_low, settings.eps_high
    )  # [b, T]
    if not settings.kl.enabled or batch.ref_logp is None:
        return LossParts(surrogate, torch.zeros_like(surrogate))
    kl = per_token_kl(logp, batch.ref_logp, settings.kl.estimator)  # [b, T]
    return LossParts(surrogate + settings.kl.beta * kl, kl)


def denominator(mask: Tensor, mode: Aggregation) -> Tensor:
    """What ``aggregate`` divides by: selected tokens (token-mean) or sequences."""
    if Aggregation(mode) is Aggregation.TOKEN_MEAN:
        return mask.sum().float()
    return sequence_has_tokens(mask).sum().float()


def uses_sampled(settings: UpdateSettings) -> bool:
    """Whether mini-batches divide by their share of the sampled sequences."""
    return (
        Normalization(settings.normalization) is Normalization.SAMPLED
        and Aggregation(settings.aggregation) is not Aggregation.TOKEN_MEAN
    )


def minibatch_indices(num: int, parts: int, generator: torch.Generator) -> list[Tensor]:
    """A shuffled split of ``range(num)`` into ``parts`` pieces (some may be empty)."""
    order = torch.randperm(num, generator=generator)
    return list(torch.tensor_split(order, parts))


@dataclass(frozen=True)
class Collectives:
    """How an update talks to the other processes; the defaults are for one process.

    The trainer builds one from an ``accelerate.Accelerator`` (see
    :func:`agents.train.run.collectives_for`).
    """

    backward: Callable[[Tensor], None] = lambda loss: loss.backward()
    """``accelerator.backward`` (loss scaling, DeepSpeed...)."""
    all_sum: Callable[[Tensor], Tensor] = lambda t: t
    """Sum a tensor over processes."""
    all_max: Callable[[Tensor], Tensor] = lambda t: t
    """Maximum of a tensor over processes."""
    no_sync: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext
    """Context that skips the gradient all-reduce of a backward (DDP ``no_sync``)."""
    world_size: int = 1


ENTROPY_ROWS = 64
"""Entropy is logged from at most this many selected positions per micro-batch."""


def _micro_step(
    model: nn.Module, micro: TrainBatch, settings: UpdateSettings, weight: float, entropy: bool
) -> tuple[Tensor, dict[str, float]]:
    """Forward one micro-batch; return its weighted loss (to backward) and its stats."""
    mask = micro.loss_mask
    selected = token_logprobs(
        model,
        micro.input_ids,
        micro.attention_mask,
        mask,
        settings.temperature,
        settings.chunk_size,
    )  # logits only where a selected token is predicted, row by row
    logp = selected.logp  # [b, T]
    parts = policy_loss(logp, micro, settings)
    loss = aggregate(parts.per_token, mask, settings.aggregation, settings.fixed_length)
    eps = (settings.eps_low, settings.eps_high)
    stats = {
        "loss": float(loss.detach()),
        "clip_fraction": float(clip_fraction(logp, micro.old_logp, micro.advantages, mask, *eps)),
        "approx_kl": float(approx_kl(logp, micro.old_logp, mask)),
        "ref_kl": float(parts.ref_kl.detach()[mask].mean()) if settings.kl.enabled else 0.0,
    }
    if entropy:  # full-vocabulary softmaxes: only where asked, on a bounded sample of rows
        stats["entropy"] = float(masked_entropy(selected, settings.temperature, ENTROPY_ROWS))
    return loss * weight, stats


def micro_batches(batch: TrainBatch, rows: Tensor, size: int) -> list[TrainBatch]:
    """``batch``'s rows ``rows`` in pieces of at most ``size`` sequences, packed by length
    (longest first), each trimmed to its longest row."""
    groups = by_length(batch.attention_mask[rows], size)
    return [batch.select(rows[group]) for group in groups if group.numel()]


def filler_batch(pad_id: int = 0) -> TrainBatch:
    """A one-sequence batch with an empty loss mask: its loss is a zero connected to the
    graph, so a process with nothing left to train still joins the gradient all-reduce."""
    ids = torch.full((1, 2), pad_id, dtype=torch.long)
    zeros = torch.zeros((1, 2))
    no = torch.zeros((1, 2), dtype=torch.bool)
    steps = torch.full((1, 2), -1, dtype=torch.long)
    return TrainBatch(ids, torch.ones_like(ids), zeros, no, steps, no, torch.zeros(1), None)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def grpo_update(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    batch: TrainBatch,
    settings: UpdateSettings,
    generator: torch.Generator,
    comm: Collectives | None = None,
    sampled: int | None = None,
) -> UpdateStats:
    """Take up to ``settings.optimizer_steps`` optimizer steps on ``batch``.

    ``sampled`` is the number of sequences this process sampled for the batch, dropped
    ones included (default: the batch's own rows); see :class:`Normalization`.

    Every process must call this with the same settings; a process may hold fewer
    micro-batches than another (even none, with an empty batch): it then runs zero-weight
    filler micro-batches so that all processes join the same gradient all-reduces.
    """
    comm = comm or Collectives()
    sampled = batch.num_sequences if sampled is None else sampled
    if sampled < batch.num_sequences:
        raise ValueError(
            f"Expected sampled >= the batch's {batch.num_sequences} sequences, got {sampled}."
        )
    paper = uses_sampled(settings)
    sums: dict[str, list[float]] = {}
    norms = []
    # Under SAMPLED the shuffle splits every sampled sequence; slots past the batch's rows
    # stand for the dropped ones, which count in their mini-batch's size and add zero.
    slots = sampled if paper else batch.num_sequences
    parts = minibatch_indices(slots, settings.optimizer_steps, generator)
    for index, part in enumerate(parts):
        rows = part[part < batch.num_sequences]
        micros = micro_batches(batch, rows, settings.micro_batch_size)
        size = float(part.numel()) if paper else None
        done = _accumulate(model, micros, settings, comm, entropy=index == 0, sampled=size)
        if done is None:
            continue  # nothing selected on any process: no step on a zero gradient
        for stats in done:
            for key, value in stats.items():
                entry = sums.setdefault(key, [0.0, 0.0])
                entry[0], entry[1] = entry[0] + value, entry[1] + 1
        norms.append(float(clip_gradients(model, settings.max_grad_norm)))
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    mean = {k: total / n for k, (total, n) in sums.items()}
    return UpdateStats(
        loss=mean.get("loss", 0.0),
        clip_fraction=mean.get("clip_fraction", 0.0),
        approx_kl=mean.get("approx_kl", 0.0),
        entropy=mean.get("entropy", 0.0),
        grad_norm=sum(norms) / len(norms) if norms else 0.0,
        ref_kl=mean.get("ref_kl", 0.0),
        optimizer_steps=len(norms),
    )


def _accumulate(
    model: nn.Module,
    micros: list[TrainBatch],
    settings: UpdateSettings,
    comm: Collectives,
    entropy: bool,
    sampled: float | None = None,
) -> list[dict[str, float]] | None:
    """Backward every micro-batch of one mini-batch (gradients accumulate); the stats of
    those that hold selected tokens, or None (no backward) when no process selected any.
    Pads with filler micro-batches to the largest count of any process, and lets the
    gradient all-reduce run on the last backward only. ``sampled``: this process's sampled
    sequences in the mini-batch, the denominator under ``Normalization.SAMPLED``."""
    device = _device(model)
    local = sum((denominator(m.loss_mask, settings.aggregation) for m in micros), torch.zeros(()))
    counts = torch.stack([local, torch.tensor(float(sampled or 0.0))]).to(device)
    kept, shared = comm.all_sum(counts).tolist()  # over processes
    if kept == 0:
        return None
    total = shared if sampled is not None else kept
    steps = int(comm.all_max(torch.tensor([len(micros)], device=device)).item())
    out = []
    for i in range(max(steps, 1)):
        real = i < len(micros)
        micro = micros[i] if real else filler_batch()
        share = float(denominator(micro.loss_mask, settings.aggregation))
        weight = share * comm.world_size / total if total > 0 else 0.0
        sync = comm.no_sync if i < steps - 1 else contextlib.nullcontext
        with sync(), transient_activations(settings.bounded_heap):  # activations leave with it
            loss, stats = _micro_step(model, micro.to(device), settings, weight, entropy)
            comm.backward(loss)
        if real and share > 0:
            out.append(stats)
    return out


def clip_gradients(model: nn.Module, max_norm: float) -> Tensor:
    """Clip the gradient norm to ``max_norm`` (0: measure only); returns the norm before.

    After the all-reduce every process holds the same gradients, so local clipping gives
    the same result everywhere (for sharded models use ``accelerator.clip_grad_norm_``).
    """
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return torch.zeros(())
    return torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
