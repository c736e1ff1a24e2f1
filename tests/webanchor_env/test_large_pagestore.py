"""The SQLite page store: same lookups and Visit text as the in-memory store, no text in memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from webanchor_env import tools
from webanchor_env.pagestore_db import (
    DiskPageStore,
    PageDBError,
    build_from_corpus,
    build_page_db,
    main,
)
from webanchor_env.store import PageStore

KEYS = [
    "Lumen Tower",
    "https://wiki.local/wiki/Lumen_Tower",
    "/wiki/Orlan_Vesk_(architect)",
    "orlan vesk",  # a redirect: the title without its disambiguator
    "p-tessary",
    "Mira Solenne",  # ambiguous: not found, with the closest titles
    "Lumen Towr",
    "file:///etc/passwd",
]


@pytest.fixture(scope="module")
def db(tiny_pages, tmp_path_factory) -> Path:
    return build_page_db(tiny_pages, tmp_path_factory.mktemp("db") / "pages.sqlite")


def test_visit_text_is_identical_to_the_in_memory_store(db, tiny_pages):
    memory, disk = PageStore(tiny_pages), DiskPageStore(db)
    assert len(disk) == len(memory)
    for key in KEYS:
        assert disk.lookup(key) == memory.lookup(key), key
        for offset, max_chars in ((0, 4000), (0, 200), (150, 200), (10**6, 100)):
            got = tools.visit_text(disk, None, [key], offset=offset, max_chars=max_chars)
            assert got == tools.visit_text(memory, None, [key], offset=offset, max_chars=max_chars)
    assert disk.parsed(2) == memory.parsed(2)
    assert list(disk.iter_parsed()) == memory.parse_all()


def test_no_page_html_or_text_is_held_in_memory(db):
    disk = DiskPageStore(db, cache_pages=2)
    assert all(page.html == "" for page in disk.pages)
    for i in range(len(disk)):
        disk.text(i)
    assert disk._text.cache_info().currsize == 2  # only the LRU cache holds texts
    with pytest.raises(NotImplementedError, match="iter_parsed"):
        disk.parse_all()
    with pytest.raises(IndexError, match="Expected a page position in 0..7, got 99"):
        disk.text(99)


def test_a_stale_or_foreign_file_is_refused(db, tmp_path):
    stale = tmp_path / "stale.sqlite"
    stale.write_bytes(db.read_bytes())
    with sqlite3.connect(stale) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE key = 'parser_version'")
    with pytest.raises(PageDBError, match="Expected a page database with parser_version"):
        DiskPageStore(stale)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(PageDBError, match="is not a page database"):
        DiskPageStore(junk)
    with pytest.raises(FileNotFoundError, match="pagestore_db build CORPUS DB"):
        DiskPageStore(tmp_path / "missing.sqlite")


def test_build_from_a_corpus_directory_and_the_cli(tiny_corpus_dir, tmp_path, capsys):
    path = build_from_corpus(tiny_corpus_dir, tmp_path / "a.sqlite", show_progress=False)
    assert len(DiskPageStore(path)) == 8
    assert main(["build", str(tiny_corpus_dir), str(tmp_path / "b.sqlite"), "--quiet"]) == 0
    assert "Wrote" in capsys.readouterr().out
