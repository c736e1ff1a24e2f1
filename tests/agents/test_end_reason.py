"""How an episode ended: one EndReason member per reason, the error detail apart, old files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import agents.rollout
from agents.evaluate import summarize
from agents.trajectory import (
    EndReason,
    Trajectory,
    TrajectoryFormatError,
    load_jsonl,
    save_jsonl,
)
from webanchor_env.env import Truncation


def _trajectory(reason=None, detail=None) -> Trajectory:
    return Trajectory(
        task_id="q-1",
        group_id=0,
        sample=0,
        token_ids=(),
        logprobs=None,
        action_mask=(),
        step_ids=(),
        reward=0.0,
        truncated_reason=reason,
        end_detail=detail,
    )


def _end_calls() -> list[ast.Call]:
    tree = ast.parse(Path(agents.rollout.__file__).read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "_end"
    ]


def test_every_reason_the_engine_gives_is_a_member():
    calls = _end_calls()
    assert len(calls) >= 8
    named: set[str] = set()
    for call in calls:
        reason = call.args[1]
        where = f"line {call.lineno}: {ast.unparse(call)}"
        if isinstance(reason, ast.Constant):
            assert reason.value is None, where  # answered
        elif isinstance(reason, ast.Attribute):
            assert isinstance(reason.value, ast.Name) and reason.value.id == "EndReason", where
            assert reason.attr in EndReason.__members__, where
            named.add(reason.attr)
        else:  # the environment's truncation reason, made a member (or ValueError)
            assert ast.unparse(reason.func) == "EndReason", where
    assert {"CONTEXT_BUDGET", "MAX_TURNS", "POLICY_ERROR", "ENV_ERROR"} <= named


def test_the_environment_truncations_are_members():
    for truncation in Truncation:
        assert EndReason(truncation) is EndReason(truncation.value)
        assert EndReason(truncation).value == truncation.value == str(truncation)
    assert EndReason(None or EndReason.TIME_LIMIT) is EndReason.TIME_LIMIT


def test_members_are_their_strings():
    for reason in EndReason:
        assert reason == reason.value and f"{reason}" == reason.value
        assert json.dumps({reason: reason}) == json.dumps({reason.value: reason.value})
    assert EndReason.MAX_TURNS in {"max_turns"} and "max_turns" in {EndReason.MAX_TURNS}
    assert {r for r in EndReason if r.broken} == {
        EndReason.POLICY_ERROR,
        EndReason.ENV_ERROR,
        EndReason.TEMPLATE_MISMATCH,
    }


def test_a_reason_string_becomes_the_member_and_its_detail():
    t = _trajectory("env_error: KeyError: 'x': y")
    assert t.truncated_reason is EndReason.ENV_ERROR and t.end_detail == "KeyError: 'x': y"
    assert t.end_reason is EndReason.ENV_ERROR and not t.terminated
    assert t.end_text == "env_error: KeyError: 'x': y"
    answered = _trajectory("answered")
    assert answered.truncated_reason is None and answered.terminated
    assert answered.end_reason is EndReason.ANSWERED and answered.end_text == "answered"
    plain = _trajectory(EndReason.MAX_TURNS)
    assert plain.end_detail is None and plain.end_text == "max_turns"
    with pytest.raises(ValueError, match="not a valid EndReason"):
        _trajectory("out_of_coffee")


def _old_line(reason: str | None) -> str:
    """A trajectory line as written before EndReason: no end_detail, detail in the reason."""
    old = _trajectory().to_json()
    del old["end_detail"]
    old["truncated_reason"] = reason
    return json.dumps(old)


def test_an_old_jsonl_file_round_trips(tmp_path):
    reasons = [None, "max_turns", "search_budget", "policy_error: HTTP 500", "template_mismatch"]
    old = tmp_path / "old.jsonl"
    old.write_text("".join(_old_line(r) + "\n" for r in reasons), encoding="utf-8")
    loaded = load_jsonl(old)
    assert [t.truncated_reason for t in loaded] == reasons[:3] + ["policy_error"] + reasons[4:]
    assert all(t.truncated_reason is None or type(t.truncated_reason) is EndReason for t in loaded)
    assert [t.end_detail for t in loaded] == [None, None, None, "HTTP 500", None]
    assert [t.end_text for t in loaded] == ["answered"] + reasons[1:]
    again = load_jsonl(save_jsonl(tmp_path / "new.jsonl", loaded))
    assert [t.to_json() for t in again] == [t.to_json() for t in loaded]
    saved = [json.loads(line) for line in (tmp_path / "new.jsonl").read_text().splitlines()]
    assert [(s["truncated_reason"], s["end_detail"]) for s in saved][3] == (
        "policy_error",
        "HTTP 500",
    )


def test_an_unknown_reason_in_a_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(_old_line(None) + "\n" + _old_line("out_of_coffee") + "\n", encoding="utf-8")
    with pytest.raises(TrajectoryFormatError, match=r"bad\.jsonl:2: .*out_of_coffee"):
        load_jsonl(path)


def test_end_reasons_count_members_as_plain_strings():
    trajectories = [
        _trajectory(),
        _trajectory("policy_error: HTTP 500"),
        _trajectory(EndReason.POLICY_ERROR, "HTTP 502"),
        _trajectory(EndReason.MAX_TURNS),
    ]
    reasons = summarize(trajectories, k=1)["end_reasons"]
    assert reasons == {"answered": 1, "max_turns": 1, "policy_error": 2}
    assert all(type(key) is str for key in reasons)
