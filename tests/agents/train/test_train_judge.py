from types import SimpleNamespace

import pytest

from agents.rewards import PrivilegedReferenceJudge
from agents.train.algos import RewardSource
from agents.train.config import PlanJudge, build_parser, parse_args
from agents.train.rewards import build_judge
from wiki_corpus.schema import Gold, Task, title_to_url

TASK = Task(
    id="t-1",
    question="Who designed Lumen Tower?",
    answer="Ada Brill",
    gold=Gold(
        pages=(title_to_url("Lumen Tower"),),
        actions=(
            {"name": "search", "arguments": {"query": ["Lumen Tower"]}},
            {
                "name": "visit",
                "arguments": {"url": [title_to_url("Lumen Tower")], "goal": "Find the architect"},
            },
            {"name": "answer", "arguments": {"answer": "Ada Brill"}},
        ),
    ),
)


def test_judge_reference_is_selectable_and_says_it_is_privileged():
    assert parse_args(["--judge", "reference"]).judge is PlanJudge.PRIVILEGED_REFERENCE
    assert parse_args([]).judge is PlanJudge.EXPECTED
    help_text = " ".join(build_parser().format_help().split())
    assert "reference (privileged: reads the gold path)" in help_text


def test_build_judge_gives_the_reference_judge_over_the_run_tasks():
    run = SimpleNamespace(config=parse_args(["--judge", "reference"]), tasks={TASK.id: TASK})
    judge = build_judge(run)
    assert isinstance(judge, PrivilegedReferenceJudge)
    (result,) = judge.score([TASK.question], ["1. Search Lumen Tower. 2. Read it. 3. Answer."])
    assert result.ok and set(result.scores) == set(judge.rubric.keys)
    with pytest.raises(ValueError, match="Expected --judge expected for the naive plan reward"):
        build_judge(run, RewardSource.NAIVE_PLAN)
