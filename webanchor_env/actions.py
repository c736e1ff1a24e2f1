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
the JSON, single-quoted (Python-literal) JSON, trailing commas, trailing text after the JSON, a
missing closing tag, a bare JSON object without tags, ``arguments`` given as a JSON string,
and a string where a list is expected. Whatever it cannot read becomes an :class:`ActionError`
whose message says what was wrong and what is expected; the environment shows that message
to the agent.

Parsing takes time linear in the size of the action, whatever the action: the limits below
are applied before anything is read (the length of a text; the compact-JSON size and the
nesting of a mapping), the text is scanned once for tags without backtracking regular
expressions, and each tool-call body is decoded at most twice (as JSON, then once more after
a one-pass rewrite of Python-literal spellings into JSON). ``ParsedAction.work`` counts the
characters and values the parser examined, so that tests can check the bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

from webanchor_env import jsonish

# --- Limits: one set, for the parser, the environment and the tools ---------------------------

DEFAULT_MAX_ACTION_CHARS = 32_768
"""Longest action: the length of a text, or the compact-JSON size of a mapping."""
MAX_ACTION_DEPTH = 16
"""Deepest nesting of containers in a mapping action or a tool call's JSON (a call needs 3)."""
DEFAULT_MAX_ITEMS = 5
"""Queries per search call, URLs per visit call."""
MAX_QUERY_CHARS = 512
"""Longest search query; the search index cuts longer ones here too (the encoder reads
~256 tokens anyway)."""
MAX_URL_CHARS = 2_048
"""Longest URL or page title in a visit call."""
MAX_GOAL_CHARS = 2_000
"""Longest goal of a visit call."""
MAX_OFFSET = 1_000_000_000
"""Largest ``offset`` of a visit call (characters, or passages in goal mode)."""
MAX_TOP_K = 50
"""Most search results per query a tool or the search service returns."""
MAX_QUERIES = 32
"""Most queries one search call runs (the lenient tools drop the rest and say so)."""
MAX_URLS = 16
"""Most URLs one visit call reads (the lenient tools drop the rest and say so); an
environment's ``max_items_per_call`` is at most this."""

SEARCH, VISIT, ANSWER = "search", "visit", "answer"
TOOL_NAMES = (SEARCH, VISIT)


class ErrorCode(str, Enum):
    """Why an action, or one tool call in it, could not be carried out (``info["error"]``)."""

    INVALID_ACTION_TYPE = "invalid_action_type"  # neither str nor mapping
    BINARY_ACTION = "binary_action"  # bytes, NUL/control characters, lone surrogates
    ACTION_TOO_LONG = "action_too_long"  # over DEFAULT_MAX_ACTION_CHARS (text or mapping)
    ACTION_TOO_DEEP = "action_too_deep"  # containers nested deeper than MAX_ACTION_DEPTH
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
class SearchArgs:
    """The arguments of a checked ``search`` call: 1 to ``max_items`` stripped, non-empty
    queries of at most ``MAX_QUERY_CHARS`` characters."""

    queries: tuple[str, ...]


