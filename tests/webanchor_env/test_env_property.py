"""Property test of `step` over 10,000 generated actions, and the parser's work bound.

The actions are random text and JSON, grammar-guided tool calls and their near misses,
adversarial lengths (runs of spaces, tags, brackets and quotes up to and past the length
cap), deep nesting, Unicode digits and control characters. Whatever comes: no exception, an
observation inside the space, an error code for every action that neither ran a tool nor
answered (and for every action broken on purpose), and parser work linear in the size of
the action. The search backend hashes words instead of running a model, so that 10,000 steps
take seconds; `benchmarks/bench_fuzz.py` times the same kinds of actions with the real one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import webanchor_env.env
from webanchor_env import WikiEnv
from webanchor_env.actions import DEFAULT_MAX_ACTION_CHARS, ErrorCode, ParsedAction, parse_action

WORK_PER_CHAR = 32
"""The parser examines each character of a text a bounded number of times (about 20 at
worst: the text checks, the tag scan, the segments, two decodings); a mapping, each value."""
CODES = {code.value for code in ErrorCode}
CAP = DEFAULT_MAX_ACTION_CHARS


PARSED: list[ParsedAction] = []
"""What the environment's parser returned, latest last (see the ``env`` fixture)."""


@pytest.fixture(scope="module")
def env(hashing_backend) -> Iterator[WikiEnv]:
    """An env whose every parse is recorded in ``PARSED`` (to check the parser's work)."""

    def recording(action: Any, **limits: int) -> ParsedAction:
        PARSED[:] = [parse_action(action, **limits)]
        return PARSED[0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webanchor_env.env, "parse_action", recording)
        yield WikiEnv(
            backend=hashing_backend, split="test", render_mode="ansi", privileged_info=True
        )


# --- Strategies -------------------------------------------------------------------------------

SPECIAL = st.sampled_from(
    ["", " ", "\n\t ", "\x00", "a\x07b", "\x7f", "\ud800", "\u00b2", "١٢", "𝟗", "Ⅻ", "0x1f", "1e3"]
    + ["-3", " 7 ", "ǅ", "\u200b", "\u3000", "é" * 300, "q" * 600, "<answer>", "</tool_call>"]
)
"""Control characters, Unicode digits, odd spaces and lengths just over the limits."""
TEXT = st.text(max_size=20) | SPECIAL
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
URLS = st.sampled_from(
    [
        "https://wiki.local/wiki/Lumen_Tower",
        "Tessary",
        "Glasswing Bridge",
        "file:///etc/passwd",
        "../x",
        "https://wiki.local/wiki/Kessa\x00",
        "",
    ]
)
OFFSETS = (
    st.integers(-10, 10**4)
    | TEXT
    | st.sampled_from(
        [
            None,
            True,
            10**9,
            10**9 + 1,
            10**30,
            10**5000,
            2.5,
            float("inf"),
            float("nan"),
            "9" * 4301,
        ]
    )
)
SEARCH = st.builds(
    lambda q: {"name": "search", "arguments": {"query": q}},
    st.sampled_from(["Lumen Tower", "Tessary founded"]) | TEXT | st.lists(TEXT, max_size=6),
)
VISIT = st.builds(
    lambda u, g, o: {"name": "visit", "arguments": {"url": u, "goal": g, "offset": o}},
    URLS | TEXT | st.lists(URLS, max_size=6),
    st.none() | TEXT | _JSON,
    OFFSETS,
)
ANSWER = st.builds(
    lambda a: {"name": "answer", "arguments": {"answer": a}},
    st.sampled_from(["1902", "Orlan Vesk"]) | TEXT | st.integers() | _JSON,
)
CALLS = SEARCH | VISIT | ANSWER | st.fixed_dictionaries({"name": TEXT, "arguments": _JSON})


def _as_json(call: dict[str, Any], python: bool) -> str:
    """A call as JSON text (or as a Python literal: single quotes, True/None)."""
    try:
        return repr(call) if python else json.dumps(call, ensure_ascii=False)
    except ValueError:  # integers too long to print
        return '{"name": "search"'


TEXT_CALLS = st.builds(
    lambda calls, python, fence, plan: (
        (f"<plan>{plan}</plan>" if plan else "")
        + "".join(
            f"<tool_call>{'```json' if fence else ''}{_as_json(c, python)}{'```' if fence else ''}"
            "</tool_call>"
            for c in calls
        )
    ),
    st.lists(CALLS, min_size=1, max_size=3) | st.lists(SEARCH, min_size=6, max_size=7),
    st.booleans(),
    st.booleans(),
    st.none() | TEXT,
)


def _broken(text: str, how: str, at: int) -> str:
    """A near miss that must be an error: JSON cut short, a control character, a bad tool."""
    if how == "cut":
        return text.replace("</tool_call>", "")[:-1]  # the last "}" of the last call is gone
    if how == "control":
        return text[: at % (len(text) + 1)] + "\x00" + text[at % (len(text) + 1) :]
    return text.replace('"search"', '"browse"').replace('"visit"', '"browse"')


BROKEN = st.builds(
    _broken,
    st.lists(SEARCH | VISIT, min_size=1, max_size=1).map(
        lambda calls: f"<tool_call>{_as_json(calls[0], False)}</tool_call>"
    ),
    st.sampled_from(["cut", "control", "tool"]),
    st.integers(0, 10**6),
)

