"""Trajectories: invariants on construction, JSON-safe info, JSONL round trip and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.trajectory import (
    Trajectory,
    TrajectoryFormatError,
    Turn,
    json_safe,
    load_jsonl,
    save_jsonl,
)


def _trajectory(**overrides) -> Trajectory:
    values = dict(
        task_id="q-1",
        group_id=3,
        sample=1,
        token_ids=(1, 2, 3, 4, 5),
        logprobs=(0.0, 0.0, -0.5, -1.25, 0.0),
        action_mask=(0, 0, 1, 1, 0),
        step_ids=(-1, -1, 0, 0, -1),
        reward=1.0,
        rewards={"f1": 1.0},
        messages=({"role": "user", "content": "Q?"}, {"role": "assistant", "content": "ab"}),
        turns=(
            Turn(
                text="<plan>p</plan><answer>x</answer>",
                finish_reason="stop",
                num_tokens=2,
                action={"name": "answer", "arguments": {"answer": "x"}},
                tool_calls=(),
                errors=("no_action",),
                observation="<tool_response>ok</tool_response>",
                reward=1.0,
            ),
        ),
        info={"task_id": "q-1", "errors": ("a",), "latency_s": (np.float64(0.5),)},
        truncated_reason=None,
        prompt="react-plan",
        predicted=(({"name": "answer", "arguments": {"answer": "x"}},),),
    )
    values.update(overrides)
    return Trajectory(**values)


def test_round_trip_through_jsonl(tmp_path):
    original = [
        _trajectory(),
        _trajectory(sample=2, logprobs=None, predicted=None, plan_forced=True),
    ]
    path = save_jsonl(tmp_path / "sub" / "t.jsonl", original)
    loaded = load_jsonl(path)
    assert [t.to_json() for t in loaded] == [t.to_json() for t in original]
    assert loaded[0].info["latency_s"] == [0.5]
    assert loaded[1].logprobs is None and loaded[1].plan_forced
    assert loaded[0].predicted == original[0].predicted


def test_append_adds_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    save_jsonl(path, [_trajectory()])
    save_jsonl(path, [_trajectory(sample=5)], append=True)
    assert [t.sample for t in load_jsonl(path)] == [1, 5]


def test_a_bad_line_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "t.jsonl"
    save_jsonl(path, [_trajectory()])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n{not json}\n")
        fh.write(_trajectory().to_json().__repr__() + "\n")
    with pytest.raises(TrajectoryFormatError, match=r"t\.jsonl:3: not a trajectory"):
        load_jsonl(path)


def test_a_missing_field_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"task_id": "q"}\n', encoding="utf-8")
    with pytest.raises(TrajectoryFormatError, match=r":1: .*missing field\(s\) group_id"):
        load_jsonl(path)


def test_an_interrupted_last_line_can_be_dropped(tmp_path):
    path = tmp_path / "t.jsonl"
    save_jsonl(path, [_trajectory(), _trajectory(sample=2)])
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) - 40], encoding="utf-8")
    with pytest.raises(TrajectoryFormatError, match=":2:"):
        load_jsonl(path)
    assert [t.sample for t in load_jsonl(path, allow_partial_tail=True)] == [1]


def test_lengths_must_line_up():
    with pytest.raises(ValueError, match="action_mask and step_ids of length 5"):
        _trajectory(action_mask=(0, 1))
    with pytest.raises(ValueError, match="Expected 5 logprobs"):
        _trajectory(logprobs=(0.0,))


def test_properties():
    t = _trajectory()
    assert t.policy_token_ids == (3, 4)
    assert t.terminated and t.num_turns == 1 and t.plan.startswith("<plan>")
    assert not _trajectory(truncated_reason="max_turns").terminated
    assert t.turns[0].forced is False and Turn("x", finish_reason="forced").forced


def test_json_safe():
    class Code:
        value = "no_action"

    out = json_safe({"a": (1, 2.5, math.nan), "b": np.int64(3), "c": {Code()}, 4: object})
    assert out["a"] == [1, 2.5, None] and out["b"] == 3 and out["c"] == ["no_action"]
    assert out["4"].startswith("<class")
