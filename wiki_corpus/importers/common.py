"""Shared machinery of the importers: reading records, checking fields, building pages and tasks.

Each dataset module (``hotpotqa``, ``musique``) only knows how to turn one JSON record into an
:class:`Example` (or an :class:`Excluded` marker for records skipped by design, such as
unanswerable MuSiQue questions). Everything else lives here so that both importers behave the
same way:

* **Reading.** The container format is detected from the file content, never from its name:
  a file whose first non-blank character is ``[`` is one JSON list of examples (HotpotQA's
  original release); anything else is JSON Lines. ``meta["format_reason"]`` and the error
  of a first record that cannot be read say which was assumed and why, and a file that is
  one JSON object over several lines (not examples) is refused as such. ``.gz`` files are
  decompressed on the fly. JSON Lines are streamed; a JSON list has to be parsed whole (the
  standard library has no incremental JSON parser), which is fine for dev/test-sized files.
* **Line numbers.** Errors name the 1-based line of a JSON Lines file. For a JSON list there
  are no meaningful lines, so the "line" reported is the **1-based index of the example in
  the list** (the message says so, and ``meta["line_unit"]`` records which one applies).
* **Bad records.** A malformed record raises :class:`~wiki_corpus.io.CorpusFormatError`
  naming the file, the line and what was expected; with ``skip_bad=True`` it is skipped,
  counted and its line recorded. Nothing is dropped silently.
* **Aliases.** An alias that normalizes to nothing, a single letter or a stopword ("no" for
  Norway) would reward a guess: it is dropped, and counted by reason in
  ``meta["counts"]["dropped_aliases"]`` with the first few in ``meta["dropped_aliases"]``.
* **Titles.** HTML entities in titles are decoded (HotpotQA writes ``A&amp;W Restaurants``),
  since the HTML renderer escapes them again and URLs should carry the real characters.
* **Pages.** Paragraphs are grouped by the URL of their title across the whole file, so every
  title becomes exactly one page; distinct paragraphs keep their first-seen order and pages
  are sorted by title, which makes an import byte-stable.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import os
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wiki_corpus.answers import EMPTY, SINGLE_LETTER, STOPWORD, weak_alias
from wiki_corpus.io import CorpusFormatError
from wiki_corpus.schema import SPLITS, Gold, Page, Task, title_to_url

JSON_LIST = "json-list"
JSON_LINES = "jsonl"
MAX_SKIPPED_LINES_IN_META = 20
MAX_DROPPED_ALIASES_IN_META = 20
UNREADABLE = (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error)


@dataclass(frozen=True)
class ImportResult:
    """What an import produced: pages, tasks, how many records were skipped, and metadata.

    ``meta`` holds the source file, the dataset kind, the detected format, the split, counts
    (records, tasks, pages, paragraphs, skipped, excluded-by-design) and the line numbers of
    the first skipped records, ready to be written as a corpus ``meta.json``.
    """

    pages: list[Page]
    tasks: list[Task]
    skipped: int
    meta: dict[str, Any]


@dataclass(frozen=True)
class Example:
    """One question as a dataset module understood it, before it becomes pages and a task.

    ``paragraphs`` are ``(title, text)`` pairs of every context paragraph; ``gold_titles`` are
    the titles of the supporting paragraphs in hop order (each must have a paragraph).
    """

    id: str
    question: str
    answer: str
    aliases: tuple[str, ...]
    paragraphs: tuple[tuple[str, str], ...]
    gold_titles: tuple[str, ...]
    hops: int
    difficulty: int


@dataclass(frozen=True)
class Excluded:
    """A well-formed record that is left out on purpose (e.g. an unanswerable question)."""

    reason: str


class BadRecord(Exception):
    """A record that does not match its format; the message says what was expected."""


@dataclass(frozen=True)
class RawRecord:
    """One record read from the file: its line (or list index), its object or why it failed."""

    line: int
    obj: dict[str, Any] | None
    error: str | None = None


Parser = Callable[[dict[str, Any]], Example | Excluded]


# --------------------------------------------------------------------------- field checks


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "a boolean",
        list: "a list",
        dict: "an object",
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _is_instance(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true/false must not pass as an integer
    return isinstance(value, kinds)


def require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """The value of ``obj[key]``, checked to be of ``kind``; ``where`` prefixes nested names."""
    name = f"{where}{key}"
    if key not in obj:
        raise BadRecord(f"expected field {name!r} ({_type_name(kind)}), but it is missing")
    value = obj[key]
    if not _is_instance(value, kind):
        raise BadRecord(
            f"expected field {name!r} to be {_type_name(kind)}, got {type(value).__name__}"
        )
    return value


def optional(
    obj: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str = ""
) -> Any:
    """Like :func:`require`, but a missing key gives ``default``."""
    return require(obj, key, kind, where) if key in obj else default


def require_text(obj: dict[str, Any], key: str, where: str = "") -> str:
    """A string field that must not be blank (ids, questions, answers, titles)."""
    value = require(obj, key, str, where)
    if not value.strip():
        raise BadRecord(f"expected field {where}{key!r} to be a non-empty string")
    return value.strip()


def require_object(value: Any, name: str) -> dict[str, Any]:
    """``value`` checked to be a JSON object; ``name`` says where it sits in the record."""
    if not isinstance(value, dict):
        raise BadRecord(f"expected {name} to be an object, got {type(value).__name__}")
    return value


def require_strings(value: Any, name: str) -> list[str]:
    """``value`` checked to be a list of strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRecord(f"expected {name} to be a list of strings")
    return value


