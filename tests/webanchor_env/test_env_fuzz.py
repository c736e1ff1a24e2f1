"""Property-based: whatever is thrown at `step`, no exception, and a valid transition."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webanchor_env import WikiEnv

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
_NAMES = st.sampled_from(["search", "visit", "answer", "SEARCH", " visit ", "browse", "", "x"])
_KEYS = st.sampled_from(["query", "url", "goal", "offset", "answer", "queries"])
_CALLS = st.fixed_dictionaries(
    {"name": _NAMES | _JSON, "arguments": st.dictionaries(_KEYS, _JSON, max_size=4) | _JSON}
)
_URLS = st.sampled_from(
    ["https://wiki.local/wiki/Lumen_Tower", "Tessary", "file:///etc/passwd", "../x", ""]
) | st.text(max_size=40)


def _text_call(call: dict[str, Any]) -> str:
    try:
        body = json.dumps(call)
    except ValueError:  # NaN and friends: let the parser see them anyway
        body = repr(call)
    return f"<tool_call>{body}</tool_call>"


ACTIONS = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.just("x" * 1_048_576),
    _CALLS,
    _CALLS.map(_text_call),
    st.lists(_CALLS.map(_text_call), min_size=2, max_size=8).map("\n".join),
    st.builds(
        lambda urls, goal: {"name": "visit", "arguments": {"url": urls, "goal": goal}},
        st.lists(_URLS, max_size=6) | _URLS,
        st.text(max_size=20),
    ),
    _JSON,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ACTIONS)
def test_arbitrary_actions_never_raise(tiny_backend, action: Any) -> None:
    env = WikiEnv(backend=tiny_backend, split="test", render_mode="ansi")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs in env.observation_space
    assert reward in (0.0, 1.0) and isinstance(terminated, bool) and isinstance(truncated, bool)
    assert info["step"] == 1
    if info["error"] is not None:
        assert "Expected" in obs and info["error"] in info["errors"]
    if not (terminated or truncated):  # the episode goes on
        obs, *_ = env.step({"name": "search", "arguments": {"query": "Tessary"}})
        assert "Tessary" in obs
    assert isinstance(env.render(), str)
