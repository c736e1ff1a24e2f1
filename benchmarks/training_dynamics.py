"""Training dynamics: reward and tool calls per training step of each method.

For every method (``--methods``; default GRPO, First-step GRPO, Anchor-GRPO with the SmolLM2
(or starting-model) judge and with the privileged reference judge, and TraceR1; files from
``--methods-file`` may add others) the model is trained by :func:`harness.method_model`
(once per work directory: the main table and the ablations reuse it) and its logged
metrics are read back: the mean reward of each step's rollouts and their mean number of
tool calls (search + visit). One figure has two panels, reward per step and tool calls per
step, a line per method and stage, with the stage boundaries marked. The rewards of the
stages are not on one scale: Anchor-GRPO's stage 1 is the plan-rubric score in [0, 1]
(a custom method's stage 1 is its own reward function), every other stage the 0/1 exact
match of whole trajectories; the legend says which is which. A table per method gives the
steps, mean reward, mean tool calls and wall-clock seconds of each stage.

    python -m benchmarks.training_dynamics --scale smoke               # seconds, a tiny model
    python -m benchmarks.training_dynamics --scale small               # SmolLM2 on this CPU
    python -m benchmarks.training_dynamics --scale full                # on a GPU
    python -m benchmarks.training_dynamics --methods grpo,plan-length --methods-file my_method.py

A method that fails is reported and the others go on. Outputs go to
``<work-dir>/training_dynamics/``: ``training_dynamics.png`` and ``results.json``; the
tables are printed and appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.methods import Method
from agents.train.algos import RewardSource
from benchmarks import harness

TITLE = "Training dynamics: reward and tool calls per step"
REWARD, CALLS = "reward/mean", "episode/tool_calls"
TRAINING_STAGES = ("stage1", "stage2")
"""Stage names of the logged GRPO steps (``sft`` and ``eval`` records are left out)."""


# --- Pure helpers -------------------------------------------------------------------------


def reward_kind(method: Method, stage: str) -> str:
    """What the reward of ``method``'s ``stage`` is, for legends and tables."""
    if stage != "stage1":
        executor = method.executor_reward
        if not isinstance(executor, RewardSource):
            return f"custom: {getattr(executor, '__name__', 'function')}"
        return "0/1 outcome"
    reward = method.planner_reward
    if not isinstance(reward, RewardSource):
        return f"custom: {getattr(reward, '__name__', 'function')}"
    configured = str(method.config.get("plan_reward", "")).lower()
    naive = reward is RewardSource.NAIVE_PLAN or configured.endswith("naive")
    if reward is RewardSource.OUTCOME:
        return "0/1 outcome"
    return "naive plan rating [0, 1]" if naive else "rubric score [0, 1]"


