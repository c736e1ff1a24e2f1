"""Training dynamics: its pure helpers, and a smoke run of two methods."""

from __future__ import annotations

import json

import pytest
from bench_util import experiment, smoke_args

from agents.methods import Method, get_method
from agents.train.algos import StepChoice

td = experiment("training_dynamics")

RECORDS = [
    {"step": 0, "stage": "sft", "sft/loss": 2.0},
    {"step": 2, "stage": "stage2", "reward/mean": 0.0, "episode/tool_calls": 3.0,
     "time/rollout": 1.0, "time/update": 1.0},
    {"step": 0, "stage": "stage1", "reward/mean": 0.4, "episode/tool_calls": 0.0,
     "time/rollout": 0.5},
    {"step": 1, "stage": "stage1", "reward/mean": 0.6, "episode/tool_calls": 0.0,
     "time/rollout": 0.5},
    {"step": 3, "stage": "stage2", "reward/mean": 1.0, "episode/tool_calls": None},
    {"step": 4, "stage": "eval", "eval/pass@1_after": 0.5},
]  # fmt: skip


def test_reward_kinds_name_each_stage_reward():
    assert td.reward_kind(get_method("anchor-grpo"), "stage1") == "rubric score [0, 1]"
    assert td.reward_kind(get_method("anchor-grpo"), "stage2") == "0/1 outcome"
    assert td.reward_kind(get_method("anchor-naive"), "stage1") == "naive plan rating [0, 1]"
    assert td.reward_kind(get_method("first-step-grpo"), "stage1") == "0/1 outcome"
    assert td.reward_kind(get_method("grpo"), "stage2") == "0/1 outcome"
    assert td.reward_kind(get_method("tracer1"), "stage2") == "custom: grounded_reward"

    def plan_length(trajectories, tasks):
        return [0.0 for _ in trajectories]

    mine = Method("mine", planner_steps=StepChoice.FIRST, planner_reward=plan_length)
    assert td.reward_kind(mine, "stage1") == "custom: plan_length"


def test_series_and_boundaries_follow_the_training_steps():
    assert [r["step"] for r in td.training_records(RECORDS)] == [0, 1, 2, 3]
    assert td.series(RECORDS, "reward/mean") == {
        "stage1": [(0, 0.4), (1, 0.6)],
        "stage2": [(2, 0.0), (3, 1.0)],
    }
    assert td.series(RECORDS, "episode/tool_calls")["stage2"] == [(2, 3.0)]
    assert td.stage_boundaries(RECORDS) == [1.5]
    assert td.stage_boundaries(RECORDS[1:2]) == []


def test_stage_summary_and_table():
    one, two = td.stage_summary(RECORDS)
    assert one["stage"] == "stage1" and one["steps"] == 2 and one["first_step"] == 0
    assert one["reward_mean"] == pytest.approx(0.5) and one["seconds"] == pytest.approx(1.0)
    assert two["steps"] == 2 and two["reward_mean"] == pytest.approx(0.5)
    assert two["tool_calls"] == pytest.approx(3.0) and two["seconds"] == pytest.approx(2.0)
    assert td.stage_summary([{"step": 0, "stage": "stage2"}])[0]["seconds"] is None

    text = td.method_table(get_method("anchor-grpo"), [one, two])
    lines = text.strip().splitlines()
    assert lines[0].startswith("**anchor-grpo**")
    assert lines[4] == "| stage1 | 2 | rubric score [0, 1] | 0.500 | 0.00 | 1.0 |"
    assert lines[5] == "| stage2 | 2 | 0/1 outcome | 0.500 | 3.00 | 2.0 |"


def test_reward_interval_by_hand():
    # a step with 1 of 8 right (sd 0.3307) and one with 4 of 8 (sd 0.5): 5 of 16 pooled,
    # mean 0.3125, sample variance 0.3125 * 0.6875 * 16 / 15 = 0.22917, SE 0.11968
    steps = [(0.125, (0.125 * 0.875) ** 0.5, 8), (0.5, 0.5, 8)]
    low, high = td.reward_interval(steps)
    assert (low, high) == pytest.approx(
        (0.3125 - 1.96 * 0.11968, 0.3125 + 1.96 * 0.11968), abs=1e-4
    )
    assert td.reward_interval([(1.0, 0.0, 1)]) is None and td.reward_interval([]) is None
    assert td.reward_interval([(0.5, 0.0, 4), (0.5, 0.0, 4)]) == (0.5, 0.5)


def test_rollouts_come_from_the_log_or_the_scale():
    assert td.step_rollouts({"reward/count": 6.0, "reward/excluded": 2.0}, 8) == 6
    assert td.step_rollouts({"reward/excluded": 2.0}, 8) == 6  # logged before the count
    logged = [{"step": 0, "stage": "stage2", "reward/mean": 0.5, "reward/std": 0.5}]
    [row] = td.stage_summary(logged, {"stage2": 4})
    low, high = row["reward_ci95"]  # 2 of 4: sample variance 1/3, SE 0.2887
    assert (low, high) == pytest.approx((0.5 - 1.96 * 0.28868, 0.5 + 1.96 * 0.28868), abs=1e-4)
    text = td.method_table(get_method("grpo"), [row])
    assert "| stage2 | 1 | 0/1 outcome | 0.500 [-0.07, 1.07] |" in text


def test_plot_has_a_figure_for_two_methods(tmp_path):
    pytest.importorskip("matplotlib")
    curves = {
        "anchor-grpo": (get_method("anchor-grpo"), RECORDS),
        "grpo": (get_method("grpo"), RECORDS[1:2]),
    }
    path = td.plot(curves, tmp_path / "d.png", "title")
    assert path is not None and path.stat().st_size > 1000
    assert td.plot({}, tmp_path / "none.png", "title") is None


@pytest.mark.slow
def test_smoke_run_plots_and_tabulates_both_methods(bench_work, results_file):
    argv = smoke_args(bench_work, "--methods", "grpo,anchor-grpo,start")
    assert experiment("training_dynamics").main(argv) == 0

    root = bench_work / "training_dynamics"
    assert (root / "training_dynamics.png").stat().st_size > 1000
    text = results_file.read_text(encoding="utf-8")
    assert "## Training dynamics" in text and "scale smoke" in text
    assert "**grpo**" in text and "**anchor-grpo**" in text
    assert "| stage1 | 1 | rubric score [0, 1] |" in text  # anchor-grpo's planner stage
    assert "| stage2 | 1 | 0/1 outcome |" in text
    assert "- method start: ValueError" in text  # a method that does not train is reported

    record = json.loads((root / "results.json").read_text(encoding="utf-8"))
    assert sorted(record["methods"]) == ["anchor-grpo", "grpo"]
    assert [s["stage"] for s in record["methods"]["anchor-grpo"]["stages"]] == [
        "stage1",
        "stage2",
    ]
    assert [s["stage"] for s in record["methods"]["grpo"]["stages"]] == ["stage2"]
