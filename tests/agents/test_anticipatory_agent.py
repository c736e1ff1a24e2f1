"""TraceR1's anticipatory agent: predicted sequences are parsed robustly and kept; only the
first predicted action is executed."""

from __future__ import annotations

import pytest

from agents.anticipatory import (
    ANTICIPATORY_PREFILL,
    AnticipatoryAgent,
    AnticipatoryOracle,
    AnticipatoryReader,
    anticipatory_prompt,
    parse_predicted_actions,
    plan_list_text,
)
from agents.policy import SamplingParams
from agents.prompts import get_prompt
from agents.trajectory import load_jsonl, save_jsonl

SEARCH = {"name": "search", "arguments": {"query": ["Lumen Tower"]}}
VISIT = {
    "name": "visit",
    "arguments": {"url": ["https://wiki.local/wiki/Lumen_Tower"], "goal": "architect"},
}
ANSWER = {"name": "answer", "arguments": {"answer": "Orlan Vesk"}}


def test_a_numbered_plan_list_is_parsed_in_order():
    assert parse_predicted_actions(plan_list_text([SEARCH, VISIT, ANSWER])) == (
        SEARCH,
        VISIT,
        ANSWER,
    )
    assert parse_predicted_actions(plan_list_text([SEARCH, VISIT, ANSWER]), horizon=2) == (
        SEARCH,
        VISIT,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '<plan>\n```json\n1. {"name": "search", "arguments": {"query": ["Lumen Tower"]}}\n```',
            (SEARCH,),
        ),
        (
            "<plan>1. {'name': 'Search', 'arguments': {'query': ['Lumen Tower']}}\n2) junk {oops</plan>",
            (SEARCH,),
        ),
        (
            '<plan>1. {"name": "search", "arguments": "{\\"query\\": [\\"Lumen Tower\\"]}"}</plan>',
            (SEARCH,),
        ),
        (
            '<plan>1. {"type": "function", "function": {"name": "answer", "arguments": {"answer": "Orlan Vesk"}}}</plan>',
            (ANSWER,),
        ),
        ("I think so. <answer>Orlan Vesk</answer>", (ANSWER,)),
        (
            '<tool_call>{"name": "search", "arguments": {"query": ["Lumen Tower"]}}</tool_call>',
            (SEARCH,),
        ),
        ('{"name": "search", "arguments": {"query": "Lumen Tower"}}', (SEARCH,)),
        ("<plan>1. search the web 2. answer</plan>", ()),
        ("", ()),
        ("{" * 50, ()),
    ],
    ids=[
        "fenced",
        "python-literal",
        "string-arguments",
        "function-wrapper",
        "answer-tag",
        "tool-call",
        "bare",
        "prose",
        "empty",
        "braces",
    ],
)
def test_predictions_are_read_robustly(text, expected):
    assert parse_predicted_actions(text) == expected


def test_the_reader_executes_only_the_first_action_or_passes_unreadable_text_on():
    reader = AnticipatoryReader(horizon=2)
    assert reader.read(plan_list_text([VISIT, ANSWER, SEARCH])) == (VISIT, (VISIT, ANSWER))
    assert reader.read("no idea") == ("no idea", ())


def test_prompts_ask_for_the_horizon_and_stop_at_the_plan():
    prompt = anticipatory_prompt(5)
    assert prompt.name == "anticipatory-t5" and "next 5 actions" in prompt.instructions
    assert prompt.stop[0] == "</plan>" and "</tool_call>" in prompt.stop
    assert get_prompt("anticipatory-t3-prefill") is ANTICIPATORY_PREFILL
    assert (
        ANTICIPATORY_PREFILL.prefill(0)
        == ANTICIPATORY_PREFILL.prefill(4)
        == '<plan>\n1. {"name": "'
    )
    with pytest.raises(ValueError, match="horizon >= 1, got 0"):
        anticipatory_prompt(0)


@pytest.mark.parametrize("prefill", [False, True], ids=["plain", "prefill"])
def test_the_anticipatory_oracle_predicts_the_gold_path_and_executes_its_first_step(
    make_env, tasks, tokenizer, tmp_path, prefill
):
    agent = AnticipatoryAgent(
        AnticipatoryOracle(tasks, tokenizer, horizon=3), make_env, horizon=3, prefill=prefill
    )
    trajectories = agent.run(["q-1", "q-2"])
    by_id = {t.id: t for t in tasks}
    for t in trajectories:
        gold = by_id[t.task_id].gold.actions
        assert t.reward == 1.0 and t.num_turns == len(gold)
        assert len(t.predicted) == t.num_turns
        for k, (turn, predicted) in enumerate(zip(t.turns, t.predicted)):
            assert list(predicted) == [dict(a) for a in gold[k : k + 3]]
            assert turn.action == predicted[0]
        text = tokenizer.apply_chat_template(list(t.messages), tokenize=False)
        assert list(t.token_ids) == tokenizer.encode(text, add_special_tokens=False)
    path = save_jsonl(tmp_path / "a.jsonl", trajectories)
    assert [t.predicted for t in load_jsonl(path)] == [t.predicted for t in trajectories]


def test_a_random_model_plays_anticipatory_episodes_cleanly(make_env, tiny_policy):
    params = SamplingParams(max_new_tokens=16, seed=2)
    agent = AnticipatoryAgent(
        tiny_policy, make_env, horizon=2, params=params, max_turns=2, prefill=True
    )
    trajectories = agent.run(["q-1"])
    (t,) = trajectories
    assert t.num_turns >= 1 and t.predicted is not None and len(t.predicted) == t.num_turns
    assert t.prompt == "anticipatory-t2-prefill"
