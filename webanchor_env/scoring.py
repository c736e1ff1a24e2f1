"""Answer scoring: SQuAD/HotpotQA normalization, exact match and token F1.

The normalization (``wiki_corpus.answers.normalize_answer``, shared with the importers) is
the rule of the official SQuAD v1.1 evaluation script, also used by HotpotQA: lowercase,
drop ASCII punctuation, drop the articles "a", "an" and "the" as whole words, and squeeze
whitespace. Exact match compares the normalized strings; F1 compares their bags of
tokens. Both take the best score over every accepted surface form (the answer and its
aliases). HotpotQA adds one special case to F1: when either side normalizes to "yes", "no"
or "noanswer" and the two differ, F1 is 0 (partial overlap with a yes/no answer is no credit).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from wiki_corpus.answers import normalize_answer

_YES_NO = frozenset({"yes", "no", "noanswer"})

__all__ = ["contains_answer", "exact_match", "f1_score", "normalize_answer"]


def _as_tuple(answers: str | Iterable[str]) -> tuple[str, ...]:
    return (answers,) if isinstance(answers, str) else tuple(answers)


def exact_match(prediction: str, answers: str | Iterable[str]) -> float:
    """1.0 when the normalized prediction equals a normalized answer, else 0.0."""
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(a) for a in _as_tuple(answers)))


def _f1(prediction: str, truth: str) -> float:
    predicted, gold = normalize_answer(prediction), normalize_answer(truth)
    if (predicted in _YES_NO or gold in _YES_NO) and predicted != gold:
        return 0.0
    predicted_tokens, gold_tokens = predicted.split(), gold.split()
    overlap = sum((Counter(predicted_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, answers: str | Iterable[str]) -> float:
    """The best token F1 of the prediction against any answer (0.0 when there is none)."""
    return max((_f1(prediction, a) for a in _as_tuple(answers)), default=0.0)


def contains_answer(text: str, answers: str | Iterable[str]) -> bool:
    """Whether some normalized answer occurs in the normalized text as a run of whole words.

    Used for the privileged ``answer_seen`` field: did the agent ever have the answer in front
    of it? Answers that normalize to nothing never count.
    """
    haystack = f" {normalize_answer(text)} "
    return any(
        needle and f" {needle} " in haystack
        for needle in (normalize_answer(a) for a in _as_tuple(answers))
    )
