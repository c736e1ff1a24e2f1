"""The real path with SmolLM2-135M-Instruct: extraction, one learning round, validation.

Output quality is not asserted (a 135M model rarely writes a valid rubric); the test checks
that every piece runs on a real model and that bad answers are counted, not fatal.
"""

import math

import pytest

from agents.rewards.judge import ExpectedScoreJudge
from agents.rewards.rubric import load_default_rubric
from agents.rubrics.insights import Insight, InsightExtractor, episodes_from_trajectories
from agents.rubrics.labels import PlanRecord
from agents.rubrics.learner import LearnerConfig, RubricUpdater, learn_rubric
from agents.rubrics.prompts import INSIGHT_PREFILL, UPDATER_PREFILL, CachedComplete, hf_complete
from agents.rubrics.validation import outcome_evaluator, read_validation
from agents.trajectory import Trajectory, Turn

pytestmark = pytest.mark.slow

QUESTION = "In which city was the architect of Lumen Tower born?"
GOOD = (
    "<plan>1. Search for Lumen Tower. 2. Read Lumen Tower to find its architect. "
    "3. Read the architect's page to find the birthplace. 4. Answer.</plan>"
)
BAD = "<plan>Answer from memory.</plan><answer>Paris</answer>"


def traj(plan, reward, sample):
    messages = ({"role": "user", "content": f"Question: {QUESTION}"},)
    turns = (Turn(text=plan, observation="<tool_response>Lumen Tower ...</tool_response>"),)
    return Trajectory("t1", 0, sample, (), None, (), (), reward, messages=messages, turns=turns)


@pytest.fixture(scope="module")
def smollm2():
    """The model, with torch on one thread: on a shared 2-core machine two threads that
    wait for each other make each decoding step 5-20 times slower."""
    import torch

    from agents.models import load_model_and_tokenizer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield load_model_and_tokenizer(None, device="cpu")
    finally:
        torch.set_num_threads(threads)


def test_real_path_with_smollm2(smollm2, tmp_path):
    model, tokenizer = smollm2
    llm = CachedComplete(
        hf_complete(model, tokenizer, max_new_tokens=32, prefill=INSIGHT_PREFILL),
        tag="smollm2",
        cache_path=tmp_path / "cache.jsonl",
        log_path=tmp_path / "calls.jsonl",
    )
    episodes = episodes_from_trajectories([traj(GOOD, 1.0, 0), traj(BAD, 0.0, 1)])
    extraction = InsightExtractor(llm, batch_size=4).extract(episodes)
    assert len(extraction.insights) + len(extraction.rejected) == 3  # success, failure, pair
    assert llm.stats.sent == 3 and len((tmp_path / "calls.jsonl").read_text().splitlines()) == 3

    insights = list(extraction.insights) or [
        Insight("success:x", "success", "t1", QUESTION, GOOD, ("Names every hop.",))
    ]
    plans = [
        PlanRecord("g1", "t1", QUESTION, GOOD, 1.0, 2),
        PlanRecord("g2", "t1", QUESTION, GOOD.replace("Lumen Tower", "the tower"), 1.0, 2),
        PlanRecord("b1", "t1", QUESTION, BAD, 0.0, 2),
        PlanRecord("b2", "t1", QUESTION, "<plan>Guess.</plan>", 0.0, 2),
    ]
    evaluate = outcome_evaluator(
        plans,
        lambda rubric: ExpectedScoreJudge(model, tokenizer, rubric),
        judge_name="expected-score:SmolLM2-135M-Instruct",
    )
    updater = RubricUpdater(
        CachedComplete(
            hf_complete(model, tokenizer, max_new_tokens=32, prefill=UPDATER_PREFILL),
            tag="smollm2-updater",
        )
    )
    result = learn_rubric(
        load_default_rubric(),
        insights,
        updater,
        evaluate,
        tmp_path / "run",
        LearnerConfig(rounds=1, per_kind=1),
    )
    assert len(result.history) in (1, 2)
    assert result.report.n_scored == 4 and result.report.n_excluded == 0
    auc = result.report.total.auc
    assert math.isnan(auc) or 0.0 <= auc <= 1.0
    record = read_validation(result.rubric_path)
    assert record["thresholds_met"] == result.report.met
    if result.rejected:
        assert (tmp_path / "run" / "rejected" / "round_1.txt").exists()
