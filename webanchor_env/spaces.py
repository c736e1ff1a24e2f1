"""A Gymnasium space of Unicode strings, and its support in vector environments.

Gymnasium's :class:`gymnasium.spaces.Text` holds only the characters of a fixed charset
(letters and digits by default), so wiki text, questions in any language and what a model
writes would fall outside it. :class:`UnicodeText` contains every ``str`` up to a maximum
length, samples printable Unicode strings from its own ``np_random``, and is registered with
Gymnasium's vector utilities so that ``SyncVectorEnv`` batches observations of this space as
tuples of strings and ``AsyncVectorEnv`` (with its default shared memory) as a NumPy array of
strings (``shared_memory=False`` gives tuples there too).
"""

from __future__ import annotations

import multiprocessing as mp
import string
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Space, Tuple
from gymnasium.vector.utils import (
    batch_space,
    concatenate,
    create_empty_array,
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

_ASCII_PRINTABLE = np.array([ord(c) for c in string.printable if c not in "\t\n\r\x0b\x0c"])
_BMP_PRINTABLE: np.ndarray | None = None  # built on first use: every printable BMP code point


def _bmp_printable() -> np.ndarray:
    global _BMP_PRINTABLE
    if _BMP_PRINTABLE is None:
        _BMP_PRINTABLE = np.array([c for c in range(0x20, 0x10000) if chr(c).isprintable()])
    return _BMP_PRINTABLE


class UnicodeText(Space[str]):
    """Every Python ``str`` of at most ``max_length`` characters (and at least ``min_length``).

    ``sample()`` draws printable strings, half of their characters from printable ASCII and
    half from the printable Basic Multilingual Plane, with a length drawn uniformly, so that
    random actions exercise a parser with both plausible and exotic text.

    Example:
        >>> space = UnicodeText(100, seed=0)
        >>> "Lumen Tower — 1987 ✓" in space
        True
        >>> "x" * 101 in space
        False
    """

    def __init__(
        self,
        max_length: int,
        *,
        min_length: int = 0,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not 0 <= min_length <= max_length:
            raise ValueError(
                f"Expected 0 <= min_length <= max_length, got min_length={min_length}, "
                f"max_length={max_length}."
            )
        self.min_length = int(min_length)
        self.max_length = int(max_length)
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Strings have no fixed-size numeric form."""
        return False

    def sample(self, mask: Any | None = None, probability: Any | None = None) -> str:
        """A random printable string; masks and probabilities are not supported."""
        if mask is not None or probability is not None:
            raise NotImplementedError(
                f"Expected mask=None and probability=None for {self}, got a mask or probability."
            )
        rng = self.np_random
        length = int(rng.integers(self.min_length, self.max_length + 1))
        ascii_chars = rng.choice(_ASCII_PRINTABLE, size=length)
        other_chars = rng.choice(_bmp_printable(), size=length)
        codes = np.where(rng.random(length) < 0.5, ascii_chars, other_chars)
        return "".join(map(chr, codes.tolist()))

    def contains(self, x: Any) -> bool:
        """True for a ``str`` whose length lies within the bounds."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((type(self), self.min_length, self.max_length))

    def to_jsonable(self, sample_n: Iterable[str]) -> list[str]:
        return list(sample_n)

    def from_jsonable(self, sample_n: Sequence[str]) -> list[str]:
        return list(sample_n)


# --- Vector environments: a batch of N strings is a tuple of N strings. ---------------------


@batch_space.register(UnicodeText)
def _batch_unicode_text(space: UnicodeText, n: int = 1) -> Tuple:
    batched = Tuple(tuple(deepcopy(space) for _ in range(n)), seed=deepcopy(space.np_random))
    seeds = deepcopy(space.np_random).integers(0, 10**8, n)
    batched.seed([int(s) for s in seeds])
    return batched


@concatenate.register(UnicodeText)
def _concatenate_unicode_text(
    space: UnicodeText, items: Iterable[str], out: Any = None
) -> tuple[str, ...]:
    return tuple(items)


@create_empty_array.register(UnicodeText)
def _empty_unicode_text(
    space: UnicodeText, n: int = 1, fn: Callable[..., Any] = np.zeros
) -> tuple[str, ...]:
    return ("",) * n


# Shared memory (AsyncVectorEnv's default). AsyncVectorEnv reads the shared buffer once, at
# construction, and relies on that view reflecting later writes; a tuple of decoded strings
# would stay stale. So the view is a NumPy array of fixed-width Unicode (UCS-4, 4 bytes per
# character) over the buffer: its items are ``numpy.str_``, a subclass of ``str``. (NumPy drops
# trailing NUL characters of such items; observations of this package never end with one.)


def _text_dtype(space: UnicodeText) -> np.dtype:
    return np.dtype(("U", max(1, space.max_length)))


@create_shared_memory.register(UnicodeText)
def _unicode_text_shared_memory(space: UnicodeText, n: int = 1, ctx: ModuleType = mp) -> Any:
    return ctx.Array(np.dtype(np.int32).char, n * max(1, space.max_length))


@read_from_shared_memory.register(UnicodeText)
def _read_unicode_text(space: UnicodeText, shared_memory: Any, n: int = 1) -> np.ndarray:
    return np.frombuffer(shared_memory.get_obj(), dtype=_text_dtype(space), count=n)


@write_to_shared_memory.register(UnicodeText)
def _write_unicode_text(space: UnicodeText, index: int, value: str, shared_memory: Any) -> None:
    if not space.contains(value):
        raise ValueError(
            f"Expected a str of at most {space.max_length} characters, got {value!r:.80}."
        )
    view = np.frombuffer(shared_memory.get_obj(), dtype=_text_dtype(space))
    view[index] = value
