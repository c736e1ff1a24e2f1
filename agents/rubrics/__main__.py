"""Command line of the Plan Rubrics Learner.

    python -m agents.rubrics extract --trajectories runs/a/trajectories.jsonl --out ins.jsonl
    python -m agents.rubrics label-outcomes --trajectories t.jsonl --policy follower --n 4 \\
        --out plans.jsonl
    python -m agents.rubrics label-outcomes --trajectories t.jsonl --own-episodes \\
        --out plans.jsonl          # each plan labelled by the episodes it began
    python -m agents.rubrics learn --insights ins.jsonl --plans plans.jsonl --run-dir learn/
    python -m agents.rubrics validate --rubric learn/rubric.json --plans plans.jsonl \\
        [--labels labels.csv]
    python -m agents.rubrics export-labels --plans plans.jsonl --out labels.csv
    python -m agents.rubrics import-labels --labels labels.csv --plans plans.jsonl \\
        --out labels.jsonl [--skip-bad]

LLM work (insights, the updater, a text judge) runs on ``--model`` (default: the bundled
SmolLM2-135M-Instruct; any Hugging Face id or local directory); ``--prefill`` starts its
JSON answers for it (small models write prose otherwise) and ``--threads 1`` keeps a busy
CPU from slowing generation down. Every command shows
progress bars and ends with a summary. Bad input is reported with its file and row (or
the raw answer saved for inspection) and excluded with a count; a label file with a bad
row is an error unless ``--skip-bad``. ``validate`` prints a table, writes JSON and
records the verdict next to the rubric file; ``--strict`` makes it exit with status 1
when the thresholds are not met.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents.rewards.rubric import Rubric, RubricValidationError, load_default_rubric, load_rubric
from agents.rubrics import insights as ins
from agents.rubrics import labels as lab
from agents.rubrics.learner import LearnerConfig, RubricUpdater, RunMismatchError, learn_rubric
from agents.rubrics.prompts import (
    INSIGHT_PREFILL,
    JUDGE_PREFILL,
    UPDATER_PREFILL,
    UPDATER_PROMPT,
    CachedComplete,
    InsightPrompts,
    PromptTemplate,
    hf_complete,
    load_prompt_set,
)
from agents.rubrics.validation import (
    Judge,
    Thresholds,
    ValidationReport,
    format_report,
    outcome_evaluator,
    validate_rubric,
    write_text_atomic,
    write_validation,
)
from agents.trajectory import TrajectoryFormatError

JUDGES = ("expected", "text", "reference")
"""``expected``: expected score under the model's digit probabilities (always valid);
``text``: the model writes a JSON judgment, parsed leniently (failures excluded);
``reference``: the privileged reference judge, which reads the gold path of the plans'
tasks in ``--corpus`` (no model)."""


class _Models:
    """Loads the LLM once, on first use."""

    def __init__(self, name: str, device: str | None, threads: int | None = None) -> None:
        self.name, self.device, self.threads = name, device, threads
        self._loaded: tuple[Any, Any] | None = None

    def get(self) -> tuple[Any, Any]:
        if self._loaded is None:
            import torch

            from agents.models import load_model_and_tokenizer

            if self.threads:
                torch.set_num_threads(self.threads)

            source = None if self.name == "smollm2" else self.name
            self._loaded = load_model_and_tokenizer(source, device=self.device)
        return self._loaded

    @property
    def label(self) -> str:
        return "SmolLM2-135M-Instruct" if self.name == "smollm2" else self.name

    def complete(
        self, max_new_tokens: int, cache_dir: Path, what: str, prefill: str = ""
    ) -> CachedComplete:
        """A greedy, cached, logged completion backend (answers started with ``prefill``)."""
        model, tokenizer = self.get()
        return CachedComplete(
            hf_complete(model, tokenizer, max_new_tokens=max_new_tokens, prefill=prefill),
            tag=f"{self.label}:greedy:{max_new_tokens}:{prefill}",
            cache_path=cache_dir / f"{what}.cache.jsonl",
            log_path=cache_dir / f"{what}.calls.jsonl",
        )


def judge_name(kind: str, models: _Models) -> str:
    """How reports name the judge: its kind and model (the reference judge: privileged)."""
    if kind == "reference":
        from agents.rewards.reference import JUDGE_NAME

        return f"{JUDGE_NAME} (reads the gold path)"
    return f"{'expected-score' if kind == 'expected' else 'text-judge'}:{models.label}"


def build_judge(
    kind: str,
    rubric: Rubric,
    models: _Models,
    cache_dir: Path,
    max_new_tokens: int = 256,
    prefill: bool = False,
    corpus: str = "default",
) -> Judge:
    """The judge called ``kind`` (see :data:`JUDGES`) over ``rubric``."""
    from agents.rewards.judge import ExpectedScoreJudge, RubricJudge

    if kind == "reference":
        from agents.rewards.reference import PrivilegedReferenceJudge
        from wiki_corpus.io import read_tasks, resolve

        return PrivilegedReferenceJudge(read_tasks(resolve(corpus) / "tasks.jsonl"), rubric)
    model, tokenizer = models.get()
    if kind == "expected":
        return ExpectedScoreJudge(model, tokenizer, rubric)
    if kind == "text":
        start = JUDGE_PREFILL if prefill else ""
        complete = hf_complete(model, tokenizer, max_new_tokens=max_new_tokens, prefill=start)
        return RubricJudge(complete, rubric, cache_path=cache_dir / "judge.cache.jsonl")
    raise ValueError(f"Expected a judge among {JUDGES}, got {kind!r}.")


def _prompts(path: str | None) -> tuple[InsightPrompts, PromptTemplate]:
    """The prompts of a ``--prompts`` file, or the defaults."""
    return load_prompt_set(path) if path else (InsightPrompts(), UPDATER_PROMPT)


def _rubric(path: str | None) -> Rubric:
    return load_default_rubric() if path is None else load_rubric(path)


def _thresholds(args: argparse.Namespace) -> Thresholds:
    return Thresholds(auc=args.auc, kappa=args.kappa)


# ----------------------------------------------------------------------------- extract


def cmd_extract(args: argparse.Namespace) -> int:
    episodes = ins.load_episodes(args.trajectories, args.success_threshold)
    episodes = _limit_per_kind(episodes, args.max_per_kind, args.seed)
    out = Path(args.out)
    cache_dir = Path(args.cache_dir) if args.cache_dir else out.parent / f"{out.stem}.llm"
    models = _Models(args.model, args.device, args.threads)
    prefill = INSIGHT_PREFILL if args.prefill else ""
    complete = models.complete(args.max_new_tokens, cache_dir, "insights", prefill)
    prompts, _ = _prompts(args.prompts)
    extractor = ins.InsightExtractor(
        complete, prompts, batch_size=args.batch_size, progress=not args.no_progress
    )
    result = extractor.extract(episodes, args.pairs_per_task)
    ins.save_insights(out, result.insights)
    rejected_dir = out.parent / f"{out.stem}.rejected"
    if result.rejected:
        ins.save_rejected(rejected_dir, result.rejected)
    wins = sum(e.success for e in episodes)
    print(
        f"\nEpisodes: {len(episodes)} ({wins} successful, {len(episodes) - wins} failed); "
        f"pairs: {len(ins.pair_episodes(episodes, args.pairs_per_task))}"
    )
    print(
        "Insights: "
        + ", ".join(f"{k} {result.count(k)}" for k in ins.KINDS)
        + f" -> {out} ({len(result.insights)} in all)"
    )
    if result.rejected:
        print(f"Rejected answers: {len(result.rejected)}, saved under {rejected_dir}")
    stats = complete.stats
    print(f"LLM: {stats.sent} prompts sent, {stats.cache_hits} from the cache ({cache_dir})")
    return 0


def _limit_per_kind(episodes: list[ins.Episode], limit: int | None, seed: int) -> list[ins.Episode]:
    if limit is None:
        return episodes
    rng = random.Random(seed)
    keep: set[str] = set()
    for success in (True, False):
        pool = [e.id for e in episodes if e.success == success]
        keep |= set(rng.sample(pool, min(limit, len(pool))))
    return [e for e in episodes if e.id in keep]


# ----------------------------------------------------------------------------- label-outcomes


def _input_plans(args: argparse.Namespace) -> list[lab.PlanRecord]:
    if args.plans:
        return lab.load_plans(args.plans)
    from agents.trajectory import load_jsonl

    plans: list[lab.PlanRecord] = []
    for path in args.trajectories:
        plans += lab.plans_from_trajectories(load_jsonl(path), source=Path(path).stem)
    return list({p.id: p for p in plans}.values())


def continuation_policy(name: str, corpus: Any, args: argparse.Namespace) -> Any:
    """``follower`` (the plan follower) or any policy ``agents.evaluate`` knows."""
    if name == "follower":
        titles = {p.title for p in corpus.pages}
        return lab.PlanFollowerPolicy(corpus.tasks, slip=args.slip, seed=args.seed, titles=titles)
    import torch

    from agents.evaluate import load_policy

    if args.threads:
        torch.set_num_threads(args.threads)

    return load_policy(name, corpus.tasks, seed=args.seed, device=args.device)


def _label_own_episodes(args: argparse.Namespace) -> int:
    """``label-outcomes --own-episodes``: no continuations, so no policy or environment."""
    from agents.trajectory import load_jsonl

    if not args.trajectories:
        raise SystemExit("--own-episodes labels the plans of --trajectories")
    episodes = [t for path in args.trajectories for t in load_jsonl(path)]
    labelled = lab.plans_with_own_outcomes(episodes, args.success_threshold, source="own episodes")
    lab.save_plans(args.out, labelled)
    _print_outcomes(labelled, args.cutoff, args.out)
    return 0


def cmd_label_outcomes(args: argparse.Namespace) -> int:
    if args.own_episodes:
        return _label_own_episodes(args)
    import gymnasium as gym

    import webanchor_env
    import wiki_corpus
    from agents.policy import SamplingParams
    from agents.prompts import get_prompt
    from agents.trajectory import save_jsonl

    plans = _input_plans(args)
    policy = continuation_policy(args.policy, wiki_corpus.load(args.corpus), args)

    def make_env() -> Any:
        return gym.make(webanchor_env.ENV_ID, corpus=args.corpus, split=args.split)

    runner = lab.RolloutContinuations(
        policy,
        make_env,
        prompt=get_prompt(args.prompt),
        params=SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature),
        max_turns=args.max_turns,
        seed=args.seed,
    )
    try:
        labelled = lab.label_by_outcomes(
            plans,
            runner,
            args.n,
            batch_size=args.batch_size,
            continuation=_continuation_name(args),
            progress=not args.no_progress,
        )
    finally:
        runner.close()
    lab.save_plans(args.out, labelled)
    if args.save_trajectories:
        save_jsonl(args.save_trajectories, runner.trajectories)
    _print_outcomes(labelled, args.cutoff, args.out)
    return 0


def _continuation_name(args: argparse.Namespace) -> str:
    if args.policy == "follower":
        return f"plan-follower(slip={args.slip})"
    return args.policy


def _print_outcomes(plans: Sequence[lab.PlanRecord], cutoff: float, out: str) -> None:
    labels = lab.outcome_labels(plans, cutoff)
    mixed = sum(lab.is_mixed(p.success_rate) for p in plans if p.success_rate is not None)
    mean = sum(p.success_rate or 0.0 for p in plans) / max(len(plans), 1)
    print(
        f"\nPlans: {len(plans)}; correct (rate >= {cutoff}): {sum(labels.values())}, "
        f"incorrect: {len(labels) - sum(labels.values())}, mixed outcomes: {mixed}; "
        f"mean success rate {mean:.3f} -> {out}"
    )


# ----------------------------------------------------------------------------- learn


def cmd_learn(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    insights = ins.load_insights(args.insights)
    plans = lab.load_plans(args.plans)
    models = _Models(args.model, args.device, args.threads)
    _, updater_prompt = _prompts(args.prompts)
    updater = RubricUpdater(
        models.complete(
            args.max_new_tokens, run_dir / "llm", "updater", UPDATER_PREFILL if args.prefill else ""
        ),
        updater_prompt,
        keep_dimensions=not args.free_dimensions,
    )

    def make_judge(rubric: Rubric) -> Judge:
        return build_judge(
            args.judge, rubric, models, run_dir / "llm", prefill=args.prefill, corpus=args.corpus
        )

    evaluate = outcome_evaluator(
        plans,
        make_judge,
        judge_name=judge_name(args.judge, models),
        cutoff=args.cutoff,
        thresholds=_thresholds(args),
        seed=args.seed,
        progress=not args.no_progress,
        rejected_dir=run_dir / "rejected" / "judge",
        dataset=f"learning plans {args.plans}",
    )
    config = LearnerConfig(
        rounds=args.rounds, per_kind=args.per_kind, seed=args.seed, thresholds=_thresholds(args)
    )
    result = learn_rubric(
        _rubric(args.start),
        insights,
        updater,
        evaluate,
        run_dir,
        config,
        progress=not args.no_progress,
    )
    print("\n" + format_report(result.report))
    resumed = "" if result.resumed_from is None else f" (resumed after round {result.resumed_from})"
    print(
        f"\nRounds: {len(result.history) - 1}{resumed}; updater answers rejected: "
        f"{result.rejected} (raw answers under {run_dir / 'rejected'}); stopped: {result.stopped}"
    )
    verdict = "meets" if result.report.met else "does NOT meet"
    print(
        f"Rubric {result.rubric.version!r} {verdict} the thresholds -> {result.rubric_path} "
        f"(+ {result.rubric_path.stem}.validation.json, history.json)"
    )
    return 0


# ----------------------------------------------------------------------------- validate


def cmd_validate(args: argparse.Namespace) -> int:
    rubric = _rubric(args.rubric)
    plans = lab.load_plans(args.plans)
    models = _Models(args.model, args.device, args.threads)
    cache_dir = Path(args.out).parent if args.out else Path(".")
    judge = build_judge(
        args.judge,
        rubric,
        models,
        cache_dir,
        args.max_new_tokens,
        prefill=args.prefill,
        corpus=args.corpus,
    )
    reports: list[ValidationReport] = []
    rejected = Path(args.out).with_suffix(".rejected") if args.out else None
    common: dict[str, Any] = {
        "rejected_dir": rejected,
        "dataset": str(args.plans),
        "judge_name": judge_name(args.judge, models),
        "thresholds": _thresholds(args),
        "seed": args.seed,
        "progress": not args.no_progress,
    }
    outcome = lab.outcome_labels(plans, args.cutoff)
    if outcome:
        continuation = next((p.continuation for p in plans if p.continuation), "")
        reports.append(
            validate_rubric(
                rubric,
                judge,
                plans,
                outcome,
                label_source="outcomes",
                label_cutoff=args.cutoff,
                continuation=continuation,
                **common,
            )
        )
    if args.labels:
        imported = _import(args.labels, {p.id for p in plans}, args.skip_bad)
        reports.append(
            validate_rubric(
                rubric, judge, plans, imported.as_dict(), label_source="human", **common
            )
        )
    if not reports:
        print(
            "error: no labels: the plans have no outcomes and no --labels file was given.",
            file=sys.stderr,
        )
        return 2
    return _report(args, rubric, reports)


def _report(args: argparse.Namespace, rubric: Rubric, reports: list[ValidationReport]) -> int:
    for report in reports:
        print("\n" + format_report(report))
    if args.rubric:
        print(f"\nRecorded next to the rubric: {write_validation(args.rubric, rubric, reports)}")
    if args.out:
        text = json.dumps([r.to_json() for r in reports], indent=2) + "\n"
        write_text_atomic(Path(args.out), text)
        print(f"Report: {args.out}")
    met = all(r.met for r in reports)
    print(
        f"Summary: {len(reports)} validation(s) "
        f"({', '.join(r.label_source for r in reports)}); thresholds "
        + ("MET." if met else "NOT MET: do not use this rubric as a validated one.")
    )
    return 1 if args.strict and not met else 0


# ----------------------------------------------------------------------------- labels


def _import(path: str, known: set[str] | None, skip_bad: bool) -> lab.LabelImport:
    imported = lab.import_labels(path, known_ids=known, skip_bad=skip_bad)
    for bad in imported.bad:
        print(f"excluded: {bad}", file=sys.stderr)
    counts = Counter(x.label for x in imported.labels)
    print(
        f"Labels from {path}: {len(imported.labels)} labelled ({counts[1]} correct, "
        f"{counts[0]} incorrect), {imported.unlabeled} unlabeled, {len(imported.bad)} bad rows "
        "excluded"
    )
    return imported


def cmd_export_labels(args: argparse.Namespace) -> int:
    plans = lab.load_plans(args.plans)
    path = lab.export_for_labelling(args.out, plans, limit=args.limit, seed=args.seed)
    n = len(plans) if args.limit is None else min(args.limit, len(plans))
    print(
        f"Exported {n} of {len(plans)} plans for labelling -> {path}\n"
        "Fill in 'label' (1 = the plan leads to the answer, 0 = it does not) and, if "
        "useful, 'note'; then run import-labels."
    )
    return 0


def cmd_import_labels(args: argparse.Namespace) -> int:
    known = {p.id for p in lab.load_plans(args.plans)} if args.plans else None
    imported = _import(args.labels, known, args.skip_bad)
    lab.save_human_labels(args.out, imported.labels)
    print(f"Checked labels -> {args.out}")
    return 0


# ----------------------------------------------------------------------------- the parser


def _add_llm(p: argparse.ArgumentParser, max_new_tokens: int) -> None:
    p.add_argument("--model", default="smollm2", help="LLM: smollm2, a HF id or a directory")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 on a busy machine)"
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=max_new_tokens, help="tokens per LLM answer"
    )
    p.add_argument("--prompts", default=None, help="JSON file of replacement prompts")
    p.add_argument(
        "--prefill",
        action="store_true",
        help="start the LLM's JSON answer for it (small local models write prose otherwise)",
    )


def _add_judge(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--judge",
        choices=JUDGES,
        default="expected",
        help="how plans are scored: expected or text (the LLM), or reference "
        "(privileged: reads the gold path of the plans' tasks in --corpus)",
    )
    p.add_argument(
        "--corpus", default="default", help="corpus of the plans' tasks (--judge reference)"
    )
    p.add_argument("--cutoff", type=float, default=0.5, help="success rate of a correct plan")
    p.add_argument("--auc", type=float, default=0.8, help="AUC acceptance threshold")
    p.add_argument("--kappa", type=float, default=0.75, help="kappa acceptance threshold")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agents.rubrics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    common.add_argument("--seed", type=int, default=0, help="seed of sampling and splits")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    p = add("extract", "LLM insights from saved trajectories")
    p.add_argument("--trajectories", nargs="+", required=True, help="trajectory JSONL files")
    p.add_argument("--out", required=True, help="insights JSONL to write")
    p.add_argument("--success-threshold", type=float, default=0.5, help="reward of a success")
    p.add_argument("--max-per-kind", type=int, default=None, help="episodes per outcome")
    p.add_argument("--pairs-per-task", type=int, default=1, help="pairs per task")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per LLM call")
    p.add_argument("--cache-dir", default=None, help="LLM cache and log (default: next to out)")
    _add_llm(p, 256)
    p.set_defaults(run=cmd_extract)

    p = add("label-outcomes", "outcome labels: continuations after each plan")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--plans", help="plans JSONL")
    group.add_argument("--trajectories", nargs="+", help="take the plans of trajectories")
    p.add_argument("--out", required=True, help="plans JSONL with success rates")
    p.add_argument(
        "--policy", default="follower", help="follower, oracle, naive, random, smollm2, HF id"
    )
    p.add_argument("--n", type=int, default=4, help="continuations per plan")
    p.add_argument("--slip", type=float, default=0.1, help="follower: chance to skip a step")
    p.add_argument("--corpus", default="default", help="corpus name or directory")
    p.add_argument("--split", default="train", help="split of the plans' tasks")
    p.add_argument("--prompt", default="react-plan", help="prompt variant of the rollouts")
    p.add_argument("--max-turns", type=int, default=12, help="turns per continuation")
    p.add_argument("--temperature", type=float, default=1.0, help="LLM continuations")
    p.add_argument("--max-new-tokens", type=int, default=256, help="LLM continuations")
    p.add_argument("--batch-size", type=int, default=16, help="plans per rollout batch")
    p.add_argument("--cutoff", type=float, default=0.5, help="success rate of a correct plan")
    p.add_argument("--device", default=None, help="cpu or cuda for an LLM policy")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--save-trajectories", default=None, help="JSONL of every continuation")
    p.add_argument(
        "--own-episodes",
        action="store_true",
        help="label each plan of --trajectories by the episodes it began (no continuations)",
    )
    p.add_argument("--success-threshold", type=float, default=1.0, help="reward of a success")
    p.set_defaults(run=cmd_label_outcomes)

    p = add("learn", "the rubric update loop (resumes in --run-dir)")
    p.add_argument("--insights", required=True, help="insights JSONL (from extract)")
    p.add_argument("--plans", required=True, help="plans with outcomes (from label-outcomes)")
    p.add_argument("--run-dir", required=True, help="rounds, history and the learned rubric")
    p.add_argument("--start", default=None, help="starting rubric (default: the bundled one)")
    p.add_argument("--rounds", type=int, default=5, help="update rounds at most")
    p.add_argument("--per-kind", type=int, default=4, help="insights of each kind per round")
    p.add_argument("--free-dimensions", action="store_true", help="allow changing dimensions")
    _add_llm(p, 1024)
    _add_judge(p)
    p.set_defaults(run=cmd_learn)

    p = add("validate", "AUC and kappa of a rubric against labels")
    p.add_argument("--rubric", default=None, help="rubric JSON (default: the bundled one)")
    p.add_argument("--plans", required=True, help="plans JSONL (outcomes used when present)")
    p.add_argument("--labels", default=None, help="human labels (CSV or JSONL)")
    p.add_argument("--skip-bad", action="store_true", help="exclude bad label rows")
    p.add_argument("--out", default=None, help="JSON report to write")
    p.add_argument("--strict", action="store_true", help="exit 1 when thresholds are not met")
    _add_llm(p, 256)
    _add_judge(p)
    p.set_defaults(run=cmd_validate)

    p = add("export-labels", "write plans to a file for people to label")
    p.add_argument("--plans", required=True, help="plans JSONL")
    p.add_argument("--out", required=True, help=".csv or .jsonl")
    p.add_argument("--limit", type=int, default=None, help="a random sample of this many")
    p.set_defaults(run=cmd_export_labels)

    p = add("import-labels", "check a filled-in label file")
    p.add_argument("--labels", required=True, help="the filled-in .csv or .jsonl")
    p.add_argument("--plans", default=None, help="plans JSONL (unknown ids become bad rows)")
    p.add_argument("--out", required=True, help="checked labels JSONL")
    p.add_argument("--skip-bad", action="store_true", help="exclude bad rows instead of failing")
    p.set_defaults(run=cmd_import_labels)
    return parser


_INPUT_ERRORS: tuple[type[Exception], ...] = (
    lab.LabelFormatError,
    lab.PlanFormatError,
    ins.InsightFormatError,
    TrajectoryFormatError,
    RubricValidationError,
    RunMismatchError,
    FileNotFoundError,
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except _INPUT_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
