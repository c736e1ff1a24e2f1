"""Measuring and bounding the memory of a training run.

The model's own activations dominate a step on long agent conversations (SmolLM2-135M:
30 layers, each keeping several [B, T, 576] and [B, T, 1536] tensors for the backward), so
:func:`checkpoint_activations` has each layer's activations recomputed in the backward
instead of kept. Logits are bounded in :mod:`agents.train.logprobs`.

Between steps, :func:`release_free_memory` hands the C allocator's free pages back to the
operating system: a step's tensors are freed, but glibc keeps the pages of freed blocks
below its (rising) mmap threshold, and with sequence lengths that change every step the
resident size grows far beyond one step's working set.

Within a forward and backward the same rise is worse: each freed activation of a few MB
lifts glibc's mmap threshold to its size, so later ones come from the heap, whose freed
pages stay resident. :func:`transient_activations` (around each micro-batch of the GRPO
update and of SFT) fixes the threshold low (``mallopt``) while the micro-batch runs, so
every activation gets its own mapping, returned when freed. Measured on SmolLM2 with LoRA
and checkpointing, a GRPO update of 4 x 2,000 tokens peaks at 1.43 GiB instead of 5.31
(``benchmarks/RESULTS.md``, "Heap growth inside a training step"). Decoding keeps a high
threshold: there a low one maps and unmaps the growing key/value states every token (an
evaluation took 1.2x as long with it, for 8% less memory). Fresh mappings cost time in
training too (a step about 1.35x on the CPU): ``TrainConfig.bounded_heap`` chooses.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import resource
from collections.abc import Iterator

from torch import nn


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


MMAP_THRESHOLD = 128 * 1024
"""Bytes from which glibc serves an allocation with its own mapping (its initial value)."""
MMAP_THRESHOLD_CEILING = 32 * 1024 * 1024
"""The highest threshold glibc's own adjustment reaches on 64-bit (``DEFAULT_MMAP_THRESHOLD_
MAX``): where a long run's threshold ends up; restored after a micro-batch."""
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def pin_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Have glibc give every allocation of at least ``threshold`` bytes its own mapping,
    handed back to the OS when freed, and stop it raising that threshold as blocks are freed
    (``mallopt(M_MMAP_THRESHOLD)``). Leaves the allocator as it is, and returns False, where
    the C library is not glibc or ``MALLOC_MMAP_THRESHOLD_`` is set (glibc applied that
    choice at start); True once pinned."""
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))


@contextlib.contextmanager
def transient_activations(bounded: bool = True) -> Iterator[bool]:
    """Run a forward and backward whose activations are all freed at the end. ``bounded``:
    allocations of :data:`MMAP_THRESHOLD` bytes or more get their own mappings inside the
    block (fresh pages cost time: about 1.35x for a step on the CPU), and after it the
    threshold goes to :data:`MMAP_THRESHOLD_CEILING`. Either way freed heap pages go back to
    the OS at the end (:func:`release_free_memory`). Yields whether the threshold was set
    (``bounded`` on glibc, without a ``MALLOC_MMAP_THRESHOLD_`` of the user's)."""
    pinned = pin_mmap_threshold(MMAP_THRESHOLD) if bounded else False
    try:
        yield pinned
    finally:
        if pinned:
            pin_mmap_threshold(MMAP_THRESHOLD_CEILING)
        release_free_memory()


def release_free_memory() -> bool:
    """Return freed heap memory to the OS (glibc ``malloc_trim(0)``); False where the C
    library has no such call (not glibc), True when memory was released."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def rss_gib() -> float | None:
    """This process's resident set size now, in GiB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize() / 2**30


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
