"""The main table (the paper's Table 1): pass@1, pass@k and tool calls of every policy.

Rows are the scripted agents (``--policies``, evaluated as they are), the registered
planning methods (``--methods``: ``start`` is the SFT-started policy untrained, the others
are trained from it by :func:`harness.method_model`, once per work directory) and extra
trained models (``--checkpoints NAME=DIR``, evaluated as they are). Every row is evaluated
on every corpus (``--corpus``; default: the bundled world's test split and HotpotQA) with
the same tasks, seeds and budgets (``--scale``): pass@1 averaged over ``runs`` samples per
task, pass@k with k = ``runs``, and the mean number of tool calls (search + visit) per
episode. The paper's own numbers are not reproduced here; every number is measured.

One exception to the shared budgets: the ``oracle`` row (it replays each task's gold path)
gets at least as many turns as the longest gold path of the evaluated tasks, so its row
checks the tasks and the environment (1.0 on the bundled world) instead of measuring the
turn limit; the table's note says how many turns it had.

    python -m benchmarks.main_table --scale smoke --corpus world       # seconds, a tiny model
    python -m benchmarks.main_table --scale small                      # SmolLM2 on this CPU
    python -m benchmarks.main_table --scale full                       # on a GPU
    python -m benchmarks.main_table --methods grpo,plan-length --methods-file my_method.py

A row that fails (a method that raises, a checkpoint that is missing) is reported under the
table and the rest runs; evaluations resume, so a rerun finishes an interrupted table.
Evaluations go to ``<work-dir>/evals/<row>/<corpus>`` (shared with the ablations);
``<work-dir>/main_table/`` gets ``results.json`` (every number) and ``main_table.png``
(pass@1 per row and corpus); the table is printed and appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.methods import Method
from benchmarks import harness

SCRIPTED = ("oracle", "naive", "random")
KINDS = ("scripted", "policy", "method", "checkpoint")
TITLE = "Main table: pass@1, pass@k and tool calls per policy and corpus"


# --- Rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of the table: what is evaluated and how."""

    name: str
    kind: str
    """``scripted`` (oracle, naive, random), ``policy`` (another model name evaluated as it
    is), ``method`` (a registered method) or ``checkpoint`` (a model directory)."""
    policy: str = ""
    """The policy evaluated (scripted name, model name or directory); '' for a method, whose
    model is made when its row runs."""
    method: Method | None = None


def parse_checkpoint(text: str) -> tuple[str, str]:
    """``NAME=DIR`` -> ``(NAME, DIR)``."""
    name, sep, directory = text.partition("=")
    name, directory = name.strip(), directory.strip()
    if not sep or not name or not directory:
        raise ValueError(f"Expected --checkpoints NAME=DIR, got {text!r}.")
    if any(c in name for c in "/\\ ,"):
        raise ValueError(f"Expected a checkpoint name without '/', ',' or spaces, got {name!r}.")
    return name, directory


def policy_row(policy: str) -> Row:
    """The row of a policy evaluated as it is."""
    return Row(policy, "scripted" if policy in SCRIPTED else "policy", policy)


def build_rows(
    policies: Sequence[str], methods: Sequence[Method], checkpoints: Sequence[tuple[str, str]]
) -> tuple[list[Row], list[str]]:
    """The rows in table order (policies, methods, checkpoints) and the names left out
    because an earlier row has the same name (their outputs would share a directory)."""
    candidates = [policy_row(p) for p in policies]
    candidates += [Row(m.name, "method", method=m) for m in methods]
    candidates += [Row(name, "checkpoint", directory) for name, directory in checkpoints]
    rows: list[Row] = []
    duplicates: list[str] = []
    for row in candidates:
        if any(r.name == row.name for r in rows):
            duplicates.append(row.name)
        else:
            rows.append(row)
    return rows, duplicates


def gold_turns(tasks: Sequence[Any]) -> int:
    """The turns the longest gold path of ``tasks`` takes (one per action; 0 without any)."""
    return max((len(t.gold.actions) for t in tasks), default=0)