UNITS = st.sampled_from(
    [" ", "\n", "<", "< ", "</", "<tool_call>", "</tool_call>", "<plan>", "<t", "<answer>"]
    + ["{", "[", '{"a":', "'", "\\'", '"', ", ", "```", "True ", "\u00b2", "\u3000"]
)
ADVERSARIAL = st.builds(
    lambda prefix, unit, n, suffix: prefix + unit * n + suffix,
    st.sampled_from(["", "<", "<tool_call>", "<tool_call>x", "<tool_call>{'a': '", "```json"]),
    UNITS,
    st.integers(0, CAP // 2) | st.integers(CAP // 2, CAP + 64),
    st.sampled_from(["", "x", "}", "</tool_call>", "```"]),
)


@functools.lru_cache(maxsize=16)
def _nested(depth: int, container: str) -> Any:
    """``depth`` dicts or lists around "x" (cached: the environment never changes an action)."""
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value} if container == "dict" else [value]
    return value


NESTED = st.builds(
    lambda depth, container, where: (
        _nested(depth, container)
        if where == "action"
        else {"name": "search", "arguments": {"query": _nested(depth, container)}}
    ),
    st.integers(0, 40) | st.sampled_from([100, 1_000, 100_000]),
    st.sampled_from(["dict", "list"]),
    st.sampled_from(["action", "argument"]),
)
BIG_ANSWERS = st.builds(
    lambda n: {"name": "answer", "arguments": {"answer": "x" * n}},
    st.integers(CAP - 64, 1_100_000),
)
OTHER = st.none() | st.integers() | st.binary(max_size=40) | st.lists(TEXT, max_size=3)

ACTIONS = st.one_of(
    st.text(max_size=300),
    TEXT_CALLS,
    TEXT_CALLS.map(lambda t: t.replace("</tool_call>", "")),  # tolerated: no closing tags
    CALLS,
    ADVERSARIAL,
    NESTED,
    BIG_ANSWERS,
    _JSON,
    OTHER,
)


# --- The property -----------------------------------------------------------------------------


def _check_step(env: WikiEnv, action: Any, before: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Step once and check the transition (``before``: the last info); returns the info and
    whether the episode ended."""
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs in env.observation_space
    assert reward in (0.0, 1.0) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert info["step"] == before["step"] + 1 and info["task_id"] == before["task_id"]
    assert set(info["errors"]) <= CODES
    assert info["tool_calls"] or "answer" in info or info["error"] is not None
    assert all(f"Error ({code})" in obs for code in info["errors"])
    assert isinstance(env.render(), str)
    (parsed,) = PARSED
    size = len(action) if isinstance(action, str) and len(action) <= CAP else CAP
    assert parsed.work <= WORK_PER_CHAR * size + 256, (parsed.work, size)
    return info, terminated or truncated


def _step_fresh(env: WikiEnv, action: Any) -> dict[str, Any]:
    """The info of one checked step at the start of an episode."""
    _, before = env.reset(seed=0)
    return _check_step(env, action, before)[0]


@settings(
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.tuples(ACTIONS, ACTIONS))
def test_ten_thousand_actions_never_raise_and_errors_are_named(
    env: WikiEnv, actions: tuple[Any, Any]
) -> None:
    """5,000 examples of two actions in a row: 10,000 steps, the second in the episode the
    first left going (a malformed action never ends it)."""
    _, info = env.reset(seed=0)
    for action in actions:
        info, ended = _check_step(env, action, info)
        if ended:
            _, info = env.reset(seed=0)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BROKEN)
def test_actions_broken_on_purpose_get_an_error(env: WikiEnv, action: str) -> None:
    info = _step_fresh(env, action)
    assert info["error"] is not None


# --- Examples of the issue, one by one --------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("<" + " " * 32_700 + "x", "no_action"),
        ("\n" * 32_700, "empty_action"),
        ("<" + "\n" * 32_700 + "x", "no_action"),
        ("<tool_call>x" + " " * 32_000 + "x", "invalid_json"),
        (
            '<tool_call>{"name":"visit","arguments":{"url":["x"],"goal":"g","offset":"\u00b2"}}'
            "</tool_call>",
            "invalid_argument",
        ),
        ({"name": "visit", "arguments": {"url": "x", "offset": "9" * 4_301}}, "invalid_argument"),
        ({"name": "visit", "arguments": {"url": "x", "offset": 10**5000}}, "invalid_argument"),
        ({"name": "answer", "arguments": {"answer": 10**5000}}, "invalid_argument"),
        (_nested(100_000, "dict"), "action_too_deep"),
        ({"name": "search", "arguments": {"query": _nested(100_000, "list")}}, "action_too_deep"),
        ({"name": "answer", "arguments": {"answer": "x" * 1_000_000}}, "action_too_long"),
        ({"name": "search", "arguments": {"query": ["q"] * 1_000_000}}, "action_too_long"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, str) else type(v).__name__,
)
def test_the_reported_actions_are_errors(env: WikiEnv, action: Any, code: str) -> None:
    info = _step_fresh(env, action)
    assert info["error"] == code
    assert "Expected" in env.render()


@pytest.mark.parametrize(
    "unit",
    [" ", "\n", "<", "< ", "</", "<plan>", "<tool_call>", "<t", "{", "'", "\\'", ", ", "True "],
)
@pytest.mark.parametrize("prefix", ["", "<tool_call>{'a': '", "<tool_call>x"])
def test_parser_work_grows_linearly(unit: str, prefix: str) -> None:
    """Doubling the input at most doubles the work: counted, not timed."""
    n = CAP // (4 * len(unit))
    small = parse_action(prefix + unit * n + "x").work
    large = parse_action(prefix + unit * (2 * n) + "x").work
    assert large <= 2 * small + 64, (small, large)
