import json
import math

import pytest

from agents.rewards import (
    Dimension,
    MissingScoreError,
    Rubric,
    RubricScoreError,
    RubricValidationError,
    ScoreOutOfRangeError,
    UnknownDimensionError,
    load_default_rubric,
    load_rubric,
    rubric_reward,
    save_rubric,
)
from agents.rewards.rubric import normalize_label

PAPER_DIMENSIONS = [
    "Goal Alignment",
    "Subgoal Coverage",
    "Tool Appropriateness",
    "Logical Ordering",
    "Actionability",
    "Clarity and Conciseness",
]


def small_rubric() -> Rubric:
    return Rubric(
        name="small",
        version="2",
        dimensions=(
            Dimension("focus", "Focus", "Stays on the question.", ("No detours.",), 3),
            Dimension("depth", "Depth", "Covers every hop.", ("Names bridges.",), 10),
        ),
    )


def test_default_rubric_has_the_papers_six_dimensions():
    rubric = load_default_rubric()
    assert [d.name for d in rubric.dimensions] == PAPER_DIMENSIONS
    assert all(d.max_score == 5 for d in rubric.dimensions)
    assert rubric.max_total == 30
    assert all(d.description and len(d.criteria) >= 2 for d in rubric.dimensions)
    tools = rubric.dimension("tool_appropriateness")
    assert "'search'" in tools.description and "'visit'" in tools.description


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "rubric.json"
    save_rubric(small_rubric(), path)
    assert load_rubric(path) == small_rubric()
    assert json.loads(path.read_text())["dimensions"][1]["max_score"] == 10


def test_dimension_lookup():
    assert small_rubric().dimension("depth").max_score == 10
    with pytest.raises(KeyError, match=r"has no dimension 'width'; it has \['focus', 'depth'\]"):
        small_rubric().dimension("width")


def write(tmp_path, data, name="x.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def broken(edit):
    data = small_rubric().to_dict()
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["dimensions"][1].pop("max_score"),
            "rubric 'x.json' dimension 2 is missing 'max_score'.",
        ),
        (lambda d: d.pop("version"), "rubric 'x.json' is missing 'version'."),
        (
            lambda d: d["dimensions"][0].update(max_score="5"),
            "rubric 'x.json' dimension 1 has 'max_score' of type str; expected int.",
        ),
        (
            lambda d: d["dimensions"][0].update(max_score=True),
            "rubric 'x.json' dimension 1 has 'max_score' of type bool; expected int.",
        ),
        (
            lambda d: d["dimensions"][0].update(max_score=0),
            "rubric 'x.json' dimension 1 has max_score 0; expected an integer >= 1.",
        ),
        (
            lambda d: d["dimensions"][1].update(key="Depth Score"),
            "rubric 'x.json' dimension 2 has key 'Depth Score'; expected lowercase",
        ),
        (
            lambda d: d["dimensions"][1].update(name="focus"),
            "rubric 'x.json' dimension 2 ('depth') clashes with dimension 1",
        ),
        (
            lambda d: d["dimensions"][0].update(criteria=["ok", ""]),
            "rubric 'x.json' dimension 1 has criteria that are not non-empty strings.",
        ),
        (
            lambda d: d["dimensions"][0].update(max_scroe=5),
            "rubric 'x.json' dimension 1 has unknown field(s) ['max_scroe']",
        ),
        (lambda d: d.update(dimensions=[]), "rubric 'x.json' has no dimensions"),
        (lambda d: d.update(name=" "), "rubric 'x.json' has an empty 'name'."),
    ],
)
def test_validation_errors_name_the_file_and_field(tmp_path, edit, message):
    with pytest.raises(RubricValidationError) as info:
        load_rubric(write(tmp_path, broken(edit)))
    assert str(info.value).startswith(message)


def test_invalid_json_and_wrong_top_level(tmp_path):
    with pytest.raises(RubricValidationError, match="rubric 'bad.json' is not valid JSON"):
        load_rubric(write(tmp_path, "{oops", "bad.json"))
    with pytest.raises(RubricValidationError, match="must be a JSON object, got list"):
        load_rubric(write(tmp_path, [1, 2]))


def test_rubric_reward_by_hand():
    rubric = load_default_rubric()
    scores = dict(zip(rubric.keys, [5, 4, 3, 2, 1, 0]))
    assert rubric_reward(scores, rubric) == pytest.approx(15 / 30)
    assert rubric_reward(dict.fromkeys(rubric.keys, 5), rubric) == 1.0
    assert rubric_reward(dict.fromkeys(rubric.keys, 0), rubric) == 0.0
    # unequal maxima: (3 + 5) / (3 + 10); fractional scores are allowed
    assert rubric_reward({"focus": 3, "depth": 5}, small_rubric()) == pytest.approx(8 / 13)
    assert rubric_reward({"focus": 1.5, "depth": 2.5}, small_rubric()) == pytest.approx(4 / 13)


@pytest.mark.parametrize(
    ("scores", "error", "message"),
    [
        ({"focus": 3}, MissingScoreError, "No score for dimension 'depth' of rubric 'small'"),
        ({"focus": 4, "depth": 1}, ScoreOutOfRangeError, r"'focus' must be a number in \[0, 3\]"),
        ({"focus": -1, "depth": 1}, ScoreOutOfRangeError, "got -1"),
        ({"focus": math.nan, "depth": 1}, ScoreOutOfRangeError, "got nan"),
        ({"focus": True, "depth": 1}, ScoreOutOfRangeError, "got True"),
        ({"focus": "2", "depth": 1}, ScoreOutOfRangeError, "got '2'"),
        ({"focus": 1, "depth": 1, "style": 2}, UnknownDimensionError, r"\['style'\] not in"),
    ],
)
def test_rubric_reward_rejects_bad_scores(scores, error, message):
    with pytest.raises(error, match=message):
        rubric_reward(scores, small_rubric())
    assert issubclass(error, RubricScoreError)


def test_normalize_label():
    for label in ("Clarity & Conciseness", "clarity_and_conciseness", "CLARITY AND CONCISENESS"):
        assert normalize_label(label) == "clarity_and_conciseness"
