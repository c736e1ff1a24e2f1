"""Parsing what an agent writes into tool calls, an answer, a plan and its thinking.

The grammar is the one of open web agents (Tongyi DeepResearch, WebSailor)::

    <think>…</think>                      optional, free text
    <plan>…</plan>                        optional, usually in the first turn
    <tool_call>{"name": "search", "arguments": {"query": ["…", "…"]}}</tool_call>
    <tool_call>{"name": "visit", "arguments": {"url": ["…"], "goal": "…"}}</tool_call>
    <answer>…</answer>

Non-LLM code may pass the same action as a mapping ``{"name": ..., "arguments": {...}}``,
and ``{"name": "answer", "arguments": {"answer": "..."}}`` answers (the gold action sequences
of the tasks end with it). :func:`parse_action` is pure: it never raises on any input and
never looks anything up. It tolerates what real models write: whitespace, code fences around
the JSON, single-quoted (Python-literal) JSON, trailing text after the JSON, a missing closing
tag, a bare JSON object without tags, ``arguments`` given as a JSON string, and a string where
a list is expected. Whatever it cannot read becomes an :class:`ActionError` whose message says
what was wrong and what is expected; the environment shows that message to the agent.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

DEFAULT_MAX_ACTION_CHARS = 32_768
DEFAULT_MAX_ITEMS = 5  # queries per search call, URLs per visit call
MAX_QUERY_CHARS = 1_000
MAX_URL_CHARS = 2_048
MAX_GOAL_CHARS = 2_000

SEARCH, VISIT, ANSWER = "search", "visit", "answer"
TOOL_NAMES = (SEARCH, VISIT)


class ErrorCode(str, Enum):
    """Why an action, or one tool call in it, could not be carried out (``info["error"]``)."""

    INVALID_ACTION_TYPE = "invalid_action_type"  # neither str nor mapping
    BINARY_ACTION = "binary_action"  # bytes, NUL/control characters, lone surrogates
    ACTION_TOO_LONG = "action_too_long"
    EMPTY_ACTION = "empty_action"
    NO_ACTION = "no_action"  # text without a tool call or an answer
    EMPTY_ANSWER = "empty_answer"
    INVALID_JSON = "invalid_json"  # a tool call whose body is not a JSON object
    INVALID_TOOL_CALL = "invalid_tool_call"  # JSON object without a usable "name"
    UNKNOWN_TOOL = "unknown_tool"
    MISSING_ARGUMENT = "missing_argument"
    INVALID_ARGUMENT = "invalid_argument"
    # Raised by the environment, which knows the corpus and the budgets:
    INVALID_URL = "invalid_url"  # not a URL or title of this wiki (other hosts, files, schemes)
    PAGE_NOT_FOUND = "page_not_found"
    TOO_MANY_TOOL_CALLS = "too_many_tool_calls"
    TOOL_CALLS_IGNORED = "tool_calls_ignored"  # tool calls written next to an answer


@dataclass(frozen=True)
class ActionError:
    """What was wrong with an action: a stable ``code`` and a message for the agent."""

    code: ErrorCode
    message: str


@dataclass(frozen=True)
class ToolCall:
    """One call of ``search`` or ``visit`` with its arguments in normal form.

    ``search``: ``{"query": tuple[str, ...]}``.
    ``visit``: ``{"url": tuple[str, ...], "goal": str | None, "offset": int}`` (the schema
    asks for a goal; a call without one is still run).
    When ``error`` is set the call is not executed and ``arguments`` holds what was read.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: ActionError | None = None


@dataclass(frozen=True)
class ParsedAction:
    """An action read from text or a mapping.

    ``error`` is set when the action as a whole is unusable (empty, binary, too long, no tool
    call and no answer); errors of single tool calls sit on those calls.
    """

    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    plan: str | None = None
    think: str | None = None
    error: ActionError | None = None

    @property
    def errors(self) -> tuple[ActionError, ...]:
        """Every error in the action: the action's own, then each tool call's, in order."""
        own = (self.error,) if self.error else ()
        return own + tuple(c.error for c in self.tool_calls if c.error)


# --- Tool schemas (OpenAI function-calling format); the prompt builder renders these. ---------

