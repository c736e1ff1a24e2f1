"""The command line: generate, stats and import, and its errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_search import lexical_observer

import wiki_corpus.__main__ as cli
from wiki_corpus import load
from wiki_corpus.__main__ import main
from wiki_corpus.stats import corpus_stats, describe_task, format_stats

FIXTURES = Path(__file__).parent / "fixtures"
GENERATE = ["generate", "--pages", "200", "--seed", "4", "--train", "20", "--dev", "5"]
GENERATE += ["--test", "5", "--quiet", "--no-honesty-check"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "small"
    assert main([*GENERATE, "--out", str(out)]) == 0
    return out


def test_generate_writes_a_loadable_corpus_with_its_command(small_corpus) -> None:
    corpus = load(small_corpus)
    assert len(corpus.pages) == 200
    assert [len(corpus.tasks_in(s)) for s in ("train", "dev", "test")] == [20, 5, 5]
    command = corpus.meta["command"]
    assert command.startswith("python -m wiki_corpus generate --pages 200 --seed 4 --out ")
    assert "--train 20 --dev 5 --test 5" in command


def test_generate_checks_honesty_and_keeps_a_shipped_index(
    small_corpus, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "honest"
    (out / "index").mkdir(parents=True)
    (out / "index" / "manifest.json").write_text("{}")
    monkeypatch.setattr(
        cli, "_observer", lambda corpus_dir, quiet: lexical_observer(load(corpus_dir).pages)
    )
    honest = [a for a in GENERATE if a != "--no-honesty-check"]
    assert main([*honest, "--out", str(out)]) == 0
    assert (out / "index" / "manifest.json").read_text() == "{}"
    meta = load(out).meta
    assert "--no-honesty-check" not in meta["command"]
    assert set(meta["validation"]["honesty"]["splits"]) == {"train", "dev", "test"}
    assert "Honest gold paths (as drawn / fixed / task replaced):" in capsys.readouterr().out
    assert load(small_corpus).meta["validation"]["honesty"] == "not checked"
    assert main(["stats", str(small_corpus)]) == 0
    assert "Honest gold paths: not checked" in capsys.readouterr().out


def test_generate_again_is_byte_identical(small_corpus) -> None:
    """Same command, fresh process, other hash seed: the very same bytes."""
    before = {p.name: p.read_bytes() for p in small_corpus.iterdir()}
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    argv = [sys.executable, "-m", "wiki_corpus", *GENERATE, "--out", str(small_corpus)]
    subprocess.run(argv, check=True, capture_output=True, env=env)
    after = {p.name: p.read_bytes() for p in small_corpus.iterdir()}
    assert after == before and set(before) == {"pages.jsonl.gz", "tasks.jsonl", "meta.json"}


def test_stats_prints_splits_histograms_validation_and_a_sample(small_corpus, capsys) -> None:
    assert main(["stats", str(small_corpus), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    for needle in ("Pages: 200", "train 20 · dev 5 · test 5", "Difficulty per split"):
        assert needle in out
    assert "Hops:" in out and "Validation: " in out and "candidates generated" in out
    assert out.count("Gold path:") == 2 and "answer " in out


def test_stats_through_python_m_in_a_subprocess(small_corpus) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "wiki_corpus", "stats", str(small_corpus)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Pages: 200" in proc.stdout and "Task wa-dev-" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--pages", "-3", "--out", "x"], "expected an integer >= 1, got -3"),
        (["generate", "--pages", "ten", "--out", "x"], "expected an integer, got 'ten'"),
        (["generate", "--pages", "50", "--out", "x"], "n_pages to be an integer >= 100, got 50"),
        (
            ["generate", "--pages", "300", "--train", "900", "--out", "x"],
            "Too few pages for 950 tasks: expected n_pages >= 1900",
        ),
        (["stats", "/no/such/corpus"], "Expected a corpus directory"),
        (["import", "squad", "f.json", "--out", "x"], "invalid choice: 'squad'"),
    ],
)
def test_bad_input_is_a_usage_error_that_says_what_was_expected(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_failed_generate_leaves_no_output(tmp_path) -> None:
    out = tmp_path / "never"
    with pytest.raises(SystemExit):
        main(["generate", "--pages", "150", "--train", "500", "--out", str(out)])
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_import_subcommand_writes_a_corpus(tmp_path, capsys) -> None:
    out = tmp_path / "musique"
    argv = ["import", "musique", str(FIXTURES / "musique_bad.jsonl"), "--out", str(out)]
    with pytest.raises(SystemExit):
        main(argv)
    assert "musique_bad.jsonl" in capsys.readouterr().err and not out.exists()
    assert main([*argv, "--skip-bad"]) == 0
    corpus = load(out)
    assert corpus.tasks and corpus.meta["command"].endswith("--skip-bad")
    assert "bad records skipped" in capsys.readouterr().out
    assert "Import:" in format_stats(corpus_stats(corpus), "musique")


def test_describe_task_shows_the_gold_path(small_corpus) -> None:
    task = load(small_corpus).tasks[0]
    text = describe_task(task)
    assert task.question in text and task.answer in text
    assert text.count("visit ") == len(task.gold.pages)
