"""The rollout engine's behaviour: lockstep batching, plan-only and forced first turns,
the context budget, text-only policies, and bad policies or environments."""

from __future__ import annotations

import gymnasium as gym
import pytest

from agents.policy import SampledTurn, SamplingParams
from agents.prompts import REACT
from agents.rollout import RolloutConfig, RolloutEngine, context_limit, request_seed, rollout
from agents.scripted import OraclePolicy, question_message
from agents.trajectory import EndReason


def _template_ids(tokenizer, t) -> list[int]:
    text = tokenizer.apply_chat_template(list(t.messages), tokenize=False)
    return tokenizer.encode(text, add_special_tokens=False)


class FixedTextPolicy:
    """Writes the same text every turn; ``errors_on`` makes rows with that word fail."""

    def __init__(self, tokenizer, text: str, finish: str = "stop", errors_on: str = "") -> None:
        self.tokenizer, self.text, self.finish, self.errors_on = tokenizer, text, finish, errors_on

    def generate(self, requests, params):
        out = []
        for r in requests:
            if self.errors_on and self.errors_on in question_message(r.messages):
                out.append(SampledTurn((), None, "", "error", error="HTTP 500"))
            else:
                ids = tuple(self.tokenizer.encode(self.text, add_special_tokens=False))
                out.append(SampledTurn(ids, None, self.text, self.finish))
        return out


def test_lockstep_batches_every_active_episode_and_drops_finished_ones(
    make_env, tasks, tokenizer, recording
):
    policy = recording(OraclePolicy(tasks, tokenizer))
    trajectories = rollout(policy, make_env, ["q-1", "q-2", "q-3"], RolloutConfig(group_size=2))
    assert policy.batch_sizes == [6, 6, 6, 2, 2]  # q-2 takes five turns, the others three
    assert [(t.task_id, t.group_id, t.sample) for t in trajectories] == [
        ("q-1", 0, 0), ("q-1", 0, 1), ("q-2", 1, 0), ("q-2", 1, 1), ("q-3", 2, 0), ("q-3", 2, 1)
    ]  # fmt: skip
    assert all(t.terminated and t.prompt == "react-plan" for t in trajectories)


def test_group_ids_are_passed_through_and_the_engine_reuses_its_environments(make_env, tasks):
    built = []

    def counting_make():
        built.append(1)
        return make_env()

    with RolloutEngine(OraclePolicy(tasks), counting_make, RolloutConfig(group_size=2)) as engine:
        first = engine.run(["q-1"], group_ids=[40])
        second = engine.run(["q-3"], group_ids=[41])
    assert [t.group_id for t in first + second] == [40, 40, 41, 41]
    assert len(built) == 2


def test_plan_only_stops_after_the_first_turn_without_stepping_the_environment(
    make_env, tasks, tokenizer
):
    config = RolloutConfig(group_size=3, plan_only=True)
    trajectories = rollout(OraclePolicy(tasks, tokenizer), make_env, ["q-2"], config)
    for t in trajectories:
        assert t.num_turns == 1 and t.truncated_reason == "plan_only"
        assert t.turns[0].observation is None and t.info["step"] == 0
        assert set(t.step_ids) == {-1, 0} and t.plan.startswith("<plan>")
        assert list(t.token_ids) == _template_ids(tokenizer, t)


def test_a_forced_wrong_plan_is_recorded_as_forced_and_not_as_policy_tokens(
    make_env, tasks, tokenizer
):
    forced = "<plan>Guess.</plan>\n<answer>Paris</answer>"
    trajectories = rollout(
        OraclePolicy(tasks, tokenizer),
        make_env,
        ["q-1"],
        RolloutConfig(group_size=2),
        forced_first_turns=[forced],
    )
    for t in trajectories:
        assert t.plan_forced and t.plan == forced and t.turns[0].forced
        assert t.reward == 0.0 and t.num_turns == 1
        assert sum(t.action_mask) == 0
        forced_ids = tokenizer.encode(forced, add_special_tokens=False)
        assert sum(1 for s in t.step_ids if s == 0) == len(forced_ids)
        assert list(t.token_ids) == _template_ids(tokenizer, t)


