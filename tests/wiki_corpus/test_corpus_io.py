"""Reading and writing corpus directories: contract checks, atomic writes, clear errors."""

import gzip
import json

import pytest

from wiki_corpus import io as cio
from wiki_corpus.schema import Gold, Page, Task, title_to_url, url_to_title


def _sample():
    pages = [Page(id="p1", url=title_to_url("Lumen Tower"), title="Lumen Tower", html="<p>x</p>")]
    tasks = [
        Task(
            id="t1",
            question="Who designed Lumen Tower?",
            answer="Ada Vesk",
            aliases=("Vesk",),
            split="dev",
            gold=Gold(pages=(pages[0].url,), actions=({"name": "answer", "arguments": {}},)),
        )
    ]
    return pages, tasks


def test_round_trip_and_deterministic_bytes(tmp_path):
    pages, tasks = _sample()
    a = cio.write_corpus(tmp_path / "a", pages, tasks, {"seed": 1})
    b = cio.write_corpus(tmp_path / "b", pages, tasks, {"seed": 1})
    for name in ("pages.jsonl.gz", "tasks.jsonl", "meta.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    corpus = cio.load(a)
    assert corpus.pages == pages
    assert corpus.tasks == tasks
    assert corpus.meta == {"seed": 1}
    assert corpus.tasks_in("dev") == tasks
    assert corpus.tasks_in("train") == []


def test_title_url_round_trip():
    url = title_to_url("Orlan Vesk (architect)")
    assert url == "https://wiki.local/wiki/Orlan_Vesk_(architect)"
    assert url_to_title(url) == "Orlan Vesk (architect)"
    assert url_to_title("file:///etc/passwd") is None


def test_interrupted_write_leaves_previous_corpus(tmp_path):
    pages, tasks = _sample()
    out = cio.write_corpus(tmp_path / "c", pages, tasks)
    before = (out / "tasks.jsonl").read_bytes()

    def exploding():
        yield pages[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cio.write_corpus(out, exploding(), tasks)
    assert (out / "tasks.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "pages.jsonl"
    good = json.dumps({"id": "a", "url": "u", "title": "t", "html": ""})
    path.write_text(good + "\n{not json\n")
    with pytest.raises(cio.CorpusFormatError, match=r"pages\.jsonl:2: invalid JSON"):
        list(cio.read_pages(path))
    path.write_text(good + "\n" + json.dumps({"id": "b", "url": "u", "title": "t"}) + "\n")
    with pytest.raises(cio.CorpusFormatError, match=r"pages\.jsonl:2: missing field 'html'"):
        list(cio.read_pages(path))


def test_bad_task_split_and_truncated_gzip(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    bad = {"id": "t", "question": "q", "answer": "a", "split": "validation"}
    tasks.write_text(json.dumps(bad) + "\n")
    with pytest.raises(cio.CorpusFormatError, match=r"tasks\.jsonl:1: split should be one of"):
        list(cio.read_tasks(tasks))
    gz = tmp_path / "pages.jsonl.gz"
    line = json.dumps({"id": "a", "url": "u", "title": "t", "html": "x" * 40}) + "\n"
    gz.write_bytes(gzip.compress(line.encode() * 200)[:60])
    with pytest.raises(cio.CorpusFormatError, match="unreadable file"):
        list(cio.read_pages(gz))


def test_missing_directory_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="Expected a corpus directory"):
        cio.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="No pages file"):
        cio.load(tmp_path / "empty")
