"""A run's trajectories as one self-contained HTML page, for reading what an agent did.

Usage::

    python -m agents.view runs/eval                 # writes runs/eval/trajectories.html
    python -m agents.view runs/eval --out view.html --corpus path/to/corpus

The page shows, per episode: the question, the first turn with its plan highlighted (the
Anchor Plan the paper studies), every tool call and the environment's response (long ones
folded), the answer against the gold answer, the reward and any further scores (F1, rubric
dimensions). Buttons filter right and wrong episodes; a box filters by text. Everything —
styles, script, data — is inline: the file opens from disk, offline, and loads nothing.
All trajectory text is HTML-escaped, so a page of the wiki cannot inject markup.

Questions and gold answers come from the corpus's ``tasks.jsonl`` (the corpus named in the
run's ``run.json``, or ``--corpus``); without it, from the conversation and ``info``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.trajectory import Trajectory, Turn, load_jsonl

FOLD_CHARS = 600
"""Tool responses and turns longer than this are folded behind a summary line."""
OUTPUT_NAME = "trajectories.html"
_PLAN = re.compile(r"<plan>(.*?)(?:</plan>|$)", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.DOTALL)
_SEGMENTS = re.compile(
    r"(<plan>.*?(?:</plan>|$)|<think>.*?(?:</think>|$)|<tool_call>.*?(?:</tool_call>|$)"
    r"|<answer>.*?(?:</answer>|$))",
    re.DOTALL,
)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


@dataclass(frozen=True)
class TaskRef:
    """What the viewer needs of a task: its question and every accepted answer."""

    question: str
    answers: tuple[str, ...]


@dataclass(frozen=True)
class RunView:
    """A run directory's contents, ready to render."""

    name: str
    trajectories: tuple[Trajectory, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    tasks: Mapping[str, TaskRef] = field(default_factory=dict)


# --- Loading ----------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; an absent file is an empty dict."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def load_tasks(corpus: str | Path) -> dict[str, TaskRef]:
    """Questions and answers of a corpus (a bundled name or a directory), read from tasks only.

    Only ``tasks.jsonl`` is read, so a 100k-page corpus costs nothing here. A corpus that
    cannot be found gives an empty mapping (the viewer then falls back on the trajectories).
    """
    from wiki_corpus.io import TASKS_FILE, read_tasks, resolve

    try:
        path = resolve(corpus) / TASKS_FILE
    except (FileNotFoundError, ValueError):
        return {}
    if not path.exists():
        return {}
    return {t.id: TaskRef(t.question, t.answers) for t in read_tasks(path)}


def load_run(run_dir: str | Path, corpus: str | Path | None = None) -> RunView:
    """Read ``trajectories.jsonl``, ``summary.json`` and ``run.json`` of a run directory.

    ``corpus`` overrides the corpus named in ``run.json`` for questions and gold answers.
    """
    run_dir = Path(run_dir)
    traj_file = run_dir / "trajectories.jsonl"
    if not traj_file.exists():
        raise FileNotFoundError(
            f"Expected a run directory holding trajectories.jsonl, got {str(run_dir)!r} "
            "(write one with `python -m agents.evaluate --out DIR`)."
        )
    trajectories = load_jsonl(traj_file, allow_partial_tail=True)
    run = _read_json(run_dir / "run.json")
    corpus = corpus if corpus is not None else run.get("run", {}).get("corpus")
    tasks = load_tasks(corpus) if corpus else {}
    return RunView(
        name=run_dir.resolve().name,
        trajectories=tuple(trajectories),
        summary=_read_json(run_dir / "summary.json"),
        run=run,
        tasks=tasks,
    )


# --- What one episode shows -------------------------------------------------------------------


def question_of(trajectory: Trajectory, tasks: Mapping[str, TaskRef]) -> str:
    """The task's question, else the last user message before the first assistant turn."""
    if trajectory.task_id in tasks:
        return tasks[trajectory.task_id].question
    question = ""
    for message in trajectory.messages:
        if message.get("role") == "assistant":
            break
        if message.get("role") == "user":
            question = message.get("content", "")
    return question or "(question not recorded)"


def gold_of(trajectory: Trajectory, tasks: Mapping[str, TaskRef]) -> tuple[str, ...]:
    """Every accepted answer: from the corpus, else ``info["gold_answers"]`` (privileged)."""
    if trajectory.task_id in tasks:
        return tasks[trajectory.task_id].answers
    gold = trajectory.info.get("gold_answers") or ()
    return tuple(str(g) for g in gold) if isinstance(gold, (list, tuple)) else (str(gold),)


def answer_of(trajectory: Trajectory) -> str | None:
    """The submitted answer: ``info["answer"]``, else the last turn's ``<answer>``."""
    answer = trajectory.info.get("answer")
    if isinstance(answer, str):
        return answer
    for turn in reversed(trajectory.turns):
        found = _ANSWER.search(turn.text)
        if found:
            return found.group(1).strip()
    return None


def plan_of(trajectory: Trajectory) -> str:
    """The plan: the first turn's ``<plan>``, else its ``<think>``, else the whole turn."""
    first = trajectory.plan
    for pattern in (_PLAN, _THINK):
        found = pattern.search(first)
        if found and found.group(1).strip():
            return found.group(1).strip()
    return first.strip()


def is_right(trajectory: Trajectory) -> bool:
    """An episode is right when its exact-match reward is 1."""
    return trajectory.reward >= 1.0


# --- HTML pieces ------------------------------------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _folded(text: str, fold_chars: int, css: str) -> str:
    """A ``<pre>`` block, folded behind its first line when longer than ``fold_chars``."""
    body = f'<pre class="{css}">{_e(text)}</pre>'
    if len(text) <= fold_chars:
        return body
    head = " ".join(text[:120].split())
    return (
        f'<details class="fold"><summary>{_e(head)} … '
        f'<span class="muted">({len(text):,} characters)</span></summary>{body}</details>'
    )


def _turn_text(text: str, fold_chars: int) -> str:
    """An assistant turn with its plan, thinking, tool calls and answer marked up."""
    parts = []
    for piece in _SEGMENTS.split(text):
        if not piece.strip():
            continue
        tag = piece[1 : piece.find(">")] if piece.startswith("<") else ""
        css = {"plan": "plan", "think": "think", "tool_call": "call", "answer": "ans"}.get(
            tag, "text"
        )
        if css == "think" and len(piece) > fold_chars:
            parts.append(_folded(piece, fold_chars, css))
        else:
            parts.append(f'<pre class="{css}">{_e(piece)}</pre>')
    return "".join(parts)


def _badges(turn: Turn) -> str:
    calls = "".join(f'<span class="badge tool">{_e(c)}</span>' for c in turn.tool_calls)
    errors = "".join(f'<span class="badge err">{_e(c)}</span>' for c in turn.errors)
    prefill = '<span class="badge muted">prefilled</span>' if turn.prefill else ""
    forced = '<span class="badge muted">forced</span>' if turn.forced else ""
    return calls + errors + prefill + forced


def _turn(index: int, turn: Turn, fold_chars: int) -> str:
    label = "Turn 0 · plan" if index == 0 else f"Turn {index}"
    observation = (
        ""
        if turn.observation is None
        else '<div class="obs"><div class="label">Tool response</div>'
        + _folded(turn.observation, fold_chars, "response")
        + "</div>"
    )
    return (
        f'<li class="turn"><div class="label">{label} {_badges(turn)}</div>'
        f"{_turn_text(turn.text, fold_chars)}{observation}</li>"
    )


def _scores(trajectory: Trajectory) -> str:
    """The reward and every further score (F1, rubric dimensions) as a small table."""
    rows = [("reward (exact match)", trajectory.reward)]
    rows += sorted((str(k), v) for k, v in trajectory.rewards.items())
    cells = "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(f'{v:.3f}' if isinstance(v, float) else v)}</td></tr>"
        for k, v in rows
    )
    return f'<table class="scores">{cells}</table>'