def test_continuations_of_a_forced_plan_are_sampled(make_env, tasks, tokenizer):
    oracle = OraclePolicy(tasks, tokenizer)
    first = '<plan>Find the architect.</plan>\n<tool_call>{"name": "search", "arguments": {"query": ["Lumen Tower"]}}</tool_call>'
    (t,) = rollout(oracle, make_env, ["q-1"], RolloutConfig(), forced_first_turns=[first])
    assert t.plan_forced and t.reward == 1.0
    assert {s for s, m in zip(t.step_ids, t.action_mask) if m} == {1, 2}
    assert list(t.token_ids) == _template_ids(tokenizer, t)


def test_the_context_budget_truncates_with_the_reason_recorded(make_env, tasks, tokenizer):
    params = SamplingParams(max_new_tokens=64)
    prompt_tokens = len(
        tokenizer.apply_chat_template(REACT.initial_messages("x"), add_generation_prompt=True)[
            "input_ids"
        ]
    )
    config = RolloutConfig(params=params, max_context=prompt_tokens + 64 + 150)
    (t,) = rollout(OraclePolicy(tasks, tokenizer), make_env, ["q-1"], config)
    assert t.truncated_reason == "context_budget" and t.num_turns == 1
    assert t.turns[0].observation  # the observation is kept in the record, not in the tokens
    assert t.messages[-1]["role"] == "assistant"
    assert list(t.token_ids) == _template_ids(tokenizer, t)
    assert len(t.token_ids) <= config.max_context

    (empty,) = rollout(
        OraclePolicy(tasks, tokenizer), make_env, ["q-1"], RolloutConfig(max_context=100)
    )
    assert empty.truncated_reason == "context_budget" and empty.num_turns == 0


def test_context_limit_reads_the_model_config(tiny_policy):
    assert context_limit(tiny_policy) == 4096

    class Bare:
        tokenizer = None

    assert context_limit(Bare()) is None


@pytest.mark.parametrize(
    ("text", "finish", "error"),
    [
        ("", "stop", "empty_action"),
        ("lorem ipsum", "stop", "no_action"),
        ("word " * 40, "length", "no_action"),
    ],
    ids=["nothing", "garbage", "endless"],
)
def test_bad_turns_are_normal_events_and_the_episode_ends_cleanly(
    make_env, tokenizer, text, finish, error
):
    policy = FixedTextPolicy(tokenizer, text, finish)
    trajectories = rollout(policy, make_env, ["q-1", "q-3"], RolloutConfig(max_turns=3))
    for t in trajectories:
        assert t.truncated_reason == "max_turns" and t.num_turns == 3
        assert all(turn.errors == (error,) and turn.finish_reason == finish for turn in t.turns)
        assert t.info["format_errors"] == 3
        assert list(t.token_ids) == _template_ids(tokenizer, t)


def test_the_environment_turn_limit_is_recorded(make_env, tokenizer):
    (t,) = rollout(FixedTextPolicy(tokenizer, "hmm"), make_env, ["q-1"], RolloutConfig())
    assert t.truncated_reason == "time_limit" and t.num_turns == 6
    assert t.truncated_reason is EndReason.TIME_LIMIT and t.end_detail is None


def test_a_failing_policy_row_ends_only_its_episode(make_env, tokenizer):
    policy = FixedTextPolicy(tokenizer, "<answer>Orlan Vesk</answer>", errors_on="Glasswing")
    trajectories = rollout(policy, make_env, ["q-1", "q-3"], RolloutConfig(group_size=2))
    assert [t.truncated_reason for t in trajectories] == [None, None] + ["policy_error"] * 2
    assert [t.end_text for t in trajectories] == ["answered"] * 2 + ["policy_error: HTTP 500"] * 2
    assert [t.reward for t in trajectories] == [1.0, 1.0, 0.0, 0.0]
    failed = trajectories[2]
    assert failed.turns[0].observation is None and failed.turns[0].finish_reason == "error"
    assert list(failed.token_ids) == _template_ids(tokenizer, failed)


