"""Plan rubrics on the bundled world: does a rubric's score tell correct plans from wrong ones?

    python -m benchmarks.bench_rubrics                       # small setting, CPU
    python -m benchmarks.bench_rubrics --train-tasks 24 --dev-tasks 40 --rounds 3 --n 8

What it does, and what the labels mean:

1. **Plans.** For each task of the train and dev splits: the oracle's first turn (the gold
   path written as a plan, with its first search), ``gold_verbose`` (the same steps with a
   goal statement and a verification step), ``skip_last_hop`` (the read of the page with
   the answer left out), ``wrong_entity`` (reads another task's pages), ``search_only``
   (searches, never reads), and SmolLM2-135M's own first turn (``smollm2``).
2. **Outcome labels.** Each plan is fixed as the first turn and ``n`` continuations are
   run by the *plan follower* (:class:`agents.rubrics.labels.PlanFollowerPolicy`): it does
   what the plan says and nothing else, skips a step with probability ``slip``, and
   answers correctly once it has read a page stating the answer. A plan is correct when
   its success rate is >= 0.5. The follower is privileged (it knows the answer, as the
   oracle does): the label says "following this plan reaches the answer", not "SmolLM2
   would succeed with it". Continuing with the gold-path oracle would label every plan
   correct (it ignores the plan), and continuing with SmolLM2 labels almost every plan
   incorrect; the script measures the latter on a few gold plans and reports it.
3. **Insights** from the follower's train trajectories, extracted by SmolLM2 (its answers
   prefilled with ``{"insights": ["``: without it SmolLM2 writes prose).
4. **Learning** on the train plans: SmolLM2 as the updater (answer prefilled with
   ``{"dimensions": [{"key": "``), the expected-score judge on SmolLM2
   (:class:`agents.rewards.judge.ExpectedScoreJudge`) as the judge.
5. **Validation** on the held-out dev plans: ROC-AUC and held-out Cohen's kappa of the
   default rubric and of the learned one, with a no-LLM reference (the number of
   executable steps in the plan).

It prints a markdown table and appends it to ``benchmarks/RESULTS.md`` with the machine,
the date and the command (``--no-append``: print only). Work files (plans, trajectories,
insights, the learning run and the learned rubric with its validation record) go to
``--work-dir`` (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._results import add_no_append, append_section


@dataclass
class Clock:
    """Seconds spent per stage."""

    stages: dict[str, float] = field(default_factory=dict)

    def time(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)``, print the stage's name, keep its duration."""
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        result = fn(*args)
        self.stages[name] = time.perf_counter() - start
        return result


# ----------------------------------------------------------------------------- plans


def _first_turn(plan_text: str, action: dict[str, Any]) -> str:
    from agents.scripted import action_text

    return f"<plan>{plan_text}</plan>\n{action_text(action)}"


def variant_plans(task: Any, other: Any) -> list[Any]:
    """The scripted plans of one task; ``other`` lends its pages to ``wrong_entity``."""
    from agents.rubrics.labels import PlanRecord
    from agents.scripted import OraclePolicy, gold_plan

    actions = list(OraclePolicy().gold_actions(task))
    first, answer = actions[0], actions[-1]
    visits = [a for a in actions if a["name"] == "visit"]
    searches = [a for a in actions if a["name"] == "search"]
    other_visits = [a for a in OraclePolicy().gold_actions(other) if a["name"] == "visit"]
    verbose = (
        f"Goal: answer '{task.question}' with a short phrase. "
        + gold_plan(actions[:-1])
        + f" {len(actions)}. Verify that the fact found answers the question."
        + f" {len(actions) + 1}. Answer."
    )
    texts = {
        "gold": gold_plan(actions),
        "gold_verbose": verbose,
        "skip_last_hop": gold_plan([*searches, *visits[:-1], answer]),
        "wrong_entity": gold_plan([*searches, *other_visits, answer]),
        "search_only": gold_plan([*searches, answer]),
    }
    return [
        PlanRecord(
            f"{task.id}:{name}", task.id, task.question, _first_turn(text, first), source=name
        )
        for name, text in texts.items()
    ]