@dataclass(frozen=True)
class VisitArgs:
    """The arguments of a checked ``visit`` call: URLs or titles (at most ``MAX_URL_CHARS``
    each), an optional stripped goal (at most ``MAX_GOAL_CHARS``), ``0 <= offset <=
    MAX_OFFSET``."""

    urls: tuple[str, ...]
    goal: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class ToolCall:
    """One call of ``search`` or ``visit`` with its arguments in normal form.

    ``search``: ``{"query": tuple[str, ...]}``: 1 to ``max_items`` stripped, non-empty
    strings of at most ``MAX_QUERY_CHARS`` characters.
    ``visit``: ``{"url": tuple[str, ...], "goal": str | None, "offset": int}``: URLs as
    queries (at most ``MAX_URL_CHARS``), a stripped goal of at most ``MAX_GOAL_CHARS`` (the
    schema asks for one; a call without it is still run), ``0 <= offset <= MAX_OFFSET``.
    Every argument is checked here once; the environment and the tools take them as they
    are. When ``error`` is set the call is not executed and ``arguments`` holds what was read.
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: ActionError | None = None

    @property
    def args(self) -> SearchArgs | VisitArgs:
        """The checked arguments, typed: what the tools take. Only for a call without
        ``error`` (a call with one was never checked whole)."""
        if self.error is not None or self.name not in TOOL_NAMES:
            raise ValueError(f"A {self.name or 'broken'} call with an error has no checked args.")
        if self.name == SEARCH:
            return SearchArgs(tuple(self.arguments["query"]))
        a = self.arguments
        return VisitArgs(tuple(a["url"]), a.get("goal"), a.get("offset", 0))


@dataclass(frozen=True)
class ParsedAction:
    """An action read from text or a mapping.

    ``error`` is set when the action as a whole is unusable (empty, binary, too long or too
    deep, no tool call and no answer); errors of single tool calls sit on those calls.
    ``work`` is how many characters and values the parser examined: at most a small
    multiple of the action's length (not part of equality).
    """

    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    plan: str | None = None
    think: str | None = None
    error: ActionError | None = None
    work: int = field(default=0, compare=False)

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

# --- Describing values in messages ------------------------------------------------------------


def describe(value: Any, limit: int = 80) -> str:
    """A short preview of any value for a message; bounded work, never raises.

    Strings and numbers look as in Python; containers show their first items; integers too
    long to print and objects of other types are named, not printed.
    """
    text = _preview(value, limit, depth=3)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(value: Any, budget: int, depth: int) -> str:
    if isinstance(value, str):
        return repr(value[: budget + 1])
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() <= 256:
            return repr(value)
        return f"<an integer of about {int(value.bit_length() * 0.30103):,} digits>"
    if isinstance(value, (Mapping, list, tuple)):
        is_map = isinstance(value, Mapping)
        opening, closing = ("{", "}") if is_map else ("[", "]")
        if depth == 0:
            return f"{opening}…{closing}"
        parts, used = [], 0
        for item in value.items() if is_map else value:
            if used > budget:
                parts.append("…")
                break
            if is_map:
                key, val = item
                part = f"{_preview(key, budget, depth - 1)}: {_preview(val, budget, depth - 1)}"
            else:
                part = _preview(item, budget, depth - 1)
            parts.append(part)
            used += len(part) + 2
        return opening + ", ".join(parts) + closing
    return f"<{type(value).__name__}>"


def _error(code: ErrorCode, message: str) -> ActionError:
    return ActionError(code, message)


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
            f"Expected {key!r} to be a string or a list of strings, got {describe(value)}.",
        )
    if len(items) > max_items:
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected at most {max_items} items in {key!r} of one {tool} call, got {len(items)}.",
        )
    items = [v.strip() for v in items]
    if not items or not all(items):
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected {key!r} to hold non-empty strings, got {describe(value)}.",
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
    """``offset`` as an int in [0, MAX_OFFSET]: an int, an integral float or ASCII digits."""
    value = arguments.get("offset", 0)
    if value is None:
        return 0
    if isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) <= len(str(MAX_OFFSET)):
            value = int(digits)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_OFFSET:
        return _error(
            ErrorCode.INVALID_ARGUMENT,
            f"Expected 'offset' to be an integer from 0 to {MAX_OFFSET}, got {describe(value)}.",
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
                f"got {describe(goal)}.",
            ),
        )
    offset = _offset(arguments)
    if isinstance(offset, ActionError):
        return ToolCall(name, raw, offset)
    return ToolCall(name, {"url": urls, "goal": goal.strip() if goal else None, "offset": offset})


def _answer_text(arguments: Mapping[str, Any]) -> str | ActionError:
    value = arguments.get("answer")
    if isinstance(value, float) or (
        isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 256
    ):
        value = str(value)
    if not isinstance(value, str):
        return _error(
            ErrorCode.MISSING_ARGUMENT if value is None else ErrorCode.INVALID_ARGUMENT,
            f"Expected the answer call to carry 'answer': a string, got {describe(value)}.",
        )
    if not value.strip():
        return _error(ErrorCode.EMPTY_ANSWER, "The answer is empty. " + FORMAT_HELP)
    return value.strip()


# --- The parser -------------------------------------------------------------------------------

_TAG_NAMES = {"t": ("tool_call", "think"), "a": ("answer",), "p": ("plan",)}  # by first letter
_CLOSED_BY_OWN_TAG_ONLY = ("think", "plan")  # free text that may quote other tags
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Each pattern below is one repeated character class matched at a given position: it scans
# forward once and cannot backtrack, so every use costs the length of what it matches.
_SPACES = re.compile(r"\s*")
_FENCE_INFO = re.compile(r"[A-Za-z0-9_-]*")


class _Tag(NamedTuple):
    name: str
    closing: bool
    start: int
    end: int


class _Parser:
    """One call of :func:`parse_action`: its limits and the work done so far.

    Every method charges ``work`` with what it examined (characters scanned or decoded,
    values measured), so that the total can be checked against the action's size.
    """

    def __init__(self, max_chars: int, max_items: int) -> None:
        self.max_chars = max_chars
        self.max_items = max_items
        self.work = 0

    # --- limits -------------------------------------------------------------------------------

    def check_size(self, value: Any) -> ActionError | None:
        """Whether ``value`` keeps within the limits, measured as its compact JSON would be.

        Every value counts at least one character, and the walk stops at the first limit
        exceeded, so it visits at most ``max_chars`` values. Cycles count as too deep.
        """
        size, stack = 0, [(value, 0)]
        while stack:
            item, depth = stack.pop()
            self.work += 1
            if isinstance(item, str):
                size += len(item) + 2
            elif item is None or isinstance(item, (bool, float)):
                size += 5
            elif isinstance(item, int):
                size += int(item.bit_length() * 0.30103) + 2
            elif isinstance(item, (Mapping, list, tuple)):
                if depth == MAX_ACTION_DEPTH:
                    return _error(
                        ErrorCode.ACTION_TOO_DEEP,
                        f"The action nests objects and lists more than {MAX_ACTION_DEPTH} levels "
                        'deep. Expected {"name": ..., "arguments": {...}} with flat arguments.',
                    )
                is_map = isinstance(item, Mapping)
                size += 2 + len(item) * (2 if is_map else 1)  # brackets, separators (, and :)
                if size <= self.max_chars:  # (else the check below ends the walk)
                    self.work += len(item)
                    children = item.items() if is_map else ((child,) for child in item)
                    stack += [(part, depth + 1) for pair in children for part in pair]
            else:
                size += len(type(item).__name__) + 2
            if size > self.max_chars:
                return _error(
                    ErrorCode.ACTION_TOO_LONG,
                    f"The action is larger than {self.max_chars} characters (as compact JSON). "
                    f"Expected at most {self.max_chars}.",
                )
        return None

    def check_text(self, action: str) -> ActionError | None:
        if len(action) > self.max_chars:
            return _error(
                ErrorCode.ACTION_TOO_LONG,
                f"The action has {len(action)} characters. Expected at most {self.max_chars}.",
            )
        self.work += 3 * len(action)  # the control-character search, encoding and strip
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

    # --- text: tags ---------------------------------------------------------------------------

    def _skip(self, pattern: re.Pattern[str], text: str, at: int) -> int:
        end = pattern.match(text, at).end()  # type: ignore[union-attr]  (patterns match "")
        self.work += end - at + 1
        return end

    def _tag_at(self, text: str, at: int) -> tuple[_Tag | None, int]:
        """The tag whose ``<`` is at ``at``, and where to look for the next ``<``.

        Tags are ``<name>`` or ``</name>``, case-insensitive, with whitespace allowed around
        the slash and the name. No ``<`` lies between ``at`` and the returned position.
        """
        i = at + 1
        if text[i : i + 1].isspace():
            i = self._skip(_SPACES, text, i)
        closing = text.startswith("/", i)
        if closing:
            i += 1
            if text[i : i + 1].isspace():
                i = self._skip(_SPACES, text, i)
        for name in _TAG_NAMES.get(text[i : i + 1].lower(), ()):
            end = i + len(name)
            word = text[i:end]
            self.work += len(name)
            if word.isascii() and word.lower() == name:
                if text[end : end + 1].isspace():
                    end = self._skip(_SPACES, text, end)
                if text.startswith(">", end):
                    return _Tag(name, closing, at, end + 1), end + 1
                return None, end
        return None, i

    def tags(self, text: str) -> list[_Tag]:
        """Every tag of the grammar in ``text``, in order, in one forward scan."""
        found, position = [], 0
        while (at := text.find("<", position)) >= 0:
            self.work += at - position + 1
            tag, position = self._tag_at(text, at)
            if tag is not None:
                found.append(tag)
        self.work += len(text) - position
        return found

    def segments(self, text: str) -> tuple[list[tuple[str, str]], str]:
        """Split text into (tag, content) pairs, in order, and the text outside every tag.

        A tag's content runs to its closing tag. ``think`` and ``plan`` may quote other tags,
        so they end only at their own closing tag (or, when it is missing, at the next
        opening tag); ``tool_call`` and ``answer`` end at their closing tag or at the next
        opening tag, whichever comes first, since generation often stops right before a
        closing tag. A closing tag with no opening one closes the text before it (the opening
        tag was in a prefilled prompt).
        """
        tags = self.tags(text)
        # For each tag: the next opening tag, and the next closing tag of the same name.
        next_open: list[int | None] = [None] * len(tags)
        next_close: list[int | None] = [None] * len(tags)
        following_open, last_close = None, {}
        for k in range(len(tags) - 1, -1, -1):
            next_open[k], next_close[k] = following_open, last_close.get(tags[k].name)
            if tags[k].closing:
                last_close[tags[k].name] = k
            else:
                following_open = k
        self.work += len(tags)
        segments: list[tuple[str, str]] = []
        outside: list[str] = []
        position, k = 0, 0
        while k < len(tags):
            tag = tags[k]
            if tag.closing:  # a closing tag that nothing opened
                content = text[position : tag.start].strip()
                if content:
                    segments.append((tag.name, content))
                position, k = tag.end, k + 1
                continue
            outside.append(text[position : tag.start])
            close, opening = next_close[k], next_open[k]
            if close is not None and (
                tag.name in _CLOSED_BY_OWN_TAG_ONLY or opening is None or close < opening
            ):
                end, position, k = tags[close].start, tags[close].end, close + 1
            elif opening is not None:
                end = position = tags[opening].start
                k = opening
            else:
                end = position = len(text)
                k = len(tags)
            segments.append((tag.name, text[tag.end : end].strip()))
        outside.append(text[position:])
        self.work += 2 * len(text)  # the slices and strips above cover the text about twice
        return segments, "".join(outside).strip()

    # --- text: JSON ---------------------------------------------------------------------------

    def load_object(self, body: str) -> Any:
        """Read a JSON object leniently; returns ``None`` when nothing readable is found.

        Code fences around it and text after it are ignored; single-quoted strings, Python's
        True/False/None and trailing commas are read too (:func:`jsonish.load_object`).
        """
        obj, work = jsonish.load_object(self._unfenced(body))
        self.work += work
        return obj

    def _unfenced(self, body: str) -> str:
        """``body`` without a Markdown code fence (and its info string) around it."""
        body = body.strip()
        if body.startswith("```"):
            body = body[self._skip(_FENCE_INFO, body, 3) :]
        if body.endswith("```"):
            body = body[:-3]
        self.work += 2 * len(body)
        return body.strip()

    # --- tool calls ---------------------------------------------------------------------------

    def read_call(self, obj: Any) -> ToolCall | str | ActionError:
        """A tool call, an answer string, or an error, from a decoded JSON value or a mapping."""
        if not isinstance(obj, Mapping):
            return _error(
                ErrorCode.INVALID_TOOL_CALL,
                f'Expected a tool call object {{"name": ..., "arguments": {{...}}}}, '
                f"got {describe(obj)}.",
            )
        if isinstance(obj.get("function"), Mapping):  # {"type": "function", "function": {...}}
            obj = obj["function"]
        name = obj.get("name")
        if not isinstance(name, str) or not name.strip():
            return _error(
                ErrorCode.INVALID_TOOL_CALL,
                f"The tool call has no 'name'. Expected 'name' to be one of "
                f"{', '.join(TOOL_NAMES)}, got {describe(name)}.",
            )
        name = name.strip().lower()
        arguments = obj.get("arguments", obj.get("parameters"))
        if arguments is None:  # tolerate flat {"name": "search", "query": "..."}
            arguments = {k: v for k, v in obj.items() if k not in ("name", "type")}
        if isinstance(arguments, str):  # OpenAI style: arguments as a JSON string
            arguments = self.load_object(arguments)
            problem = self.check_size(arguments)
            if problem is not None:
                return ToolCall(name, {}, problem)
        if not isinstance(arguments, Mapping):
            return ToolCall(
                name,
                {},
                _error(
                    ErrorCode.INVALID_ARGUMENT,
                    f"Expected 'arguments' of the {describe(name, 40)} call to be an object, "
                    f"got {describe(obj.get('arguments'))}.",
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
                    f"Unknown tool {describe(name, 40)}. Expected one of: {', '.join(TOOL_NAMES)} "
                    "(or <answer>…</answer> to answer).",
                ),
            )
        return _tool_call(name, arguments, self.max_items)

    def read_body(self, body: str, obj: Any = None) -> ToolCall | str:
        """One ``<tool_call>`` body (``obj``: its object when already decoded): a tool call
        (maybe with an error) or an answer string."""
        obj = self.load_object(body) if obj is None else obj
        if obj is None:
            return ToolCall(
                "",
                {},
                _error(
                    ErrorCode.INVALID_JSON,
                    f"Could not read the tool call {describe(body)} as JSON. Expected "
                    '{"name": "search" or "visit", "arguments": {...}}.',
                ),
            )
        result = self.check_size(obj) or self.read_call(obj)
        return ToolCall("", {}, result) if isinstance(result, ActionError) else result

    # --- whole actions ------------------------------------------------------------------------

    def from_mapping(self, action: Mapping[Any, Any]) -> ParsedAction:
        result = self.check_size(action) or self.read_call(action)
        if isinstance(result, ActionError):
            return ParsedAction(error=result, work=self.work)
        if isinstance(result, str):
            return ParsedAction(answer=result, work=self.work)
        return ParsedAction(tool_calls=(result,), work=self.work)

    def from_text(self, text: str) -> ParsedAction:
        problem = self.check_text(text)
        if problem is not None:
            return ParsedAction(error=problem, work=self.work)
        segments, outside = self.segments(text)
        bodies: list[tuple[str, str, Any]] = [(tag, content, None) for tag, content in segments]
        if not any(t in ("tool_call", "answer") for t, _ in segments) and "{" in outside:
            self.work += len(outside)
            obj = self.load_object(outside)
            if isinstance(obj, Mapping):  # a bare JSON tool call, without tags
                bodies.append(("tool_call", outside, obj))
        calls: list[ToolCall] = []
        answer: str | None = None
        answer_error: ActionError | None = None
        for tag, content, obj in bodies:
            if tag == "tool_call":
                result = self.read_body(content, obj)
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
        return ParsedAction(tuple(calls), answer, plan, think, error, work=self.work)


# --- Entry point ------------------------------------------------------------------------------


def parse_action(
    action: Any,
    *,
    max_chars: int = DEFAULT_MAX_ACTION_CHARS,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> ParsedAction:
    """Read an action (text or mapping) into a :class:`ParsedAction`; never raises.

    Args:
        action: the text an agent wrote, or a mapping ``{"name": ..., "arguments": {...}}``.
        max_chars: longer texts, and mappings larger as compact JSON, are rejected unread
            (``action_too_long``); mappings nested deeper than ``MAX_ACTION_DEPTH`` too
            (``action_too_deep``).
        max_items: the most queries one search call, or URLs one visit call, may carry.
    """
    parser = _Parser(max_chars, max_items)
    if isinstance(action, Mapping):
        return parser.from_mapping(action)
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
    return parser.from_text(action)