class Exploding(gym.Wrapper):
    """Raises on step for one task, as a broken backend might."""

    def step(self, action):
        if self.unwrapped.task.id == "q-3":
            raise RuntimeError("index file vanished")
        return self.env.step(action)


def test_an_environment_that_raises_ends_only_its_episode(make_env, tasks, tokenizer):
    policy = OraclePolicy(tasks, tokenizer)
    trajectories = rollout(policy, lambda: Exploding(make_env()), ["q-1", "q-3"], RolloutConfig())
    assert trajectories[0].reward == 1.0 and trajectories[0].terminated
    assert trajectories[1].truncated_reason is EndReason.ENV_ERROR
    assert trajectories[1].end_text == "env_error: RuntimeError: index file vanished"
    assert trajectories[1].num_turns == 1 and trajectories[1].turns[0].observation is None


def test_a_text_only_policy_gets_text_only_trajectories(make_env, tasks, tokenizer):
    (text_only,) = rollout(OraclePolicy(tasks), make_env, ["q-2"], RolloutConfig())
    (tokenized,) = rollout(OraclePolicy(tasks, tokenizer), make_env, ["q-2"], RolloutConfig())
    assert text_only.token_ids == text_only.action_mask == text_only.step_ids == ()
    assert text_only.reward == 1.0 and text_only.messages == tokenized.messages


def test_every_request_carries_its_own_seed(make_env, tasks, recording):
    policy = recording(OraclePolicy(tasks))
    config = RolloutConfig(group_size=2, params=SamplingParams(seed=5))
    rollout(policy, make_env, ["q-1"], config, group_ids=[7])
    seeds = {r.seed for r in policy.requests}
    assert seeds == {request_seed(5, 7, s, k) for s in range(2) for k in range(3)}
    unseeded = recording(OraclePolicy(tasks))
    rollout(unseeded, make_env, ["q-1"], RolloutConfig())
    assert {r.seed for r in unseeded.requests} == {None}


def test_a_group_can_be_extended_with_the_seeds_of_one_larger_group(make_env, tasks, recording):
    params = SamplingParams(seed=5)
    whole = recording(OraclePolicy(tasks))
    with RolloutEngine(whole, make_env, RolloutConfig(group_size=4, params=params)) as engine:
        four = engine.run(["q-1"], group_ids=[7])
    added = recording(OraclePolicy(tasks))
    with RolloutEngine(added, make_env, RolloutConfig(group_size=2, params=params)) as engine:
        last_two = engine.run(["q-1"], group_ids=[7], first_sample=2)
        with pytest.raises(ValueError, match="first_sample must be >= 0, got -1"):
            engine.run(["q-1"], first_sample=-1)
    assert [t.sample for t in last_two] == [2, 3] == [t.sample for t in four[2:]]
    assert {r.seed for r in added.requests} == {
        request_seed(5, 7, s, k) for s in (2, 3) for k in range(3)
    }
    assert {r.seed for r in added.requests} < {r.seed for r in whole.requests}


def test_invalid_arguments_are_refused(make_env, tasks):
    with pytest.raises(ValueError, match="group_size >= 1, got 0"):
        RolloutConfig(group_size=0)
    with pytest.raises(ValueError, match="max_turns >= 1 or None, got 0"):
        RolloutConfig(max_turns=0)
    with pytest.raises(ValueError, match=r"one group id and one forced turn per task \(2\), got 1"):
        rollout(OraclePolicy(tasks), make_env, ["q-1", "q-2"], group_ids=[0])
    with pytest.raises(ValueError, match="Expected a task id from split 'test'"):
        rollout(OraclePolicy(tasks), make_env, ["q-4"])