TOOL_SCHEMAS: tuple[dict[str, Any], ...] = (
    {
        "type": "function",
        "function": {
            "name": SEARCH,
            "description": (
                "Search the wiki. Returns, for each query, the top pages with their URL, "
                "title and a snippet."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": DEFAULT_MAX_ITEMS,
                        "description": "One or more search queries, run together.",
                    }
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": VISIT,
            "description": (
                "Read wiki pages. Returns the text of each page (a window of it; pass offset "
                "to read further)."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "url": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": DEFAULT_MAX_ITEMS,
                        "description": "URLs (https://wiki.local/wiki/Title) or page titles.",
                    },
                    "goal": {
                        "type": "string",
                        "description": "What information to look for on these pages.",
                    },
                    "offset": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "Character offset to start reading at (default 0).",
                    },
                },
                "required": ["url", "goal"],
            },
        },
    },
)

FORMAT_HELP = (
    "Expected a turn of the form\n"
    "<think>your reasoning (optional)</think>\n"
    '<tool_call>{"name": "search", "arguments": {"query": ["query 1", "query 2"]}}</tool_call>\n'
    '<tool_call>{"name": "visit", "arguments": {"url": ["https://wiki.local/wiki/Title"], '
    '"goal": "what to find"}}</tool_call>\n'
    "or, to finish, <answer>the answer</answer>."
)

# --- Text segmentation ------------------------------------------------------------------------

_TAG = re.compile(r"<\s*(/?)\s*(think|plan|tool_call|answer)\s*>", re.IGNORECASE)
_FENCE = re.compile(r"^```[a-zA-Z0-9_-]*\s*|\s*```$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CLOSED_BY_OWN_TAG_ONLY = ("think", "plan")  # free text that may quote other tags


def _segments(text: str) -> tuple[list[tuple[str, str]], str]:
    """Split text into (tag, content) pairs, in order, and the text outside every tag.

    A tag's content runs to its closing tag. ``think`` and ``plan`` may quote other tags, so
    they end only at their own closing tag (or, when it is missing, at the next opening tag);
    ``tool_call`` and ``answer`` end at their closing tag or at the next opening tag, whichever
    comes first, since generation often stops right before a closing tag. A closing tag with
    no opening one closes the text before it (the opening tag was in a prefilled prompt).
    """
    matches = list(_TAG.finditer(text))
    segments: list[tuple[str, str]] = []
    outside: list[str] = []
    position, k = 0, 0
    while k < len(matches):
        tag = matches[k]
        name = tag.group(2).lower()
        if tag.group(1):  # a closing tag that nothing opened
            content = text[position : tag.start()].strip()
            if content:
                segments.append((name, content))
            position, k = tag.end(), k + 1
            continue
        outside.append(text[position : tag.start()])
        later = range(k + 1, len(matches))
        next_open = next((j for j in later if not matches[j].group(1)), None)
        close = next(
            (j for j in later if matches[j].group(1) and matches[j].group(2).lower() == name),
            None,
        )
        if close is not None and (
            name in _CLOSED_BY_OWN_TAG_ONLY or next_open is None or close < next_open
        ):
            end, position, k = matches[close].start(), matches[close].end(), close + 1
        elif next_open is not None:
            end = position = matches[next_open].start()
            k = next_open
        else:
            end = position = len(text)
            k = len(matches)
        segments.append((name, text[tag.end() : end].strip()))
    outside.append(text[position:])
    return segments, "".join(outside).strip()


# --- JSON tolerance ---------------------------------------------------------------------------


def _load_object(body: str) -> Any:
    """Read a JSON object leniently; returns ``None`` when nothing readable is found."""
    body = _FENCE.sub("", body.strip()).strip()
    start = body.find("{")
    if start < 0:
        return None
    candidate = body[start:]
    try:
        return json.JSONDecoder().raw_decode(candidate)[0]
    except (ValueError, RecursionError):  # JSONDecodeError, or an int of > 4300 digits
        pass
    end = candidate.rfind("}")
    try:  # single quotes, True/False/None: a Python literal
        return ast.literal_eval(candidate[: end + 1])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _error(code: ErrorCode, message: str) -> ActionError:
    return ActionError(code, message)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Arguments --------------------------------------------------------------------------------


def _string_list(
    arguments: Mapping[str, Any], key: str, tool: str, max_items: int, max_chars: int
) -> tuple[str, ...] | ActionError:
    if key not in arguments:
        return _error(
            ErrorCode.MISSING_ARGUMENT,
            f"The {tool} call has no {key!r} argument. Expected {key!r}: a string or a list "
            f"of up to {max_items} strings.",
        )
    value = arguments[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected {key!r} to be a string or a list of strings, got {_short(value)}.",
        )
    items = [v.strip() for v in items]
    if not items or not all(items):
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected {key!r} to hold non-empty strings, got {_short(value)}.",
        )
    if len(items) > max_items:
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected at most {max_items} items in {key!r} of one {tool} call, got {len(items)}.",
        )
    too_long = next((v for v in items if len(v) > max_chars), None)
    if too_long is not None:
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected each {key!r} item to have at most {max_chars} characters, "
            f"got one of {len(too_long)}.",
        )
    return tuple(items)


