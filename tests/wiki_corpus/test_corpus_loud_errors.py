"""Bad data is loud: weak aliases dropped and counted, the container format named, an empty
corpus refused at load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wiki_corpus import Page, Task, load, write_corpus
from wiki_corpus.answers import EMPTY, SINGLE_LETTER, STOPWORD, weak_alias
from wiki_corpus.importers import import_file
from wiki_corpus.io import CorpusFormatError

MUSIQUE = Path(__file__).parent / "fixtures" / "musique.jsonl"


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ("no", STOPWORD),
        ("NO", STOPWORD),
        ("It", STOPWORD),
        ("nor", STOPWORD),
        ("x", SINGLE_LETTER),
        ("Q.", SINGLE_LETTER),
        ("The", EMPTY),
        ("a", EMPTY),
        ("...", EMPTY),
        ("Norway", None),
        ("1", None),
        ("US", None),
        ("no. 5", None),
    ],
)
def test_weak_aliases_are_named_by_their_normal_form(alias: str, why: str | None) -> None:
    assert weak_alias(alias) == why


def test_the_importer_drops_weak_aliases_and_counts_them(tmp_path: Path) -> None:
    record = json.loads(MUSIQUE.read_text(encoding="utf-8").splitlines()[0])
    record["answer_aliases"] = ["Magyarország", "NO", "it", "x", "The", "Hu"]
    path = tmp_path / "aliases.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    result = import_file("musique", path)
    (task,) = result.tasks
    assert task.aliases == ("Magyarország", "Hu")
    assert result.meta["counts"]["dropped_aliases"] == {EMPTY: 1, SINGLE_LETTER: 1, STOPWORD: 2}
    assert result.meta["dropped_aliases"][0] == {"task": task.id, "alias": "NO", "why": STOPWORD}


def test_the_detected_format_and_its_reason_are_recorded() -> None:
    meta = import_file("musique", MUSIQUE).meta
    assert (meta["format"], meta["format_reason"]) == (
        "jsonl",
        "the first non-blank character is '{', not '['",
    )


def test_a_file_that_is_one_json_object_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.json"
    records = [json.loads(line) for line in MUSIQUE.read_text(encoding="utf-8").splitlines()]
    path.write_text(json.dumps({"version": 1, "data": records}, indent=2), encoding="utf-8")
    for skip_bad in (False, True):
        with pytest.raises(
            CorpusFormatError,
            match=r"wrapped\.json: expected examples as JSON Lines .* got one JSON object over "
            r"several lines, with keys 'version', 'data' \(read as JSON Lines because the first "
            r"non-blank character is '\{', not '\['\)",
        ):
            import_file("musique", path, skip_bad=skip_bad)


def test_a_bad_first_record_says_which_format_was_assumed(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text('{"data": []}\n', encoding="utf-8")
    with pytest.raises(
        CorpusFormatError,
        match=r"one\.json:1: expected field 'answer' .* \(read as JSON Lines because the first "
        r"non-blank character is '\{', not '\['\)",
    ):
        import_file("musique", path)


def test_a_corpus_without_pages_is_refused_at_load(tmp_path: Path) -> None:
    task = Task("t-1", "Who?", "Someone", split="test")
    write_corpus(tmp_path / "empty", [], [task])
    with pytest.raises(CorpusFormatError, match=r"pages\.jsonl\.gz: expected at least one page"):
        load(tmp_path / "empty")
    write_corpus(tmp_path / "one", [Page("p", "https://wiki.local/wiki/P", "P", "<p>P</p>")], [])
    assert len(load(tmp_path / "one").pages) == 1
