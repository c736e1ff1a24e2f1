"""Prompt variants: generated from the tool schemas, swappable, recorded as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.prompts import (
    COMPACT,
    COMPACT_PREFILL,
    COMPACT_STEPS,
    PROMPTS,
    REACT,
    REACT_PREFILL,
    PromptVariant,
    get_prompt,
    register_prompt,
    render_tool_calls,
    render_tools,
    step_label,
)
from webanchor_env.actions import TOOL_SCHEMAS

REPO = Path(__file__).resolve().parents[2]


def test_system_text_lists_every_tool_schema_and_asks_for_a_plan():
    text = REACT.system_text()
    for schema in TOOL_SCHEMAS:
        assert json.dumps(schema, ensure_ascii=False) in text
    assert "<plan>" in text and "<tool_call>" in text and "<answer>" in text
    assert "{tools}" not in text


def test_system_text_follows_the_tools_it_is_given():
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {}}}
    text = REACT.system_text([tool])
    assert '"name": "lookup"' in text
    assert json.dumps(TOOL_SCHEMAS[0]) not in text
    assert render_tools([tool, tool]).count("\n") == 1


def test_initial_messages_and_observation_messages():
    system, user = REACT.initial_messages("Who built it?")
    assert system["role"] == "system" and system["content"] == REACT.system_text()
    assert user == {"role": "user", "content": "Question: Who built it?"}
    assert REACT.observation_message("<tool_response>x</tool_response>") == {
        "role": "user",
        "content": "<tool_response>x</tool_response>",
    }
    as_tool = PromptVariant(
        "t", "do it", observation_role="tool", observation_template="R: {observation}"
    )
    assert as_tool.observation_message("x") == {"role": "tool", "content": "R: x"}


def test_prefills_differ_between_the_plan_turn_and_later_turns():
    assert (REACT.prefill(0), REACT.prefill(3)) == ("", "")
    assert REACT_PREFILL.prefill(0) == "<plan>"
    assert REACT_PREFILL.prefill(1) == '<tool_call>{"name": "'
    assert "answer" in REACT_PREFILL.instructions  # how to answer inside a tool call


def test_to_json_records_every_field_and_the_rendered_system_prompt():
    record = json.loads(json.dumps(REACT_PREFILL.to_json()))
    assert record["name"] == "react-plan-prefill"
    assert record["first_prefill"] == "<plan>"
    assert record["system_text"] == REACT_PREFILL.system_text()
    assert record["stop"] is None


def test_get_prompt_names_the_known_variants_when_asked_for_an_unknown_one():
    assert get_prompt("react-plan") is REACT
    with pytest.raises(
        ValueError, match=r"Expected a prompt variant among \[.*'react-plan'.*got 'nope'"
    ):
        get_prompt("nope")


def test_invalid_variants_are_refused():
    with pytest.raises(ValueError, match="observation_role 'user' or 'tool', got 'bot'"):
        PromptVariant("x", "y", observation_role="bot")
    with pytest.raises(ValueError, match=r"question_template to contain \{question\}"):
        PromptVariant("x", "y", question_template="no slot")


def test_register_prompt_refuses_a_different_variant_under_a_known_name():
    variant = PromptVariant("test-only-variant", "act")
    assert register_prompt(variant) is variant and PROMPTS["test-only-variant"] is variant
    assert register_prompt(variant) is variant  # the same one again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_prompt(PromptVariant("test-only-variant", "other"))
    del PROMPTS["test-only-variant"]


def test_compact_variants_list_each_tool_as_one_example_call_and_ask_for_a_plan():
    for variant in (COMPACT, COMPACT_PREFILL, COMPACT_STEPS):
        text = variant.system_text()
        calls = [line for line in text.splitlines() if line.startswith("<tool_call>")]
        names = [json.loads(line[11:-12])["name"] for line in calls]  # inside the tags
        assert names[:2] == [s["function"]["name"] for s in TOOL_SCHEMAS]
        assert "<plan></plan>" in text and "plain sentences" in text
        assert get_prompt(variant.name) is variant
        assert json.loads(json.dumps(variant.to_json()))["tool_listing"] == "calls"
    assert "<answer>" in COMPACT.system_text() and COMPACT.prefill(1) == ""
    assert (COMPACT_PREFILL.prefill(0), COMPACT_PREFILL.prefill(1)) == (
        "<plan>",
        '<tool_call>{"name": "',
    )
    assert '"name": "answer"' in COMPACT_PREFILL.system_text()
    assert (COMPACT_STEPS.prefill(0), COMPACT_STEPS.prefill(1)) == ("<plan>", "Step ")
    assert "Step 1:" in COMPACT_STEPS.system_text() and "<answer>" in COMPACT_STEPS.system_text()
    assert COMPACT_STEPS.step_labels and not COMPACT_PREFILL.step_labels
    assert step_label(3) == "Step 3: " and step_label(3).startswith(COMPACT_STEPS.prefill(1))
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"required": ["q"]}}}
    assert render_tool_calls([tool]) == (
        '<tool_call>{"name": "lookup", "arguments": {"q": "..."}}</tool_call>'
    )


def _bundled_questions() -> list[str]:
    path = REPO / "wiki_corpus" / "data" / "default" / "tasks.jsonl"
    if not path.exists():
        pytest.skip("the bundled default corpus is not generated yet")
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line]


def test_compact_system_prompt_and_any_bundled_question_fit_in_200_tokens():
    from agents.testing import smollm2_tokenizer

    tokenizer = smollm2_tokenizer()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False))

    questions = _bundled_questions()
    for variant in (COMPACT, COMPACT_PREFILL, COMPACT_STEPS):  # system + question
        system = count(variant.system_text())
        asked = max(count(variant.question_template.replace("{question}", q)) for q in questions)
        assert system + asked <= 200
    longest = max(questions, key=count)
    messages = COMPACT.initial_messages(longest)  # with the chat template's markup too
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert count(text) <= 200
    assert count(REACT.system_text()) > 500  # what the compact variant replaces
