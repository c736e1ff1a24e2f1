"""The paper's Table 2: ablations of Anchor-GRPO, in three groups of rows.

- **Two-stage strategy**: full GRPO (``grpo``), the planner stage alone
  (``planner-only``), planner + executor (``anchor-grpo``).
- **Which step is updated** in stage 1: the first (``first-step-grpo``), the last
  (``last-step-grpo``) or a random one (``random-step-grpo``).
- **Reward for the planner**: 0/1 outcome (``first-step-grpo``), the naive plan reward,
  one overall rating (``anchor-naive``), the rubric reward (``anchor-grpo``).

Each distinct method is trained once from the starting policy (``harness.method_model``,
cached under ``<work-dir>/models/<name>`` and shared with the other experiments) and
evaluated once per corpus (default: the bundled ``world`` test split) with
``harness.evaluate_policy`` into ``<work-dir>/evals/<method>/<corpus>`` (shared with the main
table, so a method evaluated there is not evaluated again); a method that
appears in two groups is computed once. Methods registered from files join as their own
group, "registered methods" (``--methods-file my.py --extra-methods a,b``).

Columns: pass@1 (mean over the scale's runs), pass@k (k = runs), the plan scores
Coverage, Alignment and Efficiency, and tool calls (mean search + visit calls per episode).
The plan scores come from a rubric judge with the default rubric applied to the plans,
i.e. the first assistant turns, of the method's evaluation trajectories: by default
(``--plan-judge reference``) the *privileged* reference judge
(:class:`agents.rewards.reference.PrivilegedReferenceJudge`: it reads each task's gold path,
deterministic, no model), or with ``--plan-judge model`` an LLM
(:class:`agents.rewards.judge.ExpectedScoreJudge`). The rubric has no dimensions named like
the paper's columns, so they are mapped:

- Coverage = ``subgoal_coverage``, Alignment = ``goal_alignment``,
  Efficiency = ``clarity_conciseness``;

each the mean over the plans of score / max_score (0-1). The LLM judge is the scale's
``judge_model`` (``smollm2``: SmolLM2-135M-Instruct; ``''``: the starting policy), loaded
once for the whole run after all methods are trained and evaluated. A trajectory without a
plan (no assistant turn) is left out of the plan scores.

Run::

    python -m benchmarks.ablations --scale small          # SmolLM2 on the CPU
    python -m benchmarks.ablations --scale full           # on a GPU
    python -m benchmarks.ablations --scale smoke --groups step --no-append   # ~1 min

At ``small`` the seven methods are trained and evaluated with SmolLM2 on the CPU, and the
judge reads 6 dimensions x 12 plans per method (one forward pass of ~500 tokens each);
an interrupted run picks up where it stopped (trained models, evaluations and plan scores
are all kept in the work directory).

``--groups strategy,step,reward`` picks groups (default all), ``--corpus`` the corpora
(repeatable). Outputs: the table (printed and appended to ``benchmarks/RESULTS.md``),
``<work-dir>/ablations/results.json`` and ``<work-dir>/ablations/ablations.png`` (pass@1
per group). A method that fails (training, evaluation or judging) is reported and the rest
of the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.harness import CorpusSpec, Failures, Scale, fmt
from wiki_corpus.wording import join_names

TITLE = "Ablations (Table 2)"

GROUPS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "strategy": (
        "Two-stage strategy",
        (
            ("Full GRPO", "grpo"),
            ("Planner only", "planner-only"),
            ("Planner + executor", "anchor-grpo"),
        ),
    ),
    "step": (
        "Step updated",
        (
            ("First step", "first-step-grpo"),
            ("Last step", "last-step-grpo"),
            ("Random step", "random-step-grpo"),
        ),
    ),
    "reward": (
        "Planner reward",
        (
            ("0/1 outcome", "first-step-grpo"),
            ("Naive plan reward", "anchor-naive"),
            ("Rubric reward", "anchor-grpo"),
        ),
    ),
}
"""Group key (for ``--groups``) -> (group title, [(row label, method name), ...])."""

EXTRA_GROUP = "registered methods"
"""Title of the group of ``--extra-methods``."""

PLAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("coverage", "subgoal_coverage"),
    ("alignment", "goal_alignment"),
    ("efficiency", "clarity_conciseness"),
)
"""Plan-score column -> the default rubric's dimension it reads."""

