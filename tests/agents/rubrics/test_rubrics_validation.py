"""Validation of a rubric against outcome and human labels with a scripted judge."""

import json
import math
import re
import warnings
from dataclasses import replace

import pytest

from agents.rewards.judge import RubricJudge
from agents.rewards.rubric import load_default_rubric, save_rubric
from agents.rubrics.labels import PlanRecord, outcome_labels
from agents.rubrics.validation import (
    Thresholds,
    UnvalidatedRubricError,
    UnvalidatedRubricWarning,
    ValidationReport,
    format_report,
    load_validated_rubric,
    outcome_evaluator,
    read_validation,
    validate_rubric,
    validation_path,
    write_validation,
)

RUBRIC = load_default_rubric()


def scripted_judge_llm(prompts):
    """A stand-in judge LLM: the plan says its own score ("score=3"), or breaks the JSON.

    ``dims=a,b,...`` in a plan gives per-dimension scores instead.
    """
    out = []
    for p in prompts:
        plan = p.split("## Plan\n", 1)[1].split("\n\n## Rubric", 1)[0]
        if "broken" in plan:
            out.append("The plan is good, 5/5.")
            continue
        dims = re.search(r"dims=([\d,]+)", plan)
        values = [int(x) for x in dims.group(1).split(",")] if dims else None
        score = int(re.search(r"score=(\d)", plan).group(1)) if not values else 0
        scores = {d.key: (values[i] if values else score) for i, d in enumerate(RUBRIC.dimensions)}
        out.append(json.dumps({"scores": scores, "rationale": "scripted"}))
    return out


def plan(i, score, rate, extra=""):
    return PlanRecord(f"p{i}", f"t{i}", f"Question {i}?", f"score={score} {extra}", rate, 4)


GOOD = [plan(i, 4 + i % 2, 1.0) for i in range(6)]
BAD = [plan(10 + i, 1 + i % 2, 0.0) for i in range(6)]


def run(plans, labels=None, rubric=RUBRIC, source="outcomes", **kw):
    judge = RubricJudge(scripted_judge_llm, rubric)
    labels = labels if labels is not None else outcome_labels(plans)
    return validate_rubric(
        rubric, judge, plans, labels, label_source=source, judge_name="scripted", **kw
    )


def test_a_separating_rubric_meets_the_thresholds():
    report = run(GOOD + BAD, label_cutoff=0.5)
    assert report.total.auc == 1.0 and report.total.kappa == 1.0
    assert report.met and report.auc_met and report.kappa_met
    assert (report.n_plans, report.n_scored, report.n_positive, report.n_negative) == (
        12,
        12,
        6,
        6,
    )
    assert [d.name for d in report.dimensions] == list(RUBRIC.keys)
    assert 2 < report.decision_threshold * RUBRIC.max_total / 6 < 4
    assert report.unanimous is not None and report.unanimous.auc == 1.0


def test_an_uninformative_rubric_does_not_meet_them():
    flat = [replace(p, plan="score=3") for p in GOOD + BAD]
    report = run(flat)
    assert report.total.auc == 0.5 and not report.met
    assert "NOT MET" in format_report(report)


def test_judge_failures_are_excluded_counted_and_saved(tmp_path):
    plans = [*GOOD, *BAD, plan(99, 0, 1.0, "broken")]
    report = run(plans, rejected_dir=tmp_path / "rejected")
    assert report.n_plans == 13 and report.n_scored == 12 and report.n_excluded == 1
    assert report.excluded[0][0] == "p99" and "no JSON object" in report.excluded[0][1]
    saved = (tmp_path / "rejected" / "p99.txt").read_text()
    assert "reason: no JSON object found" in saved and saved.endswith("The plan is good, 5/5.")


def test_mixed_outcomes_are_reported_separately():
    mixed = [plan(20, 5, 0.75), plan(21, 1, 0.25)]
    report = run(GOOD + BAD + mixed, label_cutoff=0.5)
    assert report.n_mixed == 2 and report.n_positive == 7
    assert report.unanimous is not None  # metrics on the 12 plans with 0/1 outcomes
    stricter = run(GOOD + BAD + mixed, labels=outcome_labels(GOOD + BAD + mixed, cutoff=0.8))
    assert stricter.n_positive == 6


