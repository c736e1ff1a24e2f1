import pytest

from agents.rewards import (
    JudgeScores,
    NaiveJudge,
    ParseFailure,
    RubricJudge,
    build_naive_prompt,
    parse_naive_answer,
)


def test_prompt_asks_for_one_overall_rating():
    prompt = build_naive_prompt("Who designed Lumen Tower?", "1. search it")
    assert "Who designed Lumen Tower?" in prompt and "1. search it" in prompt
    assert '{"score": <integer 0-10>' in prompt
    assert "Goal Alignment" not in prompt


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"score": 7, "rationale": "fine"}', 7.0),
        ("Sure!\n```json\n{'Rating': '8/10',}\n```", 8.0),
        ('{"overall": {"score": 10}}', 10.0),
        ('{"score": 0}', 0.0),
    ],
)
def test_parses_overall_rating(text, score):
    result = parse_naive_answer(text)
    assert isinstance(result, JudgeScores)
    assert result.scores == {"overall": score}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"score": 11}', "overall: score 11 is outside 0-10"),
        ('{"score": "8/5"}', "overall: score '8/5' is out of 5"),
        ('{"quality": 8}', "no overall score"),
        ("8 out of 10", "no JSON object found"),
    ],
)
def test_garbage_gets_no_score(text, reason):
    result = parse_naive_answer(text)
    assert isinstance(result, ParseFailure)
    assert result.reason.startswith(reason)


def test_naive_judge_normalizes_and_excludes_failures(tmp_path):
    answers = {"good": '{"score": 7, "reason": "ok"}', "bad": "no idea"}

    def complete(prompts):
        return [answers["good" if "good plan" in p else "bad"] for p in prompts]

    path = tmp_path / "cache.jsonl"
    judge = NaiveJudge(complete, cache_path=path)
    results = judge.score(["q", "q"], ["good plan", "bad plan"])
    assert results[0].reward == pytest.approx(0.7)
    assert results[0].rationale == "ok"
    assert results[1].reward is None and results[1].failure == "no JSON object found"
    assert judge.stats.parse_failures == 1
    # the naive and rubric judges never share cache entries
    calls = []
    RubricJudge(lambda ps: calls.append(ps) or ["{}"] * len(ps), cache_path=path).score(
        ["q"], ["good plan"]
    )
    assert len(calls) == 1
