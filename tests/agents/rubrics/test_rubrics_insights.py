"""Insight extraction with a scripted stand-in LLM: parsing, pairing, caching, logging."""

import json

import pytest

from agents.rubrics.insights import (
    InsightExtractor,
    episodes_from_trajectories,
    load_episodes,
    load_insights,
    pair_episodes,
    parse_insights,
    save_insights,
    save_rejected,
)
from agents.rubrics.prompts import CachedComplete, InsightPrompts, PromptTemplate
from agents.trajectory import Trajectory, Turn, save_jsonl


def traj(task_id, plan, reward, sample=0, question="Who built Lumen Tower?"):
    return Trajectory(
        task_id=task_id,
        group_id=0,
        sample=sample,
        token_ids=(),
        logprobs=None,
        action_mask=(),
        step_ids=(),
        reward=reward,
        messages=(
            {"role": "system", "content": "sys"},
            {"role": "user", "content": f"Question: {question}"},
            {"role": "assistant", "content": plan},
        ),
        turns=(
            Turn(text=plan, observation="<tool_response>results</tool_response>"),
            Turn(text="<answer>Ada</answer>", reward=reward),
        ),
    )


TRAJS = [
    traj("t1", "<plan>1. Search Lumen Tower. 2. Read it.</plan>", 1.0, 0),
    traj("t1", "<plan>Guess.</plan>", 0.0, 1),
    traj("t1", "<plan>Guess.</plan>", 0.0, 2),
    traj("t2", "<plan>Search once.</plan>", 0.0, 0, question="Where?"),
]


class Scripted:
    """A deterministic stand-in LLM: fixed answers chosen by what the prompt says."""

    def __init__(self, bad_when=None):
        self.calls: list[list[str]] = []
        self.bad_when = bad_when

    def __call__(self, prompts):
        self.calls.append(list(prompts))
        out = []
        for p in prompts:
            if self.bad_when and self.bad_when in p:
                out.append("I think the plan was fine.")  # no JSON
            elif "did NOT answer" in p:
                out.append('{"insights": ["Guessing skips the lookup."]}')
            elif "plan A" in p:
                out.append('Sure: {"insights": ["Plan A names the page to read.", ""]}')
            else:
                out.append('```json\n{"insights": ["Names each hop.", "Reads the page."]}\n```')
        return out


def test_episodes_from_trajectories():
    episodes = episodes_from_trajectories(TRAJS)
    assert [e.id for e in episodes] == ["t1/g0/s0", "t1/g0/s1", "t1/g0/s2", "t2/g0/s0"]
    first = episodes[0]
    assert first.question == "Who built Lumen Tower?"
    assert first.plan.startswith("<plan>1. Search")
    assert first.success and not episodes[1].success
    assert "Turn 1: <answer>Ada</answer>" in first.transcript
    assert first.transcript.endswith("Outcome: correct answer (reward 1).")


def test_pairs_need_a_success_and_a_different_failed_plan():
    episodes = episodes_from_trajectories(TRAJS)
    pairs = pair_episodes(episodes)
    assert [(w.id, f.id) for w, f in pairs] == [("t1/g0/s0", "t1/g0/s1")]
    same = episodes_from_trajectories([traj("t", "P", 1.0, 0), traj("t", "P", 0.0, 1)])
    assert pair_episodes(same) == []


def test_parse_insights():
    assert parse_insights('{"insights": ["a", "b", "a", " "]}') == ("a", "b")
    assert parse_insights('{"lessons": [{"insight": "x"}]}') == ("x",)
    assert parse_insights("no json") == "no JSON object found"
    assert parse_insights('{"other": 1}') == "no 'insights' list in the JSON answer"
    assert "holds no insights" in parse_insights('{"insights": [""]}')
    assert parse_insights('{"insights": ["1", "2", "3"]}', max_insights=2) == ("1", "2")


def test_extract_all_three_kinds():
    llm = Scripted()
    result = InsightExtractor(llm, batch_size=2).extract(episodes_from_trajectories(TRAJS))
    assert (result.count("success"), result.count("failure"), result.count("pair")) == (1, 3, 1)
    assert not result.rejected
    success = next(i for i in result.insights if i.kind == "success")
    assert success.insights == ("Names each hop.", "Reads the page.")
    assert success.question == "Who built Lumen Tower?" and success.prompt == "insight-success@2"
    pair = next(i for i in result.insights if i.kind == "pair")
    assert pair.plan.startswith("<plan>1.") and pair.contrast_plan == "<plan>Guess.</plan>"
    assert pair.insights == ("Plan A names the page to read.",)
    assert [len(c) for c in llm.calls] == [1, 2, 1, 1]  # batches of at most 2 per kind


def test_bad_answers_are_rejected_with_raw_text(tmp_path):
    llm = Scripted(bad_when="Where?")
    result = InsightExtractor(llm).extract(episodes_from_trajectories(TRAJS))
    assert len(result.rejected) == 1
    bad = result.rejected[0]
    assert bad.id == "failure:t2/g0/s0" and bad.reason == "no JSON object found"
    assert bad.raw == "I think the plan was fine."
    (path,) = save_rejected(tmp_path / "rejected", result.rejected)
    assert path.name == "failure_0001.txt" and "I think the plan" in path.read_text()