def smollm2_plans(policy: Any, make_env: Callable[[], Any], tasks: Sequence[Any]) -> list[Any]:
    """SmolLM2's own first turn for each task (prefilled with ``<plan>``)."""
    from agents.policy import SamplingParams
    from agents.prompts import REACT_PREFILL
    from agents.rollout import RolloutConfig, rollout
    from agents.rubrics.labels import PlanRecord

    config = RolloutConfig(
        prompt=REACT_PREFILL,
        params=SamplingParams(max_new_tokens=96, temperature=0.7, seed=0),
        plan_only=True,
    )
    trajs = rollout(policy, make_env, [t.id for t in tasks], config)
    by_id = {t.id: t for t in tasks}
    return [
        PlanRecord(
            f"{t.task_id}:smollm2", t.task_id, by_id[t.task_id].question, t.plan, source="smollm2"
        )
        for t in trajs
    ]


def pick_tasks(corpus: Any, split: str, count: int, seed: int) -> list[Any]:
    """``count`` tasks of a split with at least one visit in their gold path."""
    tasks = [t for t in corpus.tasks_in(split) if any(a["name"] == "visit" for a in t.gold.actions)]
    return random.Random(seed).sample(tasks, min(count, len(tasks)))


def build_plans(tasks: Sequence[Any], policy: Any, make_env: Callable[[], Any]) -> list[Any]:
    """Every plan of every task; a variant identical to an earlier one (e.g. skip_last_hop
    of a one-hop task is search_only) is kept once."""
    plans = []
    for i, task in enumerate(tasks):
        plans += variant_plans(task, tasks[(i + 1) % len(tasks)])
    if policy is not None:
        plans += smollm2_plans(policy, make_env, tasks)
    unique = {(p.task_id, p.plan): p for p in reversed(plans)}
    return [p for p in plans if unique[(p.task_id, p.plan)] is p]


# ----------------------------------------------------------------------------- labels


def follower_labels(
    plans: Sequence[Any], make_env: Callable[[], Any], corpus: Any, args: argparse.Namespace
) -> tuple[list[Any], list[Any]]:
    """Outcome labels from plan-follower continuations, and their trajectories."""
    from agents.rubrics.labels import PlanFollowerPolicy, RolloutContinuations, label_by_outcomes

    follower = PlanFollowerPolicy(
        corpus.tasks, slip=args.slip, titles={p.title for p in corpus.pages}
    )
    runner = RolloutContinuations(follower, make_env, max_turns=12, seed=args.seed)
    try:
        name = f"plan-follower(slip={args.slip})"
        labelled = label_by_outcomes(plans, runner, args.n, continuation=name, progress=True)
    finally:
        runner.close()
    return labelled, runner.trajectories


def llm_continuations(
    plans: Sequence[Any], policy: Any, make_env: Callable[[], Any], k: int
) -> float | None:
    """Success rate of SmolLM2 continuing after ``k`` gold plans (one continuation each)."""
    from agents.policy import SamplingParams
    from agents.prompts import REACT_PREFILL
    from agents.rubrics.labels import RolloutContinuations, label_by_outcomes

    gold = [p for p in plans if p.source == "gold"][:k]
    if not gold:
        return None
    params = SamplingParams(max_new_tokens=48, temperature=0.7, seed=0)
    runner = RolloutContinuations(
        policy, make_env, prompt=REACT_PREFILL, params=params, max_turns=3
    )
    try:
        labelled = label_by_outcomes(gold, runner, 1, progress=True)
    finally:
        runner.close()
    return sum(p.success_rate for p in labelled) / len(labelled)


# ----------------------------------------------------------------------------- rubrics


