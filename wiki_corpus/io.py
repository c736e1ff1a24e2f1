"""Reading and writing corpus directories.

Layout of a corpus directory::

    pages.jsonl.gz   one Page JSON object a line (``pages.jsonl`` also accepted)
    tasks.jsonl      one Task JSON object a line
    meta.json        free-form metadata: generator settings, statistics, validation counts

Malformed lines raise :class:`CorpusFormatError` naming the file, the line and what was
expected. Writing goes to a temporary sibling directory that is renamed into place at the
end, so an interruption never leaves a half-written corpus behind.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from wiki_corpus.schema import SPLITS, Gold, Page, Task

PAGES_FILES = ("pages.jsonl.gz", "pages.jsonl")
TASKS_FILE = "tasks.jsonl"
META_FILE = "meta.json"
BUNDLED = ("default",)


class CorpusFormatError(ValueError):
    """A corpus file that does not follow the page/task contract."""

    def __init__(self, path: str | os.PathLike[str], line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


@dataclass
class Corpus:
    """Pages and tasks of one corpus, with its metadata and where it was read from."""

    pages: list[Page]
    tasks: list[Task]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def tasks_in(self, split: str) -> list[Task]:
        """The tasks of one split, in file order."""
        if split not in SPLITS:
            raise ValueError(f"Expected a split among {SPLITS}, got {split!r}.")
        return [t for t in self.tasks if t.split == split]


def _open_text(path: Path, mode: str = "rt") -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")  # type: ignore[return-value]
    return open(path, mode, encoding="utf-8")  # noqa: SIM115


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path, line: int):
    if key not in obj:
        raise CorpusFormatError(path, line, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CorpusFormatError(
            path, line, f"field {key!r} should be {names}, got {type(value).__name__}"
        )
    return value


def _iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as err:
                    raise CorpusFormatError(path, lineno, f"invalid JSON ({err.msg})") from None
                if not isinstance(obj, dict):
                    raise CorpusFormatError(path, lineno, "expected a JSON object")
                yield lineno, obj
    except (OSError, EOFError, UnicodeDecodeError) as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise CorpusFormatError(path, None, f"unreadable file ({err})") from None


def page_from_json(obj: dict[str, Any], path: Path, line: int) -> Page:
    """Validate one page object; raises CorpusFormatError with the file and line."""
    return Page(
        id=_require(obj, "id", str, path, line),
        url=_require(obj, "url", str, path, line),
        title=_require(obj, "title", str, path, line),
        html=_require(obj, "html", str, path, line),
    )


def task_from_json(obj: dict[str, Any], path: Path, line: int) -> Task:
    """Validate one task object; raises CorpusFormatError with the file and line."""
    split = _require(obj, "split", str, path, line)
    if split not in SPLITS:
        raise CorpusFormatError(path, line, f"split should be one of {SPLITS}, got {split!r}")
    gold = obj.get("gold") or {}
    if not isinstance(gold, dict):
        raise CorpusFormatError(path, line, "field 'gold' should be an object")
    aliases = obj.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CorpusFormatError(path, line, "field 'aliases' should be a list of strings")
    return Task(
        id=_require(obj, "id", str, path, line),
        question=_require(obj, "question", str, path, line),
        answer=_require(obj, "answer", str, path, line),
        aliases=tuple(aliases),
        split=split,
        difficulty=int(obj.get("difficulty", 1)),
        hops=int(obj.get("hops", 1)),
        source=str(obj.get("source", "")),
        gold=Gold(
            pages=tuple(gold.get("pages", [])),
            actions=tuple(gold.get("actions", [])),
        ),
    )


def pages_path(directory: Path) -> Path:
    """The pages file of a corpus directory (compressed or not)."""
    for name in PAGES_FILES:
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(
        f"No pages file in corpus directory {directory} (expected one of {', '.join(PAGES_FILES)})."
    )


def read_pages(path: str | os.PathLike[str]) -> Iterator[Page]:
    """Stream the pages of a ``pages.jsonl[.gz]`` file, checking every line."""
    path = Path(path)
    for lineno, obj in _iter_json_lines(path):
        yield page_from_json(obj, path, lineno)


def read_tasks(path: str | os.PathLike[str]) -> Iterator[Task]:
    """Stream the tasks of a ``tasks.jsonl`` file, checking every line."""
    path = Path(path)
    for lineno, obj in _iter_json_lines(path):
        yield task_from_json(obj, path, lineno)


def bundled_path(name: str = "default") -> Path:
    """The directory of a corpus shipped inside the package."""
    if name not in BUNDLED:
        raise ValueError(f"Expected a bundled corpus name among {BUNDLED}, got {name!r}.")
    return Path(str(resources.files("wiki_corpus") / "data" / name))


def resolve(name_or_dir: str | os.PathLike[str]) -> Path:
    """A bundled corpus name ('default') or a directory path, as a directory path."""
    if isinstance(name_or_dir, str) and name_or_dir in BUNDLED:
        return bundled_path(name_or_dir)
    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"Expected a corpus directory or one of {BUNDLED}, got {str(name_or_dir)!r} "
            "(build one with `python -m wiki_corpus generate` or `python -m wiki_corpus import`)."
        )
    return path


def load(name_or_dir: str | os.PathLike[str] = "default") -> Corpus:
    """Load a corpus: pages, tasks and metadata. Nothing is regenerated.

    Raises ``CorpusFormatError`` for a malformed line, and for a corpus without pages.
    """
    directory = resolve(name_or_dir)
    pages_file = pages_path(directory)
    pages = list(read_pages(pages_file))
    if not pages:
        raise CorpusFormatError(
            pages_file, None, "expected at least one page, got none (nothing to search or visit)"
        )
    tasks_file = directory / TASKS_FILE
    tasks = list(read_tasks(tasks_file)) if tasks_file.exists() else []
    meta_file = directory / META_FILE
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    return Corpus(pages=pages, tasks=tasks, meta=meta, path=directory)


def write_corpus(
    out_dir: str | os.PathLike[str],
    pages: Iterable[Page],
    tasks: Iterable[Task],
    meta: dict[str, Any] | None = None,
    *,
    compress: bool = True,
) -> Path:
    """Write a corpus directory atomically: all files land together or not at all.

    Output is deterministic: gzip headers carry no timestamp or file name, so the same
    pages and tasks give byte-identical files.
    """
    out = Path(out_dir).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a corpus is meant to be shared
        page_name = PAGES_FILES[0] if compress else PAGES_FILES[1]
        with open(tmp / page_name, "wb") as raw:
            sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) if compress else raw
            with sink:
                for page in pages:
                    sink.write(_dump_line(page.to_json()))
        with open(tmp / TASKS_FILE, "wb") as fh:
            for task in tasks:
                fh.write(_dump_line(task.to_json()))
        (tmp / META_FILE).write_text(
            json.dumps(meta or {}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _dump_line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
