"""Page lookup: by URL (all its spellings), id, title and alias; closest titles."""

from __future__ import annotations

import pytest

from webanchor_env.store import PageStore, normalize_title
from wiki_corpus import Page, title_to_url


@pytest.fixture(scope="module")
def store(tiny_pages: list[Page]) -> PageStore:
    return PageStore(tiny_pages)


def _title(store: PageStore, key: object) -> str | None:
    page = store.get(key)
    return None if page is None else page.title


@pytest.mark.parametrize(
    "key",
    [
        "https://wiki.local/wiki/Lumen_Tower",
        "http://wiki.local/wiki/Lumen_Tower",
        "https://wiki.local/wiki/Lumen_Tower/",
        "https://wiki.local/wiki/Lumen%20Tower",
        "https://wiki.local/wiki/Lumen_Tower#History",
        "https://WIKI.local/wiki/lumen_tower",
        "https://www.wiki.local/wiki/Lumen_Tower",
        "//wiki.local/wiki/Lumen_Tower",
        "/wiki/Lumen_Tower",
        "  https://wiki.local/wiki/Lumen_Tower  ",
        "p-lumen",
        "Lumen Tower",
        "lumen tower",
        "LUMEN_TOWER",
        "Lumen__Tower",
        "Lumen%20Tower",
    ],
)
def test_every_spelling_of_a_page_finds_it(store: PageStore, key: str) -> None:
    assert _title(store, key) == "Lumen Tower"


def test_percent_encoded_disambiguated_url(store: PageStore) -> None:
    url = "https://wiki.local/wiki/Orlan_Vesk_%28architect%29"
    assert _title(store, url) == "Orlan Vesk (architect)"
    assert _title(store, title_to_url("Orlan Vesk (architect)")) == "Orlan Vesk (architect)"


def test_unambiguous_base_title_redirects(store: PageStore) -> None:
    assert _title(store, "Orlan Vesk") == "Orlan Vesk (architect)"
    assert _title(store, "orlan_vesk") == "Orlan Vesk (architect)"
    assert _title(store, "https://wiki.local/wiki/Orlan_Vesk") == "Orlan Vesk (architect)"


def test_ambiguous_base_title_does_not_redirect(store: PageStore) -> None:
    assert store.get("Mira Solenne") is None
    assert _title(store, "Mira Solenne (singer)") == "Mira Solenne (singer)"


def test_comma_qualified_title_redirects() -> None:
    pages = [
        Page("a", title_to_url("Lowmere, Estmark"), "Lowmere, Estmark", ""),
        Page("b", title_to_url("Drorby, Estmark"), "Drorby, Estmark", ""),
        Page("c", title_to_url("Drorby, Varnland"), "Drorby, Varnland", ""),
    ]
    store = PageStore(pages)
    assert store.get("lowmere").id == "a"
    assert store.get("Drorby") is None


def test_redirect_never_shadows_a_real_title() -> None:
    pages = [
        Page("a", title_to_url("Ash"), "Ash", "<p>tree</p>"),
        Page("b", title_to_url("Ash (band)"), "Ash (band)", "<p>band</p>"),
    ]
    store = PageStore(pages)
    assert store.get("Ash").id == "a"
    assert store.redirects == {}


@pytest.mark.parametrize(
    "key",
    [
        "file:///etc/passwd",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1/wiki/Lumen_Tower",
        "https://wiki.local:8443/wiki/Lumen_Tower",
        "https://evil.example/wiki/Lumen_Tower",
        "../secret",
        "/etc/passwd",
        "javascript:alert(1)",
        "ftp://x",
        "data:text/html,<script>alert(1)</script>",
        "\x00\xff\ufffe",
        "x" * 1_000_000,
        "",
        "   ",
        "https://wiki.local/w/index.php?title=Lumen_Tower",
        "http://[::1",
    ],
)
def test_hostile_keys_name_no_page(store: PageStore, key: str) -> None:
    assert store.lookup(key) is None


@pytest.mark.parametrize("key", [None, 42, 3.5, b"Lumen Tower", ["Lumen Tower"], {"url": 1}])
def test_non_string_keys_name_no_page(store: PageStore, key: object) -> None:
    assert store.lookup(key) is None


def test_normalize_title() -> None:
    assert normalize_title("  Lumen__Tower ") == "lumen tower"
    assert normalize_title("Straße") == normalize_title("STRASSE")


def test_closest_titles(store: PageStore) -> None:
    assert store.closest_titles("Lumen Towr")[0] == "Lumen Tower"
    assert store.closest_titles("https://wiki.local/wiki/Cobalt_Bai", n=1) == ["Cobalt Bay"]
    assert set(store.closest_titles("Mira Solenne", n=2)) == {
        "Mira Solenne (painter)",
        "Mira Solenne (singer)",
    }
    assert store.closest_titles("", n=3) == []
    assert store.closest_titles(None) == []  # type: ignore[arg-type]


def test_closest_titles_scale_to_many_titles() -> None:
    pages = [
        Page(str(i), title_to_url(f"Page number {i} of many"), f"Page number {i} of many", "")
        for i in range(20_000)
    ]
    pages.append(Page("z", title_to_url("Zephyr Quay"), "Zephyr Quay", ""))
    store = PageStore(pages)
    assert store.closest_titles("Zephir Quay", n=1) == ["Zephyr Quay"]
    assert store.closest_titles("Page number 1234 of man", n=1) == ["Page number 1234 of many"]
