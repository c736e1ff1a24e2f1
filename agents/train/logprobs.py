"""Per-token log-probabilities of sequences under a causal LM, computed where they are needed.

``logp[:, t]`` is the log-probability of ``input_ids[:, t]`` given the tokens before it,
read from the logits at position t - 1 (column 0 has no prediction and gets 0), so the
result lines up with the token-aligned masks of :class:`agents.train.batch.TrainBatch`.

On agent conversations the policy wrote few of the tokens (a 1-hop gold trajectory is about
1,500 tokens, of which about 170 are trained), and a [B, T, V] block of logits over a 49k
vocabulary is what exhausts memory. So :func:`token_logprobs`:

* runs the model with its output layer (the LM head) bypassed, and keeps the final hidden
  states only at the positions that predict a token of the mask, row by row: [N, H] for the
  N selected tokens, not the union of every row's positions;
* projects those to the vocabulary ``chunk_size`` rows at a time as
  ``logit[token] - logsumexp(logits)``, each chunk under activation checkpointing when
  gradients are needed: at most one [chunk, V] block of logits is alive, in the forward
  and in the backward.

Models whose logits are not the head's output (soft-capped or scaled after it) take the
full-logits path, with the same chunked log-softmax.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from agents.grpo import entropy_from_logits

CHUNK_SIZE = 256
"""Selected tokens projected to the vocabulary at once: a [256, 49152] float32 block of
SmolLM2 logits is 50 MB."""

LOGIT_POSTPROCESSING = ("final_logit_softcapping", "logit_scale")
"""Config fields of models whose logits are changed after the head (Gemma 2, Cohere)."""


class TokenLogprobs(NamedTuple):
    """What :func:`token_logprobs` computed for one batch."""

    logp: Tensor
    """[B, T] float32 log-probs of the tokens in the mask, 0 elsewhere."""
    states: Tensor
    """[N, H] final hidden states (or [N, V] logits) predicting the N selected tokens, in
    row-major order of the mask."""
    head: nn.Module
    """Maps ``states`` to logits (the LM head, or the identity)."""


def forward_logits(model: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """[B, T, V] logits of ``model`` (a Hugging Face causal LM, possibly wrapped).

    A right-padded batch (each row's tokens, then padding) is run without its mask: under
    causal attention no token sees the padding after it, so every real position gets the
    same logits, and the attention runs as a fused causal kernel instead of materializing
    [B, heads, T, T] scores (on a CPU, 5.4 -> 4.2 GiB peak for a 4 x 2,500 LoRA step).
    Logits at padded positions are then meaningless; callers only read real positions.
    """
    mask: Tensor | None = attention_mask
    if right_padded(attention_mask):
        mask = None
    kwargs = {"input_ids": input_ids, "attention_mask": mask, "use_cache": False}
    return model(**kwargs).logits


def right_padded(attention_mask: Tensor) -> bool:
    """Whether every row of a 0/1 mask [B, T] is ones followed by zeros (or all ones)."""
    if attention_mask.shape[-1] < 2:
        return True
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def output_head(model: nn.Module) -> nn.Module | None:
    """The LM head of a Hugging Face causal LM, also through DDP and PEFT wrappers; None when
    there is none or the model changes its output afterwards."""
    inner = model
    while isinstance(getattr(inner, "module", None), nn.Module):  # DDP, accelerate
        inner = inner.module
    config = getattr(inner, "config", None)
    if any(getattr(config, key, None) for key in LOGIT_POSTPROCESSING):
        return None
    getter = getattr(inner, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    return head if isinstance(head, nn.Module) else None


def _identity(states: Tensor) -> Tensor:
    return states


@contextlib.contextmanager
def head_bypassed(head: nn.Module) -> Iterator[None]:
    """Within the block, ``head`` returns its input: the model outputs final hidden states."""
    own = head.__dict__.get("forward")  # a forward patched on the instance, if any
    head.forward = _identity
    try:
        yield
    finally:
        if own is None:
            del head.forward
        else:
            head.forward = own


def _chunk_logprobs(head: nn.Module, states: Tensor, targets: Tensor, scale: float) -> Tensor:
    logits = head(states).float()  # [c, V]
    if scale != 1.0:
        logits = logits * scale
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [c]
    return picked - torch.logsumexp(logits, dim=-1)  # [c]


def project_logprobs(
    head: nn.Module,
    states: Tensor,
    targets: Tensor,
    temperature: float = 1.0,
    chunk_size: int = CHUNK_SIZE,
) -> Tensor:
    """[N] float32 log p(targets[i] | states[i]) with logits ``head(states) / temperature``
    (0 means 1), ``chunk_size`` rows at a time; with gradients, each chunk's logits are
    recomputed in the backward instead of kept."""
    scale = 1.0 / temperature if temperature > 0 else 1.0
    if states.shape[0] == 0:  # nothing selected: a zero still connected to the graph
        return states.new_zeros(0, dtype=torch.float32) + head(states).sum() * 0.0
    keep_graph = torch.is_grad_enabled() and states.requires_grad
    pieces = []
    for start in range(0, states.shape[0], chunk_size):
        args = (head, states[start : start + chunk_size], targets[start : start + chunk_size])
        if keep_graph:
            pieces.append(checkpoint(_chunk_logprobs, *args, scale, use_reentrant=False))
        else:
            pieces.append(_chunk_logprobs(*args, scale))
    return torch.cat(pieces)  # [N]


def gather_logprobs(
    logits: Tensor, input_ids: Tensor, temperature: float = 1.0, chunk_size: int = CHUNK_SIZE
) -> Tensor:
    """[B, T] float32 log p(input_ids[t] | input_ids[<t]) from [B, T, V] ``logits`` at every
    position, at temperature ``temperature``, ``chunk_size`` positions at a time."""
    batch, width = input_ids.shape
    targets = torch.cat([input_ids[:, 1:], input_ids[:, :1]], dim=1)  # [B, T]; last: unused
    flat = project_logprobs(
        nn.Identity(), logits.flatten(0, 1), targets.flatten(), temperature, chunk_size
    ).view(batch, width)  # [B, T]: column t predicts t + 1
    out = torch.zeros(batch, width, dtype=torch.float32, device=input_ids.device)
    out[:, 1:] = flat[:, :-1]
    return out


def token_logprobs(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    mask: Tensor,
    temperature: float = 1.0,
    chunk_size: int = CHUNK_SIZE,
) -> TokenLogprobs:
    """Log-probs of the tokens in ``mask [B, T]`` (0 elsewhere), projecting to the vocabulary
    only the hidden states that predict them."""
    rows, cols = mask[:, 1:].nonzero(as_tuple=True)  # [N], [N]: column p predicts p + 1
    head = output_head(model)
    if head is None:
        states = forward_logits(model, input_ids, attention_mask)[rows, cols]  # [N, V]
        head = nn.Identity()
    else:
        with head_bypassed(head):
            hidden = forward_logits(model, input_ids, attention_mask)  # [B, T, H]
        states = hidden[rows, cols]  # [N, H]
    picked = project_logprobs(head, states, input_ids[rows, cols + 1], temperature, chunk_size)
    logp = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    return TokenLogprobs(logp.index_put((rows, cols + 1), picked), states, head)  # [B, T]


@torch.no_grad()
def masked_entropy(
    selected: TokenLogprobs, temperature: float = 1.0, max_rows: int | None = None
) -> Tensor:
    """Mean entropy (nats) of the next-token distributions that produced the selected
    tokens; 0 when there are none. At most ``max_rows`` of them (evenly spaced) are
    projected and softmaxed when given: an estimate for logging."""
    states = selected.states.detach()  # [N, H]
    if max_rows is not None and states.shape[0] > max_rows:
        states = states[:: -(-states.shape[0] // max_rows)]  # [<= max_rows, H]
    if states.shape[0] == 0:
        return torch.zeros((), dtype=torch.float32, device=states.device)
    logits = selected.head(states).float()  # [n, V]
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    return entropy_from_logits(logits).mean()


def by_length(attention_mask: Tensor, size: int) -> list[Tensor]:
    """Row indices in groups of at most ``size``, longest sequences first, so that each group
    pads to lengths close to its own (micro-batches packed by length)."""
    order = torch.argsort(attention_mask.sum(dim=-1), descending=True, stable=True)
    return list(torch.split(order, size))


@torch.no_grad()
def sequence_logprobs(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    temperature: float = 1.0,
    chunk_size: int = CHUNK_SIZE,
    micro_batch_size: int = 4,
    mask: Tensor | None = None,
) -> Tensor:
    """[B, T] log-probs without gradients (old log-probs to recompute, reference log-probs
    for the KL term): of every token, or of those in ``mask``. Right-padded rows go through
    in micro-batches packed by length, each trimmed to its longest row."""
    out = torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    for rows in by_length(attention_mask, micro_batch_size):
        if rows.numel() == 0:
            continue
        width = int(attention_mask[rows].sum(dim=-1).max())
        ids, attention = input_ids[rows, :width], attention_mask[rows, :width]
        if mask is None:
            logits = forward_logits(model, ids, attention)  # [b, w, V]
            logp = gather_logprobs(logits, ids, temperature, chunk_size)
        else:
            logp = token_logprobs(
                model, ids, attention, mask[rows, :width], temperature, chunk_size
            ).logp
        out[rows, :width] = logp
    return out
