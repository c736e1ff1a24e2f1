"""Key/value caches kept across the turns of an episode, so a turn prefills only its new tokens.

A turn's prompt is the previous turn's prompt, the tokens sampled in it, the tool response
and the next assistant header: everything but the last part was already run through the
model. :class:`PrefixStore` keeps the key/value states of sequences the model has run
(per layer ``[1, heads, length, head_dim]``) and finds, for a new prompt, the stored
sequence sharing its longest prefix; :class:`agents.hf_policy.HFPolicy` then prefills only
the rest. Within one batch the same store serves the rows of a group: the first row's
prompt is prefilled in full, the others find it and prefill one token.

:class:`GrowingLayer` is a transformers cache layer that writes new states into a buffer
with room to spare instead of concatenating the whole cache at every decoded token.

States computed by other weights are wrong states: the store remembers a fingerprint of
the model's parameters (their identities and in-place version counters, which an
optimizer step bumps) and forgets everything when it changes.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers.cache_utils import DynamicCache, DynamicLayer

LayerStates = tuple[Tensor, Tensor]
"""One layer's (keys, values), each [batch, kv_heads, length, head_dim]."""

States = tuple[LayerStates, ...]
"""Every layer's states of one or more sequences."""


class GrowingLayer(DynamicLayer):
    """A cache layer over a preallocated buffer: an update writes into the spare room (and
    doubles the buffer when it runs out) instead of ``torch.cat`` of the whole cache.

    ``keys`` and ``values`` are views of the filled part, so everything that reads a
    :class:`~transformers.cache_utils.DynamicLayer` reads this one the same way.
    """

    _key_buffer: Tensor
    _value_buffer: Tensor

    @classmethod
    def holding(cls, keys: Tensor, values: Tensor, capacity: int) -> GrowingLayer:
        """A layer holding copies of ``keys``/``values`` in buffers of ``capacity`` positions."""
        layer = cls()
        layer.lazy_initialization(keys, values)
        layer._allocate(keys, values, max(capacity, keys.shape[-2]))
        return layer

    @classmethod
    def over(cls, key_buffer: Tensor, value_buffer: Tensor, length: int) -> GrowingLayer:
        """A layer whose first ``length`` positions of the given buffers are filled."""
        layer = cls()
        layer.lazy_initialization(key_buffer, value_buffer)
        layer._key_buffer, layer._value_buffer = key_buffer, value_buffer
        layer.keys, layer.values = key_buffer[..., :length, :], value_buffer[..., :length, :]
        return layer

    def _allocate(self, keys: Tensor, values: Tensor, capacity: int) -> None:
        length = keys.shape[-2]
        self._key_buffer = keys.new_empty((*keys.shape[:-2], capacity, keys.shape[-1]))
        self._value_buffer = values.new_empty((*values.shape[:-2], capacity, values.shape[-1]))
        self._key_buffer[..., :length, :] = keys
        self._value_buffer[..., :length, :] = values
        self.keys = self._key_buffer[..., :length, :]
        self.values = self._value_buffer[..., :length, :]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> LayerStates:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._allocate(key_states, value_states, key_states.shape[-2])
            return self.keys, self.values
        length, new = self.keys.shape[-2], key_states.shape[-2]
        if length + new > self._key_buffer.shape[-2]:
            self._allocate(self.keys, self.values, max(2 * length, length + new))
        self._key_buffer[..., length : length + new, :] = key_states
        self._value_buffer[..., length : length + new, :] = value_states
        self.keys = self._key_buffer[..., : length + new, :]
        self.values = self._value_buffer[..., : length + new, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: Tensor) -> None:
        if self.is_initialized:
            length = self.keys.shape[-2]
            self._key_buffer = self._key_buffer[indices]
            self._value_buffer = self._value_buffer[indices]
            self.keys = self._key_buffer[..., :length, :]
            self.values = self._value_buffer[..., :length, :]

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self._allocate(
                self.keys.repeat_interleave(repeats, dim=0),
                self.values.repeat_interleave(repeats, dim=0),
                self._key_buffer.shape[-2],
            )


def cache_keyword(model: nn.Module) -> str:
    """The forward keyword that passes a cache to ``model``: ``cache`` where transformers
    renamed it (``past_key_values`` is deprecated there), ``past_key_values`` before. A
    PEFT wrapper is looked through to the transformers model it wraps."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    accepted = inspect.signature(type(base).forward).parameters
    return "cache" if "cache" in accepted else "past_key_values"


def output_cache(output: Any) -> DynamicCache:
    """The cache a forward returned, under either name (see :func:`cache_keyword`)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def growing_cache(layers: Iterable[GrowingLayer] = ()) -> DynamicCache:
    """A transformers ``DynamicCache`` made of :class:`GrowingLayer` (empty: filled lazily)."""
    cache = DynamicCache()
    cache.layers = list(layers)
    cache.layer_class_to_replicate = GrowingLayer
    return cache


