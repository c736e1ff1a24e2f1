"""The ablations experiment (benchmarks/ablations.py): its pure helpers, numbers computed by
hand, and smoke runs on the tiny model (one of them with a method that raises)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from bench_util import experiment, smoke_args

from agents.methods import Method, register
from agents.train.algos import StepChoice

ab = experiment("ablations")

STEP_ROWS = (
    ("First step", "first-step-grpo"),
    ("Last step", "last-step-grpo"),
    ("Random step", "random-step-grpo"),
)


# --- Pure helpers -------------------------------------------------------------------------


def test_parse_list():
    assert ab.harness.split_list(" step, reward ,,") == ["step", "reward"]
    assert ab.harness.split_list("") == []
    assert ab.harness.split_list(None) == []


def test_select_groups_keeps_table_order_and_appends_extra_methods():
    groups = ab.select_groups(["reward", "step"], ["mine", "other", "mine"])
    assert [title for title, _ in groups] == ["Step updated", "Planner reward", ab.EXTRA_GROUP]
    assert groups[0][1] == STEP_ROWS
    assert groups[2] == (ab.EXTRA_GROUP, (("mine", "mine"), ("other", "other")))
    assert ab.select_groups([], []) == []
    with pytest.raises(ValueError, match="strategy, step, reward"):
        ab.select_groups(["steps"])


def test_distinct_methods_are_computed_once():
    groups = ab.select_groups(list(ab.GROUPS))
    assert sum(len(rows) for _, rows in groups) == 9
    assert ab.distinct_methods(groups) == [
        "grpo",
        "planner-only",
        "anchor-grpo",
        "first-step-grpo",
        "last-step-grpo",
        "random-step-grpo",
        "anchor-naive",
    ]


def test_mean_or_none_skips_none():
    assert ab.mean_or_none([1.0, None, 2.0]) == 1.5
    assert ab.mean_or_none([None, None]) is None
    assert ab.mean_or_none([]) is None


def test_plan_score_columns_normalize_per_dimension_and_skip_missing():
    scores = [
        {"subgoal_coverage": 5.0, "goal_alignment": 4.0, "clarity_conciseness": 1.0},
        None,  # a plan the judge could not score
        {"subgoal_coverage": 0.0, "goal_alignment": 3.0},  # no clarity score
    ]
    max_scores = {"subgoal_coverage": 5, "goal_alignment": 5, "clarity_conciseness": 4}
    got = ab.plan_score_columns(scores, max_scores)
    # coverage (5/5 + 0/5) / 2; alignment (4/5 + 3/5) / 2; efficiency 1/4 alone
    assert got == pytest.approx({"coverage": 0.5, "alignment": 0.7, "efficiency": 0.25})
    with_tasks = ab.plan_score_columns(scores, max_scores, ["a", "a", "b"])
    assert {k: with_tasks[k] for k in got} == pytest.approx(got)
    assert with_tasks["coverage_ci95"] == (0.0, 1.0)  # task a alone: 1.0; task b alone: 0.0
    assert with_tasks["efficiency_ci95"] is None  # one task has an efficiency score
    assert ab.plan_score_columns([None], max_scores) == {
        "coverage": None,
        "alignment": None,
        "efficiency": None,
    }


def test_tool_calls_adds_search_and_visit():
    assert ab.tool_calls({"mean_search_calls": 1.5, "mean_visit_calls": 0.25}) == 1.75
    assert ab.tool_calls(None) is None


def test_latest_per_sample_keeps_the_rerun():
    def t(task, sample, tag):
        return SimpleNamespace(task_id=task, sample=sample, tag=tag)

    got = ab.latest_per_sample([t("a", 0, 1), t("b", 0, 2), t("a", 0, 3), t("a", 1, 4)])
    assert [x.tag for x in got] == [2, 3, 4]


def test_build_rows_and_table():
    groups = ab.select_groups(["step"])
    results = {
        "first-step-grpo": {
            "world": {
                "metrics": {
                    "pass@1": 0.5,
                    "pass@1_ci95": (0.25, 0.75),
                    "pass@2": 0.75,
                    "mean_search_calls": 1.0,
                    "mean_visit_calls": 2.0,
                },
                "plan": {"coverage": 0.5, "alignment": 0.7, "efficiency": 0.25},
            }
        },
        "last-step-grpo": {},  # failed
    }
    rows = ab.build_rows(groups, "world", results, k=2)
    assert [(r["row"], r["method"]) for r in rows] == list(STEP_ROWS)
    first, last, _ = rows
    assert first["pass@1"] == 0.5 and first["pass@2"] == 0.75 and first["tool_calls"] == 3.0
    assert last["pass@1"] is None and last["coverage"] is None and last["tool_calls"] is None
    table = ab.markdown_table(rows, k=2).splitlines()
    assert table[0].startswith("| group | row | method | pass@1 [95% CI] | pass@2 | Coverage |")
    assert table[2] == (
        "| Step updated | First step | `first-step-grpo` | 0.500 [0.25, 0.75] | 0.750 | 0.500 "
        "| 0.700 | 0.250 | 3.00 |"
    )
    assert table[3] == "| Step updated | Last step | `last-step-grpo` | - | - | - | - | - | - |"


def test_reading_names_only_intervals_that_are_apart():
    def row(method, low, high, coverage=None):
        return {"method": method, "pass@1_ci95": (low, high), "coverage_ci95": coverage}

    ties = [row("a", 0.1, 0.4), row("b", 0.2, 0.5), row("c", None, None) | {"pass@1_ci95": None}]
    assert ab.reading(ties) == (
        "the intervals of all 2 methods overlap in pass@1: no ablation is told apart there "
        "at this budget (ties)."
    )
    apart = ab.reading([row("a", 0.1, 0.2), row("b", 0.3, 0.5), row("c", 0.15, 0.35)])
    assert apart == "intervals apart in pass@1: b above a; every other pair overlaps."
    assert ab.reading([row("a", 0.1, 0.2)]) == ""
    both = [row("a", 0.1, 0.4, (0.1, 0.2)), row("b", 0.2, 0.5, (0.3, 0.4))]
    assert ab.reading(both, ["pass@1", "coverage"]) == (
        "the intervals of all 2 methods overlap in pass@1: no ablation is told apart there at "
        "this budget (ties); intervals apart in coverage: b above a; every other pair overlaps."
    )
    assert ab.reading(both, ["coverage", "alignment"]).startswith("intervals apart in coverage")
    three = [r | {"alignment_ci95": (0.0, 1.0)} for r in ties[:2]]
    assert ab.reading(three, ["pass@1", "coverage", "alignment"]).startswith(
        "the intervals of all 2 methods overlap in pass@1 and alignment:"
    )
    three = [r | {"coverage_ci95": (0.0, 1.0)} for r in three]
    assert "overlap in pass@1, coverage and alignment:" in ab.reading(
        three, ["pass@1", "coverage", "alignment"]
    )


class _FakeJudge:
    """Scores a plan by its length: every dimension gets min(len(plan), 5)."""

    def __init__(self, rubric):
        self.rubric = rubric
        self.calls: list[list[str]] = []

    def score(self, questions, plans):
        self.calls.append(list(plans))
        keys = [d.key for d in self.rubric.dimensions]
        return [SimpleNamespace(scores={k: float(min(len(p), 5)) for k in keys}) for p in plans]


def test_plan_judge_scores_plans_once_and_reuses_saved_scores(tmp_path):
    from agents.trajectory import Trajectory, Turn, save_jsonl

    def traj(task, sample, plan):
        turns = (Turn(plan),) if plan is not None else ()
        return Trajectory(task, 0, sample, (), None, (), (), 0.0, turns=turns)

    save_jsonl(
        tmp_path / "trajectories.jsonl",
        [
            traj("a", 0, "ab"),  # 2/5
            traj("a", 1, "abcdefg"),  # 5/5
            traj("b", 0, "ab"),  # another question: judged separately
            traj("b", 1, None),  # no plan: left out
        ],
    )
    start = tmp_path / "start"  # the smoke scale's judge: the starting policy's directory
    start.mkdir()
    (start / "model.safetensors").write_bytes(b"weights")
    scale = ab.harness.SCALES["smoke"]
    judge = ab.PlanJudge(scale, str(start))
    assert judge.description == f"the starting policy ({start})"
    fake = judge._judge = _FakeJudge(judge.rubric)
    questions = {"a": "question a?", "b": "question b?"}
    expected = {"coverage": 0.6, "alignment": 0.6, "efficiency": 0.6}  # (0.4 + 1 + 0.4) / 3
    # tasks a (0.4, 1) and b (0.4) resampled: pooled means 0.7, 0.6 or 0.4
    expected |= {f"{c}_ci95": pytest.approx((0.4, 0.7)) for c in list(expected)}
    assert judge.score_run(tmp_path, questions) == pytest.approx(expected)
    assert fake.calls == [["ab", "abcdefg", "ab"]]
    assert len((tmp_path / "plan_scores.jsonl").read_text().splitlines()) == 3
    again = ab.PlanJudge(scale, str(start))  # a rerun: scores come from the file
    again._judge = _FakeJudge(again.rubric)
    assert again.score_run(tmp_path, questions) == pytest.approx(expected)
    assert again._judge.calls == []
    (start / "model.safetensors").write_bytes(b"retrained")  # another judge: judged anew
    third = ab.PlanJudge(scale, str(start))
    third._judge = _FakeJudge(third.rubric)
    assert third.score_run(tmp_path, questions) == pytest.approx(expected)
    assert len(third._judge.calls) == 1
    with pytest.raises(KeyError, match="'b'"):
        ab.PlanJudge(scale, str(start)).score_run(tmp_path, {"a": "question a?"})


def test_reference_plan_judge_scores_plans_from_the_gold_path(tmp_path, monkeypatch):
    from agents.rewards import reference
    from agents.rewards.reference import reference_scores
    from agents.scripted import honest_plan
    from agents.trajectory import Trajectory, Turn, save_jsonl

    world = ab.harness.CorpusSpec("world", "default", "test")
    task = next(t for t in ab.corpus_tasks(world) if t.split == "test" and t.hops == 2)
    good = "<plan>\n" + honest_plan(task.question, task.gold.actions) + "\n</plan>"
    bad = "<plan>\n1. Answer at once.\n</plan>"
    plans = [good, bad]
    save_jsonl(
        tmp_path / "trajectories.jsonl",
        [
            Trajectory(task.id, 0, i, (), None, (), (), 0.0, turns=(Turn(p),))
            for i, p in enumerate(plans)
        ],
    )
    judge = ab.PlanJudge(ab.harness.SCALES["smoke"], "unused", [task])
    assert "privileged" in judge.description
    columns = judge.score_run(tmp_path, {task.id: task.question})
    raw = [reference_scores(p.split("<plan>")[1].split("</plan>")[0], task) for p in plans]
    expected = sum(r["subgoal_coverage"] for r in raw) / 2 / 5
    assert columns["coverage"] == pytest.approx(expected)
    assert raw[0]["subgoal_coverage"] > raw[1]["subgoal_coverage"]
    saved = (tmp_path / "plan_scores.jsonl").read_text()
    again = ab.PlanJudge(ab.harness.SCALES["smoke"], "unused", [task])
    again._judge = _FakeJudge(again.rubric)
    assert again.score_run(tmp_path, {task.id: task.question}) == columns  # from the file
    assert again._judge.calls == []
    monkeypatch.setattr(reference, "VERSION", reference.VERSION + 1)  # new rules: judged anew
    newer = ab.PlanJudge(ab.harness.SCALES["smoke"], "unused", [task])
    newer._judge = _FakeJudge(newer.rubric)
    newer.score_run(tmp_path, {task.id: task.question})
    assert [len(c) for c in newer._judge.calls] == [2] and (
        tmp_path / "plan_scores.jsonl"
    ).read_text() != saved


# --- Smoke runs ---------------------------------------------------------------------------


def _row(text: str, method: str) -> list[str]:
    """The cells of the (last) table row of ``method`` in ``text``."""
    lines = [line for line in text.splitlines() if f"| `{method}` |" in line]
    assert lines, f"no row for {method} in:\n{text}"
    return [cell.strip() for cell in lines[-1].strip("|").split("|")]


def _number(cell: str) -> float:
    assert re.fullmatch(r"\d+\.\d+", cell), f"expected a number, got {cell!r}"
    return float(cell)


def _estimate(cell: str) -> float:
    """The number of ``"0.25 [0.12, 0.40]"``, checked to lie in its interval (2 digits)."""
    value, interval = cell.split(" [")
    low, high = (float(x) for x in interval.rstrip("]").split(","))
    assert low - 0.005 <= _number(value) <= high + 0.005
    return _number(value)


@pytest.mark.slow
def test_smoke_step_group(bench_work, results_file):
    assert ab.main(smoke_args(bench_work, "--groups", "step")) == 0
    text = results_file.read_text(encoding="utf-8")
    assert "Ablations (Table 2)" in text and "Failed" not in text
    assert "Coverage = subgoal_coverage" in text and "scale smoke" in text
    for label, method in STEP_ROWS:
        group, row, _, pass1, passk, *plan, calls = _row(text, method)
        assert (group, row) == ("Step updated", label)
        assert 0.0 <= _estimate(pass1) <= _number(passk) <= 1.0
        assert all(0.0 <= _estimate(cell) <= 1.0 for cell in plan)
        assert _number(calls) >= 0.0
        assert (bench_work / "evals" / method / "world" / "trajectories.jsonl").exists()
    assert (bench_work / "ablations" / "ablations.png").stat().st_size > 0
    record = json.loads((bench_work / "ablations" / "results.json").read_text())
    assert [r["method"] for r in record["rows"]] == [m for _, m in STEP_ROWS]
    assert record["failures"] == []


def _raising_reward(trajectories, tasks):
    raise RuntimeError("ablation test: this planner reward always fails")


@pytest.mark.slow
def test_smoke_failing_method_is_reported(bench_work, results_file):
    register(
        Method(
            "ablation-test-raises",
            "stage 1 with a reward that raises (test only)",
            planner_steps=StepChoice.FIRST,
            planner_reward=_raising_reward,
            plan_only=True,
        ),
        replace=True,
    )
    args = smoke_args(bench_work, "--groups", "step", "--extra-methods", "ablation-test-raises")
    assert ab.main(args) == 0
    text = results_file.read_text(encoding="utf-8")
    assert "Failed (the rest ran)" in text
    failed = [line for line in text.splitlines() if line.startswith("- method ablation-test")]
    assert failed and "RuntimeError" in failed[0] and "always fails" in failed[0]
    group, row, _, *cells = _row(text, "ablation-test-raises")
    assert (group, row) == (ab.EXTRA_GROUP, "ablation-test-raises")
    assert cells == ["-"] * 6
    for _, method in STEP_ROWS:
        _, _, _, pass1, _, coverage, *_ = _row(text, method)
        assert 0.0 <= _estimate(pass1) <= 1.0 and 0.0 <= _estimate(coverage) <= 1.0
