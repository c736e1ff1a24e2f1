"""agents.view: a run's trajectories as a self-contained HTML page, checked in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_util import INSTALL_HINT, ensure_chromium, load_page, screenshot

from agents.trajectory import Trajectory, Turn, save_jsonl
from agents.view import answer_of, load_run, main, plan_of, render_html, write_view
from wiki_corpus import Gold, Page, Task, title_to_url, write_corpus

LONG_PAGE = "Lumen Tower is a skyscraper. " * 80  # folded: longer than FOLD_CHARS
SEARCH = '<tool_call>{"name": "search", "arguments": {"query": ["Lumen Tower"]}}</tool_call>'
VISIT = (
    '<tool_call>{"name": "visit", "arguments": {"url": ["https://wiki.local/wiki/Lumen_Tower"],'
    ' "goal": "architect"}}</tool_call>'
)


def _trajectory(task_id: str, answer: str, reward: float, **extra) -> Trajectory:
    turns = (
        Turn(
            "<plan>1. Search Lumen Tower. 2. Read its page. 3. Answer the architect.</plan>\n"
            + SEARCH,
            tool_calls=("search",),
            observation="<tool_response>\n1. [Lumen Tower](https://wiki.local/wiki/Lumen_Tower)"
            "\n<script>alert('x')</script>\n</tool_response>",
        ),
        Turn("<think>read it</think>" + VISIT, tool_calls=("visit",), observation=LONG_PAGE),
        Turn(f"<answer>{answer}</answer>", observation="Answer submitted.", reward=reward),
    )
    messages = (
        {"role": "system", "content": "You are a web research agent."},
        {"role": "user", "content": "Question: Who designed Lumen Tower?"},
        {"role": "assistant", "content": turns[0].text},
    )
    return Trajectory(
        task_id, 0, 0, (), None, (), (), reward,
        {"f1": reward, "goal_alignment": 4.0, "rubric": 0.8},
        messages=messages, turns=turns, info={"answer": answer, "search_calls": 1}, **extra,
    )  # fmt: skip


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory as agents.evaluate writes it: one right, one wrong, one unknown task."""
    corpus = write_corpus(
        tmp_path / "corpus",
        [Page("p-1", title_to_url("Lumen Tower"), "Lumen Tower", "<p>Lumen Tower</p>")],
        [
            Task("q-1", "Who was the architect of Lumen Tower?", "Orlan Vesk", split="test"),
            Task("q-2", "When was Lumen Tower finished?", "1998", ("in 1998",), split="test",
                 gold=Gold()),
        ],
    )  # fmt: skip
    run = tmp_path / "run"
    save_jsonl(
        run / "trajectories.jsonl",
        [
            _trajectory("q-1", "Orlan Vesk", 1.0),
            _trajectory("q-2", "1996", 0.0, truncated_reason=None),
            _trajectory("q-unknown", "Nobody", 0.0, truncated_reason="max_turns"),
        ],
    )
    (run / "run.json").write_text(json.dumps({"run": {"corpus": str(corpus), "policy": "test"}}))
    summary = {"config": {"policy": "test", "split": "test"}, "metrics": {"pass@1": 1 / 3}}
    (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_page_shows_questions_answers_gold_plan_and_scores(run_dir: Path):
    view = load_run(run_dir)
    page = render_html(view)
    assert "Who was the architect of Lumen Tower?" in page  # from the corpus's tasks
    assert "Question: Who designed Lumen Tower?" in page  # unknown task: from the messages
    assert "1998 | in 1998" in page  # gold answer and its alias
    assert 'data-correct="1"' in page and page.count('data-correct="0"') == 2
    assert '<pre class="plan">1. Search Lumen Tower. 2. Read its page.' in page
    assert "goal_alignment" in page and "0.800" in page  # rubric scores
    assert "max_turns" in page
    assert "(2,320 characters)" in page  # the long page is folded
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page  # escaped
    assert 'src="http' not in page and 'href="http' not in page  # loads nothing


def test_an_error_end_shows_its_detail(run_dir: Path):
    broken = _trajectory(
        "q-1", "x", 0.0, truncated_reason="env_error", end_detail="OSError: <gone>"
    )
    save_jsonl(run_dir / "trajectories.jsonl", [broken])
    assert "env_error: OSError: &lt;gone&gt; after 3 turn(s)" in render_html(load_run(run_dir))


def test_plan_and_answer_extraction():
    t = _trajectory("q-1", "Orlan Vesk", 1.0)
    assert plan_of(t).startswith("1. Search Lumen Tower.")
    assert answer_of(t) == "Orlan Vesk"


def test_cli_writes_the_page_and_reports_a_missing_run(run_dir: Path, tmp_path: Path, capsys):
    assert main([str(run_dir)]) == 0
    assert (run_dir / "trajectories.html").exists()
    assert capsys.readouterr().out.strip().endswith("trajectories.html")
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "Expected a run directory holding trajectories.jsonl" in capsys.readouterr().err


@pytest.mark.slow
def test_page_loads_in_headless_chromium_without_script_errors(run_dir: Path, tmp_path: Path):
    chromium = ensure_chromium()
    if chromium is None:
        pytest.skip(f"Chromium is not installed and could not be installed ({INSTALL_HINT}).")
    page = write_view(run_dir)
    loaded = load_page(chromium, page)
    assert loaded.console_errors == ()
    assert loaded.attribute("html", "data-errors") is None
    assert loaded.attribute("body", "data-ready") == "1"  # the page's script ran to its end
    assert "3 of 3 shown" in loaded.dom
    png = screenshot(chromium, page, tmp_path / "view.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.slow
def test_headless_check_catches_a_script_error(run_dir: Path, tmp_path: Path):
    chromium = ensure_chromium()
    if chromium is None:
        pytest.skip(f"Chromium is not installed and could not be installed ({INSTALL_HINT}).")
    broken = tmp_path / "broken.html"
    html = render_html(load_run(run_dir)).replace("  apply();\n", "  noSuchFunction();\n", 1)
    broken.write_text(html, encoding="utf-8")
    loaded = load_page(chromium, broken)
    assert loaded.attribute("html", "data-errors") == "1"
    assert loaded.attribute("body", "data-ready") is None
    assert any("noSuchFunction" in e for e in loaded.console_errors)
