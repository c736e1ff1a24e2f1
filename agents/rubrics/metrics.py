"""Agreement metrics of a rubric against labels: ROC-AUC, Cohen's kappa, thresholds.

Pure functions of plain sequences (no numpy arrays needed, no state). Conventions:

* Labels are 0/1: 1 = a correct plan. Scores are real numbers, higher = better plan.
* A decision is ``score >= threshold`` -> 1.
* Undefined values are ``nan``, never an exception and never a made-up number: the AUC of
  labels of a single class, and kappa when both raters use one and the same category
  (chance agreement is 1). ``nan`` never meets an acceptance threshold.

``roc_auc`` and ``cohens_kappa`` are ``sklearn.metrics.roc_auc_score`` and
``cohen_kappa_score`` with the undefined cases answered by ``nan`` (where scikit-learn
raises or warns); ``stratified_halves`` is ``StratifiedKFold(2)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold


def _check_lengths(a: Sequence[object], b: Sequence[object], what: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"Expected as many {what}, got {len(a)} and {len(b)}.")


def _check_binary(labels: Sequence[int]) -> None:
    bad = sorted({repr(y) for y in labels if y not in (0, 1)})
    if bad:
        raise ValueError(f"Expected labels 0 or 1, got {', '.join(bad)}.")


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values``; tied values share the mean of their ranks."""
    return [float(r) for r in rankdata(values, method="average")]


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative),
    ties counting one half (the Mann-Whitney U statistic over n_pos * n_neg).

    ``nan`` when the labels hold a single class (scikit-learn raises there).
    """
    _check_lengths(labels, scores, "labels and scores")
    _check_binary(labels)
    if len(set(labels)) < 2:
        return math.nan
    return float(roc_auc_score(list(labels), [float(s) for s in scores]))


def cohens_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa between two raters: (p_o - p_e) / (1 - p_e).

    p_o is the observed agreement, p_e the agreement expected by chance from each
    rater's own category frequencies. ``nan`` when p_e = 1 (both raters give one and
    the same category to every item) or when there are no items.
    """
    _check_lengths(a, b, "ratings from both raters")
    if len(set(a) | set(b)) < 2:  # no items, or one category for everything: p_e = 1
        return math.nan
    return float(cohen_kappa_score(list(a), list(b)))


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

    Deterministic given ``seed``: the two folds of ``StratifiedKFold(2, shuffle=True)``,
    so both halves get both classes whenever a class has two or more items and their
    sizes differ by at most one. When no class has two items (scikit-learn refuses
    those) the items are dealt alternately.
    """
    if not any(list(labels).count(label) >= 2 for label in set(labels)):
        return list(range(0, len(labels), 2)), list(range(1, len(labels), 2))
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "the least populated class has only 1 member": fine
        warnings.simplefilter("ignore", UserWarning)
        (_, first), (_, second) = folds.split(list(labels), list(labels))
    return sorted(int(i) for i in first), sorted(int(i) for i in second)


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


def auc_interval(
    labels: Sequence[int],
    scores: Sequence[float],
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of :func:`roc_auc`, stratified: each resample draws the
    positives from the positives and the negatives from the negatives (so every resample has
    both classes and their counts). None when a class has fewer than two plans."""
    _check_lengths(labels, scores, "labels and scores")
    _check_binary(labels)
    if not 0 < level < 1:
        raise ValueError(f"Expected 0 < level < 1, got {level}.")
    pos = np.array([float(s) for y, s in zip(labels, scores) if y == 1])
    neg = np.array([float(s) for y, s in zip(labels, scores) if y == 0])
    if len(pos) < 2 or len(neg) < 2:
        return None
    rng = np.random.default_rng(seed)
    p = pos[rng.integers(len(pos), size=(resamples, len(pos)))]  # [R, P]
    n = neg[rng.integers(len(neg), size=(resamples, len(neg)))]  # [R, N]
    ranks = rankdata(np.concatenate([p, n], axis=1), method="average", axis=1)
    u = ranks[:, : len(pos)].sum(axis=1) - len(pos) * (len(pos) + 1) / 2  # Mann-Whitney U
    aucs = u / (len(pos) * len(neg))
    low, high = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def meets(value: float, threshold: float) -> bool:
    """``value >= threshold``; nan never meets a threshold."""
    return not math.isnan(value) and value >= threshold


@dataclass(frozen=True)
class NoiseCeiling:
    """What a judge that knew every plan's true success rate would score (means over draws):
    the best any judge can do against labels that are outcomes of chance."""

    episode_auc: float
    """ROC-AUC against one episode per plan (a label that is 1 with the plan's rate)."""
    episode_kappa: float
    """Held-out kappa against those one-episode labels."""
    plan_auc: float
    """ROC-AUC against plan labels made from ``trials`` new continuations of each plan."""
    plan_kappa: float
    """Held-out kappa against those plan labels."""


def beta_prior(successes: Sequence[int], trials: int) -> tuple[float, float]:
    """The Beta(a, b) prior of success rates that best explains ``successes`` out of
    ``trials`` per plan (beta-binomial maximum likelihood; a and b bounded to e^±6)."""
    import numpy as np
    from scipy import optimize, stats

    k = np.asarray(successes)

    def loss(log_ab: Sequence[float]) -> float:
        return -float(stats.betabinom.logpmf(k, trials, *np.exp(log_ab)).sum())

    fit = optimize.minimize(loss, [0.0, 0.0], method="L-BFGS-B", bounds=[(-6.0, 6.0)] * 2)
    a, b = np.exp(fit.x)
    return float(a), float(b)


def noise_ceiling(
    successes: Sequence[int],
    trials: int,
    plan_label: Callable[[float], int],
    draws: int = 200,
    seed: int = 0,
) -> NoiseCeiling:
    """The AUC and held-out kappa of an oracle judge that scores each plan by its true
    success rate, measured the way judges are: against outcome labels drawn by chance.

    ``successes[i]`` of ``trials`` continuations of plan i succeeded. A few trials overstate
    how far apart the rates are, so each draw takes every plan's rate from its posterior
    under the fitted :func:`beta_prior`, then draws one episode per plan and ``trials`` new
    continuations per plan (labelled by ``plan_label`` of their success share); draws whose
    labels hold one class only are skipped. ``nan`` when every draw was skipped.
    """
    import numpy as np

    if not successes or trials < 1 or any(not 0 <= k <= trials for k in successes):
        raise ValueError(f"Expected successes between 0 and {trials} for some plans.")
    a, b = beta_prior(successes, trials)
    k = np.asarray(successes)
    rng = np.random.default_rng(seed)
    scores: dict[str, list[float]] = {"ea": [], "ek": [], "pa": [], "pk": []}
    for _ in range(draws):
        rate = rng.beta(a + k, b + trials - k)
        episode = [int(y) for y in rng.random(len(k)) < rate]
        plan = [plan_label(float(c) / trials) for c in rng.binomial(trials, rate)]
        for labels, auc, kappa in ((episode, "ea", "ek"), (plan, "pa", "pk")):
            if 0 < sum(labels) < len(labels):
                scores[auc].append(roc_auc(labels, list(rate)))
                fold_seed = int(rng.integers(2**31))
                scores[kappa].append(held_out_kappa(labels, list(rate), fold_seed).kappa)

    def mean(values: list[float]) -> float:
        kept = [v for v in values if not math.isnan(v)]
        return sum(kept) / len(kept) if kept else math.nan

    return NoiseCeiling(*(mean(scores[key]) for key in ("ea", "ek", "pa", "pk")))
