"""The rubric update loop with a scripted updater and a scripted judge."""

import json
import random
import re
import warnings
from collections import Counter

import pytest

from agents.rewards.judge import RubricJudge
from agents.rewards.rubric import load_default_rubric, load_rubric
from agents.rubrics.insights import Insight
from agents.rubrics.labels import PlanRecord
from agents.rubrics.learner import (
    LearnerConfig,
    RubricUpdater,
    RunMismatchError,
    format_insights,
    learn_rubric,
    parse_rubric_answer,
    sample_balanced,
)
from agents.rubrics.validation import (
    UnvalidatedRubricWarning,
    load_validated_rubric,
    outcome_evaluator,
)

START = load_default_rubric()

INSIGHTS = [
    Insight(f"{kind}:{i}", kind, f"t{i}", "Q?", "plan", (f"{kind} insight {i}",))
    for kind in ("success", "failure", "pair")
    for i in range(5)
]

PLANS = [PlanRecord(f"g{i}", f"t{i}", "Q?", f"score={4 + i % 2}", 1.0, 4) for i in range(5)] + [
    PlanRecord(f"b{i}", f"t{i}", "Q?", f"score={1 + i % 2}", 0.0, 4) for i in range(5)
]


def judge_llm(prompts):
    """Scores plans by their "score=N" only when the rubric asks for it (says SHARP)."""
    out = []
    for p in prompts:
        sharp = "SHARP" in p.split("## Rubric", 1)[1]
        plan = p.split("## Plan\n", 1)[1]
        score = int(re.search(r"score=(\d)", plan).group(1)) if sharp else 3
        out.append(json.dumps({"scores": dict.fromkeys(START.keys, score)}))
    return out


def evaluator():
    return outcome_evaluator(
        PLANS, lambda rubric: RubricJudge(judge_llm, rubric), judge_name="scripted"
    )


def rubric_answer(sharp=False, drop=None):
    data = START.to_dict()
    data["version"] = "whatever the LLM says"
    if sharp:
        data["dimensions"][0]["description"] += " SHARP"
    else:
        data["dimensions"][1]["criteria"].append("A new criterion.")
    if drop:
        data["dimensions"] = [d for d in data["dimensions"] if d["key"] != drop]
    return "Here is the revised rubric:\n" + json.dumps(data)


class ScriptedUpdaterLLM:
    """Returns the given answers in turn (the last one forever), recording the prompts."""

    def __init__(self, answers, fail_on_call=None):
        self.answers = list(answers)
        self.prompts = []
        self.fail_on_call = fail_on_call

    def __call__(self, prompts):
        self.prompts += prompts
        if self.fail_on_call == len(self.prompts):
            raise KeyboardInterrupt("interrupted in the middle of a round")
        return [self.answers[min(len(self.prompts), len(self.answers)) - 1]]


def test_parse_rubric_answer():
    assert parse_rubric_answer(rubric_answer(), START).keys == START.keys
    assert parse_rubric_answer("no json", START) == "no JSON object with 'dimensions' found"
    reason = parse_rubric_answer(rubric_answer(drop="clarity_conciseness"), START)
    assert reason == "the revised rubric is missing dimension(s) ['clarity_conciseness']"
    kept = parse_rubric_answer(
        rubric_answer(drop="clarity_conciseness"), START, keep_dimensions=False
    )
    assert len(kept.dimensions) == 5
    data = START.to_dict()
    del data["dimensions"][2]["criteria"]
    assert "is missing 'criteria'" in parse_rubric_answer(json.dumps(data), START)
    data = START.to_dict()
    data["dimensions"][0]["max_score"] = 10
    assert "above 9" in parse_rubric_answer(json.dumps(data), START)


def test_sample_balanced():
    pool = INSIGHTS[:3] + INSIGHTS[5:6] + INSIGHTS[10:]
    batch = sample_balanced(pool, 2, random.Random(0))
    assert Counter(i.kind for i in batch) == {"success": 2, "failure": 1, "pair": 2}
    assert batch == sample_balanced(pool, 2, random.Random(0))


def test_updater_prompt_shows_rubric_insights_and_history():
    llm = ScriptedUpdaterLLM([rubric_answer()])
    RubricUpdater(llm).propose(START, INSIGHTS[:1] + INSIGHTS[5:6], ["round 1: AUC 0.5"])
    prompt = llm.prompts[0]
    assert '"goal_alignment"' in prompt and "- success insight 0" in prompt
    assert "From plans that failed" in prompt and "round 1: AUC 0.5" in prompt
    assert "From pairs" not in format_insights(INSIGHTS[:1])