def unique(items: Iterable[str], exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Distinct non-blank stripped strings in first-seen order, leaving out ``exclude``."""
    seen = {s.strip() for s in exclude}
    out: list[str] = []
    for item in items:
        text = item.strip()
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return tuple(out)


# --------------------------------------------------------------------------- reading files


def _open_text(path: Path) -> io.TextIOBase:
    # utf-8-sig tolerates a byte-order mark at the start of the file.
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig")  # type: ignore[return-value]
    return open(path, encoding="utf-8-sig")  # noqa: SIM115


def detect_format(path: Path) -> tuple[str, str]:
    """``(JSON_LIST, why)`` when the first non-blank character is ``[``, else
    ``(JSON_LINES, why)``; ``why`` says it in words, for messages and the metadata."""
    with _open_text(path) as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped and stripped[0] == "[":
                return JSON_LIST, "the first non-blank character is '['"
            if stripped:
                return JSON_LINES, f"the first non-blank character is {stripped[0]!r}, not '['"
    raise CorpusFormatError(
        path, None, "expected examples (a JSON list or JSON Lines), got an empty file"
    )


def _refuse_one_object(path: Path, reason: str) -> None:
    """Raise when the whole file is one JSON object (a wrapper, not JSON Lines of examples).

    Called when the first line of a JSON Lines file is not JSON, so the file is read whole
    only when it is about to be refused anyway.
    """
    with _open_text(path) as fh:
        try:
            data = json.load(fh)
        except (json.JSONDecodeError, RecursionError):
            return
    if isinstance(data, dict):
        keys = ", ".join(repr(k) for k in list(data)[:8])
        raise CorpusFormatError(
            path,
            None,
            "expected examples as JSON Lines (one object a line) or as a JSON list, got one "
            f"JSON object over several lines, with keys {keys} (read as JSON Lines because "
            f"{reason}). Write its list of examples to a file of its own.",
        )


def _iter_json_lines(path: Path, reason: str) -> Iterator[RawRecord]:
    first = True
    with _open_text(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as err:
                if first:
                    _refuse_one_object(path, reason)
                yield RawRecord(lineno, None, f"expected a JSON object (invalid JSON: {err.msg})")
                continue
            first = False
            if not isinstance(obj, dict):
                yield RawRecord(lineno, None, f"expected a JSON object, got {type(obj).__name__}")
                continue
            yield RawRecord(lineno, obj)


def _iter_json_list(path: Path) -> Iterator[RawRecord]:
    with _open_text(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as err:
            raise CorpusFormatError(
                path, err.lineno, f"expected a JSON list of examples (invalid JSON: {err.msg})"
            ) from None
    if not isinstance(data, list):
        raise CorpusFormatError(path, None, "expected a JSON list of examples at the top level")
    for index, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield RawRecord(index, obj)
        else:
            yield RawRecord(index, None, f"expected a JSON object, got {type(obj).__name__}")


def _unreadable(path: Path, err: Exception) -> CorpusFormatError:
    if isinstance(err, UnicodeDecodeError):
        return CorpusFormatError(path, None, f"expected UTF-8 text ({err.reason})")
    return CorpusFormatError(path, None, f"expected a readable file ({err})")


def _guarded(path: Path, records: Iterator[RawRecord]) -> Generator[RawRecord, None, None]:
    """``records``, with undecodable text or a corrupt gzip stream as CorpusFormatError."""
    try:
        yield from records
    except UNREADABLE as err:
        raise _unreadable(path, err) from None


def read_records(path: Path) -> tuple[str, str, Generator[RawRecord, None, None]]:
    """The detected container format, why it was assumed, and an iterator over the records."""
    try:
        fmt, reason = detect_format(path)
    except UNREADABLE as err:
        raise _unreadable(path, err) from None
    records = _iter_json_list(path) if fmt == JSON_LIST else _iter_json_lines(path, reason)
    return fmt, reason, _guarded(path, records)


# --------------------------------------------------------------------------- pages


def _slug(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:48].strip("-") or "page"


def page_id(url: str, title: str) -> str:
    """A stable page id: a readable slug of the title plus a hash of the page URL."""
    return f"{_slug(title)}-{hashlib.sha1(url.encode('utf-8')).hexdigest()[:10]}"


def render_html(title: str, paragraphs: Iterable[str]) -> str:
    """A small, real HTML document: a title, an ``h1`` and one ``<p>`` per paragraph."""
    t = html.escape(title)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{t}</title></head><body><main>"
        f'<h1 id="firstHeading">{t}</h1>{body}</main></body></html>'
    )


@dataclass
class PageCollector:
    """Merges paragraphs into pages keyed by the URL of their title, across a whole file."""

    _titles: dict[str, str] = field(default_factory=dict)
    _paragraphs: dict[str, dict[str, None]] = field(default_factory=dict)

    def add(self, title: str, text: str) -> None:
        """Record one paragraph; the first spelling of a title names the page."""
        url = title_to_url(title)
        self._titles.setdefault(url, title.strip())
        paragraphs = self._paragraphs.setdefault(url, {})
        if text.strip():
            paragraphs.setdefault(text.strip(), None)

    @property
    def paragraph_count(self) -> int:
        """How many distinct paragraphs the pages hold."""
        return sum(len(p) for p in self._paragraphs.values())

    def pages(self) -> list[Page]:
        """The pages, sorted by title (then URL) so that the output is deterministic."""
        order = sorted(self._titles, key=lambda url: (self._titles[url], url))
        return [self._page(url) for url in order]

    def _page(self, url: str) -> Page:
        title = self._titles[url]
        return Page(page_id(url, title), url, title, render_html(title, self._paragraphs[url]))


# --------------------------------------------------------------------------- tasks


def clean_titles(example: Example) -> Example:
    """Titles with HTML entities decoded: HotpotQA ships ``A&amp;W`` for ``A&W``."""
    return replace(
        example,
        paragraphs=tuple((html.unescape(t).strip(), text) for t, text in example.paragraphs),
        gold_titles=unique(html.unescape(t) for t in example.gold_titles),
    )


def check_gold(example: Example) -> None:
    """Every supporting title must come with a paragraph, or the gold page would not exist."""
    have = {title_to_url(title) for title, _ in example.paragraphs}
    for title in example.gold_titles:
        if title_to_url(title) not in have:
            raise BadRecord(f"expected a context paragraph for supporting title {title!r}")


def gold_actions(question: str, answer: str, titles: Iterable[str]) -> tuple[dict[str, Any], ...]:
    """The reference path: search for and visit each gold page in hop order, then answer."""
    actions: list[dict[str, Any]] = []
    for title in titles:
        actions.append({"name": "search", "arguments": {"query": [title]}})
        actions.append(
            {"name": "visit", "arguments": {"url": [title_to_url(title)], "goal": question}}
        )
    actions.append({"name": "answer", "arguments": {"answer": answer}})
    return tuple(actions)


def make_task(example: Example, *, source: str, split: str) -> Task:
    """The task of one example, with its gold pages (URLs) and gold actions."""
    gold_urls = tuple(dict.fromkeys(title_to_url(t) for t in example.gold_titles))
    return Task(
        id=example.id,
        question=example.question,
        answer=example.answer,
        aliases=example.aliases,
        split=split,
        difficulty=example.difficulty,
        hops=example.hops,
        source=source,
        gold=Gold(
            pages=gold_urls,
            actions=gold_actions(example.question, example.answer, example.gold_titles),
        ),
    )


# --------------------------------------------------------------------------- the import loop


@dataclass
class _Tally:
    """Running counts of one import, turned into ``meta`` at the end."""

    fmt: str
    reason: str  # why ``fmt`` was assumed
    records: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    excluded: Counter[str] = field(default_factory=Counter)
    dropped_aliases: Counter[str] = field(
        default_factory=lambda: Counter(dict.fromkeys((EMPTY, SINGLE_LETTER, STOPWORD), 0))
    )
    first_dropped: list[dict[str, str]] = field(default_factory=list)
    seen_ids: dict[str, int] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "example" if self.fmt == JSON_LIST else "line"


def _parse(raw: RawRecord, parse: Parser, tally: _Tally) -> Example | Excluded:
    """Parse one raw record and check it against the rest of the file; raises BadRecord."""
    if raw.obj is None:
        raise BadRecord(raw.error or "expected a JSON object")
    outcome = parse(raw.obj)
    if isinstance(outcome, Excluded):
        return outcome
    if outcome.id in tally.seen_ids:
        first = tally.seen_ids[outcome.id]
        raise BadRecord(
            f"expected a unique question id, but {outcome.id!r} is already used "
            f"({tally.unit} {first})"
        )
    outcome = clean_titles(outcome)
    check_gold(outcome)
    return outcome


def _drop_weak_aliases(example: Example, tally: _Tally) -> Example:
    """The example without aliases that would reward a guess (see ``answers.weak_alias``)."""
    kept = []
    for alias in example.aliases:
        why = weak_alias(alias)
        if why is None:
            kept.append(alias)
            continue
        tally.dropped_aliases[why] += 1
        if len(tally.first_dropped) < MAX_DROPPED_ALIASES_IN_META:
            tally.first_dropped.append({"task": example.id, "alias": alias, "why": why})
    return replace(example, aliases=tuple(kept))


def _error(path: Path, tally: _Tally, line: int, message: str) -> CorpusFormatError:
    if tally.fmt == JSON_LIST:
        message = f"example {line} of the JSON list: {message}"
    elif tally.records == 1:  # the first record: perhaps the file is not JSON Lines at all
        message = f"{message} (read as JSON Lines because {tally.reason})"
    return CorpusFormatError(path, line, message)


def _accept(
    raw: RawRecord, parse: Parser, tally: _Tally, *, path: Path, skip_bad: bool
) -> Example | None:
    """The example of one record, or ``None`` when it is skipped (bad) or excluded (by design)."""
    tally.records += 1
    try:
        outcome = _parse(raw, parse, tally)
    except BadRecord as err:
        if not skip_bad:
            raise _error(path, tally, raw.line, str(err)) from None
        tally.skipped_lines.append(raw.line)
        return None
    if isinstance(outcome, Excluded):
        tally.excluded[outcome.reason] += 1
        return None
    tally.seen_ids[outcome.id] = raw.line
    return _drop_weak_aliases(outcome, tally)


def run_import(
    path: str | os.PathLike[str],
    *,
    kind: str,
    parse: Parser,
    skip_bad: bool = False,
    split: str = "test",
    exclusion_reasons: tuple[str, ...] = (),
) -> ImportResult:
    """Read a dataset file with ``parse`` and build its pages, tasks and metadata.

    Raises ``CorpusFormatError`` on the first bad record unless ``skip_bad`` is set, in which
    case bad records are counted and their lines kept in ``meta["skipped_lines"]``.
    """
    if split not in SPLITS:
        raise ValueError(f"Expected a split among {SPLITS}, got {split!r}.")
    path = Path(path)
    fmt, reason, records = read_records(path)
    collector, tasks = PageCollector(), []
    tally = _Tally(fmt, reason)
    tally.excluded.update(dict.fromkeys(exclusion_reasons, 0))
    with closing(records):  # closes the file at once, even when a bad record raises
        for raw in records:
            example = _accept(raw, parse, tally, path=path, skip_bad=skip_bad)
            if example is not None:
                for title, text in example.paragraphs:
                    collector.add(title, text)
                tasks.append(make_task(example, source=kind, split=split))
    pages = collector.pages()
    meta = _meta(path, kind, split, tally, pages=len(pages), tasks=len(tasks))
    meta["counts"]["paragraphs"] = collector.paragraph_count
    return ImportResult(pages=pages, tasks=tasks, skipped=len(tally.skipped_lines), meta=meta)


def _meta(
    path: Path, kind: str, split: str, tally: _Tally, *, pages: int, tasks: int
) -> dict[str, Any]:
    return {
        "source": kind,
        "source_file": os.fspath(path),
        "format": tally.fmt,
        "format_reason": tally.reason,
        "line_unit": "example index (1-based)" if tally.fmt == JSON_LIST else "line (1-based)",
        "split": split,
        "counts": {
            "records": tally.records,
            "tasks": tasks,
            "pages": pages,
            "skipped": len(tally.skipped_lines),
            "excluded": dict(sorted(tally.excluded.items())),
            "dropped_aliases": dict(sorted(tally.dropped_aliases.items())),
        },
        "skipped_lines": tally.skipped_lines[:MAX_SKIPPED_LINES_IN_META],
        "dropped_aliases": tally.first_dropped,
    }
