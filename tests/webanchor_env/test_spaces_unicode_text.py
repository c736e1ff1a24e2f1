"""UnicodeText: membership, sampling, equality and batching for vector environments."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from copy import deepcopy

import pytest
from gymnasium.spaces import Text, Tuple
from gymnasium.vector.utils import (
    batch_space,
    concatenate,
    create_empty_array,
    create_shared_memory,
    iterate,
    read_from_shared_memory,
    write_to_shared_memory,
)
from hypothesis import given
from hypothesis import strategies as st

from webanchor_env.spaces import UnicodeText

WIKI_TEXT = "Zürich — 東京 🚀 «cité» \t tab\nnew line\x00nul"


def test_contains_any_string_within_bounds() -> None:
    space = UnicodeText(100)
    assert WIKI_TEXT in space and "" in space
    assert "x" * 100 in space and "x" * 101 not in space
    assert b"bytes" not in space and 5 not in space and None not in space
    assert "" not in UnicodeText(10, min_length=1)
    assert WIKI_TEXT not in Text(100)  # why this space exists


@given(st.text(max_size=50))
def test_every_short_string_is_contained(text: str) -> None:
    assert text in UnicodeText(50)


def test_sample_is_printable_in_space_and_seeded() -> None:
    space = UnicodeText(300, min_length=5, seed=42)
    samples = [space.sample() for _ in range(50)]
    assert all(s in space and s.isprintable() for s in samples)
    assert any(not s.isascii() for s in samples) and any(c.isascii() for c in samples[0])
    again = UnicodeText(300, min_length=5, seed=42)
    assert [again.sample() for _ in range(50)] == samples
    with pytest.raises(NotImplementedError, match="Expected mask=None"):
        space.sample(mask=1)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match=r"Expected 0 <= min_length <= max_length"):
        UnicodeText(5, min_length=6)


def test_equality_hash_repr_pickle() -> None:
    assert UnicodeText(10) == UnicodeText(10) and UnicodeText(10) != UnicodeText(11)
    assert hash(UnicodeText(10)) == hash(UnicodeText(10))
    assert repr(UnicodeText(10, min_length=2)) == "UnicodeText(2, 10)"
    assert pickle.loads(pickle.dumps(UnicodeText(10))) == UnicodeText(10)
    assert deepcopy(UnicodeText(10)) == UnicodeText(10)
    assert UnicodeText(5).to_jsonable(["a", "b"]) == ["a", "b"]
    assert UnicodeText(5).from_jsonable(["a"]) == ["a"]


def test_batching_gives_tuples_of_strings() -> None:
    space = UnicodeText(20, seed=0)
    batched = batch_space(space, 3)
    assert isinstance(batched, Tuple) and len(batched) == 3
    assert all(s == space for s in batched.spaces)
    items = ["a", "βγ", ""]
    out = create_empty_array(space, 3)
    assert out == ("", "", "")
    joined = concatenate(space, items, out)
    assert joined == ("a", "βγ", "") and joined in batched
    assert list(iterate(batched, joined)) == items
    assert batched.sample() in batched


def test_shared_memory_is_a_live_view() -> None:
    # AsyncVectorEnv reads the buffer once and expects later writes to show through it.
    space = UnicodeText(30)
    memory = create_shared_memory(space, n=3, ctx=mp.get_context())
    view = read_from_shared_memory(space, memory, n=3)
    values = ["Zürich 東京 🚀", "", "x" * 30]
    for i, value in enumerate(values):
        write_to_shared_memory(space, i, value, memory)
    assert list(view) == values and all(isinstance(v, str) for v in view)
    assert tuple(view) in batch_space(space, 3)
    write_to_shared_memory(space, 0, "short", memory)
    assert view[0] == "short"
    with pytest.raises(ValueError, match="Expected a str of at most 30 characters"):
        write_to_shared_memory(space, 0, "y" * 31, memory)