def _episode(trajectory: Trajectory, tasks: Mapping[str, TaskRef], fold_chars: int) -> str:
    right = is_right(trajectory)
    answer = answer_of(trajectory)
    gold = gold_of(trajectory, tasks)
    ended = trajectory.end_text
    turns = "".join(_turn(i, t, fold_chars) for i, t in enumerate(trajectory.turns))
    verdict = "right" if right else "wrong"
    search_text = " ".join([trajectory.task_id, question_of(trajectory, tasks), answer or ""])
    return f"""
<section class="episode {verdict}" data-correct="{int(right)}" data-text="{_e(search_text.lower())}">
  <details open>
    <summary><span class="verdict {verdict}">{verdict}</span>
      <b>{_e(trajectory.task_id)}</b> · sample {trajectory.sample} ·
      {_e(question_of(trajectory, tasks))}</summary>
    <div class="grid">
      <div><div class="label">Answer</div><div class="answer {verdict}">{_e(answer if answer is not None else "(no answer)")}</div></div>
      <div><div class="label">Gold</div><div class="answer gold">{_e(" | ".join(gold) or "(unknown)")}</div></div>
      <div><div class="label">Ended</div><div>{_e(ended)} after {trajectory.num_turns} turn(s)</div></div>
      <div><div class="label">Scores</div>{_scores(trajectory)}</div>
    </div>
    <div class="label">Plan</div><pre class="plan">{_e(plan_of(trajectory) or "(no plan)")}</pre>
    <ol class="turns">{turns}</ol>
  </details>
</section>"""