def test_loop_rejects_bad_answers_and_stops_when_thresholds_are_met(tmp_path):
    llm = ScriptedUpdaterLLM(
        ["not json at all", rubric_answer(drop="actionability"), rubric_answer(sharp=True)]
    )
    result = learn_rubric(
        START, INSIGHTS, RubricUpdater(llm), evaluator(), tmp_path, LearnerConfig(rounds=6)
    )
    assert result.stopped == "thresholds_met" and len(result.history) == 4
    assert result.rejected == 2 and len(llm.prompts) == 3
    assert "SHARP" in result.rubric.dimensions[0].description
    assert re.fullmatch(r"1\.r3-[0-9a-f]{8}", result.rubric.version)
    assert result.report.total.auc == 1.0 and result.report.met
    # the rejected answers are saved; their rounds kept the previous rubric
    assert (tmp_path / "rejected" / "round_1.txt").read_text().endswith("not json at all")
    assert (
        "missing dimension(s) ['actionability']"
        in (tmp_path / "rejected" / "round_2.txt").read_text()
    )
    assert result.history[2].current == START and result.history[2].candidate is None
    # each round samples a balanced batch
    assert all(len(r.insight_ids) == 12 for r in result.history[1:])
    # outputs: the rubric, its validation record, the history of every version
    assert load_rubric(result.rubric_path) == result.rubric
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_validated_rubric(result.rubric_path, require_thresholds=True)
    history = json.loads((tmp_path / "history.json").read_text())
    assert [h["round"] for h in history] == [0, 1, 2, 3]
    assert history[0]["auc"] == 0.5 and history[3]["auc"] == 1.0
    assert history[1]["rejected_reason"] == "no JSON object with 'dimensions' found"


def test_loop_stops_after_max_rounds_and_flags_the_rubric(tmp_path):
    llm = ScriptedUpdaterLLM([rubric_answer()])
    result = learn_rubric(
        START, INSIGHTS, RubricUpdater(llm), evaluator(), tmp_path, LearnerConfig(rounds=2)
    )
    assert result.stopped == "max_rounds" and len(result.history) == 3
    assert not result.report.met
    with pytest.warns(UnvalidatedRubricWarning, match="not validated"):
        load_validated_rubric(result.rubric_path)


def test_starting_rubric_that_meets_thresholds_needs_no_round(tmp_path):
    sharp = load_default_rubric()
    data = sharp.to_dict()
    data["dimensions"][0]["description"] += " SHARP"
    start = type(sharp).from_dict(data)
    llm = ScriptedUpdaterLLM([rubric_answer()])
    result = learn_rubric(start, INSIGHTS, RubricUpdater(llm), evaluator(), tmp_path)
    assert result.stopped == "thresholds_met" and len(result.history) == 1 and not llm.prompts


def test_interrupted_run_resumes_from_its_last_saved_round(tmp_path):
    answers = [rubric_answer(), rubric_answer(), rubric_answer(sharp=True)]
    config = LearnerConfig(rounds=4, per_kind=2, seed=5)
    clean = learn_rubric(
        START,
        INSIGHTS,
        RubricUpdater(ScriptedUpdaterLLM(answers)),
        evaluator(),
        tmp_path / "clean",
        config,
    )

    run_dir = tmp_path / "run"
    crashing = ScriptedUpdaterLLM(answers, fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        learn_rubric(START, INSIGHTS, RubricUpdater(crashing), evaluator(), run_dir, config)
    assert sorted(p.name for p in (run_dir / "rounds").iterdir()) == [
        "round_000.json",
        "round_001.json",
    ]
    assert not (run_dir / "rubric.json").exists()

    # the rerun asks the updater only for rounds 2 and 3 (answers 2 and 3 of the script)
    resumed_llm = ScriptedUpdaterLLM(answers[1:])
    resumed = learn_rubric(
        START, INSIGHTS, RubricUpdater(resumed_llm), evaluator(), run_dir, config
    )
    assert resumed.resumed_from == 1 and len(resumed_llm.prompts) == 2
    assert resumed.rubric == clean.rubric and resumed.stopped == clean.stopped
    assert [r.insight_ids for r in resumed.history] == [r.insight_ids for r in clean.history]

    # a finished run resumes to the same result without asking anything
    again_llm = ScriptedUpdaterLLM(answers)
    again = learn_rubric(START, INSIGHTS, RubricUpdater(again_llm), evaluator(), run_dir, config)
    assert again.rubric == clean.rubric and not again_llm.prompts


def test_resuming_with_other_settings_is_refused(tmp_path):
    llm = ScriptedUpdaterLLM([rubric_answer()])
    learn_rubric(START, INSIGHTS, RubricUpdater(llm), evaluator(), tmp_path, LearnerConfig(1))
    with pytest.raises(RunMismatchError, match=r"different \['config'\]"):
        learn_rubric(START, INSIGHTS, RubricUpdater(llm), evaluator(), tmp_path, LearnerConfig(2))
    with pytest.raises(RunMismatchError, match="insights"):
        learn_rubric(
            START, INSIGHTS[:4], RubricUpdater(llm), evaluator(), tmp_path, LearnerConfig(1)
        )


def test_no_insights_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="run `extract` first"):
        learn_rubric(START, [], RubricUpdater(lambda p: p), evaluator(), tmp_path)
