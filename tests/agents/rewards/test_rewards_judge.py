import json

import pytest

from agents.rewards import (
    JudgeScores,
    ParseFailure,
    RubricJudge,
    build_judge_prompt,
    extract_json_objects,
    load_default_rubric,
    parse_judge_answer,
)
from agents.rewards.rubric import Dimension, Rubric

RUBRIC = load_default_rubric()
KEYS = RUBRIC.keys  # goal_alignment ... clarity_conciseness
GOOD = {k: s for k, s in zip(KEYS, [5, 4, 3, 2, 1, 0])}
GOOD_JSON = json.dumps({"scores": GOOD, "rationale": "Solid but wordy."})


def scores_of(text: str) -> dict:
    result = parse_judge_answer(text, RUBRIC)
    assert isinstance(result, JudgeScores), result
    return dict(result.scores)


def failure_of(text: str) -> ParseFailure:
    result = parse_judge_answer(text, RUBRIC)
    assert isinstance(result, ParseFailure), result
    assert result.raw == text
    return result


def test_prompt_shows_question_plan_and_rubric():
    prompt = build_judge_prompt("Who designed Lumen Tower?", "1. search the tower", RUBRIC)
    assert "Who designed Lumen Tower?" in prompt
    assert "1. search the tower" in prompt
    for d in RUBRIC.dimensions:
        assert d.name in prompt and f'"{d.key}": <integer 0-5>' in prompt
        assert all(c in prompt for c in d.criteria)
    assert "`search`" in prompt and "`visit`" in prompt
    assert "webanchor-plan, version 1" in prompt


def test_parses_plain_json_with_rationale():
    result = parse_judge_answer(GOOD_JSON, RUBRIC)
    assert result == JudgeScores(GOOD, "Solid but wordy.")


@pytest.mark.parametrize(
    "text",
    [
        f"Here is my evaluation:\n```json\n{GOOD_JSON}\n```\nHope this helps!",
        GOOD_JSON.replace('"', "'"),  # single quotes
        GOOD_JSON.replace(", ", ",\n").replace("}", ",}"),  # trailing commas
        json.dumps({"scores": {k: str(v) for k, v in GOOD.items()}}),  # "4"
        json.dumps({"scores": {k: f"{v}/5" for k, v in GOOD.items()}}),  # "4/5"
        json.dumps({"scores": {k: {"score": v, "why": "."} for k, v in GOOD.items()}}),
        json.dumps(GOOD),  # flat object
        json.dumps({d.name.upper(): GOOD[d.key] for d in RUBRIC.dimensions}),  # names, any case
        json.dumps(
            {"Scores": {"Clarity & Conciseness": 0, **{k: GOOD[k] for k in KEYS[:-1]}}, "ok": True}
        ),
    ],
)
def test_robust_to_what_models_write(text):
    assert scores_of(text) == GOOD


def test_python_literals_and_braces_inside_strings():
    text = "{'scores': " + json.dumps(GOOD) + ", 'rationale': 'uses {braces}', 'final': true}"
    result = parse_judge_answer(text, RUBRIC)
    assert isinstance(result, JudgeScores)
    assert result.rationale == "uses {braces}"


def test_last_valid_object_wins():
    draft = json.dumps({"scores": dict.fromkeys(KEYS, 1)})
    assert scores_of(f"Draft: {draft}\nFinal: {GOOD_JSON}") == GOOD
    # a broken final answer does not hide a complete earlier one
    assert scores_of(f"{GOOD_JSON}\nOops: {{'scores': {{}}}}") == GOOD


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The plan is great, 5/5 everywhere.", "no JSON object found"),
        (json.dumps({k: GOOD[k] for k in KEYS[:4]}), "missing score(s) for ['actionability',"),
        (json.dumps({**GOOD, "goal_alignment": 6}), "goal_alignment: score 6 is outside 0-5"),
        (json.dumps({**GOOD, "logical_ordering": -1}), "logical_ordering: score -1 is outside"),
        (json.dumps({**GOOD, "actionability": "high"}), "actionability: expected a number, got"),
        (json.dumps({**GOOD, "actionability": "4/10"}), "actionability: score '4/10' is out of 10"),
        (json.dumps({**GOOD, "actionability": True}), "actionability: expected a number, got True"),
        (json.dumps({**GOOD, "actionability": None}), "actionability: expected a number, got None"),
        (
            json.dumps({**GOOD, "Goal Alignment": 1}),
            "goal_alignment: conflicting scores 5.0 and 1.0",
        ),
        (build_judge_prompt("q", "p", RUBRIC).split("nothing else:\n")[1], "no JSON object"),
    ],
)
def test_never_invents_a_score(text, reason):
    assert failure_of(text).reason.startswith(reason)