def corpus_tasks(corpus: harness.CorpusSpec, limit: int) -> list[Any]:
    """The first ``limit`` tasks of the corpus split (the ones an evaluation plays)."""
    from wiki_corpus.io import TASKS_FILE, read_tasks, resolve

    tasks = [t for t in read_tasks(resolve(corpus.corpus) / TASKS_FILE) if t.split == corpus.split]
    return tasks[:limit]


def row_scale(row: Row, corpus: harness.CorpusSpec, scale: harness.Scale) -> harness.Scale:
    """The budgets a row is evaluated with: the scale's, but the oracle gets the turns of
    its longest gold path when the scale allows fewer."""
    if row.name != "oracle":
        return scale
    needed = gold_turns(corpus_tasks(corpus, scale.eval_tasks))
    return scale.with_training(max_turns=max(scale.max_turns, needed))


# --- Numbers ------------------------------------------------------------------------------


def cell_numbers(metrics: Mapping[str, Any], k: int) -> dict[str, Any]:
    """The table's numbers of one evaluation: pass@1, pass@k, tool calls (search + visit)."""
    search, visit = metrics.get("mean_search_calls"), metrics.get("mean_visit_calls")
    calls = None if search is None or visit is None else float(search) + float(visit)
    return {
        "pass@1": metrics.get("pass@1"),
        "pass@1_ci95": metrics.get("pass@1_ci95"),
        f"pass@{k}": metrics.get(f"pass@{k}"),
        "tool_calls": calls,
        "search_calls": search,
        "visit_calls": visit,
        "tasks": metrics.get("tasks"),
        "episodes": metrics.get("episodes"),
        "format_error_rate": metrics.get("format_error_rate"),
    }


def train_seconds(records: Sequence[Mapping[str, Any]]) -> float | None:
    """Wall-clock seconds of a training run: the sum of its ``time/*`` metrics."""
    total, seen = 0.0, False
    for record in records:
        for key, value in record.items():
            if key.startswith("time/") and isinstance(value, (int, float)):
                total += float(value)
                seen = True
    return total if seen else None


