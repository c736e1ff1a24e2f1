"""Agreement metrics of a rubric against labels: ROC-AUC, Cohen's kappa, thresholds.

Pure functions of plain sequences (no numpy arrays needed, no state). Conventions:

* Labels are 0/1: 1 = a correct plan. Scores are real numbers, higher = better plan.
* A decision is ``score >= threshold`` -> 1.
* Undefined values are ``nan``, never an exception and never a made-up number: the AUC of
  labels of a single class, and kappa when both raters use one and the same category
  (chance agreement is 1). ``nan`` never meets an acceptance threshold.

``roc_auc`` and ``cohens_kappa`` agree with ``sklearn.metrics.roc_auc_score`` and
``cohen_kappa_score`` (tested).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


def _check_lengths(a: Sequence[object], b: Sequence[object], what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"Expected as many {what}, got {len(a)} and {len(b)}.")


def _check_binary(labels: Sequence[int]) -> None:
    bad = sorted({repr(y) for y in labels if y not in (0, 1)})
    if bad:
        raise ValueError(f"Expected labels 0 or 1, got {', '.join(bad)}.")


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; tied values share the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        for k in range(start, end + 1):
            ranks[order[k]] = mean_rank
        start = end + 1
    return ranks


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative),
    ties counting one half (the Mann-Whitney U statistic over n_pos * n_neg).

    ``nan`` when the labels hold a single class.
    """
    _check_lengths(labels, scores, "labels and scores")
    _check_binary(labels)
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks([float(s) for s in scores])
    rank_sum = sum(r for r, y in zip(ranks, labels) if y == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def cohens_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters: (p_o - p_e) / (1 - p_e).

    p_o is the observed agreement, p_e the agreement expected by chance from each
    rater's own category frequencies. ``nan`` when p_e = 1 (both raters give one and
    the same category to every item) or when there are no items.
    """
    _check_lengths(a, b, "ratings from both raters")
    n = len(a)
    if n == 0:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b)) / n
    count_a, count_b = Counter(a), Counter(b)
    expected = sum(count_a[c] * count_b[c] for c in count_a) / (n * n)
    if expected == 1:
        return math.nan
    return (observed - expected) / (1 - expected)


def decisions(scores: Sequence[float], threshold: float) -> list[int]:
    """1 where ``score >= threshold``, else 0."""
    return [int(s >= threshold) for s in scores]


def candidate_thresholds(scores: Sequence[float]) -> list[float]:
    """Every distinct way to cut the scores: below all, between neighbours, above all."""
    values = sorted(set(float(s) for s in scores))
    if not values:
        return [0.0]
    mids = [(lo + hi) / 2 for lo, hi in zip(values, values[1:])]
    return [values[0] - 1.0, *mids, values[-1] + 1.0]


def best_threshold(labels: Sequence[int], scores: Sequence[float]) -> float:
    """The threshold whose decisions agree best with ``labels`` (highest kappa).

    Ties in kappa go to the higher accuracy, then to the threshold nearest the middle of
    the tied ones (robust to where the cut falls). Thresholds with an undefined kappa
    rank below every defined one.
    """
    _check_lengths(labels, scores, "labels and scores")
    _check_binary(labels)

    def quality(t: float) -> tuple[float, float]:
        pred = decisions(scores, t)
        kappa = cohens_kappa(list(labels), pred)
        accuracy = sum(p == y for p, y in zip(pred, labels)) / max(len(labels), 1)
        return (-math.inf if math.isnan(kappa) else kappa, accuracy)

    candidates = candidate_thresholds(scores)
    graded = [(quality(t), t) for t in candidates]
    top = max(q for q, _ in graded)
    tied = [t for q, t in graded if q == top]
    return tied[(len(tied) - 1) // 2]


def stratified_halves(labels: Sequence[int], seed: int = 0) -> tuple[list[int], list[int]]:
    """Split item indices into two halves with (nearly) the same share of each label.

    Deterministic given ``seed``. Within each label the items are shuffled and dealt
    alternately, so both halves get both classes whenever a class has two or more items.
    """
    rng = random.Random(seed)
    first: list[int] = []
    second: list[int] = []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        # deal so that the half that is currently smaller gets the first item
        halves = (first, second) if len(first) <= len(second) else (second, first)
        for k, index in enumerate(members):
            halves[k % 2].append(index)
    return sorted(first), sorted(second)


@dataclass(frozen=True)
class HeldOutKappa:
    """Kappa of thresholded scores, the threshold always chosen on the other half."""

    kappa: float
    """Mean of the two folds' kappas (nan if either is nan)."""
    folds: tuple[float, float]
    """Kappa on half B with the threshold of half A, and on A with the threshold of B."""
    thresholds: tuple[float, float]
    """The thresholds chosen on half A and on half B."""


def held_out_kappa(labels: Sequence[int], scores: Sequence[float], seed: int = 0) -> HeldOutKappa:
    """Cohen's kappa between ``score >= t`` and the labels, t chosen on a held-out half.

    The items are split into two stratified halves (:func:`stratified_halves`); the
    threshold that maximizes kappa on one half is measured on the other, both ways
    round (two-fold cross-fitting), so the kappa is never measured on the data that
    chose its threshold.
    """
    _check_lengths(labels, scores, "labels and scores")
    a, b = stratified_halves(labels, seed)
    kappas, cuts = [], []
    for fit, test in ((a, b), (b, a)):
        t = best_threshold([labels[i] for i in fit], [scores[i] for i in fit])
        pred = decisions([scores[i] for i in test], t)
        kappas.append(cohens_kappa([labels[i] for i in test], pred))
        cuts.append(t)
    mean = math.nan if any(math.isnan(k) for k in kappas) else sum(kappas) / 2
    return HeldOutKappa(kappa=mean, folds=(kappas[0], kappas[1]), thresholds=(cuts[0], cuts[1]))


def meets(value: float, threshold: float) -> bool:
    """``value >= threshold``; nan never meets a threshold."""
    return not math.isnan(value) and value >= threshold
