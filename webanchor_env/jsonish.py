"""Reading the JSON-like objects that language models write, leniently and in linear time.

One reader for the environment's action parser (:mod:`webanchor_env.actions`) and the
agents' readers (the plan judge, the anticipatory agent's predicted actions), so that all
of them accept the same spellings: strict JSON, and Python literals (single-quoted strings,
``True``/``False``/``None``) with trailing commas. Text after the object is ignored.

Every function scans its input once with regular expressions that cannot backtrack, and
:func:`load_object` decodes at most twice (as JSON, then once more after the one-pass
rewrite of Python spellings into JSON). The work it returns counts the characters examined,
so that the action parser can check its own bound.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Each pattern below is one repeated character class matched at a given position: it scans
# forward once and cannot backtrack, so every use costs the length of what it matches.
_SPACES = re.compile(r"\s*")
_OUTSIDE_STRINGS = re.compile(r"[^'\"A-Za-z_,]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IN_DOUBLE = re.compile(r'[^"\\]*')
_IN_SINGLE = re.compile(r"[^'\"\\]*")
_PYTHON_WORDS = {"True": "true", "False": "false", "None": "null"}
_DECODER = json.JSONDecoder()


def load_object(text: str) -> tuple[dict[str, Any] | None, int]:
    """The object that opens at the first ``{`` of ``text``, and the work it took.

    Read as JSON, else as a Python literal rewritten into JSON (:func:`python_to_json`);
    text after the object is ignored. The object is ``None`` when neither reading gives one.
    """
    start = text.find("{")
    work = len(text)
    if start < 0:
        return None, work
    candidate = text[start:]
    work += len(candidate)
    try:
        return _DECODER.raw_decode(candidate)[0], work
    except (ValueError, RecursionError):  # JSONDecodeError, or an int of > 4300 digits
        pass
    converted, rewrite_work = python_to_json(candidate)
    work += rewrite_work
    if converted is None:
        return None, work
    work += len(converted)
    try:
        return _DECODER.raw_decode(converted)[0], work
    except (ValueError, RecursionError):
        return None, work


def python_to_json(text: str) -> tuple[str | None, int]:
    """A Python literal rewritten as JSON in one pass, and the work it took.

    Single-quoted strings become double-quoted, True/False/None become true/false/null,
    and commas before a closing bracket are dropped; the rest is copied as it is. The text
    is ``None`` when a string is unterminated.
    """
    out: list[str] = []
    i, n, work = 0, len(text), 0
    while i < n:
        j = _OUTSIDE_STRINGS.match(text, i).end()  # type: ignore[union-attr]
        work += j - i + 1
        out.append(text[i:j])
        if j == n:
            break
        char = text[j]
        if char == ",":
            after = _SPACES.match(text, j + 1).end()  # type: ignore[union-attr]
            work += after - j
            if not text.startswith(("}", "]"), after):
                out.append(",")
            i = j + 1
        elif char == "'" or char == '"':
            i, string_work = _quoted(text, j, out)
            work += string_work
            if i < 0:
                return None, work
        else:
            word = _NAME.match(text, j).group()  # type: ignore[union-attr]
            work += len(word)
            out.append(_PYTHON_WORDS.get(word, word))
            i = j + len(word)
    return "".join(out), work


def _quoted(text: str, start: int, out: list[str]) -> tuple[int, int]:
    """Copy the string opening at ``start`` to ``out`` as JSON; returns where it ends (-1
    when it does not) and the work it took."""
    quote = text[start]
    plain = _IN_SINGLE if quote == "'" else _IN_DOUBLE
    out.append('"')
    i, n, work = start + 1, len(text), 1
    while True:
        j = plain.match(text, i).end()  # type: ignore[union-attr]
        work += j - i + 1
        out.append(text[i:j])
        if j == n:
            return -1, work
        char = text[j]
        if char == quote:
            out.append('"')
            return j + 1, work
        if char == '"':  # a double quote inside a single-quoted string
            out.append('\\"')
            i = j + 1
        elif text.startswith("\\'", j):  # Python's escaped single quote
            out.append("'")
            i = j + 2
        else:  # any other escape is spelled the same in JSON (or fails there)
            out.append(text[j : j + 2])
            i = j + 2


def balanced_objects(text: str) -> list[str]:
    """Outermost ``{...}`` spans of ``text``, skipping braces inside quoted strings."""
    spans, start, depth, quote, escaped = [], -1, 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'" and depth > 0:
            quote = ch
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : i + 1])
    return spans
