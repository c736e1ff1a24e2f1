"""The plan-anchor experiment (the paper's motivation): how much the first step decides.

For each corpus, ``anchor_tasks`` questions of its split are probed (those of at most
``anchor_max_hops`` hops when the scale sets it, chosen round-robin over the difficulty
levels, so that every level appears when there are at least as many questions as levels).
Each question is played ``anchor_samples`` times by the policy (lockstep, temperature,
seed and prompt of the scale: the starting model's format). A question
whose rollouts are neither all right nor all wrong is *mixed*; for it, the first assistant
turn (the plan, with its first action) of one successful rollout becomes the *correct
first step* and that of one failed rollout the *incorrect first step*. Each is then fixed
as the first turn of ``anchor_continuations`` = n new rollouts, the rest of which the policy
samples. A question's pass@n after a first step is 1 when any of its n continuations
answers right; its pass@1 is the fraction that do. The paper reports that fixing an
incorrect first step costs 24-31 points of pass@k. Episodes are played in lockstep, at
most ``anchor_batch_episodes`` at once: their key/value states are most of its memory.

    python -m benchmarks.plan_anchor --scale smoke --corpus world   # seconds, a tiny model
    python -m benchmarks.plan_anchor --scale small                  # SmolLM2 on this CPU
    python -m benchmarks.plan_anchor --scale full                   # on a GPU
    python -m benchmarks.plan_anchor --policy oracle --corpus world # a scripted policy
    python -m benchmarks.plan_anchor --methods grpo,anchor-grpo     # trained methods too
    python -m benchmarks.plan_anchor --corpus world --questions 40  # more questions
    python -m benchmarks.plan_anchor --corpus world --continuations 8  # surer pass@n

``--policy`` is the probed policy (default: the starting policy of the harness, SmolLM2
after its SFT warm start): ``oracle``, ``naive``, ``random``, ``smollm2``, a Hugging Face id
or a checkpoint directory. ``--methods`` adds the models of registered methods (trained once
per work directory by the harness and shared with the other experiments).

Columns of the table (one row per policy, corpus and difficulty level; the bundled world is
broken down by level plus ``all``, a corpus with one level only has ``all``):

- ``probed``: questions probed; ``mixed``: those with mixed outcomes, the only ones measured.
- ``pass@n correct`` / ``pass@n incorrect``: the mean over mixed questions of pass@n after
  the correct / incorrect first step (n = ``anchor_continuations``).
- ``drop``: (pass@n correct - pass@n incorrect) x 100, in points, with a 95% bootstrap
  interval over the mixed questions (each question's own difference resampled).
- ``pass@1 correct`` / ``pass@1 incorrect``: the mean success rate of the continuations.
- ``probe pass@1``: the success rate of the probe rollouts of all probed questions (why a
  row may have no mixed question: a policy that never or always answers right).

A row without a mixed question shows dashes: nothing is measured there. Outputs go to
``<work-dir>/plan_anchor/``: per policy and corpus, ``probe.jsonl`` and
``continuations.jsonl`` (trajectories, appended batch by batch: a rerun resumes, and a
rerun with more ``--questions`` or ``--continuations`` plays only the new ones) and
``questions.json`` (each question's outcomes and chosen first steps); ``results.json`` (the
rows) and ``plan_anchor.png`` (pass@n after the correct vs the incorrect first step).
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import json
import re
import shutil
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agents.trajectory import Trajectory, first_step, load_jsonl, save_jsonl
from benchmarks import harness

TITLE = "Plan anchor: pass@n after a correct vs an incorrect first step"
SCRIPTED = ("oracle", "naive", "random")
KINDS = 3
"""Group ids: ``3 i`` probes question i, ``3 i + 1`` continues its correct first step and
``3 i + 2`` its incorrect one (distinct groups give the continuations their own seeds)."""
PROBE, CORRECT, INCORRECT = 0, 1, 2


# --- The math (pure) ----------------------------------------------------------------------


class TurnLike(Protocol):
    text: str
    prefill: str


class TrajectoryLike(Protocol):
    sample: int
    reward: float
    turns: Sequence[TurnLike]


def solved(reward: float) -> bool:
    """An episode answered right (exact match gives 1.0)."""
    return reward >= 1.0


def is_mixed(rewards: Iterable[float]) -> bool:
    """Neither all right nor all wrong."""
    outcomes = [solved(r) for r in rewards]
    return any(outcomes) and not all(outcomes)


def pass_at_n(rewards: Sequence[float]) -> float:
    """1.0 when any of the n rollouts answered right, else 0.0."""
    if not rewards:
        raise ValueError("Expected at least one reward, got none.")
    return 1.0 if any(solved(r) for r in rewards) else 0.0


def success_rate(rewards: Sequence[float]) -> float:
    """The fraction of rollouts that answered right (pass@1)."""
    if not rewards:
        raise ValueError("Expected at least one reward, got none.")
    return sum(solved(r) for r in rewards) / len(rewards)


def choose_first_steps(group: Sequence[TrajectoryLike]) -> tuple[str, str] | None:
    """``(correct, incorrect)`` first steps of one question's rollouts: those of the
    successful and of the failed rollout with the lowest sample index; None when the
    outcomes are not mixed (rollouts without a turn do not count)."""
    played = sorted((t for t in group if t.turns), key=lambda t: t.sample)
    right = next((t for t in played if solved(t.reward)), None)
    wrong = next((t for t in played if not solved(t.reward)), None)
    if right is None or wrong is None:
        return None
    return first_step(right), first_step(wrong)


def round_robin(tasks: Sequence[Any], count: int) -> list[Any]:
    """``count`` tasks taken in turn from each difficulty level (lowest level first; the
    split's order within a level)."""
    levels: dict[int, list[Any]] = defaultdict(list)
    for task in tasks:
        levels[task.difficulty].append(task)
    queues = [list(levels[level]) for level in sorted(levels)]
    chosen: list[Any] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen


@dataclass(frozen=True)
class Question:
    """One probed question: the probe's outcomes and, when mixed, the continuations'."""

    task_id: str
    difficulty: int
    probe: tuple[float, ...]
    """Rewards of the sampled rollouts."""
    correct_step: str | None = None
    incorrect_step: str | None = None
    correct: tuple[float, ...] = ()
    """Rewards of the continuations after the correct first step."""
    incorrect: tuple[float, ...] = ()
    """Rewards of the continuations after the incorrect first step."""

    @property
    def mixed(self) -> bool:
        """Measured: both first steps were found and continued."""
        return bool(self.correct) and bool(self.incorrect)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def drop_points(correct: float | None, incorrect: float | None) -> float | None:
    """``(correct - incorrect) x 100``, or None when either is unknown."""
    if correct is None or incorrect is None:
        return None
    return 100.0 * (correct - incorrect)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def drop_interval(mixed: Sequence[Question]) -> tuple[float, float] | None:
    """95% bootstrap interval of the drop (points) over mixed questions: each question's
    pass@n difference is resampled; None for fewer than two questions."""
    from agents.evaluate import bootstrap_interval

    diffs = [100.0 * (pass_at_n(q.correct) - pass_at_n(q.incorrect)) for q in mixed]
    return bootstrap_interval(diffs)


def summarize_questions(questions: Sequence[Question]) -> dict[str, Any]:
    """The numbers of one row: counts, then means over the mixed questions (None if none)."""
    mixed = [q for q in questions if q.mixed]
    n_correct = _mean([pass_at_n(q.correct) for q in mixed])
    n_incorrect = _mean([pass_at_n(q.incorrect) for q in mixed])
    return {
        "probed": len(questions),
        "mixed": len(mixed),
        "pass@n correct": n_correct,
        "pass@n incorrect": n_incorrect,
        "drop": drop_points(n_correct, n_incorrect),
        "drop_ci95": drop_interval(mixed),
        "pass@1 correct": _mean([success_rate(q.correct) for q in mixed]),
        "pass@1 incorrect": _mean([success_rate(q.incorrect) for q in mixed]),
        "probe pass@1": _mean([success_rate(q.probe) for q in questions if q.probe]),
    }


def breakdown(questions: Sequence[Question]) -> list[tuple[str, dict[str, Any]]]:
    """``(difficulty, numbers)`` per level (when there are several) and for ``all``."""
    levels = sorted({q.difficulty for q in questions})
    rows = []
    if len(levels) > 1:
        for level in levels:
            rows.append(
                (str(level), summarize_questions([q for q in questions if q.difficulty == level]))
            )
    rows.append(("all", summarize_questions(questions)))
    return rows


def table_markdown(rows: Sequence[Mapping[str, Any]], n: int) -> str:
    """The markdown table of the rows (dicts with policy, corpus, difficulty and numbers)."""
    head = [
        "policy", "corpus", "difficulty", "probed", "mixed", f"pass@{n} correct",
        f"pass@{n} incorrect", "drop (points) [95% CI]", "pass@1 correct", "pass@1 incorrect",
        "probe pass@1",
    ]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row["policy"], row["corpus"], row["difficulty"], row["probed"], row["mixed"],
            harness.fmt(row["pass@n correct"]), harness.fmt(row["pass@n incorrect"]),
            harness.fmt(row["drop"], 1) + harness.interval_text(row.get("drop_ci95"), 1),
            harness.fmt(row["pass@1 correct"]),
            harness.fmt(row["pass@1 incorrect"]), harness.fmt(row["probe pass@1"]),
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


# --- Running one policy on one corpus -----------------------------------------------------


def eval_config(spec: harness.CorpusSpec, scale: harness.Scale, prompt: str = "") -> Any:
    """The evaluation settings of a probe (samples per question as the group size;
    ``prompt`` '' is the scale's)."""
    from agents.evaluate import EvalConfig

    return EvalConfig(
        policy="plan-anchor", corpus=spec.corpus, split=spec.split, n=scale.anchor_samples,
        k=1, prompt=prompt or scale.prompt, max_hops=scale.anchor_max_hops, max_turns=scale.max_turns, max_new_tokens=scale.max_new_tokens,
        top_k=scale.top_k, visit_chars=scale.visit_chars, temperature=scale.temperature,
        seed=scale.seed, batch_tasks=scale.batch_tasks, progress=False,
    )  # fmt: skip


def _saved(path: Path) -> dict[tuple[str, int], list[Trajectory]]:
    """Saved episodes by (task id, group id), in sample order. Only a group's samples
    ``0 .. m - 1`` are kept (an interrupted last line or batch leaves a gap or a short
    group, which is played on from where it stops); the file is rewritten with those."""
    if not path.exists():
        return {}
    groups: dict[tuple[str, int], dict[int, Trajectory]] = defaultdict(dict)
    for t in load_jsonl(path, allow_partial_tail=True):
        groups[t.task_id, t.group_id].setdefault(t.sample, t)
    kept: dict[tuple[str, int], list[Trajectory]] = {}
    for key, by_sample in groups.items():
        count = next(i for i in itertools.count() if i not in by_sample)
        kept[key] = [by_sample[i] for i in range(count)]
    save_jsonl(path, [t for ts in kept.values() for t in ts])
    return kept


def _play(
    engine: Any,
    jobs: Sequence[tuple[str, int, str | None]],
    size: int,
    path: Path,
    max_episodes: int,
) -> dict[tuple[str, int], list[Trajectory]]:
    """Run ``(task id, group id, forced first turn)`` jobs of ``size`` episodes each, in
    lockstep batches of at most ``max_episodes`` episodes (at least one job)
    appended to ``path``. Saved episodes are reused: a group with fewer than ``size`` saved
    gets only the missing samples (with the seeds they have in a group of ``size``), and
    one with more keeps its first ``size``."""
    saved = _saved(path)
    done = {(job[0], job[1]): saved.get((job[0], job[1]), [])[:size] for job in jobs}
    missing: dict[int, list[tuple[str, int, str | None]]] = defaultdict(list)
    for job in jobs:
        if (have := len(done[job[0], job[1]])) < size:
            missing[have].append(job)
    for have, todo in sorted(missing.items()):
        engine.config = dataclasses.replace(engine.config, group_size=size - have)
        batch = max(1, max_episodes // (size - have))
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            trajectories = engine.run(
                [job[0] for job in part],
                group_ids=[job[1] for job in part],
                forced_first_turns=[job[2] for job in part],
                first_sample=have,
            )
            save_jsonl(path, trajectories, append=True)
            for t in trajectories:
                done[t.task_id, t.group_id].append(t)
    return done


def probe_corpus(
    policy: Any,
    spec: harness.CorpusSpec,
    scale: harness.Scale,
    out: Path,
    *,
    model: str = "",
    prompt: str = "",
) -> list[Question]:
    """Probe, pick the first steps and continue them for one policy on one corpus; the
    trajectories are kept in ``out`` (reused by a rerun with the same settings)."""
    from agents.evaluate import env_factory, rollout_config
    from agents.rollout import RolloutEngine

    prompt = prompt or scale.prompt
    config = eval_config(spec, scale, prompt)
    make_env = env_factory(config)
    env = make_env()
    try:
        candidates = [t for t in env.unwrapped.tasks(spec.split) if config.selects(t)]
        tasks = round_robin(candidates, scale.anchor_tasks)
    finally:
        env.close()
    if not tasks:
        raise ValueError(f"Corpus {spec.name!r} has no {spec.split} tasks.")
    if hasattr(policy, "bind_tasks"):
        policy.bind_tasks(tasks)
    # a model the harness made carries a stamp of how: a retrained model is probed anew
    made = Path(model).parent / "made_with.json" if model and Path(model).is_dir() else None
    record = {
        "scale": dataclasses.asdict(scale), "model": model, "prompt": prompt,
        "model_made_with": made.read_text(encoding="utf-8") if made and made.is_file() else None,
        "corpus": dataclasses.asdict(spec), "tasks": [t.id for t in tasks],
    }  # fmt: skip
    stamp = out / "made_with.json"
    if out.exists() and not reusable(stamp, record):
        print(f"{out}: made with other settings or questions; playing it again.", file=sys.stderr)
        shutil.rmtree(out)  # its trajectories do not belong here
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    rollout = rollout_config(config)
    with RolloutEngine(policy, make_env, rollout) as engine:
        jobs = [(t.id, KINDS * i + PROBE, None) for i, t in enumerate(tasks)]
        width = scale.anchor_batch_episodes
        probes = _play(engine, jobs, scale.anchor_samples, out / "probe.jsonl", width)
        steps = {t.id: choose_first_steps(probes[t.id, KINDS * i]) for i, t in enumerate(tasks)}
        jobs = []
        for i, t in enumerate(tasks):
            if steps[t.id] is not None:
                jobs.append((t.id, KINDS * i + CORRECT, steps[t.id][0]))
                jobs.append((t.id, KINDS * i + INCORRECT, steps[t.id][1]))
        path = out / "continuations.jsonl"
        continued = _play(engine, jobs, scale.anchor_continuations, path, width)

    def rewards(key: tuple[str, int], found: Mapping[tuple[str, int], list[Trajectory]]):
        return tuple(x.reward for x in sorted(found.get(key, []), key=lambda x: x.sample))

    questions = []
    for i, t in enumerate(tasks):
        step = steps[t.id]
        questions.append(
            Question(
                task_id=t.id,
                difficulty=int(t.difficulty),
                probe=rewards((t.id, KINDS * i + PROBE), probes),
                correct_step=step[0] if step else None,
                incorrect_step=step[1] if step else None,
                correct=rewards((t.id, KINDS * i + CORRECT), continued) if step else (),
                incorrect=rewards((t.id, KINDS * i + INCORRECT), continued) if step else (),
            )
        )
    (out / "questions.json").write_text(
        json.dumps([q.to_json() for q in questions], indent=2) + "\n", encoding="utf-8"
    )
    return questions


def reusable(stamp: Path, record: Mapping[str, Any]) -> bool:
    """Whether the trajectories stamped ``stamp`` belong to a probe made as ``record``: the
    same settings, and one question list beginning with the other (a rerun with more
    questions keeps what was played, one with fewer reads the first of them and leaves the
    rest in place; the round-robin choice is stable under another count, and a question's
    group ids depend on its place only). The number of
    continuations may differ: each continuation's seed depends on its group and sample
    index only, so a rerun with more plays only the new ones and one with fewer uses the
    first of them. So may the lockstep batch: it changes memory and speed (and, through
    float rounding in other batch shapes, perhaps a sampled token), not the seeds."""
    saved = harness.read_stamp(stamp)
    if not isinstance(saved, dict):
        return False

    def settings(made: Mapping[str, Any]) -> dict[str, Any]:
        free = ("anchor_tasks", "anchor_continuations", "anchor_batch_episodes")
        scale = {k: v for k, v in (made.get("scale") or {}).items() if k not in free}
        return {**{k: v for k, v in made.items() if k != "tasks"}, "scale": scale}

    tasks, saved_tasks = record["tasks"], saved.get("tasks")
    if not isinstance(saved_tasks, list):
        return False
    common = min(len(tasks), len(saved_tasks))
    return settings(saved) == settings(record) and tasks[:common] == saved_tasks[:common]


# --- Policies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A policy to probe: its table name, the model it loads and its prompt."""

    label: str
    model: str
    prompt: str = ""
    """'' : the scale's."""


def slug(name: str) -> str:
    """A directory name for a policy (``/x/models/start/final`` -> ``x_models_start_final``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_.")[-80:] or "policy"


def open_policy(model: str, scale: harness.Scale) -> Any:
    """Load a policy by name (see :func:`agents.evaluate.load_policy`); a checkpoint path
    that does not exist raises FileNotFoundError."""
    from agents.evaluate import load_policy

    harness.check_checkpoint(model)
    return load_policy(model, seed=scale.seed)


def targets_from(args: Any, scale: harness.Scale, failures: harness.Failures) -> list[Target]:
    """``--policy`` (default: the starting policy), then the models of ``--methods``; a
    model that cannot be made is reported, one probed already is not probed again."""
    start: list[str | None] = []

    def starting() -> str | None:
        if not start:
            start.append(
                failures.attempt("starting policy", harness.start_model, scale, args.work_dir)
            )
        return start[0]

    targets: list[Target] = []
    if args.policy is None:
        model = starting()
        if model is not None:
            targets.append(Target("start", model))
    else:
        targets.append(Target(slug(args.policy), args.policy))
    for method in harness.methods_from(
        harness.split_list(args.methods), args.methods_file, failures
    ):
        if method.agent != "react":
            failures.note(
                f"method {method.name}", "not probed: the experiment fixes a ReAct first turn"
            )
            continue
        base = starting()
        if base is None:
            continue
        model = failures.attempt(
            f"method {method.name}", harness.method_model, method, scale, args.work_dir, base
        )
        if model is None:
            continue
        target = Target(method.name, model, method.prompt)
        same = next((t for t in targets if (t.model, t.prompt) == (model, target.prompt)), None)
        if same is not None:
            print(f"method {method.name} is the policy {same.label}: probed once", file=sys.stderr)
            continue
        targets.append(target)
    return targets


def _free() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


# --- Outputs ------------------------------------------------------------------------------


def plot(rows: Sequence[Mapping[str, Any]], path: Path, n: int) -> Path:
    """Grouped bars: pass@n after the correct and after the incorrect first step, one group
    per policy, corpus and difficulty; a group without mixed questions is labelled so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    policies = {row["policy"] for row in rows}
    labels = [
        (f"{row['policy']}\n" if len(policies) > 1 else "")
        + f"{row['corpus']}/{row['difficulty']}\n{row['mixed']}/{row['probed']} mixed"
        for row in rows
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2), 3.8))
    width = 0.38
    for offset, key, name, color in (
        (-width / 2, "pass@n correct", "correct first step", "tab:green"),
        (width / 2, "pass@n incorrect", "incorrect first step", "tab:red"),
    ):
        xs = [i + offset for i, row in enumerate(rows) if row[key] is not None]
        ys = [row[key] for row in rows if row[key] is not None]
        bars = ax.bar(xs, ys, width=width, label=name, color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    for i, row in enumerate(rows):
        if row["mixed"] == 0:
            ax.text(i, 0.05, "no mixed\nquestion", ha="center", fontsize=7, color="gray")
    if not rows:
        ax.text(0.5, 0.5, "no results", ha="center", transform=ax.transAxes)
    ax.set_xticks(range(len(rows)), labels, fontsize=7)
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_ylabel(f"pass@{n}")
    ax.set_title(f"Plan anchor: pass@{n} after a fixed first step", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
    return harness.save_figure(fig, path)


def reading(row: Mapping[str, Any]) -> str:
    """One sentence on a row's drop that claims no more than its interval allows."""
    interval, drop = row.get("drop_ci95"), row.get("drop")
    where = f"{row['policy']} on {row['corpus']} ({row['mixed']} mixed questions)"
    if drop is None:
        return ""
    if not interval:
        return f"{where}: a drop of {drop:.1f} points from one question, no interval."
    low, high = interval
    span = f"{drop:.1f} points (95% CI {low:.1f} to {high:.1f})"
    if low > 0:
        return f"{where}: an incorrect first step costs {span}; the first step matters."
    if high < 0:
        return f"{where}: an incorrect first step gains {span}, the opposite of the paper."
    return f"{where}: {span}; the interval includes 0, a tie."


def mixed_counts(results: Sequence[tuple[str, str, Sequence[Question]]]) -> str:
    """``start on world: 1 of 6 questions mixed; ...``"""
    return "; ".join(
        f"{label} on {corpus}: {sum(q.mixed for q in qs)} of {len(qs)} questions mixed"
        for label, corpus, qs in results
    )


# --- Command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = harness.common_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--policy",
        default=None,
        help="the probed policy: oracle, naive, random, smollm2, a HF id or a checkpoint "
        "directory (default: the harness's starting policy)",
    )
    parser.add_argument(
        "--methods", default="", help="comma list of registered methods whose models are probed too"
    )
    parser.add_argument(
        "--questions",
        type=int,
        default=None,
        help="questions probed per corpus (overrides the scale's; a rerun with more keeps "
        "the ones already played)",
    )
    parser.add_argument(
        "--continuations",
        type=int,
        default=None,
        help="continuations per fixed first step (overrides the scale's; a rerun with more "
        "keeps the ones already played and plays only the rest)",
    )
    args = parser.parse_args(argv)
    scale = harness.scale_from(args)
    for flag, field in (("questions", "anchor_tasks"), ("continuations", "anchor_continuations")):
        if (value := getattr(args, flag)) is not None:
            if value < 1:
                parser.error(f"--{flag} must be at least 1")
            scale = dataclasses.replace(scale, **{field: value})
    failures = harness.Failures()
    work = args.work_dir / "plan_anchor"
    specs = harness.corpora_from(args, failures)
    targets = targets_from(args, scale, failures)

    results: list[tuple[str, str, list[Question]]] = []
    for target in targets:
        policy = failures.attempt(
            f"policy {target.label} ({target.model})", open_policy, target.model, scale
        )
        if policy is None:
            continue
        for spec in specs:
            questions = failures.attempt(
                f"{target.label} on {spec.name}", probe_corpus, policy, spec, scale,
                work / slug(target.label) / spec.name, model=target.model, prompt=target.prompt,
            )  # fmt: skip
            if questions is not None:
                results.append((target.label, spec.name, questions))
        del policy
        _free()

    rows = [
        {"policy": label, "corpus": corpus, "difficulty": difficulty, **numbers}
        for label, corpus, questions in results
        for difficulty, numbers in breakdown(questions)
    ]
    work.mkdir(parents=True, exist_ok=True)
    (work / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    n = scale.anchor_continuations
    figure = failures.attempt("plot", plot, rows, work / "plan_anchor.png", n)

    body = table_markdown(rows, n)
    if results:
        body += "\n" + mixed_counts(results) + ".\n"
    if results and not any(q.mixed for _, _, qs in results for q in qs):
        body += (
            "\nNo probed question had mixed outcomes, so no first steps were compared "
            "(dashes): nothing is measured here.\n"
        )
    shows = [reading(row) for row in rows if row["difficulty"] == "all"]
    if any(shows):
        body += "\nWhat this shows: " + " ".join(x for x in shows if x) + "\n"
    if figure is not None:
        body += f"\nFigure: `{figure}`.\n"
    probed = ", ".join(f"{t.label} ({t.model})" for t in targets) or "none (see failures)"
    note = (
        f"{scale.describe()}; plan anchor: probed policy {probed}; {scale.anchor_tasks} "
        f"questions per corpus (round-robin over difficulty), {scale.anchor_samples} samples "
        f"each at temperature {scale.temperature}, n = {n} continuations per fixed first step"
        + (f"; {mixed_counts(results)}" if results else "")
    )
    harness.finish(TITLE, body, args, failures, note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
