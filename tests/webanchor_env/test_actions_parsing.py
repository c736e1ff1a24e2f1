"""The action parser: the grammar, what real models write, and bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webanchor_env.actions import (
    MAX_ACTION_DEPTH,
    MAX_QUERY_CHARS,
    TOOL_SCHEMAS,
    ErrorCode,
    ParsedAction,
    ToolCall,
    describe,
    parse_action,
)

URL = "https://wiki.local/wiki/Lumen_Tower"


def _search(*queries: str) -> ToolCall:
    return ToolCall("search", {"query": queries})


def test_full_turn_with_think_plan_and_two_calls() -> None:
    text = (
        "<think>First find the tower.</think>\n"
        "<plan>1. search 2. visit</plan>\n"
        '<tool_call>{"name": "search", "arguments": {"query": ["Lumen Tower", "architect"]}}'
        "</tool_call>\n"
        f'<tool_call>{{"name": "visit", "arguments": {{"url": ["{URL}"], "goal": "architect"}}}}'
        "</tool_call>"
    )
    parsed = parse_action(text)
    assert parsed == ParsedAction(
        tool_calls=(
            _search("Lumen Tower", "architect"),
            ToolCall("visit", {"url": (URL,), "goal": "architect", "offset": 0}),
        ),
        plan="1. search 2. visit",
        think="First find the tower.",
    )
    assert parsed.errors == ()


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "search", "arguments": {"query": "Lumen Tower"}}</tool_call>',
        '  <tool_call>\n  {"name": "search", "arguments": {"query": ["Lumen Tower"]}}\n </tool_call> ',
        '<tool_call>```json\n{"name": "search", "arguments": {"query": "Lumen Tower"}}\n```</tool_call>',
        "<tool_call>{'name': 'search', 'arguments': {'query': 'Lumen Tower'}}</tool_call>",
        '<tool_call>{"name": "search", "arguments": {"query": "Lumen Tower"}}',  # no closing tag
        '<tool_call>{"name": "search", "arguments": {"query": "Lumen Tower"}} and then</tool_call>',
        '{"name": "search", "arguments": {"query": "Lumen Tower"}}',  # bare JSON, no tags
        '```json\n{"name": "search", "arguments": {"query": "Lumen Tower"}}\n```',
        '<tool_call>{"name": "Search", "arguments": "{\\"query\\": \\"Lumen Tower\\"}"}</tool_call>',
        '<tool_call>{"name": "search", "query": "Lumen Tower"}</tool_call>',  # flat arguments
        '<TOOL_CALL>{"name": "search", "arguments": {"query": "Lumen Tower"}}</TOOL_CALL>',
        '{"name": "search", "arguments": {"query": "Lumen Tower"}}</tool_call>',  # prefilled tag
        '<tool_call>{"type": "function", "function": {"name": "search", '
        '"arguments": {"query": "Lumen Tower"}}}</tool_call>',
    ],
)
def test_tolerated_forms_of_one_search(text: str) -> None:
    parsed = parse_action(text)
    assert parsed.error is None
    assert parsed.tool_calls == (_search("Lumen Tower"),)


def test_tags_quoted_inside_think_are_ignored() -> None:
    text = "<think>I could write <answer>x</answer> now.</think><answer>Kessa</answer>"
    parsed = parse_action(text)
    assert parsed.answer == "Kessa"
    assert parsed.think == "I could write <answer>x</answer> now."


def test_unclosed_think_ends_at_the_next_tag() -> None:
    parsed = parse_action("<think>reasoning\n<answer>Kessa</answer>")
    assert (parsed.think, parsed.answer) == ("reasoning", "Kessa")


def test_closing_think_without_opening_is_thinking() -> None:
    parsed = parse_action("prefilled reasoning</think>\n<answer> Kessa </answer>")
    assert (parsed.think, parsed.answer) == ("prefilled reasoning", "Kessa")


def test_answer_forms() -> None:
    assert parse_action("<answer>1987</answer>").answer == "1987"
    assert parse_action({"name": "answer", "arguments": {"answer": "1987"}}).answer == "1987"
    assert parse_action({"name": "answer", "arguments": {"answer": 1987}}).answer == "1987"
    text = '<tool_call>{"name": "answer", "arguments": {"answer": "Kessa"}}</tool_call>'
    assert parse_action(text).answer == "Kessa"


def test_dict_actions_match_text_actions() -> None:
    as_dict = {"name": "visit", "arguments": {"url": URL, "goal": "g", "offset": 4000}}
    as_text = f"<tool_call>{json.dumps(as_dict)}</tool_call>"
    assert parse_action(as_dict).tool_calls == parse_action(as_text).tool_calls
    assert parse_action(as_dict).tool_calls[0].arguments == {
        "url": (URL,),
        "goal": "g",
        "offset": 4000,
    }


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("", ErrorCode.EMPTY_ACTION),
        ("   \n\t ", ErrorCode.EMPTY_ACTION),
        ("I think the answer is Kessa.", ErrorCode.NO_ACTION),
        ("<think>only thinking</think>", ErrorCode.NO_ACTION),
        ("<answer>  </answer>", ErrorCode.EMPTY_ANSWER),
        ("x" * 1_000_001, ErrorCode.ACTION_TOO_LONG),
        ("abc\x00def", ErrorCode.BINARY_ACTION),
        ("\ud800 lone surrogate", ErrorCode.BINARY_ACTION),
        (b"<answer>x</answer>", ErrorCode.BINARY_ACTION),
        (None, ErrorCode.INVALID_ACTION_TYPE),
        (42, ErrorCode.INVALID_ACTION_TYPE),
        (["search"], ErrorCode.INVALID_ACTION_TYPE),
        ({"arguments": {}}, ErrorCode.INVALID_TOOL_CALL),
        ({"name": "answer", "arguments": {}}, ErrorCode.MISSING_ARGUMENT),
        ({"name": "answer", "arguments": {"answer": ""}}, ErrorCode.EMPTY_ANSWER),
    ],
)
def test_action_level_errors(action: object, code: ErrorCode) -> None:
    parsed = parse_action(action)
    assert parsed.error is not None and parsed.error.code == code
    assert parsed.error.message
    assert parsed.tool_calls == () and parsed.answer is None


def test_format_error_explains_the_grammar() -> None:
    message = parse_action("hello").error.message  # type: ignore[union-attr]
    assert "<tool_call>" in message and "<answer>" in message and "Expected" in message


@pytest.mark.parametrize(
    ("body", "code", "mentions"),
    [
        ("not json at all", ErrorCode.INVALID_JSON, "JSON"),
        ("[1, 2]", ErrorCode.INVALID_JSON, "JSON"),  # no object in it
        ('{"arguments": {"query": "x"}}', ErrorCode.INVALID_TOOL_CALL, "name"),
        ('{"name": "browse", "arguments": {}}', ErrorCode.UNKNOWN_TOOL, "search, visit"),
        ('{"name": "search", "arguments": {}}', ErrorCode.MISSING_ARGUMENT, "query"),
        ('{"name": "search", "arguments": {"query": 3}}', ErrorCode.INVALID_ARGUMENT, "query"),
        ('{"name": "search", "arguments": {"query": []}}', ErrorCode.INVALID_ARGUMENT, "query"),
        ('{"name": "search", "arguments": {"query": [""]}}', ErrorCode.INVALID_ARGUMENT, "query"),
        (
            '{"name": "search", "arguments": {"query": ["a","b","c","d","e","f"]}}',
            ErrorCode.INVALID_ARGUMENT,
            "at most 5",
        ),
        ('{"name": "search", "arguments": [1]}', ErrorCode.INVALID_ARGUMENT, "object"),
        ('{"name": "visit", "arguments": {"goal": "g"}}', ErrorCode.MISSING_ARGUMENT, "url"),
        (
            f'{{"name": "visit", "arguments": {{"url": "{URL}", "goal": 5}}}}',
            ErrorCode.INVALID_ARGUMENT,
            "goal",
        ),
        (
            f'{{"name": "visit", "arguments": {{"url": "{URL}", "goal": "g", "offset": -1}}}}',
            ErrorCode.INVALID_ARGUMENT,
            "offset",
        ),
        (
            f'{{"name": "visit", "arguments": {{"url": "{URL}", "goal": "g", "offset": true}}}}',
            ErrorCode.INVALID_ARGUMENT,
            "offset",
        ),
        (
            '{"name": "search", "arguments": {"query": "' + "q" * 5000 + '"}}',
            ErrorCode.INVALID_ARGUMENT,
            "characters",
        ),
    ],
)
def test_tool_call_errors(body: str, code: ErrorCode, mentions: str) -> None:
    parsed = parse_action(f"<tool_call>{body}</tool_call>")
    assert parsed.error is None  # the turn is readable; the call is not
    (call,) = parsed.tool_calls
    assert call.error is not None and call.error.code == code
    assert mentions in call.error.message and "Expected" in call.error.message
    assert parsed.errors == (call.error,)


def test_good_and_bad_calls_keep_their_order() -> None:
    text = (
        '<tool_call>{"name": "search", "arguments": {"query": "a"}}</tool_call>'
        "<tool_call>oops</tool_call>"
        '<tool_call>{"name": "search", "arguments": {"query": "b"}}</tool_call>'
    )
    calls = parse_action(text).tool_calls
    assert [c.error is None for c in calls] == [True, False, True]
    assert calls[0].arguments["query"] == ("a",) and calls[2].arguments["query"] == ("b",)


def test_visit_without_goal_is_tolerated() -> None:
    (call,) = parse_action({"name": "visit", "arguments": {"url": URL}}).tool_calls
    assert call.error is None and call.arguments == {"url": (URL,), "goal": None, "offset": 0}


def test_offset_accepts_integral_forms() -> None:
    for offset in (12, 12.0, "12"):
        action = {"name": "visit", "arguments": {"url": URL, "goal": "g", "offset": offset}}
        assert parse_action(action).tool_calls[0].arguments["offset"] == 12


def test_max_chars_and_max_items_are_parameters() -> None:
    assert parse_action("<answer>abc</answer>", max_chars=5).error.code == ErrorCode.ACTION_TOO_LONG  # type: ignore[union-attr]
    call = parse_action({"name": "search", "arguments": {"query": ["a", "b"]}}, max_items=1)
    assert call.tool_calls[0].error.code == ErrorCode.INVALID_ARGUMENT  # type: ignore[union-attr]


def test_deeply_nested_json_is_an_error_not_a_crash() -> None:
    for body in ("[" * 20_000, "{" * 20_000, '{"a": ' * 5_000, '{"n": ' + "9" * 5_000 + "}"):
        parsed = parse_action(f"<tool_call>{body}</tool_call>")
        assert parsed.tool_calls[0].error is not None


def test_tool_schemas_are_openai_functions() -> None:
    names = [schema["function"]["name"] for schema in TOOL_SCHEMAS]
    assert names == ["search", "visit"]
    for schema in TOOL_SCHEMAS:
        assert schema["type"] == "function"
        params = schema["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
    json.dumps(TOOL_SCHEMAS)  # serializable into a prompt


_PIECES = [
    "<tool_call>",
    "</tool_call>",
    "<answer>",
    "</answer>",
    "<think>",
    "</think>",
    "<plan>",
    "{",
    "}",
    "[",
    "]",
    '"name"',
    '"arguments"',
    '"search"',
    '"visit"',
    '"query"',
    '"url"',
    ":",
    ",",
    "'",
    "```",
    " ",
    "\n",
    "x",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.binary(),
        st.lists(st.sampled_from(_PIECES)).map("".join),
        st.dictionaries(st.text(max_size=10), st.recursive(st.none() | st.text(), st.lists)),
        st.builds(
            lambda a: {"name": "visit", "arguments": a}, st.dictionaries(st.text(), st.text())
        ),
    )
)
def test_parse_action_never_raises(action: object) -> None:
    parsed = parse_action(action)
    assert isinstance(parsed, ParsedAction)
    assert parsed.error is not None or parsed.answer is not None or parsed.tool_calls


def test_python_literals_and_trailing_commas_are_read() -> None:
    text = (
        "<tool_call>{'name': 'visit', 'arguments': {'url': ['Lumen Tower',], 'goal': "
        "'the architect\\'s \"name\"', 'offset': None, },}</tool_call>"
    )
    (call,) = parse_action(text).tool_calls
    assert call == ToolCall(
        "visit", {"url": ("Lumen Tower",), "goal": 'the architect\'s "name"', "offset": 0}
    )
    unterminated = parse_action("<tool_call>{'name': 'search', 'arguments': {'query': 'x}}")
    assert unterminated.tool_calls[0].error.code == ErrorCode.INVALID_JSON  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("offset", "ok"),
    [("7", True), (" 7 ", True), ("\u00b2", False), ("١٢", False), ("9" * 4_301, False)]
    + [(10**9, True), (10**9 + 1, False), (10**5000, False), (1e300, False), (float("nan"), False)],
    ids=lambda v: describe(v, 20),
)
def test_offsets_are_ascii_integers_within_bounds(offset: object, ok: bool) -> None:
    (call,) = parse_action(
        {"name": "visit", "arguments": {"url": URL, "offset": offset}}
    ).tool_calls
    assert (call.error is None) == ok
    if not ok:
        assert call.error.code == ErrorCode.INVALID_ARGUMENT  # type: ignore[union-attr]
        assert len(call.error.message) < 200  # type: ignore[union-attr]


def test_mappings_have_the_limits_of_text() -> None:
    answer = {"name": "answer", "arguments": {"answer": "x" * 40_000}}
    assert parse_action(answer).error.code == ErrorCode.ACTION_TOO_LONG  # type: ignore[union-attr]
    assert parse_action(answer, max_chars=50_000).answer == "x" * 40_000
    deep: dict = {"name": "search", "arguments": {"query": "x"}}
    for _ in range(MAX_ACTION_DEPTH):
        deep = {"function": deep}
    assert parse_action(deep).error.code == ErrorCode.ACTION_TOO_DEEP  # type: ignore[union-attr]
    cycle: dict = {"name": "search"}
    cycle["arguments"] = cycle
    assert parse_action(cycle).error.code == ErrorCode.ACTION_TOO_DEEP  # type: ignore[union-attr]
    body = '{"name": "search", "arguments": {"query": ' + "[" * 40 + '"x"' + "]" * 40 + "}}"
    (call,) = parse_action(f"<tool_call>{body}</tool_call>").tool_calls
    assert call.error.code == ErrorCode.ACTION_TOO_DEEP  # type: ignore[union-attr]


def test_one_query_limit_for_the_parser_and_the_index() -> None:
    from webanchor_env.index import MAX_QUERY_CHARS as INDEX_LIMIT

    assert MAX_QUERY_CHARS == INDEX_LIMIT
    call = parse_action({"name": "search", "arguments": {"query": "q" * (MAX_QUERY_CHARS + 1)}})
    assert call.tool_calls[0].error.code == ErrorCode.INVALID_ARGUMENT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [10**5000, "x" * 10**6, [[[[[["deep"]]]]]], {"k": list(range(10**5))}, object(), b"\x00"],
    ids=lambda v: type(v).__name__,
)
def test_describe_is_short_whatever_the_value(value: object) -> None:
    text = describe(value)
    assert 0 < len(text) <= 80
