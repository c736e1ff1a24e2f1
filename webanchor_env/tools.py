"""The text the Search and Visit tools answer with (the body of a ``<tool_response>``).

:func:`search` and :func:`visit` take the typed arguments of a call that
:func:`webanchor_env.actions.parse_action` has checked (the environment's path: nothing is
checked twice). :func:`search_text` and :func:`visit_text` are the lenient entry points for
callers that hand over raw JSON values (the HTTP service, framework adapters, scripts): they
never raise on wrong types, empty or huge queries, binary junk or URLs outside the wiki, and
answer with a plain message that says what was expected. Visit reads cached page text within
a character budget and says how to read further; in goal mode it shows the page's passages
most similar to the goal instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from webanchor_env.actions import (
    MAX_QUERIES,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
    MAX_URLS,
    SearchArgs,
    VisitArgs,
)
from webanchor_env.index import Hit, SearchIndex, clean_query
from webanchor_env.store import PageStore

SEPARATOR = "\n=======\n"
_FOREIGN = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:|\.{1,2}[/\\]|[/\\])", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _show(value: str, limit: int = 100) -> str:
    """A key as it may be echoed back: printable, one line, short."""
    text = _CONTROL.sub("?", value[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "…"


def _as_list(value: object) -> list[object] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    return None


_INT_LIMIT = 10**12
"""Integers are clamped to +/- this, so a huge one never reaches a message or a slice."""


def _as_int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return default
    return max(-_INT_LIMIT, min(number, _INT_LIMIT))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


# --------------------------------------------------------------------- search


def format_hits(query: str, hits: Sequence[Hit]) -> str:
    """One query's results: a header line, then per page a numbered link and its snippet."""
    if not hits:
        return f"A search for '{query}' found no results."
    lines = [f"A search for '{query}' found {_plural(len(hits), 'result')}:"]
    for hit in hits:
        lines.append(f"{hit.rank}. [{hit.title}]({hit.url})\n{hit.snippet}")
    return "\n".join(lines)


def search(index: SearchIndex, args: SearchArgs, top_k: int) -> str:
    """The Search tool's answer for a checked call: one block per query."""
    return SEPARATOR.join(_search_blocks(index, args.queries, top_k))


def search_text(index: SearchIndex, queries: object, top_k: object = 5) -> str:
    """The Search tool's answer for raw values: one query or a list of them (one block per
    query; a block saying what was wrong for each item that is not a usable query)."""
    items = _as_list(queries)
    if items is None:
        return (
            "Search expects a query string or a list of query strings, "
            f"got {type(queries).__name__}."
        )
    if not items:
        return "Search needs at least one query; got an empty list."
    notes: list[str] = []
    if len(items) > MAX_QUERIES:
        notes.append(f"Only the first {MAX_QUERIES} of {len(items):,} queries were run.")
        items = items[:MAX_QUERIES]
    k = min(max(_as_int(top_k, 5), 1), MAX_TOP_K)
    return "\n".join(notes + [SEPARATOR.join(_search_blocks(index, items, k))])


def _search_blocks(index: SearchIndex, items: Sequence[object], k: int) -> list[str]:
    """One block per item, all usable queries searched in one batch."""
    cleaned = [clean_query(q) for q in items]
    runnable = [q for q, _ in cleaned if q]
    found = dict(zip(runnable, index.search(runnable, k))) if runnable else {}
    blocks = []
    for raw, (query, cut) in zip(items, cleaned):
        if not isinstance(raw, str):
            blocks.append(f"A query must be a string, got {type(raw).__name__}.")
        elif not query:
            blocks.append("The query was empty: write the words to search for.")
        else:
            note = (
                f"(The query was cut to its first {MAX_QUERY_CHARS} characters.)\n" if cut else ""
            )
            blocks.append(note + format_hits(_show(query, 200), found[query]))
    return blocks


# --------------------------------------------------------------------- visit


def _cut(text: str, offset: int, max_chars: int) -> int:
    """Where a window of ``max_chars`` from ``offset`` ends, preferring a line or word end."""
    end = offset + max_chars
    if end >= len(text):
        return len(text)
    floor = offset + (max_chars * 4) // 5
    for sep in ("\n", " "):
        at = text.rfind(sep, floor, end)
        if at >= 0:
            return at + 1
    return end


def read_window(text: str, offset: int, max_chars: int) -> tuple[str, int]:
    """``(window, next_offset)``: consecutive windows cover ``text`` exactly once."""
    end = _cut(text, offset, max_chars)
    return text[offset:end], end


