"""A page store on disk: SQLite holds every page's parsed text, memory holds only titles.

For a 100,000-page corpus the in-memory :class:`~webanchor_env.store.PageStore` keeps every
page's HTML and, once parsed, its text. :class:`DiskPageStore` keeps a light record per page
(id, URL, title: the lookup tables need them) and reads a page's text from an SQLite file
when it is visited, through a small LRU cache. SQLite is in the standard library, the file
is read-only at run time and shared by every process on the machine through the OS page
cache, and a visit is one primary-key read.

Build the file once (pages are parsed as they stream in, so the build holds one page at a
time)::

    python -m webanchor_env.pagestore_db build /data/wiki100k /data/wiki100k/pages.sqlite

and use it wherever a page store is read::

    from webanchor_env import tools
    store = DiskPageStore("/data/wiki100k/pages.sqlite")
    tools.visit_text(store, None, ["Lumen Tower"])  # the same text as the in-memory store

Lookup (URLs, ids, titles, redirects, closest titles) is inherited from ``PageStore``
unchanged, so both stores resolve every key the same way.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from webanchor_env.reader import PARSER_VERSION, ParsedPage, parse_html
from webanchor_env.store import PageStore
from wiki_corpus import Page

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE pages (
    pos INTEGER PRIMARY KEY,  -- position in the corpus (the store's page index)
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,       -- what Visit shows
    parsed BLOB NOT NULL      -- zlib-compressed ParsedPage JSON (sections, links, infobox)
);
"""


class PageDBError(ValueError):
    """A page database that cannot be used; the message says why and how to rebuild it."""


def _rows(pages: Iterable[Page]) -> Iterator[tuple[int, str, str, str, str, bytes]]:
    for pos, page in enumerate(pages):
        parsed = parse_html(page.html, title=page.title, url=page.url)
        blob = zlib.compress(json.dumps(parsed.to_json(), ensure_ascii=False).encode("utf-8"), 6)
        yield pos, page.id, page.url, page.title, parsed.text, blob


def build_page_db(
    pages: Iterable[Page],
    path: str | os.PathLike[str],
    *,
    total: int | None = None,
    show_progress: bool = False,
    chunk: int = 2_000,
) -> Path:
    """Parse ``pages`` (streamed, in corpus order) into a new SQLite file at ``path``.

    Written to a temporary sibling and renamed, so a reader never sees half a database.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(_SCHEMA)
        rows = _rows(
            tqdm(pages, total=total, desc="Page DB", unit="page", disable=not show_progress)
        )
        count = 0
        while True:
            batch = [row for _, row in zip(range(chunk), rows)]
            if not batch:
                break
            conn.executemany("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?)", batch)
            count += len(batch)
        meta = {"schema": SCHEMA_VERSION, "parser_version": PARSER_VERSION, "n_pages": count}
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
        conn.commit()
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(tmp, path)
    return path


def build_from_corpus(
    corpus: str | os.PathLike[str], path: str | os.PathLike[str], *, show_progress: bool = True
) -> Path:
    """Build the page database of a corpus directory (or bundled name), streaming its pages."""
    from wiki_corpus.io import pages_path, read_pages, resolve

    directory = resolve(corpus)
    meta_file = directory / "meta.json"
    total = None
    if meta_file.exists():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        total = meta.get("pages") if isinstance(meta.get("pages"), int) else None
    pages = read_pages(pages_path(directory))
    return build_page_db(pages, path, total=total, show_progress=show_progress)


class DiskPageStore(PageStore):
    """A :class:`PageStore` whose page texts stay in an SQLite file until visited."""

    def __init__(self, path: str | os.PathLike[str], *, cache_pages: int = 512) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"No page database at {self.path} (build one with "
                "`python -m webanchor_env.pagestore_db build CORPUS DB`)."
            )
        self._local = threading.local()
        self._check_meta()
        records = self._connection().execute("SELECT id, url, title FROM pages ORDER BY pos")
        super().__init__([Page(pid, url, title, "") for pid, url, title in records])
        self.cache_pages = cache_pages
        self._text = functools.lru_cache(maxsize=cache_pages)(self._read_text)

    def _connection(self) -> sqlite3.Connection:
        """One read-only connection per thread (SQLite connections are not shared)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            self._local.conn = conn
        return conn

    def _check_meta(self) -> None:
        try:
            meta = dict(self._connection().execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as err:
            raise PageDBError(f"{self.path} is not a page database ({err}).") from None
        expected = {"schema": str(SCHEMA_VERSION), "parser_version": str(PARSER_VERSION)}
        for key, value in expected.items():
            if meta.get(key) != value:
                raise PageDBError(
                    f"Expected a page database with {key} {value}, got {meta.get(key)!r} in "
                    f"{self.path}; rebuild it with `python -m webanchor_env.pagestore_db build`."
                )

    def text(self, i: int) -> str:
        """The readable text of the page at position ``i`` (one indexed read, then cached)."""
        return self._text(i)

    def _read_text(self, i: int) -> str:
        row = self._connection().execute("SELECT text FROM pages WHERE pos = ?", (i,)).fetchone()
        if row is None:
            raise IndexError(f"Expected a page position in 0..{len(self) - 1}, got {i}.")
        return row[0]

    def parsed(self, i: int) -> ParsedPage:
        """The whole parsed page at position ``i`` (sections, infobox, links), not cached."""
        query = "SELECT parsed FROM pages WHERE pos = ?"
        row = self._connection().execute(query, (i,)).fetchone()
        if row is None:
            raise IndexError(f"Expected a page position in 0..{len(self) - 1}, got {i}.")
        return ParsedPage.from_json(json.loads(zlib.decompress(row[0])))

    def iter_parsed(self) -> Iterator[ParsedPage]:
        """Every parsed page in order, one at a time (for building passages and indexes)."""
        for (blob,) in self._connection().execute("SELECT parsed FROM pages ORDER BY pos"):
            yield ParsedPage.from_json(json.loads(zlib.decompress(blob)))

    def parse_all(self, *, show_progress: bool = False) -> list[ParsedPage]:
        raise NotImplementedError(
            "A DiskPageStore does not hold every parsed page in memory; iterate "
            "iter_parsed() instead."
        )

    def set_parsed(self, parsed: Sequence[ParsedPage]) -> None:
        raise NotImplementedError("A DiskPageStore reads parsed pages from its database.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webanchor_env.pagestore_db", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="parse a corpus's pages into an SQLite page database")
    build.add_argument("corpus", help="bundled corpus name or corpus directory")
    build.add_argument("db", help="the SQLite file to write")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    path = build_from_corpus(args.corpus, args.db, show_progress=not args.quiet)
    size = path.stat().st_size / 1e6
    print(f"Wrote {path} ({size:,.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