def step_count_reference(plans: Sequence[Any], cutoff: float, seed: int) -> dict[str, float]:
    """AUC and kappa of a no-LLM score: how many executable steps the plan has."""
    from agents.rubrics.labels import outcome_labels, plan_steps
    from agents.rubrics.metrics import held_out_kappa, roc_auc

    labels = outcome_labels(plans, cutoff)
    kept = [p for p in plans if p.id in labels]
    ys = [labels[p.id] for p in kept]
    scores = [float(len(plan_steps(p.plan))) for p in kept]
    return {"auc": roc_auc(ys, scores), "kappa": held_out_kappa(ys, scores, seed).kappa}


def extract(trajectories: Sequence[Any], complete: Any, per_kind: int, seed: int) -> Any:
    from agents.rubrics.insights import (
        InsightExtractor,
        episodes_from_trajectories,
        pair_episodes,
    )

    episodes = episodes_from_trajectories(trajectories)
    rng = random.Random(seed)
    wins = [e for e in episodes if e.success]
    losses = [e for e in episodes if not e.success]
    pairs = pair_episodes(episodes)
    extractor = InsightExtractor(complete, batch_size=4, progress=True)
    return (
        extractor.from_successes(rng.sample(wins, min(per_kind, len(wins))))
        + extractor.from_failures(rng.sample(losses, min(per_kind, len(losses))))
        + extractor.from_pairs(rng.sample(pairs, min(per_kind, len(pairs))))
    )


def learn(
    insights: Sequence[Any],
    plans: Sequence[Any],
    model: Any,
    tokenizer: Any,
    args: argparse.Namespace,
    work: Path,
) -> Any:
    from agents.rewards.judge import ExpectedScoreJudge
    from agents.rewards.rubric import load_default_rubric
    from agents.rubrics.learner import LearnerConfig, RubricUpdater, learn_rubric
    from agents.rubrics.prompts import UPDATER_PREFILL, CachedComplete, hf_complete
    from agents.rubrics.validation import outcome_evaluator

    updater = RubricUpdater(
        CachedComplete(
            hf_complete(
                model, tokenizer, max_new_tokens=args.updater_tokens, prefill=UPDATER_PREFILL
            ),
            tag=f"smollm2:greedy:{args.updater_tokens}:{UPDATER_PREFILL}",
            cache_path=work / "updater.cache.jsonl",
            log_path=work / "updater.calls.jsonl",
        )
    )
    evaluate = outcome_evaluator(
        plans,
        lambda rubric: ExpectedScoreJudge(model, tokenizer, rubric),
        judge_name=JUDGE,
        cutoff=args.cutoff,
        seed=args.seed,
        progress=True,
        rejected_dir=work / "judge.rejected",
        dataset=f"train split, {args.train_tasks} tasks",
    )
    config = LearnerConfig(rounds=args.rounds, per_kind=args.per_kind, seed=args.seed)
    return learn_rubric(
        load_default_rubric(), insights, updater, evaluate, work / "learn", config, progress=True
    )


JUDGE = "expected-score:SmolLM2-135M-Instruct"


def validate_on(
    plans: Sequence[Any], rubric: Any, model: Any, tokenizer: Any, args: argparse.Namespace
) -> Any:
    from agents.rewards.judge import ExpectedScoreJudge
    from agents.rubrics.labels import outcome_labels
    from agents.rubrics.validation import validate_rubric

    labels = outcome_labels(plans, args.cutoff)
    return validate_rubric(
        rubric,
        ExpectedScoreJudge(model, tokenizer, rubric),
        plans,
        labels,
        label_source="outcomes",
        judge_name=JUDGE,
        label_cutoff=args.cutoff,
        continuation=f"plan-follower(slip={args.slip})",
        dataset=f"dev split, {args.dev_tasks} tasks",
        seed=args.seed,
        progress=True,
    )


# ----------------------------------------------------------------------------- report