def test_per_dimension_metrics():
    # only goal_alignment (first dimension) tells the classes apart
    good = [plan(i, 0, 1.0, "dims=5,3,3,3,3,3") for i in range(4)]
    bad = [plan(10 + i, 0, 0.0, "dims=1,3,3,3,3,3") for i in range(4)]
    report = run(good + bad)
    by_name = {d.name: d for d in report.dimensions}
    assert by_name["goal_alignment"].auc == 1.0 and by_name["goal_alignment"].kappa == 1.0
    assert by_name["subgoal_coverage"].auc == 0.5
    assert math.isnan(by_name["subgoal_coverage"].kappa) or by_name["subgoal_coverage"].kappa <= 0


def test_human_labels():
    labels = {p.id: 1 for p in GOOD[:3]} | {p.id: 0 for p in BAD[:3]}
    report = run(GOOD + BAD, labels=labels, source="human")
    assert report.n_plans == 6 and report.met and report.unanimous is None


def test_judge_must_use_the_rubric_under_test():
    other = replace(RUBRIC, version="other")
    with pytest.raises(ValueError, match="Expected a judge of rubric"):
        validate_rubric(
            other,
            RubricJudge(scripted_judge_llm, RUBRIC),
            GOOD,
            {},
            label_source="human",
            judge_name="x",
        )


def test_report_round_trips_through_json():
    report = run(GOOD + BAD + [plan(99, 0, 1.0, "broken")], label_cutoff=0.5)
    again = ValidationReport.from_json(json.loads(json.dumps(report.to_json())))
    assert again == report
    flat = run([replace(p, plan="score=3") for p in GOOD + BAD])
    assert ValidationReport.from_json(json.loads(json.dumps(flat.to_json()))).met is False


def test_outcome_evaluator_builds_a_judge_per_rubric():
    built = []

    def make_judge(rubric):
        built.append(rubric.version)
        return RubricJudge(scripted_judge_llm, rubric)

    evaluate = outcome_evaluator(GOOD + BAD, make_judge, judge_name="scripted")
    assert evaluate(RUBRIC).met
    assert evaluate(replace(RUBRIC, version="2")).rubric_version == "2"
    assert built == ["1", "2"]


def test_validation_record_gates_loading(tmp_path):
    path = tmp_path / "rubric.json"
    save_rubric(RUBRIC, path)
    with pytest.warns(UnvalidatedRubricWarning, match="no validation record"):
        load_validated_rubric(path)
    with pytest.raises(UnvalidatedRubricError, match="no validation record"):
        load_validated_rubric(path, require_thresholds=True)

    failing = run([replace(p, plan="score=3") for p in GOOD + BAD])
    assert write_validation(path, RUBRIC, [failing]) == validation_path(path)
    assert validation_path(path).name == "rubric.validation.json"
    with pytest.warns(UnvalidatedRubricWarning, match="against outcomes labels AUC = 0.500"):
        assert load_validated_rubric(path) == RUBRIC
    with pytest.raises(UnvalidatedRubricError, match="needs >= 0.8"):
        load_validated_rubric(path, require_thresholds=True)

    write_validation(path, RUBRIC, [run(GOOD + BAD)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_validated_rubric(path, require_thresholds=True) == RUBRIC

    human = run(GOOD + BAD, labels={GOOD[0].id: 0, BAD[0].id: 1}, source="human")
    write_validation(path, RUBRIC, [human])
    record = read_validation(path)
    assert record["validated_against"] == ["human", "outcomes"]
    assert record["thresholds_met"] is False  # the human labels disagree
    with pytest.raises(UnvalidatedRubricError, match="against human labels"):
        load_validated_rubric(path, require_thresholds=True)


def test_an_edited_rubric_is_not_validated(tmp_path):
    path = tmp_path / "rubric.json"
    save_rubric(RUBRIC, path)
    write_validation(path, RUBRIC, [run(GOOD + BAD)])
    text = path.read_text().replace("Goal Alignment", "Goal Fit")
    path.write_text(text)
    with pytest.raises(UnvalidatedRubricError, match="changed since it was validated"):
        load_validated_rubric(path, require_thresholds=True)


def test_custom_thresholds():
    report = run(GOOD + BAD, thresholds=Thresholds(auc=1.01, kappa=0.0))
    assert not report.met and report.kappa_met and not report.auc_met