def _offset(arguments: Mapping[str, Any]) -> int | ActionError:
    value = arguments.get("offset", 0)
    if value is None:
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected 'offset' to be a non-negative integer, got {_short(value)}.",
        )
    return value


def _tool_call(name: str, arguments: Mapping[str, Any], max_items: int) -> ToolCall:
    """Check and normalize the arguments of a search or visit call."""
    raw = dict(arguments)
    if name == SEARCH:
        queries = _string_list(arguments, "query", SEARCH, max_items, MAX_QUERY_CHARS)
        if isinstance(queries, ActionError):
            return ToolCall(name, raw, queries)
        return ToolCall(name, {"query": queries})
    urls = _string_list(arguments, "url", VISIT, max_items, MAX_URL_CHARS)
    if isinstance(urls, ActionError):
        return ToolCall(name, raw, urls)
    goal = arguments.get("goal")
    if goal is not None and (not isinstance(goal, str) or len(goal) > MAX_GOAL_CHARS):
        return ToolCall(
            name,
            raw,
            _error(
                ErrorCode.INVALID_ARGUMENT,
                f"Expected 'goal' to be a string of at most {MAX_GOAL_CHARS} characters, "
                f"got {_short(goal)}.",
            ),
        )
    offset = _offset(arguments)
    if isinstance(offset, ActionError):
        return ToolCall(name, raw, offset)
    return ToolCall(name, {"url": urls, "goal": goal.strip() if goal else None, "offset": offset})


def _answer_text(arguments: Mapping[str, Any]) -> str | ActionError:
    value = arguments.get("answer")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return _error(
            ErrorCode.MISSING_ARGUMENT if value is None else ErrorCode.INVALID_ARGUMENT,
            f"Expected the answer call to carry 'answer': a string, got {_short(value)}.",
        )
    if not value.strip():
        return _error(ErrorCode.EMPTY_ANSWER, "The answer is empty. " + FORMAT_HELP)
    return value.strip()


def _read_call(obj: Any, max_items: int) -> ToolCall | str | ActionError:
    """A tool call, an answer string, or an error, from a decoded JSON value or a mapping."""
    if not isinstance(obj, Mapping):
        return _error(
            ErrorCode.INVALID_TOOL_CALL,
            f'Expected a tool call object {{"name": ..., "arguments": {{...}}}}, got {_short(obj)}.',
        )
    if isinstance(obj.get("function"), Mapping):  # {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        return _error(
            ErrorCode.INVALID_TOOL_CALL,
            f"The tool call has no 'name'. Expected 'name' to be one of {', '.join(TOOL_NAMES)}, "
            f"got {_short(name)}.",
        )
    name = name.strip().lower()
    arguments = obj.get("arguments", obj.get("parameters"))
    if arguments is None:  # tolerate flat {"name": "search", "query": "..."}
        arguments = {k: v for k, v in obj.items() if k not in ("name", "type")}
    if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
        arguments = _load_object(arguments)
    if not isinstance(arguments, Mapping):
        return ToolCall(
            name,
            {},
            _error(
                ErrorCode.INVALID_ARGUMENT,
                f"Expected 'arguments' of the {name} call to be an object, "
                f"got {_short(obj.get('arguments'))}.",
            ),
        )
    if name == ANSWER:
        return _answer_text(arguments)
    if name not in TOOL_NAMES:
        return ToolCall(
            name,
            dict(arguments),
            _error(
                ErrorCode.UNKNOWN_TOOL,
                f"Unknown tool {_short(name, 40)}. Expected one of: {', '.join(TOOL_NAMES)} "
                "(or <answer>…</answer> to answer).",
            ),
        )
    return _tool_call(name, arguments, max_items)


