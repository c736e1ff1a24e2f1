"""HotpotQA importer: both record shapes, page merging, gold paths, answers and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from wiki_corpus.importers import import_file
from wiki_corpus.io import CorpusFormatError
from wiki_corpus.schema import Page, title_to_url

FIXTURES = Path(__file__).parent / "fixtures"
ORIGINAL = FIXTURES / "hotpotqa_original.json"
FLAT = FIXTURES / "hotpotqa_flat.jsonl"


def by_title(pages: list[Page]) -> dict[str, Page]:
    """Pages keyed by title; also checks titles and URLs are unique."""
    assert len({p.url for p in pages}) == len(pages)
    return {p.title: p for p in pages}


def test_original_json_list_pages_merged_by_title() -> None:
    result = import_file("hotpotqa", ORIGINAL)
    pages = by_title(result.pages)
    assert sorted(pages) == ["Ada Varga", "Harbor Bridge", "Lumen Tower", "Varga & Sons"]
    assert [p.title for p in result.pages] == sorted(pages)
    bridge = pages["Harbor Bridge"]
    # Two distinct paragraphs across two questions, in first-seen order.
    assert bridge.html.count("<p>") == 2
    assert bridge.html.index("suspension bridge") < bridge.html.index("four lanes")
    # Identical paragraphs of the same title are kept once; sentences are space-joined.
    assert pages["Lumen Tower"].html.count("<p>") == 1
    assert "Port Avery. It was designed" in pages["Lumen Tower"].html
    assert result.meta["format"] == "json-list"
    assert result.meta["counts"]["paragraphs"] == 5


def test_original_gold_pages_follow_supporting_facts() -> None:
    tasks = {t.id: t for t in import_file("hotpotqa", ORIGINAL, split="dev").tasks}
    first, second, third = tasks["hp-orig-1"], tasks["hp-orig-2"], tasks["hp-orig-3"]
    assert first.gold.pages == (title_to_url("Lumen Tower"), title_to_url("Ada Varga"))
    assert second.gold.pages == (title_to_url("Harbor Bridge"), title_to_url("Lumen Tower"))
    # A title cited twice counts once; an out-of-range sentence index is tolerated.
    assert third.gold.pages == (title_to_url("Varga & Sons"), title_to_url("Ada Varga"))
    assert [t.hops for t in tasks.values()] == [2, 2, 2]
    assert [t.difficulty for t in tasks.values()] == [2, 3, 1]
    assert {t.source for t in tasks.values()} == {"hotpotqa"}
    assert {t.split for t in tasks.values()} == {"dev"}


def test_gold_actions_search_visit_then_answer() -> None:
    task = import_file("hotpotqa", ORIGINAL).tasks[0]
    url = title_to_url("Lumen Tower")
    assert [a["name"] for a in task.gold.actions] == [
        "search",
        "visit",
        "search",
        "visit",
        "answer",
    ]
    assert task.gold.actions[0] == {"name": "search", "arguments": {"query": ["Lumen Tower"]}}
    assert task.gold.actions[1] == {
        "name": "visit",
        "arguments": {"url": [url], "goal": task.question},
    }
    assert task.gold.actions[-1] == {"name": "answer", "arguments": {"answer": "Hungary"}}


def test_yes_no_answers_kept_without_aliases() -> None:
    tasks = {t.id: t for t in import_file("hotpotqa", ORIGINAL).tasks}
    assert (tasks["hp-orig-2"].answer, tasks["hp-orig-2"].aliases) == ("no", ())
    assert (tasks["hp-orig-3"].answer, tasks["hp-orig-3"].aliases) == ("yes", ())


def test_flat_jsonl_answer_aliases_and_gold() -> None:
    result = import_file("hotpotqa", FLAT)
    tasks = {t.id: t for t in result.tasks}
    assert result.meta["format"] == "jsonl"
    assert tasks["hp-flat-1"].answer == "Hungary"
    assert tasks["hp-flat-1"].aliases == ("Republic of Hungary", "HU")
    assert tasks["hp-flat-2"].answer == "no"
    assert tasks["hp-flat-3"].aliases == ("Tomás Reyes",)
    # Supporting contexts in file order; difficulty defaults to 2 without a level.
    assert tasks["hp-flat-1"].gold.pages == (title_to_url("Ada Varga"), title_to_url("Lumen Tower"))
    assert tasks["hp-flat-3"].gold.pages == (title_to_url("Harbor Bridge"),)
    assert tasks["hp-flat-3"].hops == 1
    assert {t.difficulty for t in result.tasks} == {2}
    pages = by_title(result.pages)
    assert sorted(pages) == ["Ada Varga", "Harbor Bridge", "Lumen Tower", "Tomas Reyes"]
    assert pages["Harbor Bridge"].html.count("<p>") == 2


def test_html_is_escaped_and_well_formed() -> None:
    page = by_title(import_file("hotpotqa", ORIGINAL).pages)["Varga & Sons"]
    assert page.url == title_to_url("Varga & Sons")
    assert page.html.startswith("<html><head><title>Varga &amp; Sons</title></head><body><main>")
    assert '<h1 id="firstHeading">Varga &amp; Sons</h1>' in page.html
    assert "Ada Varga&#x27;s father" in page.html
    assert page.html.endswith("</p></main></body></html>")


def test_malformed_line_names_file_line_and_expectation() -> None:
    path = FIXTURES / "hotpotqa_flat_bad.jsonl"
    with pytest.raises(CorpusFormatError) as info:
        import_file("hotpotqa", path)
    message = str(info.value)
    assert "hotpotqa_flat_bad.jsonl:2:" in message
    assert "expected" in message
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("line", "needle"),
    [(3, "'question_text'"), (4, "contexts[0].is_supporting"), (5, "unique question id")],
)
def test_each_kind_of_bad_line_is_reported(tmp_path: Path, line: int, needle: str) -> None:
    lines = (FIXTURES / "hotpotqa_flat_bad.jsonl").read_text(encoding="utf-8").splitlines()
    subset = tmp_path / "subset.jsonl"
    subset.write_text("\n".join(lines[:1] + [""] * (line - 2) + [lines[line - 1]]) + "\n")
    with pytest.raises(
        CorpusFormatError, match=rf"subset\.jsonl:{line}: expected .*{re.escape(needle)}"
    ):
        import_file("hotpotqa", subset)


def test_skip_bad_counts_and_records_lines() -> None:
    result = import_file("hotpotqa", FIXTURES / "hotpotqa_flat_bad.jsonl", skip_bad=True)
    assert result.skipped == 4
    assert [t.id for t in result.tasks] == ["hp-flat-1", "hp-flat-3"]
    assert result.meta["skipped_lines"] == [2, 3, 4, 5]
    assert result.meta["counts"]["skipped"] == 4
    assert result.meta["counts"]["records"] == 6


def test_bad_example_in_json_list_reports_its_index() -> None:
    path = FIXTURES / "hotpotqa_original_bad.json"
    with pytest.raises(
        CorpusFormatError, match=r"hotpotqa_original_bad\.json:2: example 2 .*expected"
    ):
        import_file("hotpotqa", path)
    result = import_file("hotpotqa", path, skip_bad=True)
    assert [t.id for t in result.tasks] == ["hp-orig-1"]
    assert (result.skipped, result.meta["skipped_lines"]) == (2, [2, 3])
    assert result.meta["line_unit"].startswith("example index")


def test_invalid_json_list_reports_text_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n {"_id": "a",\n  oops\n]\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"broken\.json:3: expected a JSON list"):
        import_file("hotpotqa", path, skip_bad=True)


def test_supporting_title_without_paragraph_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "nogold.json"
    example = (
        '[{"_id": "x", "question": "q?", "answer": "a", "supporting_facts": [["Missing", 0]],'
        ' "context": [["Present", ["Some text."]]], "type": "bridge", "level": "easy"}]'
    )
    path.write_text(example, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="expected a context paragraph for .*'Missing'"):
        import_file("hotpotqa", path)
