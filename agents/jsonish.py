"""Finding JSON-like objects in free text that language models write."""

from __future__ import annotations


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