# --- Entry point ------------------------------------------------------------------------------


def _check_text(action: str, max_chars: int) -> ActionError | None:
    if len(action) > max_chars:
        return _error(
            ErrorCode.ACTION_TOO_LONG,
            f"The action has {len(action)} characters. Expected at most {max_chars}.",
        )
    if _CONTROL.search(action):
        return _error(
            ErrorCode.BINARY_ACTION,
            "The action contains control characters (such as NUL). Expected plain text.",
        )
    try:
        action.encode("utf-8")
    except UnicodeEncodeError:
        return _error(
            ErrorCode.BINARY_ACTION,
            "The action is not valid Unicode text (lone surrogates). Expected plain text.",
        )
    if not action.strip():
        return _error(ErrorCode.EMPTY_ACTION, "The action is empty. " + FORMAT_HELP)
    return None


def _from_mapping(action: Mapping[Any, Any], max_items: int) -> ParsedAction:
    result = _read_call(action, max_items)
    if isinstance(result, ActionError):
        return ParsedAction(error=result)
    if isinstance(result, str):
        return ParsedAction(answer=result)
    return ParsedAction(tool_calls=(result,))


def _read_body(body: str, max_items: int) -> ToolCall | str:
    """One ``<tool_call>`` body: a tool call (maybe with an error) or an answer string."""
    obj = _load_object(body)
    if obj is None:
        return ToolCall(
            "",
            {},
            _error(
                ErrorCode.INVALID_JSON,
                f"Could not read the tool call {_short(body)} as JSON. Expected "
                '{"name": "search" or "visit", "arguments": {...}}.',
            ),
        )
    result = _read_call(obj, max_items)
    return ToolCall("", {}, result) if isinstance(result, ActionError) else result


def _from_text(text: str, max_items: int) -> ParsedAction:
    segments, outside = _segments(text)
    tagged = any(t in ("tool_call", "answer") for t, _ in segments)
    if not tagged and "{" in outside and isinstance(_load_object(outside), Mapping):
        segments.append(("tool_call", outside))  # a bare JSON tool call, without tags
    calls: list[ToolCall] = []
    answer: str | None = None
    answer_error: ActionError | None = None
    for tag, content in segments:
        if tag == "tool_call":
            result = _read_body(content, max_items)
            if isinstance(result, ToolCall):
                calls.append(result)
            elif answer is None:
                answer = result
        elif tag == "answer" and answer is None:
            if content:
                answer = content
            else:
                answer_error = answer_error or _error(
                    ErrorCode.EMPTY_ANSWER, "The answer is empty. " + FORMAT_HELP
                )
    error = None
    if answer is None and not calls:
        error = answer_error or _error(
            ErrorCode.NO_ACTION, "The turn has no tool call and no answer. " + FORMAT_HELP
        )
    think = "\n".join(c for t, c in segments if t == "think") or None
    plan = "\n".join(c for t, c in segments if t == "plan") or None
    return ParsedAction(tuple(calls), answer, plan, think, error)


def parse_action(
    action: Any,
    *,
    max_chars: int = DEFAULT_MAX_ACTION_CHARS,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> ParsedAction:
    """Read an action (text or mapping) into a :class:`ParsedAction`; never raises.

    Args:
        action: the text an agent wrote, or a mapping ``{"name": ..., "arguments": {...}}``.
        max_chars: longer texts are rejected unread (``action_too_long``).
        max_items: the most queries one search call, or URLs one visit call, may carry.
    """
    if isinstance(action, Mapping):
        return _from_mapping(action, max_items)
    if isinstance(action, (bytes, bytearray, memoryview)):
        return ParsedAction(
            error=_error(
                ErrorCode.BINARY_ACTION,
                f"The action is {type(action).__name__}. Expected a str (decode it first) or a "
                "mapping.",
            )
        )
    if not isinstance(action, str):
        return ParsedAction(
            error=_error(
                ErrorCode.INVALID_ACTION_TYPE,
                f'Expected the action to be a str or a mapping {{"name": ..., "arguments": '
                f"{{...}}}}, got {type(action).__name__}.",
            )
        )
    problem = _check_text(action, max_chars)
    if problem is not None:
        return ParsedAction(error=problem)
    return _from_text(action, max_items)
