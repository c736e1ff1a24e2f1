"""Scripted agents: the oracle solves every task, the naive and random agents play validly."""

from __future__ import annotations

import pytest

from agents.policy import GenerationRequest, SamplingParams
from agents.prompts import REACT, REACT_PREFILL
from agents.rollout import RolloutConfig, rollout
from agents.scripted import (
    NaivePolicy,
    OraclePolicy,
    RandomPolicy,
    TaskBook,
    after_prefill,
    answer_action,
    gold_plan,
    links,
    observations,
    turn_index,
)
from webanchor_env.actions import parse_action

IDS = ["q-1", "q-2", "q-3"]


@pytest.mark.parametrize("prompt", [REACT, REACT_PREFILL], ids=lambda p: p.name)
def test_the_oracle_solves_every_task_along_its_gold_path(make_env, tasks, prompt):
    trajectories = rollout(OraclePolicy(tasks), make_env, IDS, RolloutConfig(prompt=prompt))
    assert [t.reward for t in trajectories] == [1.0, 1.0, 1.0]
    by_id = {t.id: t for t in tasks}
    for t in trajectories:
        gold = by_id[t.task_id].gold.actions
        assert t.num_turns == len(gold)
        assert [parse_action(turn.text).error for turn in t.turns] == [None] * len(gold)
        assert t.plan.startswith("<plan>1. Search for")
        assert all(not turn.errors for turn in t.turns)


def test_the_oracle_writes_a_prefilled_answer_as_a_tool_call(tasks):
    oracle = OraclePolicy(tasks)
    messages = (
        *REACT.initial_messages(tasks[0].question),
        *[{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}] * 2,
    )
    request = GenerationRequest((), messages, prefill='<tool_call>{"name": "')
    (turn,) = oracle.generate([request], SamplingParams())
    assert turn.text == 'answer", "arguments": {"answer": "Orlan Vesk"}}</tool_call>'
    assert parse_action(request.prefill + turn.text).answer == "Orlan Vesk"


def test_scripted_turns_respect_the_token_limit(tasks, tokenizer):
    oracle = OraclePolicy(tasks, tokenizer, end_with_eos=True)
    request = GenerationRequest((), tuple(REACT.initial_messages(tasks[1].question)))
    (full,) = oracle.generate([request], SamplingParams())
    assert full.finish_reason == "stop" and full.token_ids[-1] == tokenizer.eos_token_id
    (cut,) = oracle.generate([request], SamplingParams(max_new_tokens=5))
    assert cut.finish_reason == "length" and len(cut.token_ids) == 5
    assert cut.text == tokenizer.decode(list(cut.token_ids))


def test_the_naive_agent_searches_reads_and_answers(make_env):
    trajectories = rollout(NaivePolicy(), make_env, IDS, RolloutConfig())
    for t in trajectories:
        assert t.terminated and [turn.tool_calls for turn in t.turns] == [
            ("search",),
            ("visit",),
            (),
        ]
        assert all(not turn.errors for turn in t.turns)
    assert trajectories[2].info["answer"] == "Glasswing Bridge"  # the top hit's title


def test_the_random_agent_is_reproducible_and_writes_valid_actions(make_env):
    config = RolloutConfig(group_size=2, params=SamplingParams(seed=3))
    first = rollout(RandomPolicy(seed=1), make_env, IDS, config)
    second = rollout(RandomPolicy(seed=1), make_env, IDS, config)
    assert [t.to_json() for t in first] != [] and [t.messages for t in first] == [
        t.messages for t in second
    ]
    for t in first:
        assert all(parse_action(turn.text).error is None for turn in t.turns)
    assert len({tuple(m["content"] for m in t.messages) for t in first}) > 1


def test_task_lookup_from_a_wrapped_question(tasks):
    book = TaskBook(tasks)
    messages = REACT.initial_messages(tasks[2].question)
    assert book.find(messages).id == "q-3"
    with pytest.raises(
        LookupError,
        match=r"Expected the question 'Question: Who are you\?' among the 4 bound tasks",
    ):
        book.find(REACT.initial_messages("Who are you?"))
    assert OraclePolicy().bind_tasks(tasks).book.find(messages).id == "q-3"


def test_reading_a_conversation():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "Question: q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "1. [Foo (band)](https://wiki.local/wiki/Foo_(band))\nx"},
    ]
    assert turn_index(messages) == 1
    assert observations(messages) == [messages[3]["content"]]
    assert links(messages[3]["content"]) == [("Foo (band)", "https://wiki.local/wiki/Foo_(band)")]
    assert links("see https://wiki.local/wiki/Cobalt_Bay now") == [
        ("Cobalt Bay", "https://wiki.local/wiki/Cobalt_Bay")
    ]


def test_after_prefill():
    action = {"name": "search", "arguments": {"query": ["q"]}}
    assert after_prefill("<plan>", "<plan>p</plan>") == "p</plan>"
    assert after_prefill('<tool_call>{"name": "', "<answer>x</answer>", answer_action("x")) == (
        'answer", "arguments": {"answer": "x"}}</tool_call>'
    )
    assert after_prefill("<zzz>", "text", action) == "text"
    assert gold_plan([action, answer_action("x")]) == "1. Search for q. 2. Answer."


def test_a_saved_run_replays_to_the_same_conversations(make_env, tokenizer, tmp_path):
    from agents.scripted import ReplayPolicy
    from agents.trajectory import load_jsonl, save_jsonl

    config = RolloutConfig(group_size=2, params=SamplingParams(seed=8), max_turns=4)
    played = rollout(RandomPolicy(seed=2), make_env, IDS, config)
    saved = load_jsonl(save_jsonl(tmp_path / "run.jsonl", played))
    replayed = rollout(ReplayPolicy(saved, tokenizer), make_env, IDS, config)
    assert [t.messages for t in replayed] == [t.messages for t in played]
    assert [(t.reward, t.truncated_reason) for t in replayed] == [
        (t.reward, t.truncated_reason) for t in played
    ]
    assert all(len(t.token_ids) > 0 for t in replayed)
