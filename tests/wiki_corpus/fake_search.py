"""A stand-in for the environment's tools over generated pages, without a search index."""

from __future__ import annotations

import re
from collections.abc import Iterable

from wiki_corpus.honesty import Observe
from wiki_corpus.schema import Page
from wiki_corpus.validate import page_text

_LINK = re.compile(r'href="([^"]+)"')


def lexical_observer(pages: Iterable[Page]) -> Observe:
    """Search ranks pages by title words shared with the query (top 5 per query); a visit
    shows the page's text and the URLs it links to."""
    pages = list(pages)
    by_url = {p.url: p for p in pages}

    def observe(action) -> str:
        arguments = action["arguments"]
        if action["name"] == "visit":
            page = by_url.get(arguments["url"][0])
            if page is None:
                return "not found"
            links = " ".join(f"({u})" for u in _LINK.findall(page.html))
            return page_text(page.html) + "\nLinks: " + links
        out = []
        for query in arguments["query"]:
            words = set(query.split())
            ranked = sorted(pages, key=lambda p: -len(words & set(p.title.split())))
            out += [f"[{p.title}]({p.url})" for p in ranked[:5]]
        return "\n".join(out)

    return observe
