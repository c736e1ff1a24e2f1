"""Speed and scores of the privileged reference judge (it reads the gold path).

For every bundled train task with a gold path it scores the oracle's honest plan and
degraded variants of it: the gold-style plan (names the gold pages: hindsight), only the
first step, the plan twice, the steps without their numbers, the plan followed by the
answer, the steps in reverse order, and a vague plan. Prints a markdown table of the mean
reward (0-1) and the time per plan, and appends it to benchmarks/RESULTS.md (``--no-append``:
print only). The target: at most 5 ms a plan.

    python -m benchmarks.bench_reference_judge
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

from agents.rewards.reference import PrivilegedReferenceJudge
from agents.scripted import gold_plan, honest_plan
from benchmarks._results import add_no_append, append_section
from wiki_corpus.io import bundled_path, read_tasks


def variants(task) -> dict[str, str]:
    honest = honest_plan(task.question, task.gold.actions)
    steps = [s.strip() for s in re.split(r"\s*\d+\.\s", " " + honest) if s.strip()]
    return {
        "honest (oracle)": honest,
        "gold names (hindsight)": gold_plan(task.gold.actions),
        "first step only": f"1. {steps[0]}",
        "repeated": f"{honest} {honest}",
        "unnumbered": " ".join(steps),
        "states the answer": f"{honest} The answer is {task.answer}.",
        "reversed steps": " ".join(f"{i}. {s}" for i, s in enumerate(reversed(steps), 1)),
        "vague": "Look around the wiki and answer.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_no_append(parser)
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    tasks = [t for t in read_tasks(bundled_path() / "tasks.jsonl") if t.split == "train"]
    tasks = [t for t in tasks if t.gold.has_path]
    judge = PrivilegedReferenceJudge(tasks)
    rewards: dict[str, list[float]] = {}
    times: dict[str, list[float]] = {}
    for task in tasks:
        for name, plan in variants(task).items():
            start = time.perf_counter()
            (result,) = judge.score_tasks([task], [plan])
            times.setdefault(name, []).append((time.perf_counter() - start) * 1e3)
            rewards.setdefault(name, []).append(result.reward)
    rows = [
        "| plan | plans | mean reward | ms/plan mean | median | max |",
        "|---|---|---|---|---|---|",
    ]
    every = [x for v in times.values() for x in v]
    for name in times:
        t = times[name]
        rows.append(
            f"| {name} | {len(t)} | {statistics.mean(rewards[name]):.3f} | "
            f"{statistics.mean(t):.3f} | {statistics.median(t):.3f} | {max(t):.3f} |"
        )
    rows.append(
        f"| all | {len(every)} | | {statistics.mean(every):.3f} | "
        f"{statistics.median(every):.3f} | {max(every):.3f} |"
    )
    table = "\n".join(rows)
    print(table)
    if not args.no_append:
        body = (
            f"{table}\n\nPrivileged reference judge (reads the gold path) on the {len(tasks)} "
            "bundled train tasks with gold paths; one plan per call, wall-clock time in one "
            "process (target: at most 5 ms a plan)."
        )
        title = "Privileged reference judge: speed and scores of degraded plans"
        path = append_section(title, body, load_at_start=load_at_start)
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
