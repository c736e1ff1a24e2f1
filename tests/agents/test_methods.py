"""The planning-method registry: built-ins match the trainer's algorithms, files register."""

from __future__ import annotations

import pytest

from agents.grpo import ExplicitSteps
from agents.methods import (
    Method,
    get_method,
    load_methods_file,
    register,
    registered,
    stages_for,
)
from agents.train.algos import RewardSource, StepChoice
from agents.train.config import Algo, PlanReward, TrainConfig


@pytest.mark.parametrize("method", [m for m in registered() if m.trains], ids=lambda m: m.name)
def test_builtin_methods_train_exactly_the_algorithms_stages(method):
    config = method.train_config(TrainConfig.from_dict(dict(stage1_steps=2, stage2_steps=3)))
    assert config.algo is method.algo
    assert method.stages(config) == stages_for(config)


def test_ablation_methods_set_their_config():
    naive = get_method("anchor-naive").train_config(TrainConfig())
    assert naive.plan_reward is PlanReward.NAIVE
    assert [s.reward for s in get_method("anchor-naive").stages(naive)] == [
        RewardSource.NAIVE_PLAN,
        RewardSource.OUTCOME,
    ]
    planner = get_method("planner-only")
    assert [s.index for s in planner.stages(planner.train_config(TrainConfig()))] == [1]
    assert not get_method("start").trains and get_method("tracer1-start").agent == "anticipatory"
    assert not get_method("tracer1-start").trains


def test_tracer1_trains_an_anticipatory_agent_on_its_own_two_rewards():
    from agents.rewards.tracer1 import grounded_reward, privileged_alignment_reward
    from agents.train.config import AgentKind

    method = get_method("tracer1")
    config = method.train_config(TrainConfig())
    assert (config.algo, config.agent, config.prompt) == (
        Algo.TRACER1,
        AgentKind.ANTICIPATORY,
        "anticipatory-t3-prefill",
    )
    first, second = stages_for(config)
    assert (first.steps, first.reward, first.plan_only) == (
        StepChoice.ALL,
        privileged_alignment_reward,
        False,
    )
    assert (second.steps, second.reward) == (StepChoice.ALL, grounded_reward)
    assert "privileged" in method.description
    with pytest.raises(ValueError, match="--agent anticipatory --prompt anticipatory-t3-prefill"):
        TrainConfig(algo=Algo.TRACER1)
    with pytest.raises(ValueError, match="anticipatory-\\* prompt"):
        TrainConfig(agent=AgentKind.ANTICIPATORY)  # with the react prompt
    with pytest.raises(ValueError, match="anticipatory-\\* prompt"):
        TrainConfig(prompt="anticipatory-t3-prefill")  # a react agent


def test_a_custom_method_builds_its_own_stages():
    def reward(trajectories, tasks):
        return [1.0 for _ in trajectories]

    method = Method("mine", planner_steps=ExplicitSteps({0, 1}), planner_reward=reward)
    config = method.train_config(TrainConfig.from_dict(dict(stage1_steps=1, stage2_steps=0)))
    [stage] = method.stages(config)
    assert stage.reward is reward and stage.steps == ExplicitSteps({0, 1})
    assert config.algo is Algo.ANCHOR_GRPO and not stage.plan_only


def test_registry_refuses_clashes_and_names_the_known_methods(tmp_path):
    with pytest.raises(ValueError, match="registered already"):
        register(Method("grpo", "another grpo", planner_steps=StepChoice.LAST))
    with pytest.raises(KeyError, match="registered: .*anchor-grpo"):
        get_method("no-such-method")
    with pytest.raises(ValueError, match="without"):
        Method("two words")
    with pytest.raises(ValueError, match="neither planner nor executor"):
        Method("idle", executor=False)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_methods_file(tmp_path / "missing.py")


def test_a_methods_file_registers_what_it_defines(tmp_path):
    path = tmp_path / "more_methods.py"
    path.write_text(
        "from agents.methods import Method, register\n"
        "from agents.train.algos import StepChoice\n"
        "register(Method('file-last', 'last step from a file', planner_steps=StepChoice.LAST))\n"
    )
    [added] = load_methods_file(path)
    assert added.name == "file-last" and get_method("file-last") is added
    assert load_methods_file(path) == [added]  # a file runs once per process
    assert added.description == "last step from a file"


def test_equal_budget_gives_every_method_the_same_updates():
    base = TrainConfig.from_dict(dict(stage1_steps=2, stage2_steps=1))
    steps = {}
    for name in ("grpo", "first-step-grpo", "anchor-grpo", "anchor-grpo-ref", "planner-only"):
        method = get_method(name)
        config = method.equal_budget(method.train_config(base), 3)
        steps[name] = [s.settings.steps for s in method.stages(config)]
    assert steps == {
        "grpo": [3], "first-step-grpo": [2, 1], "anchor-grpo": [2, 1], "anchor-grpo-ref": [2, 1],
        "planner-only": [3],
    }  # fmt: skip
    with pytest.raises(ValueError, match="a comparison gives every method 5"):
        get_method("anchor-grpo").equal_budget(base, 5)


def test_methods_play_in_the_configuration_prompt_unless_they_name_one():
    base = TrainConfig.from_dict(dict(prompt="compact-plan-steps"))
    assert get_method("anchor-grpo").train_config(base).prompt == "compact-plan-steps"
    ref = get_method("anchor-grpo-ref")
    assert ref.train_config(base).judge.value == "reference" and "privileged" in ref.description
    tracer = get_method("tracer1").train_config(base)
    assert tracer.prompt == "anticipatory-t3-prefill"
