"""Honest demonstrations: plans that name only the question's entities, recovery turns."""

from __future__ import annotations

import re

import pytest

from agents.prompts import COMPACT_STEPS
from agents.rollout import RolloutConfig, rollout
from agents.scripted import (
    OraclePolicy,
    RecoveryPolicy,
    answer_action,
    demonstration_violation,
    honest_plan,
    invented_visit,
    turn_actions,
)
from agents.train.sft import RECOVERY_EVERY, gold_trajectories, without_turn
from webanchor_env.actions import parse_action
from wiki_corpus.honesty import UNSEEN_URL, EntityNames, search, visit
from wiki_corpus.schema import title_to_url

NAMES = EntityNames(
    ["Lumen Tower", "Orlan Vesk", "Tessary", "Varn Institute", "Cobalt Bay", "Glasswing Bridge"]
)  # the pages of the small wiki in conftest.py
QUESTION = "Where was the first mayor of the birthplace of Orlan Vesk born?"
ACTIONS = [
    search(["Orlan Vesk"]),
    visit(title_to_url("Orlan Vesk (architect)"), "Find the birthplace of Orlan Vesk"),
    visit(title_to_url("Tessary, Valdmark"), "Find the first mayor of Tessary"),
    search(["Ilse Brandt"]),
    visit(title_to_url("Ilse Brandt"), "Find the birthplace of Ilse Brandt"),
    answer_action("Cobalt Bay"),
]


def test_the_plan_refers_to_later_entities_by_the_step_that_finds_them():
    plan = honest_plan(QUESTION, ACTIONS)
    assert plan == (
        "1. Search for Orlan Vesk. "
        "2. Read the page of Orlan Vesk and find its birthplace. "
        "3. Read the page of the birthplace found in step 2 and find its first mayor. "
        "4. Search for the first mayor found in step 3. "
        "5. Read the page of the first mayor found in step 3 and find its birthplace. "
        "6. Answer."
    )
    names = EntityNames(["Orlan Vesk", "Tessary", "Ilse Brandt", "Cobalt Bay"])
    assert "Tessary" not in plan and names.mentioned(plan) == ["Orlan Vesk"]


def test_an_inverted_question_s_first_page_is_the_best_match_of_the_search():
    actions = [
        search(["tower completed in 1998"]),
        visit(title_to_url("Lumen Tower"), "Check that Lumen Tower fits: was completed in 1998"),
        answer_action("Lumen Tower"),
    ]
    assert honest_plan("Which tower was completed in 1998?", actions) == (
        "1. Search for tower completed in 1998. 2. Read the page of the best match of step 1 "
        "and check that it fits: was completed in 1998. 3. Answer."
    )


def test_oracle_demonstrations_are_honest(make_env, tasks):
    played = rollout(OraclePolicy(tasks), make_env, ["q-1", "q-2", "q-3"], RolloutConfig())
    by_id = {t.id: t for t in tasks}
    for t in played:
        assert t.reward == 1.0
        assert demonstration_violation(t, by_id[t.task_id].question, NAMES) is None, t.task_id


def test_a_recovery_demonstration_fails_once_then_visits_a_seen_url(make_env, tasks):
    policy = RecoveryPolicy(tasks)
    (t,) = rollout(policy, make_env, ["q-2"], RolloutConfig())
    turn = policy.mistake_turn(tasks[1])
    assert turn == 3 and t.reward == 1.0
    assert t.turns[turn].errors == ("page_not_found",)
    gold = [a for a in tasks[1].gold.actions]
    assert turn_actions(t.turns[turn].text) == [invented_visit(gold[turn])]
    assert turn_actions(t.turns[turn + 1].text) == [gold[turn]]  # no repeat of the failure
    question = tasks[1].question
    assert demonstration_violation(t, question, NAMES, skip_turns=[turn]) is None
    violation = demonstration_violation(t, question, NAMES)
    assert violation is not None and violation.kind == UNSEEN_URL