def _metrics(summary: Mapping[str, Any]) -> str:
    """The run's headline metrics (``summary.json``) as a line of small labelled values."""
    metrics = summary.get("metrics") or {}
    chips = []
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.3f}"
        elif isinstance(value, Mapping):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        chips.append(f'<span class="chip"><span class="muted">{_e(key)}</span> {_e(value)}</span>')
    return f'<div class="metrics">{"".join(chips)}</div>' if chips else ""


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d232b}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #d8dde3;padding:10px 18px;z-index:2}
h1{font-size:18px;margin:0 0 6px}
main{padding:12px 18px}
button{font:inherit;padding:3px 10px;border:1px solid #9aa5b1;background:#fff;border-radius:4px;cursor:pointer}
button.on{background:#1d4ed8;color:#fff;border-color:#1d4ed8}
input{font:inherit;padding:3px 6px;width:260px}
.episode{background:#fff;border:1px solid #d8dde3;border-left:5px solid #9aa5b1;border-radius:6px;margin:0 0 12px;padding:8px 12px}
.episode.right{border-left-color:#15803d}.episode.wrong{border-left-color:#b91c1c}
.episode.hidden{display:none}
summary{cursor:pointer}
.verdict{display:inline-block;min-width:44px;text-align:center;border-radius:3px;color:#fff;font-size:12px;padding:0 4px}
.verdict.right{background:#15803d}.verdict.wrong{background:#b91c1c}
.grid{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px;margin:8px 0}
.label{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#5b6673;margin:6px 0 2px}
.answer{font-weight:600}.answer.right{color:#15803d}.answer.wrong{color:#b91c1c}.answer.gold{color:#1d4ed8}
pre{white-space:pre-wrap;word-break:break-word;margin:2px 0;padding:6px 8px;border-radius:4px;background:#f1f3f5;font:12.5px/1.4 ui-monospace,monospace}
pre.plan{background:#fff4c2;border:1px solid #e9c46a}
pre.think{color:#5b6673}
pre.call{background:#e0ecff;border:1px solid #9dbcf5}
pre.ans{background:#dcfce7;border:1px solid #86d5a2}
pre.response{background:#f8fafc;border:1px dashed #c5ced8}
.turns{padding-left:18px}.turn{margin:6px 0 10px}
.badge{display:inline-block;font-size:11px;border-radius:3px;padding:0 5px;margin-left:4px;background:#e5e7eb;text-transform:none;letter-spacing:0}
.badge.tool{background:#dbeafe;color:#1e3a8a}.badge.err{background:#fee2e2;color:#991b1b}
.muted{color:#6b7280}
table.scores{border-collapse:collapse;font-size:12px}
table.scores th{text-align:left;font-weight:500;padding:1px 8px 1px 0;color:#374151}
table.scores td{font-variant-numeric:tabular-nums}
.metrics{margin:4px 0}.chip{display:inline-block;margin:0 10px 2px 0;font-size:12px}
details.fold>summary{color:#374151;font:12px ui-monospace,monospace}
"""

_SCRIPT = """
(function(){
  var mode = "all", needle = "";
  var episodes = Array.prototype.slice.call(document.querySelectorAll(".episode"));
  function apply(){
    var shown = 0;
    episodes.forEach(function(ep){
      var ok = (mode === "all") || (mode === "right") === (ep.dataset.correct === "1");
      if (ok && needle) { ok = ep.dataset.text.indexOf(needle) >= 0; }
      ep.classList.toggle("hidden", !ok);
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent = shown + " of " + episodes.length + " shown";
    document.querySelectorAll("button[data-mode]").forEach(function(b){
      b.classList.toggle("on", b.dataset.mode === mode);
    });
  }
  document.querySelectorAll("button[data-mode]").forEach(function(b){
    b.addEventListener("click", function(){ mode = b.dataset.mode; apply(); });
  });
  document.getElementById("filter").addEventListener("input", function(ev){
    needle = ev.target.value.toLowerCase(); apply();
  });
  document.getElementById("expand").addEventListener("click", function(){
    document.querySelectorAll(".episode > details").forEach(function(d){ d.open = true; });
  });
  document.getElementById("collapse").addEventListener("click", function(){
    document.querySelectorAll(".episode > details").forEach(function(d){ d.open = false; });
  });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
"""

_ERROR_TRAP = """
window.addEventListener("error", function(ev){
  var n = Number(document.documentElement.getAttribute("data-errors") || "0") + 1;
  document.documentElement.setAttribute("data-errors", String(n));
  document.documentElement.setAttribute("data-last-error", String(ev.message));
});
"""


def render_html(view: RunView, *, fold_chars: int = FOLD_CHARS) -> str:
    """The whole page for a run: a header with metrics and filters, then one card per episode.

    The page marks ``<body data-ready="1">`` when its script has run and counts script
    errors in ``<html data-errors>``, so a headless browser can check it loaded cleanly.
    """
    right = sum(is_right(t) for t in view.trajectories)
    total = len(view.trajectories)
    config = view.summary.get("config") or view.run.get("run") or {}
    subtitle = " · ".join(
        f"{k} {_e(config[k])}" for k in ("policy", "corpus", "split", "prompt") if config.get(k)
    )
    episodes = "".join(_episode(t, view.tasks, fold_chars) for t in view.trajectories)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trajectories · {_e(view.name)}</title>
<script>{_ERROR_TRAP}</script>
<style>{_CSS}</style></head>
<body>
<header>
  <h1>Trajectories of run <code>{_e(view.name)}</code></h1>
  <div class="muted">{subtitle}</div>
  <div>{total} episodes · <b>{right}</b> right · <b>{total - right}</b> wrong</div>
  {_metrics(view.summary)}
  <div style="margin-top:6px">
    <button data-mode="all" class="on">All ({total})</button>
    <button data-mode="right">Right ({right})</button>
    <button data-mode="wrong">Wrong ({total - right})</button>
    <input id="filter" type="search" placeholder="Filter by task id, question or answer">
    <button id="expand">Expand all</button> <button id="collapse">Collapse all</button>
    <span id="shown" class="muted"></span>
  </div>
</header>
<main>{episodes or '<p class="muted">This run has no trajectories.</p>'}</main>
<script>{_SCRIPT}</script>
</body></html>
"""


def write_view(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    corpus: str | Path | None = None,
    fold_chars: int = FOLD_CHARS,
) -> Path:
    """Render a run directory to ``out`` (default ``RUN_DIR/trajectories.html``); the path."""
    view = load_run(run_dir, corpus)
    path = Path(out) if out is not None else Path(run_dir) / OUTPUT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(view, fold_chars=fold_chars), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.view", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run_dir", help="a run directory holding trajectories.jsonl")
    parser.add_argument("--out", default=None, help=f"output file (default: RUN_DIR/{OUTPUT_NAME})")
    parser.add_argument("--corpus", default=None, help="corpus for questions and gold answers")
    parser.add_argument(
        "--fold-chars", type=int, default=FOLD_CHARS, help="fold texts longer than this"
    )
    args = parser.parse_args(argv)
    try:
        path = write_view(args.run_dir, args.out, corpus=args.corpus, fold_chars=args.fold_chars)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
