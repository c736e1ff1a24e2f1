"""The config and its command line, the algorithms' stages, resume refusal."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from agents.grpo import Aggregation, AllSteps, FirstStep, LastStep, Normalization, RandomStep
from agents.methods import stages_for
from agents.rewards.tracer1 import grounded_reward, privileged_alignment_reward
from agents.train.algos import (
    RewardSource,
    StepChoice,
    selector_for,
    stage_at,
    total_steps,
)
from agents.train.checkpoint import STATE_FILE, ConfigMismatchError, check_config, read_state
from agents.train.config import Algo, TrainConfig, build_parser, field_docs, parse_args


def test_every_field_has_a_docstring_shown_in_help():
    docs = field_docs()
    help_text = " ".join(build_parser().format_help().split())
    for f in fields(TrainConfig):
        assert docs.get(f.name), f"{f.name} has no docstring"
        assert "--" + f.name.replace("_", "-") in help_text
        assert " ".join(docs[f.name].split()[:4]) in help_text


def test_parse_args_types_enums_and_booleans():
    config = parse_args(
        [
            "--algo",
            "first-step-grpo",
            "--stage1-steps",
            "5",
            "--stage2-aggregation",
            "token-mean",
            "--no-progress",
            "--learning-rate",
            "3e-6",
        ]
    )
    assert config.algo is Algo.FIRST_STEP_GRPO
    assert config.stage1.steps == 5 and config.learning_rate == 3e-6
    assert config.stage(2).aggregation is Aggregation.TOKEN_MEAN
    assert config.progress is False
    with pytest.raises(SystemExit):
        parse_args(["--algo", "ppo"])


def test_spread_floor_and_normalization_settings():
    default = TrainConfig()
    assert default.min_reward_spread == 0.01 and default.normalization is Normalization.SAMPLED
    config = parse_args(["--min-reward-spread", "0", "--normalization", "kept"])
    assert config.min_reward_spread == 0.0 and config.normalization is Normalization.KEPT
    with pytest.raises(ValueError, match="Expected min_reward_spread >= 0, got -0.5"):
        TrainConfig(min_reward_spread=-0.5)


def test_config_round_trips_through_json_and_validates():
    config = TrainConfig.from_dict(dict(algo="grpo", stage2_kl_beta=0.1))
    assert config.algo is Algo.GRPO
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.stage(2).kl.enabled
    with pytest.raises(ValueError, match="unknown keys \\['bogus'\\]"):
        TrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ValueError, match="Expected stage1_group_size >= 1, got 0"):
        TrainConfig.from_dict(dict(stage1_group_size=0))


@pytest.mark.parametrize(
    ("algo", "expected"),
    [
        (Algo.GRPO, [(2, StepChoice.ALL, RewardSource.OUTCOME, False)]),
        (Algo.FIRST_STEP_GRPO, [(1, StepChoice.FIRST, RewardSource.OUTCOME, False)]),
        (Algo.ANCHOR_GRPO, [(1, StepChoice.FIRST, RewardSource.PLAN_RUBRIC, True)]),
        (Algo.LAST_STEP_GRPO, [(1, StepChoice.LAST, RewardSource.OUTCOME, False)]),
        (Algo.RANDOM_STEP_GRPO, [(1, StepChoice.RANDOM, RewardSource.OUTCOME, False)]),
        (Algo.TRACER1, [(1, StepChoice.ALL, privileged_alignment_reward, False)]),
    ],
)
def test_stages_of_each_algorithm(algo, expected):
    agent = {"agent": "anticipatory", "prompt": "anticipatory-t3-prefill"}
    extra = agent if algo is Algo.TRACER1 else {}
    config = TrainConfig.from_dict(
        dict(algo=algo, stage1_steps=3, stage2_steps=2, stage1_group_size=8, **extra)
    )
    stages = stages_for(config)
    if algo is not Algo.GRPO:
        last = grounded_reward if algo is Algo.TRACER1 else RewardSource.OUTCOME
        expected = expected + [(2, StepChoice.ALL, last, False)]
    assert [(s.index, s.steps, s.reward, s.plan_only) for s in stages] == expected
    assert stages[-1].settings.steps == 2
    if algo is not Algo.GRPO:
        assert stages[0].settings.group_size == 8 and stages[0].settings.steps == 3


def test_stage_at_and_zero_length_stages():
    stages = stages_for(TrainConfig.from_dict(dict(stage1_steps=2, stage2_steps=3)))
    assert total_steps(stages) == 5
    assert [stage_at(stages, s).index for s in range(5)] == [1, 1, 2, 2, 2]
    with pytest.raises(IndexError):
        stage_at(stages, 5)
    assert [s.index for s in stages_for(TrainConfig.from_dict(dict(stage1_steps=0)))] == [2]
    with pytest.raises(ValueError, match="sft has no RL stages"):
        stages_for(TrainConfig(algo=Algo.SFT))


def test_selectors_and_random_step_depends_only_on_seed_and_step():
    assert selector_for(StepChoice.ALL, 0, 3) == AllSteps()
    assert selector_for(StepChoice.FIRST, 0, 3) == FirstStep()
    assert selector_for(StepChoice.LAST, 0, 3) == LastStep()
    a, b = selector_for(StepChoice.RANDOM, 7, 3), selector_for(StepChoice.RANDOM, 7, 3)
    assert isinstance(a, RandomStep) and a.seed == b.seed
    assert selector_for(StepChoice.RANDOM, 7, 4).seed != a.seed


def test_resume_with_another_config_refuses_listing_the_differences(tmp_path):
    saved = TrainConfig.from_dict(dict(seed=1, stage1_steps=3))
    record = {"step": 2, "stage": 1, "config": saved.to_dict()}
    (tmp_path / STATE_FILE).write_text(json.dumps(record))
    state = read_state(tmp_path)
    assert state.step == 2 and state.config == saved
    check_config(saved, saved.replace(resume="auto", stop_after=1, progress=False), tmp_path)
    now = saved.replace(seed=2, stage1_eps_high=0.3)
    with pytest.raises(ConfigMismatchError) as err:
        check_config(saved, now, tmp_path)
    assert "seed: 1 -> 2" in str(err.value)
    assert "stage1_eps_high: 0.28 -> 0.3" in str(err.value)


def test_task_schedule_is_a_per_epoch_permutation_split_over_processes():
    from agents.train.trainer import tasks_for_step

    ids = [f"t-{i}" for i in range(5)]
    seen = []
    for step in range(5):  # 2 processes x 1 task per step: 10 draws = 2 epochs
        for rank in range(2):
            chosen, groups = tasks_for_step(ids, seed=3, step=step, rank=rank, world=2, per_rank=1)
            seen += chosen
            assert groups == [step * 2 + rank]
    assert sorted(seen[:5]) == ids and sorted(seen[5:]) == ids
    assert seen[:5] != seen[5:]  # reshuffled each epoch
    again = [tasks_for_step(ids, 3, s, r, 2, 1)[0][0] for s in range(5) for r in range(2)]
    assert again == seen


def test_sft_rows_cover_each_epoch_once_across_processes():
    from agents.train.sft import sft_rows, steps_per_epoch

    per_epoch = steps_per_epoch(7, micro_batch_size=2, world=2)
    assert per_epoch == 2
    lengths = [5, 90, 7, 60, 8, 91, 6]
    rows = [sft_rows(lengths, 0, s, per_epoch, 2, r, 2) for s in range(per_epoch) for r in range(2)]
    flat = [i for chunk in rows for i in chunk]
    assert sorted(flat) == list(range(7)) and rows[-1] == [flat[-1]]


def test_epoch_order_puts_similar_lengths_in_one_step():
    from agents.train.sft import epoch_order

    lengths = [10, 1000, 12, 1010, 11, 990, 13, 1020] * 4
    order = epoch_order(lengths, seed=3, epoch=0, per_step=4)
    assert sorted(order) == list(range(32))
    steps = [order[i : i + 4] for i in range(0, 32, 4)]
    assert all(len({lengths[i] >= 500 for i in step}) == 1 for step in steps)
    assert epoch_order(lengths, seed=3, epoch=1, per_step=4) != order
    assert epoch_order(lengths, seed=3, epoch=0, per_step=4) == order


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    from agents.train.run import LRSchedule

    assert LRSchedule(4)(0) == 0.25 and LRSchedule(4)(10) == 1.0
    cosine = LRSchedule(2, total=12, floor=0.1)
    assert cosine(1) == 1.0 and cosine(2) == 1.0
    assert abs(cosine(7) - 0.55) < 1e-9 and abs(cosine(12) - 0.1) < 1e-9
    assert all(cosine(s) >= cosine(s + 1) for s in range(2, 20))


def test_sft_tasks_filter_by_hops_then_count():
    from types import SimpleNamespace

    from agents.train.sft import sft_tasks

    tasks = [SimpleNamespace(id=i, hops=h) for i, h in enumerate([1, 3, 2, 4, 1])]
    assert [t.id for t in sft_tasks(tasks, max_hops=2)] == [0, 2, 4]
    assert [t.id for t in sft_tasks(tasks, max_hops=2, max_tasks=2)] == [0, 2]
    assert len(sft_tasks(tasks)) == 5