def test_sft_data_holds_recoveries_without_their_mistake_in_the_loss(make_env, tasks, tokenizer):
    test_tasks = [t for t in tasks if t.split == "test"]
    data = gold_trajectories(tokenizer, make_env, test_tasks, "react-plan", "test", 2)
    assert len(data) == len(test_tasks) + 2  # every task, and a recovery for q-1 and q-3
    for recovery in data[len(test_tasks) :]:
        turn = RecoveryPolicy(test_tasks).mistake_turn(
            next(t for t in test_tasks if t.id == recovery.task_id)
        )
        in_turn = [m for m, s in zip(recovery.action_mask, recovery.step_ids) if s == turn]
        assert in_turn and not any(in_turn)
        assert any(m for m, s in zip(recovery.action_mask, recovery.step_ids) if s == turn + 1)
    again = without_turn(data[0], 0)
    assert not any(m for m, s in zip(again.action_mask, again.step_ids) if s == 0)


@pytest.mark.slow
def test_every_bundled_train_demonstration_is_honest():
    """The SFT data of the bundled train split: no plan or action names an entity or
    visits a URL before an observation showed it (recoveries: apart from their mistake)."""
    import gymnasium as gym

    import webanchor_env
    from wiki_corpus.honesty import MACHINE_TOLERANCE, title_name

    backend = webanchor_env.get_backend("default", show_progress=False)
    tasks = backend.corpus.tasks_in("train")
    names = EntityNames(title_name(p.title) for p in backend.corpus.pages)
    make_env = lambda: gym.make(webanchor_env.ENV_ID, split="train", backend=backend)  # noqa: E731
    by_id = {t.id: t for t in tasks}
    played = rollout(OraclePolicy(tasks), make_env, list(by_id), RolloutConfig())
    recovery = RecoveryPolicy(tasks)
    chosen = [t.id for t in tasks[::RECOVERY_EVERY]]
    played_again = rollout(recovery, make_env, chosen, RolloutConfig())
    assert [t.reward for t in played + played_again] == [1.0] * (len(tasks) + len(chosen))
    broken = [
        t.task_id
        for t in played
        if demonstration_violation(t, by_id[t.task_id].question, names) is not None
    ]
    for t in played_again:
        task = by_id[t.task_id]
        skip = [recovery.mistake_turn(task)]
        if demonstration_violation(t, task.question, names, skip) is not None:
            broken.append(t.task_id)
    # exact on the validating machine; a few near-tied rankings differ on another CPU
    assert len(broken) <= MACHINE_TOLERANCE * len(tasks), broken


def test_step_labels_follow_the_plan_and_a_failed_step_keeps_its_label(make_env, tasks):
    config = RolloutConfig(prompt=COMPACT_STEPS)
    (t,) = rollout(OraclePolicy(tasks, step_labels=True), make_env, ["q-2"], config)
    assert t.reward == 1.0
    labels = [re.match(r"(?:<plan>.*</plan>\n)?Step (\d+): ", turn.text, re.S) for turn in t.turns]
    assert [int(m.group(1)) for m in labels] == list(range(1, t.num_turns + 1))
    plan_steps = re.findall(r"(?:^|\s)(\d+)\. ", t.plan)
    assert plan_steps[-1] == str(t.num_turns)  # the last label is the plan's "Answer." step
    assert [parse_action(turn.text).error for turn in t.turns] == [None] * t.num_turns

    policy = RecoveryPolicy(tasks, step_labels=True)
    (r,) = rollout(policy, make_env, ["q-2"], config)
    mistake = policy.mistake_turn(tasks[1])
    steps = [int(re.search(r"Step (\d+): ", turn.text).group(1)) for turn in r.turns]
    assert r.reward == 1.0 and r.turns[mistake].errors == ("page_not_found",)
    assert steps == [*range(1, mistake + 2), *range(mistake + 1, t.num_turns + 1)]

    (plain,) = rollout(OraclePolicy(tasks), make_env, ["q-2"], config)  # labels off: none
    assert plain.reward == 1.0 and not any(": <" in turn.text for turn in plain.turns[1:])