def _f(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:.3f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        "| rubric | judge | plans (correct / incorrect / mixed) | ROC-AUC | kappa (held-out) "
        "| AUC >= 0.8 and kappa >= 0.75 |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [r["rubric"], r["judge"], r["plans"], _f(r["auc"]), _f(r["kappa"]), r["met"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_row(name: str, report: Any) -> dict[str, Any]:
    plans = f"{report.n_scored} ({report.n_positive} / {report.n_negative} / {report.n_mixed})"
    return {
        "rubric": name,
        "judge": report.judge,
        "plans": plans,
        "auc": report.total.auc,
        "kappa": report.total.kappa,
        "met": "met" if report.met else "not met",
    }


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--train-tasks", type=int, default=2, help="train-split tasks (learning)")
    p.add_argument("--dev-tasks", type=int, default=4, help="dev-split tasks (validation)")
    p.add_argument("--n", type=int, default=4, help="continuations per plan")
    p.add_argument("--slip", type=float, default=0.1, help="follower: chance to skip a step")
    p.add_argument("--cutoff", type=float, default=0.5, help="success rate of a correct plan")
    p.add_argument("--rounds", type=int, default=1, help="learning rounds")
    p.add_argument("--per-kind", type=int, default=2, help="insights of each kind per round")
    p.add_argument("--insight-tokens", type=int, default=96, help="tokens per insight answer")
    p.add_argument("--updater-tokens", type=int, default=1024, help="tokens per updater answer")
    p.add_argument(
        "--llm-continuations", type=int, default=1, help="gold plans continued by SmolLM2"
    )
    p.add_argument("--no-smollm2-plans", action="store_true", help="scripted plans only")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: shared CPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default=None, help="keep work files here (default: temporary)")
    p.add_argument("--note", default="", help="a note for RESULTS.md")
    add_no_append(p)
    return p


def run(args: argparse.Namespace, work: Path) -> str:
    import gymnasium as gym
    import torch

    import webanchor_env
    import wiki_corpus
    from agents.hf_policy import HFPolicy
    from agents.models import load_model_and_tokenizer
    from agents.rewards.rubric import load_default_rubric
    from agents.rubrics.insights import save_insights, save_rejected
    from agents.rubrics.labels import save_plans
    from agents.rubrics.prompts import INSIGHT_PREFILL, CachedComplete, hf_complete
    from agents.rubrics.validation import rubric_fingerprint, write_validation
    from agents.trajectory import save_jsonl

    torch.set_num_threads(args.threads)
    clock = Clock()
    corpus = wiki_corpus.load("default")
    backend = clock.time("search backend", webanchor_env.get_backend, "default")

    def make_env_for(split: str) -> Callable[[], Any]:
        return lambda: gym.make(webanchor_env.ENV_ID, backend=backend, split=split)

    load = functools.partial(load_model_and_tokenizer, None, device="cpu")
    model, tokenizer = clock.time("load SmolLM2", load)
    policy = None if args.no_smollm2_plans else HFPolicy(model, tokenizer, max_batch_size=8)
    splits = {"train": args.train_tasks, "dev": args.dev_tasks}
    plans: dict[str, list[Any]] = {}
    trajs: dict[str, list[Any]] = {}
    for split, count in splits.items():
        tasks = pick_tasks(corpus, split, count, args.seed)
        make_env = make_env_for(split)
        raw = clock.time(f"plans ({split})", build_plans, tasks, policy, make_env)
        plans[split], trajs[split] = clock.time(
            f"follower continuations ({split})", follower_labels, raw, make_env, corpus, args
        )
        save_plans(work / f"plans.{split}.jsonl", plans[split])
        save_jsonl(work / f"trajectories.{split}.jsonl", trajs[split])
    llm_rate = clock.time(
        "SmolLM2 continuations",
        llm_continuations,
        plans["dev"],
        HFPolicy(model, tokenizer),
        make_env_for("dev"),
        args.llm_continuations,
    )
    complete = CachedComplete(
        hf_complete(model, tokenizer, max_new_tokens=args.insight_tokens, prefill=INSIGHT_PREFILL),
        tag=f"smollm2:greedy:{args.insight_tokens}:{INSIGHT_PREFILL}",
        cache_path=work / "insights.cache.jsonl",
        log_path=work / "insights.calls.jsonl",
    )
    extraction = clock.time("insights", extract, trajs["train"], complete, args.per_kind, args.seed)
    save_insights(work / "insights.jsonl", extraction.insights)
    save_rejected(work / "insights.rejected", extraction.rejected)
    insights = list(extraction.insights)
    learned = None
    if insights:
        learned = clock.time(
            "learning", learn, insights, plans["train"], model, tokenizer, args, work
        )
    default = load_default_rubric()
    base = clock.time(
        "validate default (dev)", validate_on, plans["dev"], default, model, tokenizer, args
    )
    rows = [report_row(f"default v{default.version}", base)]
    if learned is not None and rubric_fingerprint(learned.rubric) != rubric_fingerprint(default):
        final = clock.time(
            "validate learned (dev)",
            validate_on,
            plans["dev"],
            learned.rubric,
            model,
            tokenizer,
            args,
        )
        write_validation(learned.rubric_path, learned.rubric, [final])
        rows.append(report_row(f"learned v{learned.rubric.version}", final))
    elif learned is not None:
        rows.append({**report_row("learned (= default: no update kept)", base)})
    ref = step_count_reference(plans["dev"], args.cutoff, args.seed)
    rows.append(
        {
            "rubric": "reference: number of plan steps (no LLM)",
            "judge": "none",
            "plans": rows[0]["plans"],
            "auc": ref["auc"],
            "kappa": ref["kappa"],
            "met": "-",
        }
    )
    return summary(args, rows, plans, extraction, learned, llm_rate, clock)