def test_extract_json_objects_skips_unparseable_spans():
    text = 'a {not json} b {"x": 1} c {"y": {"z": 2},} d'
    assert extract_json_objects(text) == [{"x": 1}, {"y": {"z": 2}}]


class FakeBackend:
    """Answers with GOOD scores, or garbage for questions containing 'garbage'."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, prompts: list[str]) -> list[str]:
        self.calls.append(prompts)
        return ["I cannot judge this." if "garbage" in p else GOOD_JSON for p in prompts]


def test_rubric_judge_scores_dedupes_and_caches():
    backend = FakeBackend()
    judge = RubricJudge(backend)
    results = judge.score(["q1", "q2", "q1"], ["plan a", "plan b", "plan a"])
    assert len(backend.calls) == 1 and len(backend.calls[0]) == 2  # the duplicate judged once
    assert [r.reward for r in results] == [pytest.approx(0.5)] * 3
    assert results[0].scores == GOOD and results[0].rationale == "Solid but wordy."
    again = judge.score(["q2"], ["plan b"])
    assert len(backend.calls) == 1
    assert again[0].cached and again[0].reward == pytest.approx(0.5)
    assert (judge.stats.requests, judge.stats.cache_hits, judge.stats.judged) == (4, 1, 2)


def test_failures_give_none_are_counted_and_retried():
    backend = FakeBackend()
    judge = RubricJudge(backend)
    results = judge.score(["garbage q", "q"], ["p", "p"])
    assert results[0].reward is None and not results[0].ok
    assert results[0].failure == "no JSON object found"
    assert results[0].raw == "I cannot judge this."
    assert results[1].ok
    assert judge.stats.parse_failures == 1
    assert judge.stats.failure_rate == pytest.approx(0.5)
    judge.score(["garbage q"], ["p"])  # not cached: asked again
    assert len(backend.calls) == 2
    stats = judge.reset_stats()
    assert stats.parse_failures == 2 and judge.stats.parse_failures == 0


def test_jsonl_cache_survives_a_restart(tmp_path):
    path = tmp_path / "judge_cache.jsonl"
    first = FakeBackend()
    RubricJudge(first, cache_path=path).score(["q", "garbage"], ["p", "p"])
    assert len(path.read_text().splitlines()) == 1  # only the success is stored
    second = FakeBackend()
    results = RubricJudge(second, cache_path=path).score(["q"], ["p"])
    assert second.calls == []
    assert results[0].cached and results[0].scores == GOOD
    # another rubric version is another cache key
    other = Rubric("webanchor-plan", "2", RUBRIC.dimensions)
    RubricJudge(second, rubric=other, cache_path=path).score(["q"], ["p"])
    assert len(second.calls) == 1


def test_corrupt_cache_line_is_skipped_with_a_warning(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"judge": "rubric:webanchor-plan@1", "question": "q"\n')
    with pytest.warns(UserWarning, match="cache.jsonl:1"):
        judge = RubricJudge(FakeBackend(), cache_path=path)
    assert judge.score(["q"], ["p"])[0].ok


def test_backend_and_input_mismatches_raise():
    judge = RubricJudge(lambda prompts: [GOOD_JSON])
    with pytest.raises(ValueError, match="returned 1 answers for 2 prompts"):
        judge.score(["a", "b"], ["p", "p"])
    with pytest.raises(ValueError, match="got 1 plans for 2 questions"):
        judge.score(["a", "b"], ["p"])


def test_custom_rubric_reward():
    rubric = Rubric("tiny", "1", (Dimension("focus", "Focus", "d", ("c",), 3),))
    judge = RubricJudge(lambda ps: ['{"focus": 2}'] * len(ps), rubric=rubric)
    assert judge.score(["q"], ["p"])[0].reward == pytest.approx(2 / 3)
    assert judge.rubric is rubric