def _not_found(store: PageStore, key: str) -> str:
    key = key.strip()
    message = f"The page '{_show(key)}' was not found in this wiki."
    lowered = key[:16].lower()
    on_wiki = lowered.startswith("/wiki/") or (
        lowered.startswith(("http://", "https://")) and store.on_wiki_host(key)
    )
    if _FOREIGN.match(key) and not on_wiki:
        return message + " Only pages of this wiki can be visited, by their URL or title."
    closest = store.closest_pages(key)
    if closest:
        links = "; ".join(f"[{store.pages[i].title}]({store.pages[i].url})" for i in closest)
        message += f" Closest titles: {links}"
    return message


def _visit_in_order(header: str, text: str, offset: int, max_chars: int) -> str:
    if offset >= len(text) and offset > 0:
        return (
            f"{header}\nThe page has {_plural(len(text), 'character')}; offset {offset:,} is "
            'past its end (visit again with "offset": 0 to read it from the start).'
        )
    window, end = read_window(text, offset, max_chars)
    if offset == 0 and end == len(text):
        return f"{header}\n\n{window}"
    parts = [f"{header}\nCharacters {offset:,}–{end:,} of {len(text):,}.\n\n{window}"]
    if end < len(text):
        parts.append(
            f"[... {len(text) - end:,} more characters; "
            f'visit again with "offset": {end} to continue]'
        )
    return "\n\n".join(parts)


def _visit_by_goal(
    header: str, index: SearchIndex, page: int, goal: str, start: int, max_chars: int
) -> str:
    ranked = index.rank_page_passages(page, goal)
    if start >= len(ranked):
        return (
            f"{header}\nThe page has {_plural(len(ranked), 'passage')}; "
            f'offset {start:,} is past the last one (visit again with "offset": 0).'
        )
    shown, used = [], 0
    for pos, _score in ranked[start:]:
        body = index.passages[pos].body.strip() or index.passages[pos].text
        if shown and used + len(body) > max_chars:
            break
        shown.append(body[:max_chars])
        used += len(body)
    end = start + len(shown)
    lines = [
        f"{header}\nPassages {start + 1}–{end} of {len(ranked)}, most relevant to the goal "
        f"'{_show(clean_query(goal)[0], 200)}' first:",
        "\n\n---\n\n".join(shown),
    ]
    if end < len(ranked):
        lines.append(
            f"[... {_plural(len(ranked) - end, 'more passage')}; "
            f'visit again with "offset": {end} for the next ones]'
        )
    return "\n\n".join(lines)


def visit(
    store: PageStore,
    index: SearchIndex | None,
    args: VisitArgs,
    *,
    max_chars: int,
    goal_mode: bool = False,
) -> str:
    """The Visit tool's answer for a checked call: one block per URL (see :func:`visit_text`)."""
    blocks = _visit_blocks(store, index, args.urls, args.goal, args.offset, max_chars, goal_mode)
    return SEPARATOR.join(blocks)


def visit_text(
    store: PageStore,
    index: SearchIndex | None,
    urls: object,
    goal: object = None,
    *,
    offset: object = 0,
    max_chars: object = 4000,
    goal_mode: bool = False,
) -> str:
    """The Visit tool's answer for raw values: one URL or a list of them (one block per URL).

    A URL (or id, or title) is only a key into the store: nothing is opened. ``offset``
    continues a page where the previous window ended; in goal mode (with a goal and an
    index) it counts passages already shown instead of characters.
    """
    items = _as_list(urls)
    if items is None:
        return f"Visit expects a URL string or a list of URL strings, got {type(urls).__name__}."
    if not items:
        return "Visit needs at least one URL; got an empty list."
    notes = []
    if len(items) > MAX_URLS:
        notes.append(f"Only the first {MAX_URLS} of {len(items):,} URLs were visited.")
        items = items[:MAX_URLS]
    start = max(_as_int(offset, 0), 0)
    budget = max(_as_int(max_chars, 4000), 1)
    goal_text = goal if isinstance(goal, str) else None
    blocks = _visit_blocks(store, index, items, goal_text, start, budget, goal_mode)
    return "\n".join(notes + [SEPARATOR.join(blocks)])


def _visit_blocks(
    store: PageStore,
    index: SearchIndex | None,
    items: Sequence[object],
    goal: str | None,
    start: int,
    budget: int,
    goal_mode: bool,
) -> list[str]:
    """One block per item: the page's window (or its passages nearest the goal), or why not."""
    goal = goal if goal_mode and goal is not None and clean_query(goal)[0] else None
    blocks = []
    for key in items:
        if not isinstance(key, str):
            blocks.append(f"A URL must be a string, got {type(key).__name__}.")
            continue
        page = store.lookup(key)
        if page is None:
            blocks.append(_not_found(store, key))
            continue
        record = store.pages[page]
        header = f"Page: [{record.title}]({record.url})"
        if goal is not None and index is not None:
            blocks.append(_visit_by_goal(header, index, page, goal, start, budget))
        else:
            blocks.append(_visit_in_order(header, store.text(page), start, budget))
    return blocks