def llm_line(rate: float | None, k: int) -> str:
    if rate is None:
        return "- SmolLM2 continuations after gold plans: not measured (--llm-continuations 0)."
    return (
        f"- SmolLM2 continuing after {k} gold plan(s) (max 3 turns, one continuation each): "
        f"success rate {_f(rate)}: outcome labels from SmolLM2 continuations would be ~all 0."
    )


def summary(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    plans: dict[str, list[Any]],
    extraction: Any,
    learned: Any,
    llm_rate: float | None,
    clock: Clock,
) -> str:
    from collections import Counter

    from agents.rewards.rubric import load_default_rubric
    from agents.rubrics.labels import outcome_labels

    dev = plans["dev"]
    labels = outcome_labels(dev, args.cutoff)
    by_source = Counter()
    correct = Counter()
    for p in dev:
        by_source[p.source] += 1
        correct[p.source] += labels.get(p.id, 0)
    sources = ", ".join(f"{s} {correct[s]}/{n}" for s, n in sorted(by_source.items()))
    lines = [
        table(rows),
        "",
        f"- Labels: outcomes of {args.n} plan-follower continuations per plan (slip {args.slip}; "
        f"correct = success rate >= {args.cutoff}); the follower is privileged (answers once it "
        "has read a page stating the answer). Validation on held-out dev-split plans; learning "
        "on train-split plans.",
        f"- Dev plans correct by kind: {sources}.",
        f"- Plans: {len(plans['train'])} train ({args.train_tasks} tasks), {len(dev)} dev "
        f"({args.dev_tasks} tasks).",
        llm_line(llm_rate, args.llm_continuations),
        f"- Insights (SmolLM2): {len(extraction.insights)} kept, {len(extraction.rejected)} "
        "rejected (no readable list).",
    ]
    if learned is not None:
        unchanged = learned.rubric == load_default_rubric()
        lines.append(
            f"- Learning: {len(learned.history) - 1} round(s), {learned.rejected} updater "
            f"answer(s) rejected, stopped: {learned.stopped}; learned rubric "
            f"{learned.rubric.version!r}"
            + (" (the default: no revision was kept)." if unchanged else ".")
        )
    lines.append("- Time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in clock.stages.items()))
    if args.note:
        lines.append(f"- Note: {args.note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.work_dir:
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        text = run(args, work)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-rubrics-") as tmp:
            text = run(args, Path(tmp))
    print("\n" + text)
    if not args.no_append:
        path = append_section("Plan rubrics against outcome labels", text)
        print(f"\nAppended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
