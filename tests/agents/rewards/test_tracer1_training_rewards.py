"""TraceR1's training rewards on real anticipatory episodes: the privileged gold-path
alignment of stage 1 and the grounded tool-call reward of stage 2, by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agents.anticipatory import AnticipatoryAgent, AnticipatoryOracle
from agents.rewards.tracer1 import (
    STEP_WEIGHT,
    grounded_reward,
    max_reward,
    privileged_alignment_reward,
    turn_alignment,
    useful_turns,
)
from agents.scripted import gold_actions
from agents.trajectory import EndReason, Turn


@pytest.fixture
def episodes(make_env, tasks, tokenizer):
    agent = AnticipatoryAgent(AnticipatoryOracle(tasks, tokenizer, horizon=3), make_env, horizon=3)
    return agent.run(["q-1", "q-2"]), [tasks[0], tasks[1]]


def test_the_gold_path_scores_one_a_shifted_path_zero_and_a_repeat_by_hand(episodes):
    trajectories, tasks = episodes
    assert privileged_alignment_reward(trajectories, tasks) == [1.0, 1.0]
    t, task = trajectories[0], tasks[0]  # q-1: search, visit, answer
    gold = gold_actions(task)
    assert [a["name"] for a in gold] == ["search", "visit", "answer"]
    # one step ahead: every predicted tool differs from the gold one at its place
    shifted = tuple(tuple(gold[k + 1 : k + 4]) for k in range(t.num_turns))
    assert privileged_alignment_reward([replace(t, predicted=shifted)], [task]) == [0.0]
    # turn 0 predicts search, visit, then the search again: (1 + 0.9 - 0.81 * 0.5) / 2.71
    repeat = ((gold[0], gold[1], gold[0]), *t.predicted[1:])
    [reward] = privileged_alignment_reward([replace(t, predicted=repeat)], [task])
    assert reward == pytest.approx((1.495 / 2.71 + 1 + 1) / 3)
    assert max_reward(3) == pytest.approx(2.71)


def test_alignment_by_hand_for_one_turn():
    search = {"name": "search", "arguments": {"query": ["Orlan Vesk"]}}
    answer = {"name": "answer", "arguments": {"answer": "Tessary"}}
    # right, then a repeat of step 1 where the gold answers: 1 + 0.9 * (0 - 0.5)
    assert turn_alignment([search, search], [search, answer]) == pytest.approx(0.55 / 1.9)
    assert turn_alignment([], [search]) == turn_alignment(None, [search]) == 0.0


def test_react_and_broken_episodes_have_no_alignment_reward(episodes):
    trajectories, tasks = episodes
    react = replace(trajectories[0], predicted=None)
    broken = replace(trajectories[1], truncated_reason=EndReason.POLICY_ERROR.value)
    assert privileged_alignment_reward([react, broken], tasks) == [None, None]
    assert grounded_reward([broken], tasks[1:]) == [None]


def test_grounded_reward_counts_useful_calls_beside_the_outcome(episodes):
    trajectories, tasks = episodes
    t = trajectories[0]
    assert useful_turns(t) == [True] * t.num_turns
    assert grounded_reward([t], tasks[:1]) == [pytest.approx(1.0 + STEP_WEIGHT)]
    failed = Turn(text="x", observation="Error", errors=("page_not_found",))
    again = replace(t.turns[0])  # the first action run a second time
    worse = replace(t, turns=(t.turns[0], failed, again, *t.turns[1:]), reward=0.0)
    assert useful_turns(worse)[:3] == [True, False, False]
    useful = t.num_turns / (t.num_turns + 2)
    assert grounded_reward([worse], tasks[:1]) == [pytest.approx(STEP_WEIGHT * useful)]