def cropped(states: States, length: int) -> States:
    """The first ``length`` positions of ``states`` (views)."""
    return tuple((k[..., :length, :], v[..., :length, :]) for k, v in states)


def states_of(cache: DynamicCache, row: int = 0, columns: Tensor | None = None) -> States:
    """One row's states in ``cache`` ([1, ...] per layer): views of all its positions, or
    copies of the ``columns`` (a boolean [T] mask, e.g. the row's attention mask)."""
    out = []
    for layer in cache.layers:
        keys, values = layer.keys[row : row + 1], layer.values[row : row + 1]
        if columns is not None:
            keys, values = keys[:, :, columns], values[:, :, columns]
        out.append((keys, values))
    return tuple(out)


def left_padded(rows: Sequence[States], spare: int) -> tuple[DynamicCache, Tensor]:
    """Stack single-row states into one left-padded cache with ``spare`` free positions;
    returns it and its attention mask [B, T] (0 on padding)."""
    width = max(states[0][0].shape[-2] for states in rows)
    first = rows[0][0][0]
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=first.device)
    layers = []
    for index in range(len(rows[0])):
        keys = first.new_zeros((len(rows), first.shape[1], width + spare, first.shape[-1]))
        values = torch.zeros_like(keys)
        for r, states in enumerate(rows):
            k, v = states[index]
            start = width - k.shape[-2]
            keys[r, :, start:width] = k[0]
            values[r, :, start:width] = v[0]
            mask[r, start:] = 1
        layers.append(GrowingLayer.over(keys, values, width))
    return growing_cache(layers), mask


def length_buckets(lengths: Sequence[int], max_padding: float = 0.1) -> list[list[int]]:
    """Indices of ``lengths`` in groups, longest first, such that padding every member of a
    group to its longest adds at most ``max_padding`` of the group's real positions."""
    buckets: list[list[int]] = []
    total = 0
    for i in sorted(range(len(lengths)), key=lambda j: -lengths[j]):
        if buckets:
            longest, size = lengths[buckets[-1][0]], len(buckets[-1]) + 1
            if longest * size <= (1 + max_padding) * (total + lengths[i]):
                buckets[-1].append(i)
                total += lengths[i]
                continue
        buckets.append([i])
        total = lengths[i]
    return buckets


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    limit = min(len(a), len(b))
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


def parameters_fingerprint(model: nn.Module) -> int:
    """Changes when a parameter is replaced or modified in place (optimizer steps do both
    through the version counter every tensor carries)."""
    return hash(tuple((id(p), p._version) for p in model.parameters()))


@dataclass
class _Entry:
    ids: tuple[int, ...]
    states: States

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + v.nbytes for k, v in self.states)


class PrefixStore:
    """Key/value states of token sequences a model has run, found by longest common prefix.

    Least recently used entries go first when the states exceed ``max_bytes``; an entry is
    dropped when a longer sequence that extends it is stored (it holds nothing more).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: list[_Entry] = []  # least recently used first
        self._fingerprint: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def check_model(self, model: nn.Module) -> None:
        """Forget everything if ``model``'s parameters changed since the last check."""
        fingerprint = parameters_fingerprint(model)
        if fingerprint != self._fingerprint:
            self.clear()
            self._fingerprint = fingerprint

    def longest_prefix(self, ids: Sequence[int], limit: int) -> tuple[int, States | None]:
        """The stored states sharing the longest prefix with ``ids``, and that length (at
        most ``limit``); ``(0, None)`` when none shares a token."""
        best, found = 0, None
        for entry in self._entries:
            length = min(common_prefix_length(entry.ids, ids), limit)
            if length > best:
                best, found = length, entry
        if found is None:
            return 0, None
        self._entries.remove(found)
        self._entries.append(found)  # most recently used
        return best, found.states

    def drop_prefixes_of(self, sequences: Sequence[Sequence[int]]) -> None:
        """Forget every entry whose tokens begin one of ``sequences`` (or equal it)."""
        keys = [tuple(s) for s in sequences]
        self._entries = [
            e for e in self._entries if not any(k[: len(e.ids)] == e.ids for k in keys)
        ]

    def put(self, ids: Sequence[int], states: States) -> None:
        """Store the states of ``ids`` (one position per token)."""
        entry = _Entry(tuple(ids), states)
        if entry.nbytes > self.max_bytes or not entry.ids:
            return
        n = len(entry.ids)
        self._entries = [
            e for e in self._entries if not (len(e.ids) <= n and entry.ids[: len(e.ids)] == e.ids)
        ]
        self._entries.append(entry)
        total = self.nbytes
        while total > self.max_bytes:
            total -= self._entries.pop(0).nbytes
