"""The naive judge of the paper's ablation: one overall 0-10 rating of the plan.

Instead of scoring rubric dimensions, the judge gives a single holistic rating,
normalized to [0, 1]. It shares the rubric judge's machinery (lenient JSON
parsing, batching, caching, failure counting) and its rule: an answer that cannot
be read gives reward None, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.rewards.judge import (
    AGENT_DESCRIPTION,
    CachedJudge,
    CompleteFn,
    JudgeScores,
    ParseFailure,
    find_rationale,
    parse_objects,
    parse_score,
)
from agents.rewards.rubric import Dimension, Rubric, normalize_label

NAIVE_MAX_SCORE = 10
_SCORE_KEYS = ("score", "overall", "overall_score", "rating", "overall_rating")


def build_naive_prompt(question: str, plan: str, agent_description: str = AGENT_DESCRIPTION) -> str:
    """The ablation's judge prompt: rate the plan overall from 0 to 10."""
    return (
        "You are an expert evaluator of plans written by a web research agent.\n"
        f"{agent_description}\n\n"
        "Rate how good the plan below is for answering the question, from 0 (useless) to "
        f"{NAIVE_MAX_SCORE} (excellent). Do not answer the question yourself.\n\n"
        f"## Question\n{question.strip()}\n\n"
        f"## Plan\n{plan.strip()}\n\n"
        "## Answer format\n"
        "Reply with a single JSON object and nothing else:\n"
        f'{{"score": <integer 0-{NAIVE_MAX_SCORE}>, "rationale": "<one or two sentences>"}}\n'
    )


def _overall_from_object(obj: Mapping[str, Any]) -> JudgeScores | str:
    found = {normalize_label(str(k)): v for k, v in obj.items()}
    for key in _SCORE_KEYS:
        if key in found:
            score = parse_score(found[key], NAIVE_MAX_SCORE)
            if isinstance(score, str):
                return f"overall: {score}"
            return JudgeScores({"overall": score}, find_rationale(obj))
    return f"no overall score; expected one of the keys {list(_SCORE_KEYS)}"


def parse_naive_answer(text: str) -> JudgeScores | ParseFailure:
    """Read the overall 0-10 rating; scores are keyed ``"overall"``."""
    return parse_objects(text, _overall_from_object)


@dataclass(frozen=True)
class NaiveFormat:
    """Judge format for a single overall rating; reward = score / 10."""

    cache_tag: str = f"naive:0-{NAIVE_MAX_SCORE}"

    def prompt(self, question: str, plan: str) -> str:
        return build_naive_prompt(question, plan)

    def parse(self, text: str) -> JudgeScores | ParseFailure:
        return parse_naive_answer(text)

    def reward(self, scores: JudgeScores) -> float:
        return scores.scores["overall"] / NAIVE_MAX_SCORE


class NaiveJudge(CachedJudge):
    """The ablation judge: one overall 0-10 rating per plan, reward in [0, 1]."""

    def __init__(self, complete: CompleteFn, cache_path: Path | str | None = None) -> None:
        super().__init__(complete, NaiveFormat(), cache_path)


NAIVE_EXPECTED_MAX = 5
"""Top of the single overall score read from next-token digits (one digit: at most 9)."""


def naive_rubric() -> Rubric:
    """The naive reward as a one-dimension rubric, for the expected-score judge.

    :class:`~agents.rewards.ExpectedScoreJudge` with this rubric gives the ablation's
    single holistic rating from a small local model (always a valid number), the way
    :class:`NaiveJudge` does from a JSON answer.
    """
    overall = Dimension(
        key="overall",
        name="Overall Quality",
        description="How good the plan is, as a whole, for answering the question with the "
        "agent's tools.",
        criteria=("Rate the plan as a whole; no separate aspects are scored.",),
        max_score=NAIVE_EXPECTED_MAX,
    )
    return Rubric(name="naive-overall", version="1", dimensions=(overall,))
