"""MuSiQue importer: hop order from the decomposition, aliases, unanswerable and bad records."""

from __future__ import annotations

from pathlib import Path

import pytest

from wiki_corpus.importers import import_file
from wiki_corpus.io import CorpusFormatError
from wiki_corpus.schema import title_to_url

FIXTURES = Path(__file__).parent / "fixtures"
MUSIQUE = FIXTURES / "musique.jsonl"


def test_unanswerable_questions_are_excluded_and_counted() -> None:
    result = import_file("musique", MUSIQUE)
    assert [t.id for t in result.tasks] == ["2hop__11_22", "3hop1__33_44_55", "2hop__66_77"]
    assert result.skipped == 0
    assert result.meta["counts"]["excluded"] == {"unanswerable": 1}
    assert result.meta["counts"]["records"] == 4
    # Its paragraphs do not become pages, and it shares its id with an answerable twin.
    assert "Unseen Page" not in {p.title for p in result.pages}


def test_gold_pages_follow_decomposition_order() -> None:
    tasks = {t.id: t for t in import_file("musique", MUSIQUE).tasks}
    two, three = tasks["2hop__11_22"], tasks["3hop1__33_44_55"]
    assert two.gold.pages == (title_to_url("Lumen Tower"), title_to_url("Ada Varga"))
    assert three.gold.pages == tuple(
        title_to_url(t) for t in ("Lumen Tower", "Ada Varga", "Varga & Sons")
    )
    queries = [a["arguments"]["query"] for a in three.gold.actions if a["name"] == "search"]
    assert queries == [["Lumen Tower"], ["Ada Varga"], ["Varga & Sons"]]
    assert (two.hops, two.difficulty, three.hops, three.difficulty) == (2, 2, 3, 3)
    assert {t.source for t in tasks.values()} == {"musique"}


def test_aliases_deduplicated_without_the_answer() -> None:
    tasks = {t.id: t for t in import_file("musique", MUSIQUE).tasks}
    assert tasks["2hop__11_22"].aliases == ("Republic of Hungary",)
    assert tasks["3hop1__33_44_55"].aliases == ()
    assert tasks["2hop__66_77"].answers == ("Tomas Reyes", "Tomás Reyes")


def test_pages_merged_across_questions() -> None:
    pages = {p.title: p for p in import_file("musique", MUSIQUE).pages}
    assert sorted(pages) == ["Ada Varga", "Harbor Bridge", "Lumen Tower", "Varga & Sons"]
    lumen = pages["Lumen Tower"].html
    assert lumen.count("<p>") == 2
    assert lumen.index("212-metre") < lumen.index("58 floors")


def test_bad_records_raise_or_are_skipped() -> None:
    path = FIXTURES / "musique_bad.jsonl"
    with pytest.raises(CorpusFormatError, match=r"musique_bad\.jsonl:2: expected .*paragraph"):
        import_file("musique", path)
    result = import_file("musique", path, skip_bad=True)
    assert [t.id for t in result.tasks] == ["2hop__11_22", "2hop__66_77"]
    assert (result.skipped, result.meta["skipped_lines"]) == (2, [2, 3])


def test_wrong_answerable_type_is_reported(tmp_path: Path) -> None:
    line = (FIXTURES / "musique_bad.jsonl").read_text(encoding="utf-8").splitlines()[2]
    path = tmp_path / "one.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"one\.jsonl:1: expected field 'answerable'"):
        import_file("musique", path)
