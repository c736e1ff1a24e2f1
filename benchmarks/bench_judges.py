"""Plan judges against real outcomes: do their scores tell the warm start's good plans from bad?

The plans are the first turns of the shipped warm start's own episodes at temperature 1
(``--n`` episodes on each of the first ``--tasks`` bundled dev questions of at most
``--max-hops`` hops); each plan's label is the outcome of the episode that followed it,
played by the same policy (1: answered right). These are real continuations, one per plan,
so a label is noisy: a good plan may still fail and a poor one succeed.

With ``--continued`` (a plan-anchor run's ``questions.json``) a second set is judged: the
fixed first steps of the plan anchor, a correct and an incorrect one for each question with
mixed outcomes, each labelled by the n continuations that followed it (right when at least
half answered right): labels of a plan rather than of one episode. ``--question-slice
START:STOP`` keeps the episodes (and fixed steps) of some questions only, e.g. those a plan
anchor rerun with more ``--questions`` added, held out from what a judge was tuned on.
With ``--continued`` the note also gives the labels' noise ceiling
(:func:`agents.rubrics.metrics.noise_ceiling`): what a judge that knew each fixed step's
true success rate would score against labels of one episode and of n continuations.

Each judge scores every plan; the table gives ROC-AUC against the labels (with a 95%
interval: a bootstrap that resamples the right and the wrong plans apart,
:func:`agents.rubrics.metrics.auc_interval`) and Cohen's kappa of the thresholded score
(threshold fitted on one stratified half, measured on the other;
:func:`agents.rubrics.metrics.held_out_kappa`), with the paper's acceptance thresholds
(AUC >= 0.8, kappa >= 0.75). The judges:

* ``reference``: the **privileged** reference rubric judge (it reads the gold path);
* ``smollm2``: expected rubric scores from SmolLM2-135M-Instruct with the default rubric;
* ``warm-start``: the same with the warm start itself (the frozen judge an Anchor-GRPO run
  from the warm start uses when no ``--judge-model`` is given);
* ``smollm2-naive``: SmolLM2's single overall rating (the naive-reward ablation);
* ``smollm2-rubric``: SmolLM2 with a learned rubric file (``--rubric``, optional).

Prints the table and appends it to benchmarks/RESULTS.md (``--no-append``: print only)::

    python -m benchmarks.bench_judges
    python -m benchmarks.bench_judges --episodes runs/bench_warm_start/mixed-le2
    python -m benchmarks.bench_judges --episodes runs/bench/plan_anchor/start/world/probe.jsonl \
        --rubric learned/rubric.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks._results import add_no_append, append_section

TARGET_AUC, TARGET_KAPPA = 0.8, 0.75


class LabelledPlans(NamedTuple):
    """Plans to judge, the questions they answer and their outcome labels (1: right)."""

    questions: list[str]
    plans: list[str]
    labels: list[int]
    continuations: Sequence[tuple[int, int]] = ()
    """(right, run) continuations of each plan, for labels made from several (else empty)."""


def episodes(args: argparse.Namespace) -> list[Any]:
    """The warm start's episodes: read from ``--episodes`` (a trajectories file, or a
    directory that holds ``trajectories.jsonl``) when it holds them, else played there."""
    from agents.evaluate import EvalConfig, evaluate
    from agents.trajectory import load_jsonl

    path = Path(args.episodes)
    if path.is_file():
        return load_jsonl(path)
    path /= "trajectories.jsonl"
    if not path.exists():
        config = EvalConfig(
            policy=args.policy, split="dev", max_hops=args.max_hops, limit=args.tasks,
            n=args.n, k=1, temperature=1.0, out=args.episodes, batch_tasks=16,
        )  # fmt: skip
        evaluate(config)
    return load_jsonl(path)


def judges(args: argparse.Namespace, tasks: Sequence[Any]) -> dict[str, Callable[[], Any]]:
    """Judge name -> a function that builds it (models are loaded one judge at a time)."""
    from agents.models import WARM_START, load_model_and_tokenizer
    from agents.rewards import ExpectedScoreJudge, PrivilegedReferenceJudge, naive_rubric

    def expected(model: str | None, rubric: Any = None) -> Callable[[], Any]:
        def build() -> Any:
            lm, tokenizer = load_model_and_tokenizer(model, device="cpu")
            return ExpectedScoreJudge(lm, tokenizer, rubric, batch_size=8)

        return build

    chosen: dict[str, Callable[[], Any]] = {
        "reference": lambda: PrivilegedReferenceJudge(tasks),
        "smollm2": expected(None),
        "warm-start": expected(WARM_START),
        "smollm2-naive": expected(None, naive_rubric()),
    }
    if args.rubric:
        from agents.rubrics.validation import load_validated_rubric

        chosen["smollm2-rubric"] = expected(None, load_validated_rubric(args.rubric))
    return {name: build for name, build in chosen.items() if name in args.judges.split(",")}


def measure(labels: Sequence[int], scores: Sequence[float | None]) -> dict[str, Any]:
    """AUC (with its stratified bootstrap 95% interval) and held-out kappa over the plans
    the judge scored (None: left out, counted)."""
    from agents.rubrics.metrics import auc_interval, held_out_kappa, roc_auc

    kept = [(y, s) for y, s in zip(labels, scores, strict=True) if s is not None]
    ys, ss = [y for y, _ in kept], [s for _, s in kept]
    return {
        "scored": len(kept),
        "auc": roc_auc(ys, ss),
        "auc_ci": auc_interval(ys, ss),
        "kappa": held_out_kappa(ys, ss).kappa,
    }


def continued_plans(
    path: str | Path, by_id: Mapping[str, Any], kept: Sequence[str] | None = None
) -> LabelledPlans:
    """The fixed first steps of a plan-anchor run (``questions.json``), each labelled 1 when
    at least half of the continuations that followed it answered right (``kept``: only
    those of these task ids)."""
    from agents.rubrics.labels import outcome_label

    questions, plans, labels, counts = [], [], [], []
    for q in json.loads(Path(path).read_text(encoding="utf-8")):
        if kept is not None and q["task_id"] not in kept:
            continue
        for step, rewards in ((q.get("correct_step"), q.get("correct")),
                              (q.get("incorrect_step"), q.get("incorrect"))):  # fmt: skip
            if step and rewards:
                questions.append(by_id[q["task_id"]].question)
                plans.append(step)
                right = sum(r >= 1.0 for r in rewards)
                labels.append(outcome_label(right / len(rewards)))
                counts.append((right, len(rewards)))
    return LabelledPlans(questions, plans, labels, counts)


def ceiling_note(labelled: LabelledPlans) -> str:
    """The noise ceiling of plans labelled by their continuations, as a sentence ('' when
    they have no common number of continuations)."""
    from agents.rubrics.labels import outcome_label
    from agents.rubrics.metrics import noise_ceiling

    runs = {n for _, n in labelled.continuations}
    if len(runs) != 1:
        return ""
    (n,) = runs
    c = noise_ceiling([right for right, _ in labelled.continuations], n, outcome_label)
    return (
        f" Noise ceiling of these {len(labelled.plans)} fixed steps "
        "(`agents.rubrics.metrics.noise_ceiling`: a judge that knew each step's true success "
        f"rate, the rates drawn from a beta-binomial fit of their {n} continuations): ROC-AUC "
        f"{c.episode_auc:.3f} and kappa {c.episode_kappa:.3f} against one episode a plan; "
        f"ROC-AUC {c.plan_auc:.3f} and kappa {c.plan_kappa:.3f} against labels of {n} "
        "continuations a plan. No judge scores above these on labels of this kind, except by "
        "chance."
    )


def parse_slice(text: str) -> slice:
    """``START:STOP`` (either may be left out) as a slice; ValueError names the bad text."""
    start, colon, stop = text.partition(":")
    parts = [part.strip() for part in (start, stop)]
    if not colon or not all(p.lstrip("-").isdigit() for p in parts if p):
        raise ValueError(f"Expected START:STOP (integers, either may be left out), got {text!r}.")
    return slice(*(int(p) if p else None for p in parts))


def question_slice(episodes: Sequence[Any], text: str) -> list[Any]:
    """The episodes of the questions ``START:STOP`` (Python slice, in order of first
    appearance) of ``episodes``; '' keeps all."""
    if not text:
        return list(episodes)
    order = list(dict.fromkeys(t.task_id for t in episodes))
    kept = set(order[parse_slice(text)])
    return [t for t in episodes if t.task_id in kept]


def table(rows: dict[str, dict[str, dict[str, Any]]], sets: Sequence[str]) -> str:
    from benchmarks.harness import interval_text  # the harness loads agents: not at start-up

    head = "| judge |"
    rule = "|---|"
    for name in sets:
        head += f" {name}: plans | ROC-AUC [95% CI] (target >= 0.8) | kappa (target >= 0.75) |"
        rule += "---:|---:|---:|"
    lines = [head + " ms a plan |", rule + "---:|"]
    for judge, by_set in rows.items():
        shown = f"{judge} (privileged)" if judge == "reference" else judge
        cells = [
            f"{by_set[n]['scored']} | {by_set[n]['auc']:.3f}"
            f"{interval_text(by_set[n].get('auc_ci'))} | {by_set[n]['kappa']:.3f}"
            for n in sets
        ]
        lines.append(f"| {shown} | " + " | ".join(cells) + f" | {by_set['ms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="smollm2-sft", help="the policy whose plans")
    parser.add_argument("--episodes", default="runs/bench_judges/episodes")
    parser.add_argument("--tasks", type=int, default=16, help="dev questions")
    parser.add_argument("--n", type=int, default=8, help="episodes per question (T = 1)")
    parser.add_argument("--max-hops", type=int, default=2)
    parser.add_argument("--judges", default="reference,smollm2,warm-start,smollm2-naive")
    parser.add_argument("--rubric", default="", help="a learned rubric file (smollm2-rubric)")
    parser.add_argument(
        "--question-slice",
        default="",
        help="START:STOP: only these questions of the episodes (in order of appearance)",
    )
    parser.add_argument(
        "--continued",
        default="",
        help="a plan-anchor questions.json: its fixed first steps, labelled by their "
        "continuations, as a second set (of the sliced questions only)",
    )
    add_no_append(parser)
    args = parser.parse_args(argv)
    if args.rubric and "smollm2-rubric" not in args.judges:
        args.judges += ",smollm2-rubric"
    if args.question_slice:
        try:
            parse_slice(args.question_slice)
        except ValueError as err:
            parser.error(str(err))

    import wiki_corpus

    started = time.perf_counter()
    played = [t for t in episodes(args) if not t.end_reason.broken and t.plan]
    played = question_slice(played, args.question_slice)
    tasks = list(wiki_corpus.load("default").tasks)
    by_id = {t.id: t for t in tasks}
    sets = {
        "episodes": LabelledPlans(
            [by_id[t.task_id].question for t in played],
            [t.plan for t in played],
            [int(t.reward >= 1.0) for t in played],
        )
    }
    if args.continued:
        kept = {t.task_id for t in played} if args.question_slice else None
        sets["continued"] = continued_plans(args.continued, by_id, kept)
    rows: dict[str, dict[str, Any]] = {}
    for name, build in judges(args, tasks).items():
        judge = build()
        rows[name] = {}
        seconds, count = 0.0, 0
        for set_name, labelled in sets.items():
            start = time.perf_counter()
            results = judge.score(labelled.questions, labelled.plans)
            seconds += time.perf_counter() - start
            count += len(labelled.plans)
            rows[name][set_name] = measure(labelled.labels, [r.reward for r in results])
        rows[name]["ms"] = 1000 * seconds / max(count, 1)
        print(f"{name}: {rows[name]}", flush=True)
    text = table(rows, list(sets))
    print(text)
    labels = sets["episodes"].labels
    source = (
        f"read from `{args.episodes}` ({len({t.task_id for t in played})} questions"
        + (f", slice {args.question_slice}" if args.question_slice else "")
        + ")"
        if Path(args.episodes).is_file()
        else f"{args.n} on each of the first {args.tasks} dev questions of at most "
        f"{args.max_hops} hops"
    )
    note = (
        f"Plans (episodes): the first turns of {len(played)} episodes of `{args.policy}` at "
        f"temperature 1 ({source}); label: the outcome of the episode that followed the plan "
        f"({sum(labels)} right, {len(labels) - sum(labels)} wrong)."
    )
    if args.continued:
        fixed = sets["continued"].labels
        note += (
            f" Plans (continued): the {len(fixed)} fixed first steps of `{args.continued}` "
            f"(a correct and an incorrect one of each mixed question); label: at least half "
            f"of the continuations after it answered right ({sum(fixed)} of {len(fixed)})."
        ) + ceiling_note(sets["continued"])
    note += (
        " Kappa is held out (threshold fitted on one stratified half, measured on the "
        f"other). Wall time {time.perf_counter() - started:.0f} s."
    )
    print(note)
    if not args.no_append:
        append_section("Plan judges against the warm start's real outcomes", text, note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
