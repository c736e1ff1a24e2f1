"""Measuring and bounding the memory of a training run.

The model's own activations dominate a step on long agent conversations (SmolLM2-135M:
30 layers, each keeping several [B, T, 576] and [B, T, 1536] tensors for the backward), so
:func:`checkpoint_activations` has each layer's activations recomputed in the backward
instead of kept. Logits are bounded in :mod:`agents.train.logprobs`.
"""

from __future__ import annotations

import resource

from torch import nn


def peak_rss_gib() -> float:
    """This process's peak resident set size so far, in GiB (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def checkpoint_activations(model: nn.Module) -> bool:
    """Turn on gradient checkpointing of a Hugging Face model (also under PEFT); returns
    whether the model supports it. It acts in training mode only (not in generation)."""
    if not getattr(model, "supports_gradient_checkpointing", True):
        return False
    kwargs = {"use_reentrant": False}
    enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5.x
    if callable(enable):
        enable(activation_checkpointing_kwargs=kwargs)
        return True
    enable = getattr(model, "gradient_checkpointing_enable", None)
    if callable(enable):
        enable(gradient_checkpointing_kwargs=kwargs)
        return True
    return False