Group = tuple[str, tuple[tuple[str, str], ...]]


# --- Pure helpers -------------------------------------------------------------------------


def select_groups(keys: Sequence[str], extra_methods: Sequence[str] = ()) -> list[Group]:
    """The groups named by ``keys`` (in :data:`GROUPS` order), then the extra methods as a
    group of their own, each row labelled with its method name."""
    unknown = [k for k in keys if k not in GROUPS]
    if unknown:
        raise ValueError(f"Unknown group(s) {unknown}; expected some of {', '.join(GROUPS)}.")
    groups: list[Group] = [GROUPS[k] for k in GROUPS if k in keys]
    if extra_methods:
        extra = tuple(dict.fromkeys(extra_methods))
        groups.append((EXTRA_GROUP, tuple((name, name) for name in extra)))
    return groups


def distinct_methods(groups: Iterable[Group]) -> list[str]:
    """Each method named by the groups' rows once, in order of first appearance."""
    return list(dict.fromkeys(name for _, rows in groups for _, name in rows))


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None; None when there are none."""
    kept = [float(v) for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def plan_score_columns(
    scores: Sequence[Mapping[str, float] | None],
    max_scores: Mapping[str, float],
    tasks: Sequence[str] = (),
) -> dict[str, Any]:
    """Coverage / Alignment / Efficiency: per column, the mean of score / max_score over the
    plans whose scores are known (None entries and missing keys are skipped). With the
    plans' ``tasks``, also ``<column>_ci95``: a bootstrap over tasks (their plans pooled,
    :func:`agents.evaluate.pooled_interval`)."""
    from agents.evaluate import pooled_interval

    out: dict[str, Any] = {}
    for column, key in PLAN_COLUMNS:
        known = [
            (task, s[key] / max_scores[key])
            for task, s in zip(tasks or [""] * len(scores), scores)
            if s is not None and key in s
        ]
        out[column] = mean_or_none(ratio for _, ratio in known)
        if tasks:
            by_task: dict[str, list[float]] = {}
            for task, ratio in known:
                by_task.setdefault(task, []).append(ratio)
            out[f"{column}_ci95"] = pooled_interval(list(by_task.values()))
    return out


def tool_calls(metrics: Mapping[str, Any] | None) -> float | None:
    """Mean tool calls per episode (search + visit), or None without metrics."""
    if not metrics:
        return None
    return float(metrics.get("mean_search_calls", 0.0)) + float(
        metrics.get("mean_visit_calls", 0.0)
    )


def latest_per_sample(trajectories: Sequence[Any]) -> list[Any]:
    """One trajectory per (task, sample): the last one in the file. A resumed evaluation
    appends the rerun of a task that was cut short after the partial one it replaces."""
    latest: dict[tuple[str, int], Any] = {}
    for t in trajectories:
        latest.pop((t.task_id, t.sample), None)  # keep the order of the latest copies
        latest[(t.task_id, t.sample)] = t
    return list(latest.values())


def build_rows(
    groups: Sequence[Group],
    corpus: str,
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    k: int,
) -> list[dict[str, Any]]:
    """Table rows for one corpus. ``results[method][corpus]`` holds ``metrics`` (the
    evaluation summary) and ``plan`` (the plan-score columns); either may be missing."""
    rows = []
    for title, members in groups:
        for label, name in members:
            got = results.get(name, {}).get(corpus, {})
            metrics = got.get("metrics") or {}
            plan = got.get("plan") or {}
            rows.append(
                {
                    "group": title,
                    "row": label,
                    "method": name,
                    "corpus": corpus,
                    "pass@1": metrics.get("pass@1"),
                    "pass@1_ci95": metrics.get("pass@1_ci95"),
                    f"pass@{k}": metrics.get(f"pass@{k}"),
                    **{column: plan.get(column) for column, _ in PLAN_COLUMNS},
                    **{f"{c}_ci95": plan.get(f"{c}_ci95") for c, _ in PLAN_COLUMNS},
                    "tool_calls": tool_calls(metrics),
                }
            )
    return rows


def reading(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ("pass@1",)) -> str:
    """Per column (pass@1, plan-score columns), which methods' intervals are apart (one
    above the other), or that all overlap (ties at this budget); '' when no column has two
    intervals."""
    tied, apart, methods = [], [], set()
    for column in columns:
        spans = {r["method"]: r[f"{column}_ci95"] for r in rows if r.get(f"{column}_ci95")}
        if len(spans) < 2:
            continue
        methods |= set(spans)
        pairs = [
            f"{a} above {b}"
            for a, (low_a, _) in spans.items()
            for b, (_, high_b) in spans.items()
            if a != b and low_a > high_b
        ]
        if pairs:
            apart.append(f"{column}: " + ", ".join(pairs))
        else:
            tied.append(column)
    parts = []
    if tied:
        parts.append(
            f"the intervals of all {len(methods)} methods overlap in {join_names(tied)}: "
            "no ablation is told apart there at this budget (ties)"
        )
    if apart:
        parts.append("intervals apart in " + "; ".join(apart) + "; every other pair overlaps")
    return "; ".join(parts) + "." if parts else ""


def markdown_table(rows: Sequence[Mapping[str, Any]], k: int) -> str:
    """The rows as a markdown table (None as a dash)."""
    head = (
        f"| group | row | method | pass@1 [95% CI] | pass@{k} | Coverage | Alignment | Efficiency "
        "| tool calls |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        pass1 = fmt(r["pass@1"]) + harness.interval_text(r.get("pass@1_ci95"))
        cells = [r["group"], r["row"], f"`{r['method']}`", pass1, fmt(r[f"pass@{k}"])]
        cells += [
            fmt(r[column]) + harness.interval_text(r.get(f"{column}_ci95"))
            for column, _ in PLAN_COLUMNS
        ]
        cells.append(fmt(r["tool_calls"], 2))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- Running ------------------------------------------------------------------------------


class PlanJudge:
    """The rubric judge, loaded once on first use: the scale's judge model, or the
    starting policy when the scale names none.

    Scores are kept per (judge, question, plan): a plan judged once in a run is not judged
    again, and each evaluation's scores are saved in ``plan_scores.jsonl`` next to its
    trajectories, so a rerun judges only plans it has not scored (a judge directory that
    changed, e.g. a retrained starting policy, is a new judge).
    """

    def __init__(self, scale: Scale, start: str, reference_tasks: Sequence[Any] = ()) -> None:
        from agents.rewards.rubric import load_default_rubric

        self.reference_tasks = list(reference_tasks)
        """Tasks of the privileged reference judge; empty: the LLM judge."""
        self._id: str | None = None
        self.source = scale.judge_model or start
        if self.reference_tasks:
            from agents.rewards.reference import JUDGE_NAME, VERSION

            self.source = JUDGE_NAME
            self._id = f"{JUDGE_NAME}#v{VERSION}"  # its rules' version: new rules, new scores
            self.description = "the privileged reference rubric (reads the gold path)"
        elif scale.judge_model == "smollm2":
            self.description = "SmolLM2-135M-Instruct"
        elif scale.judge_model:
            self.description = scale.judge_model
        else:
            self.description = f"the starting policy ({start})"
        self.rubric = load_default_rubric()
        self._judge: Any = None
        self._cache: dict[str, dict[str, float] | None] = {}

    @property
    def judge_id(self) -> str:
        """The judge's source, with a stamp of its files when it is a directory."""
        if self._id is None:
            path = Path(self.source)
            stamp = ""
            if path.is_dir():
                stamp = harness.content_digest(path)[:16]
            self._id = f"{self.source}#{stamp}"
        return self._id

    @property
    def judge(self) -> Any:
        if self._judge is None and self.reference_tasks:
            from agents.rewards.reference import PrivilegedReferenceJudge

            self._judge = PrivilegedReferenceJudge(self.reference_tasks, self.rubric)
        if self._judge is None:
            from agents.models import load_model_and_tokenizer
            from agents.rewards.judge import ExpectedScoreJudge

            model, tokenizer = load_model_and_tokenizer(self.source)
            model.requires_grad_(False)
            self._judge = ExpectedScoreJudge(model, tokenizer, self.rubric)
        return self._judge

    def _key(self, question: str, plan: str) -> str:
        text = json.dumps([self.judge_id, self.rubric.name, self.rubric.version, question, plan])
        return hashlib.sha256(text.encode()).hexdigest()

    def score_run(self, out: Path, questions: Mapping[str, str]) -> dict[str, float | None]:
        """The plan-score columns of the evaluation in ``out``."""
        from agents.trajectory import load_jsonl

        trajectories = latest_per_sample(
            load_jsonl(out / "trajectories.jsonl", allow_partial_tail=True)
        )
        planned = [t for t in trajectories if t.plan.strip()]
        missing = sorted({t.task_id for t in planned if t.task_id not in questions})
        if missing:
            raise KeyError(f"No question for task(s) {missing} in the corpus.")
        saved = out / "plan_scores.jsonl"
        if saved.exists():
            for line in saved.read_text(encoding="utf-8").splitlines():
                record = json.loads(line) if line.strip() else {}
                if record.get("key") and record.get("judge") == self.judge_id:
                    self._cache.setdefault(record["key"], record["scores"])
        keys = [self._key(questions[t.task_id], t.plan) for t in planned]
        todo = {key: t for key, t in zip(keys, planned) if key not in self._cache}
        if todo:
            results = self.judge.score(
                [questions[t.task_id] for t in todo.values()], [t.plan for t in todo.values()]
            )
            for key, result in zip(todo, results):
                self._cache[key] = None if result.scores is None else dict(result.scores)
        scores = [self._cache[key] for key in keys]
        with saved.open("w", encoding="utf-8") as fh:
            for t, key, s in zip(planned, keys, scores):
                record = {"task_id": t.task_id, "sample": t.sample, "judge": self.judge_id}
                fh.write(json.dumps({**record, "key": key, "scores": s}) + "\n")
        max_scores = {d.key: float(d.max_score) for d in self.rubric.dimensions}
        return plan_score_columns(scores, max_scores, [t.task_id for t in planned])


