"""WikiEnv: reset, step, tool calls, answers, budgets, info, errors and rendering."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import pytest
from gymnasium.error import ResetNeeded

from webanchor_env import WikiEnv
from webanchor_env.actions import ErrorCode

BASE_INFO_KEYS = {
    "task_id",
    "split",
    "step",
    "search_calls",
    "visit_calls",
    "format_errors",
    "error",
}
STEP_INFO_KEYS = BASE_INFO_KEYS | {"errors", "tool_calls", "latency_s"}
PRIVILEGED_KEYS = {"gold_pages", "gold_pages_visited", "answer_seen", "gold_answers"}


def _call(name: str, **arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.fixture
def split(tiny_backend) -> str:
    return tiny_backend.corpus.tasks[0].split


@pytest.fixture
def make_env(tiny_backend, split):
    def make(**kwargs: Any) -> WikiEnv:
        kwargs.setdefault("split", split)
        return WikiEnv(backend=tiny_backend, **kwargs)

    return make


@pytest.fixture
def env(make_env) -> WikiEnv:
    return make_env(render_mode="ansi")


def test_reset_returns_the_question_and_info(env: WikiEnv, split: str) -> None:
    question, info = env.reset(seed=0)
    assert env.task is not None and question == env.task.question
    assert question in env.observation_space
    assert set(info) == BASE_INFO_KEYS
    assert info["task_id"] == env.task.id and info["split"] == split
    assert (info["step"], info["search_calls"], info["visit_calls"]) == (0, 0, 0)
    assert info["error"] is None


def test_reset_with_task_id_and_split(env: WikiEnv, tiny_backend) -> None:
    for task in tiny_backend.corpus.tasks:
        question, info = env.reset(options={"task_id": task.id, "split": task.split})
        assert (question, info["task_id"], info["split"]) == (task.question, task.id, task.split)


def test_unknown_task_id_raises_with_what_was_expected(env: WikiEnv, split: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^Expected a task id from split '{split}', got 't-99999'\.$"
    ):
        env.reset(options={"task_id": "t-99999"})
    other = next(t for t in env.backend.corpus.tasks if t.split != split)
    with pytest.raises(ValueError, match=rf"got '{other.id}'\. \(it is in split '{other.split}'\)"):
        env.reset(options={"task_id": other.id})


def test_bad_split_and_options_raise(env: WikiEnv) -> None:
    with pytest.raises(ValueError, match=r"Expected a split among .*, got 'validation'\."):
        env.reset(options={"split": "validation"})
    with pytest.raises(ValueError, match=r"Expected reset options among 'task_id', 'split'"):
        env.reset(options={"task": "x"})
    with pytest.raises(ValueError, match=r"Expected a split among .*, got 'dev2'\."):
        WikiEnv(backend=env.backend, split="dev2")
    with pytest.raises(ValueError, match=r"Expected top_k to be a positive integer, got 0\."):
        WikiEnv(backend=env.backend, top_k=0)


def test_seed_fixes_the_task_sequence(make_env) -> None:
    def sequence(seed: int) -> list[str]:
        env = make_env()
        ids = [env.reset(seed=seed)[1]["task_id"]]
        ids += [env.reset()[1]["task_id"] for _ in range(12)]
        return ids

    assert sequence(7) == sequence(7)


def test_same_seed_same_transcript(make_env) -> None:
    def run(seed: int) -> tuple[list[Any], str]:
        env = make_env(render_mode="ansi")
        question, _ = env.reset(seed=seed)
        steps = [question]
        for action in (
            _call("search", query=question),
            _call("visit", url=env.task.gold.pages[:1] or ["Nowhere"], goal="facts"),
            "not an action",
            "<answer>a guess</answer>",
        ):
            obs, reward, terminated, truncated, info = env.step(action)
            info.pop("latency_s")
            steps.append((obs, reward, terminated, truncated, info))
        return steps, env.render()

    assert run(3) == run(3)


def test_search_step(env: WikiEnv) -> None:
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(_call("search", query="Lumen Tower"))
    assert obs.startswith("<tool_response>\n") and obs.endswith("\n</tool_response>")
    assert obs.count("<tool_response>") == 1
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert set(info) == STEP_INFO_KEYS
    assert info["step"] == 1 and info["search_calls"] == 1 and info["visit_calls"] == 0
    assert info["tool_calls"] == ("search",) and len(info["latency_s"]) == 1
    assert info["latency_s"][0] >= 0 and info["error"] is None and info["errors"] == ()


def test_several_calls_run_in_order(env: WikiEnv) -> None:
    env.reset(seed=0)
    page = env.backend.store.pages[0]
    action = (
        "<think>two things</think>"
        + _call("search", query=["first query"])
        + _call("visit", url=page.url, goal="what it is")
        + _call("search", query="second query")
    )
    obs, *_, info = env.step(action)
    blocks = obs.split("</tool_response>")[:-1]
    assert len(blocks) == 3
    assert "first query" in blocks[0] and page.title in blocks[1] and "second query" in blocks[2]
    assert info["tool_calls"] == ("search", "visit", "search")
    assert (info["search_calls"], info["visit_calls"]) == (2, 1)


def test_too_many_calls_in_one_turn(make_env) -> None:
    env = make_env(max_calls_per_turn=2)
    env.reset(seed=0)
    obs, *_, info = env.step(_call("search", query="a") * 4)
    assert info["tool_calls"] == ("search", "search")
    assert info["error"] == ErrorCode.TOO_MANY_TOOL_CALLS.value
    assert obs.count("<tool_response>") == 3 and "at most 2 tool calls per turn" in obs


def test_correct_answer_and_alias(env: WikiEnv, tiny_backend) -> None:
    for task in tiny_backend.corpus.tasks:
        for answer in task.answers:
            env.reset(options={"task_id": task.id, "split": task.split})
            obs, reward, terminated, truncated, info = env.step(f"<answer> {answer}. </answer>")
            assert (reward, terminated, truncated) == (1.0, True, False)
            assert info["em"] == 1.0 and info["f1"] == 1.0 and info["answer"] == f"{answer}."
            assert obs in env.observation_space


def test_wrong_answer_scores_zero_with_f1(env: WikiEnv) -> None:
    env.reset(seed=0)
    gold = env.task.answer
    obs, reward, terminated, truncated, info = env.step(
        {"name": "answer", "arguments": {"answer": f"{gold} and more words"}}
    )
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert info["em"] == 0.0 and 0.0 < info["f1"] < 1.0


def test_stepping_after_the_end_raises(env: WikiEnv) -> None:
    with pytest.raises(ResetNeeded, match=r"Expected reset\(\) before step\(\)"):
        env.step("<answer>x</answer>")
    env.reset(seed=0)
    env.step("<answer>x</answer>")
    with pytest.raises(
        ResetNeeded, match=r"Expected reset\(\) after the episode ended \(answered\)"
    ):
        env.step("<answer>x</answer>")
    env.reset(seed=0)  # and a reset starts afresh
    assert env.step("<answer>x</answer>")[2] is True


def test_answer_with_tool_calls_ignores_the_calls(env: WikiEnv) -> None:
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step(_call("search", query="x") + "<answer>y</answer>")
    assert terminated and info["search_calls"] == 0
    assert info["error"] == ErrorCode.TOOL_CALLS_IGNORED.value


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("", "empty_action"),
        ("I would like to search for the tower.", "no_action"),
        ("x" * 1_048_576, "action_too_long"),
        ("\x00\x01\x02binary\xff", "binary_action"),
        (b"\x89PNG\r\n\x1a\n", "binary_action"),
        (12345, "invalid_action_type"),
        ("<answer></answer>", "empty_answer"),
        ("<tool_call>{not json</tool_call>", "invalid_json"),
        ('<tool_call>{"name": "browse", "arguments": {"url": "x"}}</tool_call>', "unknown_tool"),
        (_call("search"), "missing_argument"),
        (_call("visit", goal="where"), "missing_argument"),
        (_call("visit", url="https://wiki.local/wiki/Tessary", goal=["x"]), "invalid_argument"),
        (_call("search", query={"a": 1}), "invalid_argument"),
        (_call("visit", url=["x"], goal="g", offset="far"), "invalid_argument"),
        ({"name": "search", "arguments": {"query": 7}}, "invalid_argument"),
        ({"name": "visit"}, "missing_argument"),
        ({"nom": "search"}, "invalid_tool_call"),
    ],
)
def test_bad_actions_get_an_explanation_and_the_episode_goes_on(
    env: WikiEnv, action: Any, code: str
) -> None:
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert info["error"] == code and code in info["errors"]
    assert "Expected" in obs and obs in env.observation_space
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["format_errors"] == 1
    obs, *_ = env.step(_call("search", query="Kessa"))  # still alive
    assert "Error" not in obs


HOSTILE_URLS = [
    "file:///etc/passwd",
    "/etc/passwd",
    "../../../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "~/.ssh/id_rsa",
    "http://169.254.169.254/latest/meta-data/",
    "https://evil.example.com/wiki/Kessa",
    "https://wiki.local.evil.com/wiki/Kessa",
    "javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "ftp://wiki.local/wiki/Kessa",
    "\\\\server\\share\\file",
    "https://wiki.local/wiki/Kessa\x00.html",
    "https://wiki.local/wiki/" + "A" * 5000,
    "https://wiki.local/wiki/../../etc/passwd",
    "https://wiki.local/wiki/No_Such_Page_Here",
    "https://wiki.local@evil.com/wiki/Kessa",
    "gopher://wiki.local:70/1",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_hostile_urls_are_refused_without_io(env: WikiEnv, url: str, monkeypatch) -> None:
    env.reset(seed=0)

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"I/O attempted: {args!r:.100}")

    import builtins
    import io
    import os
    import socket
    import urllib.request

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(io, "open", forbidden)
    monkeypatch.setattr(os, "open", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    obs, reward, terminated, truncated, info = env.step(
        {"name": "visit", "arguments": {"url": url, "goal": "secrets"}}
    )
    monkeypatch.undo()
    assert info["error"] in ("invalid_url", "page_not_found", "invalid_argument")
    assert "Expected" in obs and "root:" not in obs
    assert info["visit_calls"] == 0 and not (terminated or truncated)
    assert obs in env.observation_space


def test_foreign_urls_and_missing_pages_are_told_apart(env: WikiEnv) -> None:
    env.reset(seed=0)
    *_, info = env.step(_call("visit", url="file:///etc/passwd", goal="g"))
    assert info["error"] == "invalid_url"
    *_, info = env.step(_call("visit", url="https://wiki.local/wiki/No_Such_Page", goal="g"))
    assert info["error"] == "page_not_found"


def test_visit_by_title_and_mixed_urls(env: WikiEnv) -> None:
    env.reset(seed=0)
    page = env.backend.store.pages[0]
    obs, *_, info = env.step(_call("visit", url=[page.title, "file:///etc/passwd"], goal="g"))
    assert info["visit_calls"] == 1 and info["tool_calls"] == ("visit",)
    assert info["error"] == "invalid_url" and page.title in obs


def test_search_budget_truncates_with_reason(make_env) -> None:
    env = make_env(max_search_calls=2)
    env.reset(seed=0)
    for _ in range(2):
        assert env.step(_call("search", query="tower"))[3] is False
    obs, reward, terminated, truncated, info = env.step(_call("search", query="tower"))
    assert (terminated, truncated, reward) == (False, True, 0.0)
    assert info["truncation_reason"] == "search_budget" and info["search_calls"] == 2
    assert "search budget is spent" in obs
    with pytest.raises(ResetNeeded, match=r"episode ended \(search_budget\)"):
        env.step(_call("search", query="tower"))


def test_visit_budget_truncates_with_reason(make_env) -> None:
    env = make_env(max_visit_calls=1)
    env.reset(seed=0)
    url = env.backend.store.pages[0].url
    assert env.step(_call("visit", url=url, goal="g"))[3] is False
    *_, truncated, info = env.step(_call("visit", url=url, goal="g"))
    assert truncated and info["truncation_reason"] == "visit_budget"


def test_observation_budget_truncates_with_reason(make_env) -> None:
    env = make_env(observation_budget_chars=300)
    env.reset(seed=0)
    url = env.backend.store.pages[0].url
    *_, truncated, info = env.step(_call("visit", url=url, goal="g"))
    assert truncated and info["truncation_reason"] == "observation_budget"


def test_long_observations_are_clipped_into_the_space(make_env) -> None:
    env = make_env(max_observation_chars=1000, visit_chars=5000)
    env.reset(seed=0)
    urls = [p.url for p in env.backend.store.pages[:5]]
    obs, *_ = env.step(_call("visit", url=urls, goal="g") + _call("search", query=["a", "b"]))
    assert len(obs) <= 1000 and obs in env.observation_space
    assert obs.count("<tool_response>") == obs.count("</tool_response>") == 2


def test_turn_limit_comes_from_the_registration(tiny_backend, split) -> None:
    env = gym.make("WebAnchor-Wiki-v0", backend=tiny_backend, split=split, max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step("thinking aloud") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]


def test_privileged_info_is_opt_in(make_env) -> None:
    env = make_env()
    _, info = env.reset(seed=0)
    assert not PRIVILEGED_KEYS & set(info)
    env = make_env(privileged_info=True)
    task = next(t for t in env.backend.corpus.tasks if t.gold.actions)
    _, info = env.reset(options={"task_id": task.id, "split": task.split})
    assert set(info) >= PRIVILEGED_KEYS
    assert info["gold_pages"] == tuple(task.gold.pages) and info["gold_answers"] == task.answers
    assert info["gold_pages_visited"] == () and info["answer_seen"] is False
    for action in task.gold.actions:
        if action["name"] != "answer":
            *_, info = env.step(action)
    assert info["answer_seen"] is True
    visited = [u for a in task.gold.actions if a["name"] == "visit" for u in a["arguments"]["url"]]
    assert set(info["gold_pages_visited"]) == set(task.gold.pages) & set(visited)


def test_render_ansi_returns_the_transcript(env: WikiEnv) -> None:
    question, _ = env.reset(seed=0)
    env.step(_call("search", query="Kessa"))
    env.step("<answer>Kessa</answer>")
    text = env.render()
    assert question in text and "Kessa" in text and "Turn 2" in text
    assert "Episode end: answered" in text


def test_render_without_mode_returns_none(make_env) -> None:
    env = make_env()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
