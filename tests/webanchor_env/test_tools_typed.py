"""An action is checked once: the parser yields typed arguments, the environment hands them to
the tools as they are, and the lenient entry points answer the same for the same values."""

from __future__ import annotations

from typing import Any

import pytest

from webanchor_env import SearchArgs, ToolCall, VisitArgs, parse_action, tools
from webanchor_env.env import WikiEnv

URL = "https://wiki.local/wiki/Lumen_Tower"


def _call(text: str) -> ToolCall:
    (call,) = parse_action(text).tool_calls
    return call


def test_the_parser_yields_typed_arguments() -> None:
    search = _call('<tool_call>{"name": "search", "arguments": {"query": " a ; b "}}</tool_call>')
    assert search.args == SearchArgs(("a ; b",))
    visit = _call(
        '<tool_call>{"name": "visit", "arguments": '
        f'{{"url": "{URL}", "goal": " height ", "offset": "12"}}}}</tool_call>'
    )
    assert visit.args == VisitArgs((URL,), "height", 12)
    bare = _call(f'<tool_call>{{"name": "visit", "arguments": {{"url": ["{URL}"]}}}}</tool_call>')
    assert bare.args == VisitArgs((URL,), None, 0)


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "search", "arguments": {"query": 3}}</tool_call>',
        '<tool_call>{"name": "fly", "arguments": {}}</tool_call>',
        '<tool_call>{"name": "visit", "arguments": {"url": "x", "offset": -1}}</tool_call>',
    ],
)
def test_a_call_with_an_error_has_no_checked_arguments(text: str) -> None:
    call = _call(text)
    assert call.error is not None
    with pytest.raises(ValueError, match="no checked args"):
        _ = call.args


def test_typed_and_lenient_tools_answer_alike(tiny_backend) -> None:
    index, store = tiny_backend.index, tiny_backend.store
    queries = ("Lumen Tower architect", "Cobalt Bay population")
    typed = tools.search(index, SearchArgs(queries), 3)
    assert typed == tools.search_text(index, list(queries), 3)
    assert typed.count("A search for") == 2
    args = VisitArgs((URL, "Tessary"), "height", 40)
    for goal_mode in (False, True):
        typed = tools.visit(store, index, args, max_chars=300, goal_mode=goal_mode)
        lenient = tools.visit_text(
            store, index, list(args.urls), args.goal, offset=40, max_chars=300, goal_mode=goal_mode
        )
        assert typed == lenient and typed.count("Page: [") == 2


class _TypedOnly:
    """The tiny backend, recording what the environment hands its tools; the lenient entry
    points fail, so the test fails if the environment's path goes through them."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.corpus, self.store = inner, inner.corpus, inner.store
        self.received: list[object] = []

    def search_call(self, args: SearchArgs, **kwargs: Any) -> str:
        self.received.append(args)
        return self.inner.search_call(args, **kwargs)

    def visit_call(self, args: VisitArgs, **kwargs: Any) -> str:
        self.received.append(args)
        return self.inner.visit_call(args, **kwargs)

    def search_text(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the environment re-checked a checked search call")

    def visit_text(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the environment re-checked a checked visit call")


def test_the_environment_hands_the_tools_typed_arguments(tiny_backend) -> None:
    backend = _TypedOnly(tiny_backend)
    env = WikiEnv(backend=backend, split="train")
    env.reset(seed=0)
    obs, *_ = env.step(
        '<tool_call>{"name": "search", "arguments": {"query": "bridge"}}</tool_call>'
    )
    assert "A search for 'bridge' found" in obs
    obs, _, _, _, info = env.step(
        '<tool_call>{"name": "visit", "arguments": {"url": ["Lumen Tower", "Nowhere Page"], '
        '"goal": "height", "offset": 0}}</tool_call>'
    )
    assert "Page: [Lumen Tower]" in obs and info["error"] == "page_not_found"
    # The title was resolved to its URL; the page that does not exist never reached the tools.
    assert backend.received == [SearchArgs(("bridge",)), VisitArgs((URL,), "height", 0)]


@pytest.mark.parametrize("setting", [{"top_k": 51}, {"max_items_per_call": 17}])
def test_the_environment_refuses_limits_beyond_the_tools(tiny_backend, setting) -> None:
    """The tools take the environment's checked values as they are, so its settings stay
    within the one set of limits (``MAX_TOP_K``, ``MAX_URLS``)."""
    with pytest.raises(ValueError, match="Expected (top_k|max_items_per_call) <="):
        WikiEnv(backend=tiny_backend, **setting)
    WikiEnv(backend=tiny_backend, top_k=50, max_items_per_call=16)