def table_markdown(results: Mapping[str, Mapping[str, Any]], corpora: Sequence[str], k: int) -> str:
    """The markdown table: row, kind, then pass@1 / pass@k / tool calls per corpus, then the
    training seconds. A row or corpus with no numbers (it failed) shows dashes."""
    head = ["row", "kind"]
    for corpus in corpora:
        head += [f"{corpus} pass@1 [95% CI]", f"{corpus} pass@{k}", f"{corpus} tool calls"]
    head.append("train s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, entry in results.items():
        cells = [name, entry.get("kind", "")]
        for corpus in corpora:
            numbers = entry.get("corpora", {}).get(corpus) or {}
            cells += [
                harness.fmt(numbers.get("pass@1"))
                + harness.interval_text(numbers.get("pass@1_ci95")),
                harness.fmt(numbers.get(f"pass@{k}")),
                harness.fmt(numbers.get("tool_calls"), 2),
            ]
        cells.append(harness.fmt(entry.get("train_seconds"), 1))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def reading(results: Mapping[str, Mapping[str, Any]], corpora: Sequence[str]) -> str:
    """One sentence per corpus comparing every trained row's pass@1 interval with the
    ``start`` row's: apart (above or below) or overlapping (a tie); '' without a start."""
    sentences = []
    for corpus in corpora:
        base = (results.get("start", {}).get("corpora", {}).get(corpus) or {}).get("pass@1_ci95")
        if not base:
            continue
        above, below, ties = [], [], []
        for name, entry in results.items():
            if name == "start" or entry.get("train_seconds") is None:
                continue
            interval = (entry.get("corpora", {}).get(corpus) or {}).get("pass@1_ci95")
            if not interval:
                continue
            if interval[0] > base[1]:
                above.append(name)
            elif interval[1] < base[0]:
                below.append(name)
            else:
                ties.append(name)
        parts = [f"{', '.join(xs)} {what}" for xs, what in (
            (above, "above start (intervals apart)"), (below, "below start (intervals apart)"),
            (ties, "tied with start (intervals overlap)"),
        ) if xs]  # fmt: skip
        if parts:
            sentences.append(f"On {corpus}: " + "; ".join(parts) + ".")
    return " ".join(sentences)


def budget_note(results: Mapping[str, Mapping[str, Any]], max_turns: int) -> str:
    """A sentence naming the evaluations that had another turn limit than the scale's."""
    other = [
        f"{name} on {corpus}: {numbers['max_turns']}"
        for name, entry in results.items()
        for corpus, numbers in entry.get("corpora", {}).items()
        if numbers.get("max_turns", max_turns) != max_turns
    ]
    if not other:
        return f" Turn limit: {max_turns} for every row."
    return (
        f" Turn limit: {max_turns}, except {', '.join(other)} (the oracle replays the gold "
        "paths and gets the turns the longest one needs)."
    )


def pass1_bars(
    results: Mapping[str, Mapping[str, Any]], names: Sequence[str], corpus: str
) -> tuple[list[int], list[float], list[list[float]]]:
    """The bars of ``corpus``: the indices of the rows in ``names`` with a pass@1, their
    pass@1 and the error bars of their 95% interval (below, above; 0 without one)."""
    cells = [(j, results[n].get("corpora", {}).get(corpus) or {}) for j, n in enumerate(names)]
    cells = [(j, cell) for j, cell in cells if cell.get("pass@1") is not None]
    values = [cell["pass@1"] for _, cell in cells]
    intervals = [cell.get("pass@1_ci95") for _, cell in cells]
    return [j for j, _ in cells], values, harness.error_bars(values, intervals)


def plot_pass1(
    results: Mapping[str, Mapping[str, Any]], corpora: Sequence[str], path: Path, title: str
) -> Path | None:
    """A grouped bar chart of pass@1 per row (groups) and corpus (bars), each with its 95%
    interval over tasks; None without matplotlib or numbers."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no main_table.png", file=sys.stderr)
        return None
    names = list(results)
    if not names or not corpora:
        return None
    width = 0.8 / len(corpora)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) + 2), 3.6))
    for i, corpus in enumerate(corpora):
        js, ys, errors = pass1_bars(results, names, corpus)
        if not js:
            continue
        xs = [j + (i - (len(corpora) - 1) / 2) * width for j in js]
        ax.bar(xs, ys, width=width, label=corpus, yerr=errors, capsize=3, ecolor="gray")
        for x, y in zip(xs, ys):  # beside the error bar, not on it
            ax.text(x + width / 8, y + 0.01, f"{y:.2f}", ha="left", va="bottom", fontsize=7)
    for j, name in enumerate(names):
        if not any(
            (results[name].get("corpora", {}).get(c) or {}).get("pass@1") is not None
            for c in corpora
        ):
            ax.text(j, 0.02, "n/a", ha="center", fontsize=7, color="gray")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("pass@1")
    ax.set_title(textwrap.fill(title, 110), fontsize=8)
    ax.legend(fontsize=8)
    return harness.save_figure(fig, path, dpi=100)


# --- Running ------------------------------------------------------------------------------


def evaluate_row(
    row: Row,
    corpus: harness.CorpusSpec,
    scale: harness.Scale,
    work_dir: Path,
    policy: str,
    *,
    agent: str = "react",
    prompt: str | None = None,
) -> dict[str, Any]:
    """The numbers of ``policy`` (the row's model) on ``corpus`` (``prompt`` None: the
    scale's)."""
    scale = row_scale(row, corpus, scale)
    out = harness.eval_dir(work_dir, row.name, corpus)
    metrics = harness.evaluate_policy(policy, corpus, scale, out, agent=agent, prompt=prompt)
    return {**cell_numbers(metrics, scale.runs), "max_turns": scale.max_turns}


def run_row(
    row: Row,
    corpora: Sequence[harness.CorpusSpec],
    scale: harness.Scale,
    work_dir: Path,
    start: Callable[[], str],
    failures: harness.Failures,
) -> dict[str, Any]:
    """Make the row's model (a method trains once per work directory) and evaluate it on
    every corpus; a corpus that fails is reported and the others still count."""
    entry: dict[str, Any] = {"kind": row.kind, "corpora": {}}
    agent, prompt = "react", None
    if row.method is not None:
        policy = harness.method_model(row.method, scale, work_dir, start())
        agent, prompt = row.method.agent, row.method.prompt or None
        entry["description"] = row.method.description
        if row.method.trains:
            entry["train_seconds"] = train_seconds(harness.training_metrics(work_dir, row.name))
    elif row.kind == "checkpoint":
        policy = harness.check_checkpoint(row.policy)
    else:
        policy = row.policy
    entry.update(policy=policy, agent=agent, prompt=prompt)
    for corpus in corpora:
        numbers = failures.attempt(
            f"{row.kind} {row.name} on {corpus.name}",
            evaluate_row, row, corpus, scale, work_dir, policy, agent=agent, prompt=prompt,
        )  # fmt: skip
        if numbers is not None:
            entry["corpora"][corpus.name] = numbers
    return entry


def lazy(fn: Callable[[], str]) -> Callable[[], str]:
    """``fn`` called once, on first use (a failure is raised again on every use)."""
    cache: dict[str, str] = {}

    def get() -> str:
        if "value" not in cache:
            cache["value"] = fn()
        return cache["value"]

    return get


def parser() -> Any:
    p = harness.common_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--policies",
        default="oracle,naive,random",
        help="comma list of policies evaluated as they are (scripted agents, smollm2, HF ids)",
    )
    p.add_argument(
        "--methods",
        default="start,grpo,first-step-grpo,anchor-grpo,anchor-grpo-ref,tracer1",
        help="comma list of registered methods (see --methods-file)",
    )
    p.add_argument(
        "--checkpoints",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="a trained model evaluated as it is (repeatable)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    scale = harness.scale_from(args)
    failures = harness.Failures()
    corpora = harness.corpora_from(args, failures)
    methods = harness.methods_from(harness.split_list(args.methods), args.methods_file, failures)
    checkpoints = []
    for text in args.checkpoints:
        parsed = failures.attempt(f"checkpoint {text}", parse_checkpoint, text)
        if parsed is not None:
            checkpoints.append(parsed)
    rows, duplicates = build_rows(harness.split_list(args.policies), methods, checkpoints)
    for name in duplicates:
        failures.items.append((f"row {name}", "a second row of that name was left out"))
    work_dir: Path = args.work_dir
    root = work_dir / "main_table"
    root.mkdir(parents=True, exist_ok=True)

    def make_start() -> str:
        start = failures.attempt("starting policy", harness.start_model, scale, work_dir)
        if start is None:
            raise RuntimeError("the starting policy could not be made (see its failure)")
        return start

    start = lazy(make_start)
    results: dict[str, dict[str, Any]] = {}
    for row in rows:
        print(f"[main_table] {row.kind} {row.name}", file=sys.stderr)
        entry = failures.attempt(
            f"{row.kind} {row.name}", run_row, row, corpora, scale, work_dir, start, failures
        )
        results[row.name] = entry if entry is not None else {"kind": row.kind, "corpora": {}}

    names = [c.name for c in corpora]
    k = scale.runs
    png = plot_pass1(
        results,
        names,
        root / "main_table.png",
        f"pass@1, 95% intervals over tasks ({scale.describe()})",
    )
    record = {
        "scale": dataclasses.asdict(scale),
        "note": scale.describe(),
        "k": k,
        "corpora": [dataclasses.asdict(c) for c in corpora],
        "rows": results,
        "failures": [{"what": w, "error": e} for w, e in failures.items],
    }
    (root / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    body = table_markdown(results, names, k)
    body += (
        f"\npass@1 averaged over {k} runs per task, with a 95% bootstrap interval over "
        f"tasks (rows whose intervals overlap are not told apart here); pass@{k} unbiased; "
        "tool calls = mean search + visit calls per episode; train s = wall-clock seconds "
        "of the method's training steps (rollouts, rewards, updates; not the start). Equal "
        "budgets: every trained method took the same number of policy updates on the same "
        "number of sampled trajectories (a one-stage method runs stage 1 + stage 2 steps "
        "in its one stage). anchor-grpo-ref's plan judge is privileged (it reads the gold "
        "path); so is tracer1's stage-1 reward."
    )
    body += budget_note(results, scale.max_turns)
    shows = reading(results, names)
    if shows:
        body += f"\n\nWhat this shows: {shows}"
    if png is not None:
        body += f" Chart: `{png}`."
    body += "\n"
    harness.finish(TITLE, body, args, failures, scale.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
