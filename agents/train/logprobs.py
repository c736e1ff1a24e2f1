"""Per-token log-probabilities of sequences under a causal LM, computed in chunks.

``logp[:, t]`` is the log-probability of ``input_ids[:, t]`` given the tokens before it,
read from the logits at position t - 1 (column 0 has no prediction and gets 0), so the
result lines up with the token-aligned masks of :class:`agents.train.batch.TrainBatch`.

Two savings matter on long agent conversations, where the system prompt and the tool
responses dwarf the tokens the policy wrote:

* :func:`token_logprobs` asks the model for logits only at the positions that predict a
  masked token (``logits_to_keep`` with an index tensor, as Hugging Face causal LMs
  accept); every other entry of the result is a constant 0 with no gradient.
* The log-softmax is taken as ``logit[token] - logsumexp(logits)`` over chunks of
  positions: no float32 copy of the whole ``[B, K, V]`` log-softmax is made.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from agents.grpo import entropy_from_logits


def forward_logits(
    model: nn.Module, input_ids: Tensor, attention_mask: Tensor, keep: Tensor | None = None
) -> Tensor:
    """[B, T, V] logits of ``model`` (a Hugging Face causal LM, possibly wrapped), or
    [B, K, V] at the positions ``keep [K]`` only."""
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "use_cache": False}
    if keep is None:
        return model(**kwargs).logits
    return model(**kwargs, logits_to_keep=keep).logits


def predicting_positions(mask: Tensor) -> Tensor:
    """[K] long: positions p whose logits predict a token in ``mask [B, T]`` (at p + 1)."""
    return mask[:, 1:].any(dim=0).nonzero().squeeze(-1)


def gather_logprobs(
    logits: Tensor,
    input_ids: Tensor,
    temperature: float = 1.0,
    chunk_size: int = 1024,
    positions: Tensor | None = None,
) -> Tensor:
    """[B, T] float32: log p(input_ids[t] | input_ids[<t]) at temperature ``temperature``.

    Args:
        logits: [B, T, V] logits at every position, or [B, K, V] at ``positions``.
        input_ids: [B, T] token ids.
        temperature: divide logits by this first (the sampler's temperature; 0 means 1).
        chunk_size: positions per log-softmax chunk.
        positions: [K] the positions ``logits`` were taken at (None: all of them); the
            tokens they predict get log-probs, every other column 0.
    """
    batch, width = input_ids.shape
    if positions is None:
        positions = torch.arange(width - 1, device=input_ids.device)
        logits = logits[:, : width - 1]
    scale = 1.0 / temperature if temperature > 0 else 1.0
    pieces = []
    for start in range(0, positions.numel(), chunk_size):
        chunk = logits[:, start : start + chunk_size].float()  # [B, c, V]
        if scale != 1.0:
            chunk = chunk * scale
        target = input_ids[:, positions[start : start + chunk_size] + 1].unsqueeze(-1)  # [B, c, 1]
        picked = chunk.gather(-1, target).squeeze(-1)  # [B, c]
        pieces.append(picked - torch.logsumexp(chunk, dim=-1))  # [B, c]
    out = torch.zeros(batch, width, dtype=torch.float32, device=input_ids.device)
    if not pieces:
        return out + logits.sum() * 0.0  # still connected to the graph
    return out.index_copy(1, positions + 1, torch.cat(pieces, dim=1))  # [B, T]


def token_logprobs(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    mask: Tensor,
    temperature: float = 1.0,
    chunk_size: int = 1024,
) -> tuple[Tensor, Tensor, Tensor]:
    """(logp [B, T], kept logits [B, K, V], positions [K]): log-probs of the tokens in
    ``mask`` (0 elsewhere), computing logits only where they are needed."""
    positions = predicting_positions(mask)  # [K]
    logits = forward_logits(model, input_ids, attention_mask, positions)  # [B, K, V]
    logp = gather_logprobs(logits, input_ids, temperature, chunk_size, positions)
    return logp, logits, positions


@torch.no_grad()
def masked_entropy(
    logits: Tensor,
    mask: Tensor,
    temperature: float = 1.0,
    positions: Tensor | None = None,
    max_rows: int | None = None,
) -> Tensor:
    """Mean entropy (nats) of the next-token distributions that produced the tokens in
    ``mask [B, T]``; 0 when the mask is empty. Only the selected rows are softmaxed, at
    most ``max_rows`` of them (evenly spaced) when given: an estimate for logging.

    ``logits`` is [B, T, V], or [B, K, V] taken at ``positions [K]``.
    """
    if positions is None:
        positions = torch.arange(mask.shape[1] - 1, device=mask.device)
        logits = logits[:, : mask.shape[1] - 1]
    rows = logits[mask[:, positions + 1]]  # [N, V]
    if max_rows is not None and rows.shape[0] > max_rows:
        rows = rows[:: -(-rows.shape[0] // max_rows)]  # [<= max_rows, V]
    if rows.numel() == 0:
        return logits.new_zeros((), dtype=torch.float32)
    if temperature > 0 and temperature != 1.0:
        rows = rows / temperature
    return entropy_from_logits(rows).mean()


@torch.no_grad()
def sequence_logprobs(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    temperature: float = 1.0,
    chunk_size: int = 1024,
    micro_batch_size: int = 4,
    mask: Tensor | None = None,
) -> Tensor:
    """[B, T] log-probs without gradients, in micro-batches (old log-probs to recompute,
    reference log-probs for the KL term): of every token, or of those in ``mask``."""
    out = []
    for start in range(0, input_ids.shape[0], micro_batch_size):
        rows = slice(start, start + micro_batch_size)
        ids, attention = input_ids[rows], attention_mask[rows]
        if mask is None:
            logits = forward_logits(model, ids, attention)
            out.append(gather_logprobs(logits, ids, temperature, chunk_size))
        else:
            out.append(
                token_logprobs(model, ids, attention, mask[rows], temperature, chunk_size)[0]
            )
    if not out:
        return torch.zeros(input_ids.shape, dtype=torch.float32, device=input_ids.device)
    return torch.cat(out)