def training_records(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The GRPO step records of a metrics file, in step order."""
    steps = [r for r in records if r.get("stage") in TRAINING_STAGES]
    return sorted(steps, key=lambda r: int(r["step"]))


def series(records: Sequence[Mapping[str, Any]], key: str) -> dict[str, list[tuple[int, float]]]:
    """``{stage: [(step, value), ...]}`` of one metric (steps without a value left out)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for record in training_records(records):
        value = record.get(key)
        points = out.setdefault(str(record["stage"]), [])
        if isinstance(value, (int, float)):
            points.append((int(record["step"]), float(value)))
    return out


def stage_boundaries(records: Sequence[Mapping[str, Any]]) -> list[float]:
    """Where one stage ends and the next begins: halfway between their steps."""
    steps = training_records(records)
    return [
        (int(a["step"]) + int(b["step"])) / 2
        for a, b in zip(steps, steps[1:])
        if a.get("stage") != b.get("stage")
    ]


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None


def reward_interval(
    steps: Sequence[tuple[float, float, int]], z: float = 1.96
) -> tuple[float, float] | None:
    """95% normal interval of a stage's mean reward from each step's (mean, standard
    deviation, rollouts) as logged (``reward/mean``, ``reward/std`` over the step's
    rollouts): the rollouts pooled and taken as independent draws. The G rollouts of one
    question are not independent, so the interval is narrower than a bootstrap over
    questions would be. None for fewer than two rollouts."""
    total = sum(n for _, _, n in steps)
    if total < 2:
        return None
    mean = sum(m * n for m, _, n in steps) / total
    spread = sum(n * (sd * sd + (m - mean) ** 2) for m, sd, n in steps)  # sum of squares
    half = z * math.sqrt(spread / (total - 1) / total)
    return mean - half, mean + half


def step_rollouts(record: Mapping[str, Any], fallback: int) -> int:
    """The rollouts of a step's reward: logged ``reward/count``, else (runs from before it
    was logged) ``fallback`` less the excluded ones."""
    if isinstance(record.get("reward/count"), (int, float)):
        return int(record["reward/count"])
    return fallback - int(record.get("reward/excluded") or 0)


def stage_summary(
    records: Sequence[Mapping[str, Any]], rollouts: Mapping[str, int] | None = None
) -> list[dict[str, Any]]:
    """Per stage, in order: steps, mean reward with its interval (:func:`reward_interval`;
    ``rollouts``: each stage's rollouts a step for runs that did not log them), mean tool
    calls and the seconds of its ``time/*`` measurements (None when none were logged)."""
    by_stage: dict[str, list[Mapping[str, Any]]] = {}
    for record in training_records(records):
        by_stage.setdefault(str(record["stage"]), []).append(record)
    rows = []
    for stage, steps in by_stage.items():
        times = [
            float(v)
            for r in steps
            for k, v in r.items()
            if k.startswith("time/") and isinstance(v, (int, float))
        ]
        logged = [
            (float(r[REWARD]), float(r.get("reward/std") or 0.0), r)
            for r in steps
            if isinstance(r.get(REWARD), (int, float))
        ]
        fallback = (rollouts or {}).get(stage, 0)
        rows.append(
            {
                "stage": stage,
                "steps": len(steps),
                "first_step": int(steps[0]["step"]),
                "reward_mean": _mean([r.get(REWARD) for r in steps]),
                "reward_ci95": reward_interval(
                    [(m, sd, step_rollouts(r, fallback)) for m, sd, r in logged]
                ),
                "tool_calls": _mean([r.get(CALLS) for r in steps]),
                "seconds": sum(times) if times else None,
            }
        )
    return rows


def method_table(method: Method, summary: Sequence[Mapping[str, Any]]) -> str:
    """The markdown table of one method's stages."""
    lines = [
        f"**{method.name}** ({method.description or 'no description'})",
        "",
        "| stage | steps | reward | mean reward [95% CI] | mean tool calls | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        cells = [
            row["stage"],
            row["steps"],
            reward_kind(method, row["stage"]),
            harness.fmt(row["reward_mean"]) + harness.interval_text(row.get("reward_ci95")),
            harness.fmt(row["tool_calls"], 2),
            harness.fmt(row["seconds"], 1),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    if not summary:
        lines.append("| - | 0 | - | - | - | - |")
    return "\n".join(lines) + "\n"


def plot(
    curves: Mapping[str, tuple[Method, Sequence[Mapping[str, Any]]]], path: Path, title: str
) -> Path | None:
    """Two panels (reward per step, tool calls per step): a line per method and stage
    (stage 1 dashed), the stage boundaries as dotted lines. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        print("matplotlib is not installed: no training_dynamics.png", file=sys.stderr)
        return None
    if not curves:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    panels = ((REWARD, "reward mean per step"), (CALLS, "tool calls per episode"))
    for ax, (key, panel_title) in zip(axes, panels):
        for i, (name, (method, records)) in enumerate(curves.items()):
            color = colors[i % len(colors)]
            for stage, points in series(records, key).items():
                if not points:
                    continue
                label = f"{name} {stage}"
                if key == REWARD:
                    label += f" ({reward_kind(method, stage)})"
                style = "--" if stage == "stage1" else "-"
                ax.plot(*zip(*points), style, marker="o", markersize=3, color=color, label=label)
            for x in stage_boundaries(records):
                ax.axvline(x, color=color, linestyle=":", linewidth=1)
        ax.set_title(panel_title, fontsize=10)
        ax.set_xlabel("training step (dotted: stage boundary)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    fig.suptitle(textwrap.fill(title, 140), fontsize=8)
    return harness.save_figure(fig, path, dpi=100)


# --- Running ------------------------------------------------------------------------------


def trained_metrics(
    method: Method, scale: harness.Scale, work_dir: Path, start: str
) -> list[dict[str, Any]]:
    """Train ``method`` (or reuse its model) and return its step records."""
    if not method.trains:
        raise ValueError(f"Method {method.name!r} does not train (it is a baseline row).")
    harness.method_model(method, scale, work_dir, start)
    records = training_records(harness.training_metrics(work_dir, method.name))
    if not records:
        raise ValueError(f"Method {method.name!r} logged no training steps.")
    return records


def parser() -> Any:
    p = harness.common_parser(__doc__.splitlines()[0])
    p.add_argument(
        "--methods",
        default="grpo,first-step-grpo,anchor-grpo,anchor-grpo-ref,tracer1",
        help="comma list of registered methods that train (see --methods-file)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    scale = harness.scale_from(args)
    failures = harness.Failures()
    methods = harness.methods_from(harness.split_list(args.methods), args.methods_file, failures)
    work_dir: Path = args.work_dir
    root = work_dir / "training_dynamics"
    root.mkdir(parents=True, exist_ok=True)
    curves: dict[str, tuple[Method, list[dict[str, Any]]]] = {}
    start = failures.attempt("starting policy", harness.start_model, scale, work_dir)
    if start is not None:
        for method in methods:
            print(f"[training_dynamics] {method.name}", file=sys.stderr)
            records = failures.attempt(
                f"method {method.name}", trained_metrics, method, scale, work_dir, start
            )
            if records is not None:
                curves[method.name] = (method, records)

    title = (
        "dashed: stage 1, solid: stage 2; stage-1 rewards of plan-reward methods are rubric "
        f"scores, the others 0/1 ({scale.describe()})"
    )
    png = plot(curves, root / "training_dynamics.png", title)
    c = scale.settings  # rollouts a step, for runs from before reward/count was logged
    rollouts = {"stage1": c.stage1.group_size, "stage2": c.stage2.group_size}
    rollouts = {stage: g * c.tasks_per_step for stage, g in rollouts.items()}
    summaries = {name: stage_summary(records, rollouts) for name, (_, records) in curves.items()}
    record = {
        "scale": dataclasses.asdict(scale),
        "note": scale.describe(),
        "methods": {
            name: {
                "description": method.description,
                "reward": {s["stage"]: reward_kind(method, s["stage"]) for s in summaries[name]},
                "stages": summaries[name],
                "steps": list(records),
            }
            for name, (method, records) in curves.items()
        },
        "failures": [{"what": w, "error": e} for w, e in failures.items],
    }
    (root / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    body = "\n".join(method_table(method, summaries[name]) for name, (method, _) in curves.items())
    body += (
        "\nmean reward: of the stage's rollouts, averaged over its steps (stage-1 rubric "
        "scores and 0/1 outcomes are different scales), with a 95% normal interval over the "
        "stage's rollouts taken as independent (each step's logged mean, standard deviation "
        "and rollout count; runs that did not log the count: G x questions a step). The G "
        "rollouts of one question are not independent, so the intervals are too narrow: "
        "stages whose intervals overlap tie. Tool calls: search + visit per "
        "episode (stage-1 rollouts of plan-only methods stop after the plan); seconds: "
        "rollouts, rewards and updates."
    )
    if png is not None:
        body += f" Figure: `{png}`."
    body += "\n"
    harness.finish(TITLE, body, args, failures, scale.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
