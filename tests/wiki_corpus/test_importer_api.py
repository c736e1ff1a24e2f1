"""The importer entry point: dispatch, determinism, round trip through a corpus directory."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

import wiki_corpus
from wiki_corpus.importers import IMPORTERS, ImportResult, import_file
from wiki_corpus.io import CorpusFormatError, write_corpus

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [
    ("hotpotqa", "hotpotqa_original.json"),
    ("hotpotqa", "hotpotqa_flat.jsonl"),
    ("musique", "musique.jsonl"),
]


def test_importers_mapping_and_unknown_kind() -> None:
    assert sorted(IMPORTERS) == ["hotpotqa", "musique"]
    with pytest.raises(ValueError, match="hotpotqa, musique"):
        import_file("squad", FIXTURES / "musique.jsonl")


def test_unknown_split_and_missing_file() -> None:
    with pytest.raises(ValueError, match="split"):
        import_file("musique", FIXTURES / "musique.jsonl", split="validation")
    with pytest.raises(FileNotFoundError):
        import_file("musique", FIXTURES / "absent.jsonl")


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_result_shape_and_meta(kind: str, name: str) -> None:
    result = import_file(kind, FIXTURES / name)
    assert isinstance(result, ImportResult)
    meta = result.meta
    assert (meta["source"], meta["source_file"], meta["split"]) == (
        kind,
        str(FIXTURES / name),
        "test",
    )
    assert meta["counts"]["tasks"] == len(result.tasks)
    assert meta["counts"]["pages"] == len(result.pages)
    assert len({p.id for p in result.pages}) == len(result.pages)
    page_urls = {p.url for p in result.pages}
    for task in result.tasks:
        assert set(task.gold.pages) <= page_urls


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_import_is_deterministic_and_round_trips(kind: str, name: str, tmp_path: Path) -> None:
    first = import_file(kind, FIXTURES / name, split="train")
    second = import_file(kind, FIXTURES / name, split="train")
    assert first == second
    out_a = write_corpus(tmp_path / "a", first.pages, first.tasks, first.meta)
    out_b = write_corpus(tmp_path / "b", second.pages, second.tasks, second.meta)
    for file in ("pages.jsonl.gz", "tasks.jsonl", "meta.json"):
        assert (out_a / file).read_bytes() == (out_b / file).read_bytes()
    corpus = wiki_corpus.load(out_a)
    assert corpus.pages == first.pages
    assert corpus.tasks == first.tasks
    assert corpus.meta == first.meta
    assert corpus.tasks_in("train") == first.tasks


def test_gzipped_input_and_content_based_detection(tmp_path: Path) -> None:
    # A JSON list stays a JSON list whatever its name says, and .gz is read transparently.
    packed = tmp_path / "hotpot.jsonl.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "hotpotqa_original.json").read_bytes()))
    result = import_file("hotpotqa", packed)
    assert result.meta["format"] == "json-list"
    assert result.tasks == import_file("hotpotqa", FIXTURES / "hotpotqa_original.json").tasks


def test_original_records_also_accepted_as_json_lines(tmp_path: Path) -> None:
    examples = json.loads((FIXTURES / "hotpotqa_original.json").read_text(encoding="utf-8"))
    path = tmp_path / "original.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    result = import_file("hotpotqa", path)
    assert result.meta["format"] == "jsonl"
    assert [t.id for t in result.tasks] == ["hp-orig-1", "hp-orig-2", "hp-orig-3"]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="empty.jsonl: expected .*empty file"):
        import_file("musique", path)


def test_paths_may_be_strings(tmp_path: Path) -> None:
    copy = tmp_path / "m.jsonl"
    shutil.copy(FIXTURES / "musique.jsonl", copy)
    assert import_file("musique", str(copy)).meta["source_file"] == str(copy)


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("latin1.jsonl", '{"id": "caf\xe9"}\n'.encode("latin-1"), "expected UTF-8"),
        ("corrupt.jsonl.gz", b"\x1f\x8bnot really gzip", "expected a readable file"),
    ],
)
def test_unreadable_files_are_format_errors(
    tmp_path: Path, name: str, data: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(CorpusFormatError, match=needle):
        import_file("musique", path, skip_bad=True)
