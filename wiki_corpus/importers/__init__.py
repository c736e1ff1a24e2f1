"""Importers of real multi-hop QA data (HotpotQA, MuSiQue) into the page/task format.

>>> from wiki_corpus.importers import import_file
>>> from wiki_corpus.io import write_corpus
>>> result = import_file("hotpotqa", "dev.jsonl", skip_bad=True, split="dev")
>>> write_corpus("corpus/", result.pages, result.tasks, result.meta)

Every paragraph title becomes one page (paragraphs with the same title are merged across the
whole file), every question one task whose gold path searches for and visits its supporting
pages in hop order, then answers. See ``common`` for the rules on formats, line numbers and
bad records shared by all importers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType

from wiki_corpus.importers.common import ImportResult
from wiki_corpus.importers.hotpotqa import import_hotpotqa
from wiki_corpus.importers.musique import import_musique

Importer = Callable[..., ImportResult]

IMPORTERS: Mapping[str, Importer] = MappingProxyType(
    {"hotpotqa": import_hotpotqa, "musique": import_musique}
)


def import_file(
    kind: str, path: str | os.PathLike[str], *, skip_bad: bool = False, split: str = "test"
) -> ImportResult:
    """Import one dataset file of the given kind ("hotpotqa" or "musique").

    Raises ``ValueError`` for an unknown kind or split, ``FileNotFoundError`` for a missing
    file and ``CorpusFormatError`` (file, line, what was expected) for a malformed record
    unless ``skip_bad`` is set, in which case bad records are skipped and counted.
    """
    try:
        importer = IMPORTERS[kind]
    except KeyError:
        accepted = ", ".join(sorted(IMPORTERS))
        raise ValueError(f"Expected an importer kind among {accepted}, got {kind!r}.") from None
    return importer(path, skip_bad=skip_bad, split=split)


__all__ = ["IMPORTERS", "ImportResult", "import_file", "import_hotpotqa", "import_musique"]
