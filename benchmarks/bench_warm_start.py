"""The shipped warm start against its targets: greedy pass@1 by hops, valid turns, mixed outcomes.

Three evaluations of one policy (default ``smollm2-sft``, in the format saved with it)
through :func:`agents.evaluate.evaluate`, each writing its trajectories under ``--out``:

* greedy (temperature 0) on the bundled dev questions of at most 2 hops;
* greedy on the dev questions of at least 3 hops;
* temperature 1, ``--n`` runs each, on the first ``--mixed-tasks`` dev questions of at most
  2 hops: the share of questions with mixed outcomes (some runs right, some wrong), the
  questions GRPO can learn from.

Prints a table of figure, target, measured value with its 95% interval (Wilson, over
questions), and the wall time of each evaluation, and appends it to benchmarks/RESULTS.md
(``--no-append``: print only). ``--manifest`` also records the measured pass@1 in the warm
start's manifest::

    python -m benchmarks.bench_warm_start
    python -m benchmarks.bench_warm_start --limit 20 --mixed-tasks 10 --no-append
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from agents.evaluate import EvalConfig, evaluate, summarize, wilson_interval
from agents.trajectory import Trajectory, load_jsonl
from benchmarks._results import add_no_append, append_section


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ci(interval: Any) -> str:
    return "-" if not interval else f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"


def run(name: str, args: argparse.Namespace, **selection: Any) -> tuple[dict, float]:
    """One evaluation; (its metrics, seconds)."""
    config = EvalConfig(
        policy=args.policy, split="dev", out=str(Path(args.out) / name),
        batch_tasks=args.batch_tasks, progress=True, **selection,
    )  # fmt: skip
    start = time.perf_counter()
    metrics = evaluate(config)["metrics"]
    return metrics, time.perf_counter() - start


def trajectories(args: argparse.Namespace, name: str) -> list[Trajectory]:
    """The trajectories evaluation ``name`` wrote."""
    return load_jsonl(Path(args.out) / name / "trajectories.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="smollm2-sft")
    parser.add_argument("--out", default="runs/bench_warm_start")
    parser.add_argument("--limit", type=int, default=None, help="questions per greedy run")
    parser.add_argument("--mixed-tasks", type=int, default=40)
    parser.add_argument("--n", type=int, default=8, help="runs per question at temperature 1")
    parser.add_argument("--batch-tasks", type=int, default=16)
    parser.add_argument("--manifest", action="store_true", help="record pass@1 in the manifest")
    add_no_append(parser)
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()

    short, t_short = run("greedy-le2", args, max_hops=2, temperature=0.0, limit=args.limit)
    long, t_long = run("greedy-ge3", args, min_hops=3, temperature=0.0, limit=args.limit)
    mixed, t_mixed = run(
        "t1-le2", args, max_hops=2, temperature=1.0, n=args.n, limit=args.mixed_tasks
    )
    greedy = [t for name in ("greedy-le2", "greedy-ge3") for t in trajectories(args, name)]
    valid = summarize(greedy)["valid_action_rate"]
    n_mixed = round((mixed["mixed_outcome_rate"] or 0.0) * mixed["tasks"])
    rows = [
        ("greedy pass@1, dev <= 2 hops", ">= 50%", short, t_short),
        ("greedy pass@1, dev >= 3 hops", ">= 20%", long, t_long),
    ]
    lines = [
        "| figure | target | measured | 95% CI | questions | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for label, target, m, seconds in rows:
        lines.append(
            f"| {label} | {target} | {_pct(m['pass@1'])} | {_ci(m['pass@1_ci95'])} | "
            f"{m['tasks']} | {seconds:.0f} |"
        )
    lines.append(
        f"| turns with a valid tool call or answer (both greedy runs) | >= 95% | {_pct(valid)} "
        f"| - | {short['tasks'] + long['tasks']} | - |"
    )
    lines.append(
        f"| questions with mixed outcomes, dev <= 2 hops, T = 1, n = {args.n} | >= 40% | "
        f"{_pct(mixed['mixed_outcome_rate'])} | {_ci(wilson_interval(n_mixed, mixed['tasks']))} "
        f"| {mixed['tasks']} | {t_mixed:.0f} |"
    )
    detail = [
        "",
        "| run | pass@1 | valid turns | turns cut by the token limit | episodes without an "
        "answer | mean turns | end reasons |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, m in (("greedy <= 2 hops", short), ("greedy >= 3 hops", long), ("T=1", mixed)):
        detail.append(
            f"| {label} | {_pct(m['pass@1'])} | {_pct(m['valid_action_rate'])} | "
            f"{_pct(m['turn_truncation_rate'])} | {_pct(m['truncation_rate'])} | "
            f"{m['mean_turns']:.2f} | {json.dumps(m['end_reasons'])} |"
        )
    body = "\n".join(lines + detail)
    print(body)
    figures = {
        "pass@1 dev <=2 hops (greedy)": short["pass@1"],
        "pass@1 dev >=3 hops (greedy)": long["pass@1"],
        "valid turns": valid,
        f"mixed outcomes T=1 n={args.n}": mixed["mixed_outcome_rate"],
    }
    (Path(args.out) / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    if args.manifest:
        from agents.models import warm_start_dir

        path = warm_start_dir() / "manifest.json"
        manifest = json.loads(path.read_text()) if path.exists() else {}
        manifest["measured"] = figures | {"questions": [short["tasks"], long["tasks"]]}
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    if not args.no_append:
        title = f"Warm start {args.policy}: pass@1 by hops, valid turns, mixed outcomes"
        print(f"appended to {append_section(title, body, load_at_start=load_at_start)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