def test_calls_are_cached_and_logged(tmp_path):
    llm = Scripted()
    cache, log = tmp_path / "cache.jsonl", tmp_path / "calls.jsonl"
    wrapped = CachedComplete(llm, tag="scripted", cache_path=cache, log_path=log)
    episodes = episodes_from_trajectories(TRAJS)
    first = InsightExtractor(wrapped).extract(episodes)
    # two failed episodes have the same plan and transcript: one prompt, sent once
    assert wrapped.stats.requests == 5 and wrapped.stats.sent == 4
    again = CachedComplete(llm, tag="scripted", cache_path=cache, log_path=log)
    second = InsightExtractor(again).extract(episodes)
    assert second == first
    assert again.stats.sent == 0 and again.stats.cache_hits == 5
    assert len(llm.calls) == 3  # one per kind; the second run never reached the backend
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 10 and sum(r["cached"] for r in records) == 5
    assert {"time", "backend", "prompt", "answer"} <= set(records[0])


def test_cache_skips_a_truncated_line(tmp_path):
    cache = tmp_path / "cache.jsonl"
    CachedComplete(lambda ps: ["x"] * len(ps), cache_path=cache)(["p"])
    with cache.open("a") as fh:
        fh.write('{"tag": "llm", "key": "ab')
    with pytest.warns(UserWarning, match="cache.jsonl:2"):
        reread = CachedComplete(lambda ps: ["y"] * len(ps), cache_path=cache)
    assert reread(["p"]) == ["x"]


def test_prompts_are_replaceable():
    custom = PromptTemplate(
        "terse-success",
        "7",
        "Q={question} P={plan} T={trajectory} {agent} {json}",
        ("agent", "question", "plan", "trajectory"),
    )
    seen = []

    def llm(prompts):
        seen.extend(prompts)
        return ['{"insights": ["ok"]}'] * len(prompts)

    extractor = InsightExtractor(llm, InsightPrompts(success=custom, agent="AGENT"))
    result = extractor.from_successes(episodes_from_trajectories(TRAJS[:1]))
    assert seen[0].startswith("Q=Who built Lumen Tower? P=<plan>1.")
    assert seen[0].endswith("AGENT {json}")  # unknown placeholders stay as written
    assert result.insights[0].prompt == "terse-success@7"
    with pytest.raises(ValueError, match="placeholder"):
        PromptTemplate("x", "1", "no fields", ("question",))


def test_files_round_trip(tmp_path):
    save_jsonl(tmp_path / "a.jsonl", TRAJS[:2])
    save_jsonl(tmp_path / "b.jsonl", TRAJS[2:])
    episodes = load_episodes([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert [e.id for e in episodes] == ["a:t1/g0/s0", "a:t1/g0/s1", "b:t1/g0/s2", "b:t2/g0/s0"]
    result = InsightExtractor(Scripted()).extract(episodes)
    path = save_insights(tmp_path / "insights.jsonl", result.insights)
    assert tuple(load_insights(path)) == result.insights
    path.write_text(path.read_text() + '{"id": "x"}\n')
    with pytest.raises(ValueError, match=r"insights.jsonl:6: not an insight"):
        load_insights(path)


def test_prompt_set_from_a_file(tmp_path):
    from agents.rubrics.prompts import UPDATER_PROMPT, load_prompt_set

    custom = PromptTemplate("mine", "2", "{agent}|{question}|{plan}|{trajectory}", SUCCESS_FIELDS)
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps({"success": custom.to_json()}))
    insight, updater = load_prompt_set(path)
    assert insight.success == custom and updater == UPDATER_PROMPT
    path.write_text(json.dumps({"sucess": custom.to_json()}))
    with pytest.raises(ValueError, match=r"Unknown prompt name\(s\) \['sucess'\]"):
        load_prompt_set(path)


SUCCESS_FIELDS = ("agent", "question", "plan", "trajectory")


def test_insights_from_a_cut_json_list_or_a_plain_list():
    cut = '{"insights": ["Names \\"every\\" hop.", "Reads the page.", "Was cut of'
    assert parse_insights(cut) == ('Names "every" hop.', "Reads the page.")
    listed = "The plan failed because:\n1. **Missing steps**: no read.\n2. Bad order.\n- Vague."
    assert parse_insights(listed) == ("Missing steps: no read.", "Bad order.", "Vague.")
    assert parse_insights("The plan was fine.") == "no JSON object found"
    copied = parse_insights('{"insights": ["<insight 1>", "..."]}')
    assert copied == "the 'insights' list holds no insights (only blanks or placeholders)"


def test_hf_complete_starts_the_answer_with_the_prefill(tokenizer):
    from agents.rubrics.prompts import INSIGHT_PREFILL, hf_complete
    from agents.testing import tiny_causal_lm

    complete = hf_complete(tiny_causal_lm(tokenizer), tokenizer, max_new_tokens=4)
    prefilled = hf_complete(
        tiny_causal_lm(tokenizer), tokenizer, max_new_tokens=4, prefill=INSIGHT_PREFILL
    )
    plain, started = complete(["Say something."])[0], prefilled(["Say something."])[0]
    assert isinstance(plain, str) and started.startswith(INSIGHT_PREFILL)
    assert len(prefilled(["a", "b", "c"])) == 3