def corpus_tasks(corpus: CorpusSpec) -> list[Any]:
    """Every task of a corpus (every split)."""
    from wiki_corpus.io import TASKS_FILE, read_tasks, resolve

    return read_tasks(resolve(corpus.corpus) / TASKS_FILE)


def corpus_questions(corpus: CorpusSpec) -> dict[str, str]:
    """Task id -> question of a corpus (every split)."""
    return {t.id: t.question for t in corpus_tasks(corpus)}


def plot(groups: Sequence[Group], rows: Sequence[Mapping[str, Any]], png: Path) -> Path:
    """Grouped bars of pass@1 with their 95% intervals: one panel per group, one bar per row
    and corpus."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corpora = list(dict.fromkeys(r["corpus"] for r in rows))
    width = 0.8 / max(len(corpora), 1)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False, sharey=True
    )
    for ax, (title, members) in zip(axes.flat, groups):
        labels = [label for label, _ in members]
        for i, corpus in enumerate(corpora):
            values, intervals = [], []
            for label, _ in members:
                row = next(
                    r
                    for r in rows
                    if r["group"] == title and r["row"] == label and r["corpus"] == corpus
                )
                values.append(math.nan if row["pass@1"] is None else row["pass@1"])
                intervals.append(row.get("pass@1_ci95"))
            xs = [x + (i - (len(corpora) - 1) / 2) * width for x in range(len(labels))]
            errors = harness.error_bars(values, intervals)
            ax.bar(xs, values, width, label=corpus, yerr=errors, capsize=3, ecolor="gray")
            for x, v in zip(xs, values):  # the value beside its error bar, or why no bar
                text = "n/a" if math.isnan(v) else f"{v:.2f}"
                y = 0.0 if math.isnan(v) else v
                ax.text(x + width / 8, y + 0.01, text, ha="left", va="bottom", fontsize=7)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_ylim(0, 1.05)
    axes.flat[0].set_ylabel("pass@1")
    if len(corpora) > 1:
        axes.flat[0].legend(fontsize=8)
    return harness.save_figure(fig, png)


def parser() -> Any:
    p = harness.common_parser(__doc__.splitlines()[0], default_corpora=("world",))
    p.add_argument(
        "--groups",
        default=",".join(GROUPS),
        help=f"comma list of groups among {', '.join(GROUPS)} (default: all)",
    )
    p.add_argument(
        "--extra-methods",
        default="",
        help="comma list of registered methods (e.g. from --methods-file) added as a group",
    )
    p.add_argument(
        "--plan-judge",
        choices=("reference", "model"),
        default="reference",
        help="plan-score columns from the privileged reference rubric (reads the gold path) "
        "or from the scale's judge model",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        groups = select_groups(
            harness.split_list(args.groups), harness.split_list(args.extra_methods)
        )
    except ValueError as err:
        p.error(str(err))
    if not groups:
        p.error("Expected at least one group (--groups) or --extra-methods.")
    scale = harness.scale_from(args)
    work: Path = args.work_dir
    out_root = work / "ablations"
    failures = Failures()

    names = distinct_methods(groups)
    methods = {m.name: m for m in harness.methods_from(names, args.methods_file, failures)}
    corpora = harness.corpora_from(args, failures)
    start = failures.attempt("starting policy", harness.start_model, scale, work)

    # Train and evaluate every method first; the judge is loaded afterwards, once.
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in names}
    evaluated: list[tuple[str, CorpusSpec, Path]] = []
    for name, method in methods.items():
        if start is None:
            break
        policy = failures.attempt(
            f"method {name} (training)", harness.method_model, method, scale, work, start
        )
        if policy is None:
            continue
        for corpus in corpora:
            out = harness.eval_dir(work, name, corpus)  # shared with the main table
            metrics = failures.attempt(
                f"method {name} on {corpus.name} (evaluation)",
                harness.evaluate_policy,
                policy,
                corpus,
                scale,
                out,
                agent=method.agent,
                prompt=method.prompt or None,
            )
            if metrics is not None:
                results[name][corpus.name] = {"policy": policy, "metrics": metrics}
                evaluated.append((name, corpus, out))

    reference: list[Any] = []
    if args.plan_judge == "reference":
        for corpus in corpora:
            reference += failures.attempt(f"tasks of {corpus.name}", corpus_tasks, corpus) or []
    judge = PlanJudge(scale, start or "", reference)
    questions: dict[str, dict[str, str]] = {}
    for name, corpus, out in evaluated:
        if corpus.name not in questions:
            questions[corpus.name] = (
                failures.attempt(f"questions of {corpus.name}", corpus_questions, corpus) or {}
            )
        plan = failures.attempt(
            f"method {name} on {corpus.name} (plan scores)",
            judge.score_run,
            out,
            questions[corpus.name],
        )
        if plan is not None:
            results[name][corpus.name]["plan"] = plan

    k = scale.runs
    rows = [r for c in corpora for r in build_rows(groups, c.name, results, k)]
    sections = []
    for corpus in corpora:
        table = markdown_table([r for r in rows if r["corpus"] == corpus.name], k)
        sections.append(f"Corpus `{corpus.name}` ({corpus.split} split):\n\n{table}\n")
        mine = [r for r in rows if r["corpus"] == corpus.name]
        shows = reading(mine, ["pass@1"] + [column for column, _ in PLAN_COLUMNS])
        if shows:
            sections.append(f"What this shows on `{corpus.name}`: {shows}\n")
    png = None
    if rows:
        png = failures.attempt("plot", plot, groups, rows, out_root / "ablations.png")
    if png is not None:
        sections.append(f"Plot: `{png}`\n")
    body = "\n".join(sections) if sections else "No corpus could be evaluated.\n"

    note = (
        f"{scale.describe()}; plan judge: {judge.description}, "
        "default rubric, applied to the plans (first turns) of the evaluation trajectories; "
        "Coverage = subgoal_coverage, Alignment = goal_alignment, Efficiency = "
        "clarity_conciseness, each the mean of score / max_score (0-1) over the plans, with "
        "a 95% bootstrap interval over tasks; tool calls = mean "
        f"search + visit calls per episode; pass@{k} with k = runs"
    )
    out_root.mkdir(parents=True, exist_ok=True)
    record = {
        "scale": scale.name,
        "describe": scale.describe(),
        "judge": judge.description,
        "plan_columns": dict(PLAN_COLUMNS),
        "groups": [{"title": t, "rows": [list(r) for r in members]} for t, members in groups],
        "corpora": [c.name for c in corpora],
        "rows": rows,
        "methods": results,
        "failures": [{"what": what, "error": message} for what, message in failures.items],
    }
    (out_root / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    harness.finish(TITLE, body, args, failures, note)
    ran = any(r["pass@1"] is not None for r in rows)
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
