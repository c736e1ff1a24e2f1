"""The Search tool's text: numbered linked results with snippets; odd input never raises."""

from __future__ import annotations

import re

import pytest

from webanchor_env import tools
from webanchor_env.backend import WikiBackend

RESULT = re.compile(r"^(\d+)\. \[([^\]]+)\]\((https://wiki\.local/wiki/\S+)\)$")


def test_one_query_format(tiny_backend: WikiBackend) -> None:
    text = tiny_backend.search_text(["Lumen Tower architect"], top_k=3)
    lines = text.split("\n")
    assert lines[0] == "A search for 'Lumen Tower architect' found 3 results:"
    numbered = [RESULT.match(line) for line in lines[1:] if RESULT.match(line)]
    assert [int(m.group(1)) for m in numbered] == [1, 2, 3]
    assert len(lines) == 7  # a link line and a snippet line per result
    titles = [m.group(2) for m in numbered]
    assert "Lumen Tower" in titles and len(set(titles)) == 3


def test_single_string_and_list_of_queries(tiny_backend: WikiBackend) -> None:
    single = tiny_backend.search_text("Cobalt Bay population", top_k=1)
    assert single.startswith("A search for 'Cobalt Bay population' found 1 result:\n1. ")
    both = tiny_backend.search_text(["Cobalt Bay population", "Tessary horse fair"], top_k=1)
    first, second = both.split(tools.SEPARATOR)
    assert first == single
    assert second.startswith("A search for 'Tessary horse fair' found 1 result:\n1. [Tessary]")


@pytest.mark.parametrize(
    ("queries", "expected"),
    [
        ("", "The query was empty: write the words to search for."),
        (["   \n\t "], "The query was empty: write the words to search for."),
        ([], "Search needs at least one query; got an empty list."),
        (None, "Search expects a query string or a list of query strings, got NoneType."),
        (42, "Search expects a query string or a list of query strings, got int."),
        ([7], "A query must be a string, got int."),
        ([b"bytes"], "A query must be a string, got bytes."),
    ],
)
def test_empty_and_wrong_queries(tiny_backend: WikiBackend, queries: object, expected: str):
    assert tiny_backend.search_text(queries) == expected  # type: ignore[arg-type]


def test_huge_and_binary_queries(tiny_backend: WikiBackend) -> None:
    huge = tiny_backend.search_text(["glass " * 200_000])
    assert huge.startswith("(The query was cut to its first 512 characters.)\nA search for 'glass")
    assert len(huge) < 5000
    junk = tiny_backend.search_text(["\x00\xff\ufffe\x1b[31m bridge \udcff"], top_k=2)
    assert "\x00" not in junk and "\x1b" not in junk
    assert junk.startswith("A search for '")


def test_too_many_queries_and_odd_top_k(tiny_backend: WikiBackend) -> None:
    text = tiny_backend.search_text(["bridge"] * 100, top_k="2")
    assert text.startswith(f"Only the first {tools.MAX_QUERIES} of 100 queries were run.")
    assert text.count(tools.SEPARATOR) == tools.MAX_QUERIES - 1
    assert "found 2 results" in text
    for top_k in (0, -3, None, "many", 10**9):
        assert "A search for 'bridge' found" in tiny_backend.search_text("bridge", top_k=top_k)
