"""ROC-AUC, Cohen's kappa and threshold selection, against hand values and scikit-learn."""

import math
import random

import pytest

from agents.rubrics.labels import outcome_label
from agents.rubrics.metrics import (
    auc_interval,
    average_ranks,
    best_threshold,
    beta_prior,
    candidate_thresholds,
    cohens_kappa,
    decisions,
    held_out_kappa,
    meets,
    noise_ceiling,
    roc_auc,
    stratified_halves,
)


def test_auc_by_hand():
    # positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) = 3/4
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.9, 0.1]) == 1.0
    assert roc_auc([1, 0], [0.1, 0.9]) == 0.0


def test_auc_ties_count_one_half():
    # the one pair is tied: 1/2; with a clear pair added: (1 + 0.5) / 2
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5
    assert roc_auc([1, 1, 0], [0.5, 0.9, 0.5]) == pytest.approx(0.75)


def test_auc_single_class_is_nan():
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    assert math.isnan(roc_auc([], []))


def test_auc_rejects_non_binary_labels():
    with pytest.raises(ValueError, match="Expected labels 0 or 1, got 2"):
        roc_auc([0, 2], [0.1, 0.2])


def test_auc_interval_brackets_the_auc_and_narrows_with_more_plans():
    rng = random.Random(3)

    def plans(count):
        labels = [i % 2 for i in range(count)]
        return labels, [y + rng.gauss(0, 1.2) for y in labels]

    few, many = plans(40), plans(400)
    low, high = auc_interval(*few)
    assert 0 <= low < roc_auc(*few) < high <= 1
    low_many, high_many = auc_interval(*many)
    assert low_many < roc_auc(*many) < high_many
    assert high_many - low_many < (high - low) / 2  # ten times the plans: about a third as wide
    assert auc_interval(*few) == auc_interval(*few)  # seeded
    assert auc_interval(*few, seed=1) != auc_interval(*few)


def test_auc_interval_by_hand_and_undefined_cases():
    # a perfect judge stays perfect in every resample; all ties stay one half
    assert auc_interval([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == (1.0, 1.0)
    assert auc_interval([1, 1, 0, 0], [0.5] * 4) == (0.5, 0.5)
    assert auc_interval([1, 0, 0, 0], [0.9, 0.8, 0.2, 0.1]) is None  # one positive
    with pytest.raises(ValueError, match="0 < level < 1"):
        auc_interval([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1], level=1.0)
    with pytest.raises(ValueError, match="labels 0 or 1"):
        auc_interval([2, 1, 0, 0], [0.9, 0.8, 0.2, 0.1])


def test_average_ranks():
    assert average_ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]


def test_kappa_by_hand():
    # a = 1100, b = 1010: p_o = 2/4; p_e = (2*2 + 2*2)/16 = 1/2 -> kappa 0
    assert cohens_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.0)
    # a = 11100, b = 11000: p_o = 4/5; p_e = (3*2 + 2*3)/25 = 12/25 -> (20/25-12/25)/(13/25)
    assert cohens_kappa([1, 1, 1, 0, 0], [1, 1, 0, 0, 0]) == pytest.approx(8 / 13)
    assert cohens_kappa([0, 1, 0, 1], [0, 1, 0, 1]) == 1.0
    assert cohens_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0


def test_kappa_undefined_when_chance_agreement_is_certain():
    assert math.isnan(cohens_kappa([1, 1, 1], [1, 1, 1]))
    assert math.isnan(cohens_kappa([], []))
    # one rater constant, the other not: p_e < 1, kappa defined (0)
    assert cohens_kappa([1, 1, 1, 1], [1, 0, 1, 1]) == 0.0


def test_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    for _ in range(40):
        n = rng.randint(4, 30)
        labels = [rng.randint(0, 1) for _ in range(n)]
        if len(set(labels)) < 2:
            labels[0], labels[1] = 0, 1
        scores = [rng.choice([0.0, 0.25, 0.5, 0.75, 1.0, rng.random()]) for _ in range(n)]
        assert roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores))
        other = [rng.randint(0, 1) for _ in range(n)]
        if len(set(labels)) + len(set(other)) > 2:
            assert cohens_kappa(labels, other) == pytest.approx(sk.cohen_kappa_score(labels, other))
        three = [rng.randint(0, 2) for _ in range(n)]
        assert cohens_kappa(three, other) == pytest.approx(sk.cohen_kappa_score(three, other))


def test_thresholds_and_decisions():
    assert candidate_thresholds([0.2, 0.6, 0.2]) == [-0.8, 0.4, 1.6]
    assert decisions([0.1, 0.4, 0.5], 0.4) == [0, 1, 1]
    # 0.3 / 0.45 / 0.6 separate the classes perfectly only at 0.45
    assert best_threshold([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.9]) == pytest.approx(0.45)


def test_best_threshold_tie_takes_the_middle_candidate():
    # every cut between 0.2 and 0.8 gives kappa 1 -> one threshold between them
    t = best_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert 0.2 < t < 0.8


def test_stratified_halves_keep_both_classes_and_cover_everything():
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    a, b = stratified_halves(labels, seed=3)
    assert sorted(a + b) == list(range(10))
    assert {labels[i] for i in a} == {0, 1} and {labels[i] for i in b} == {0, 1}
    assert abs(len(a) - len(b)) <= 1
    assert stratified_halves(labels, seed=3) == (a, b)


def test_held_out_kappa_uses_the_other_half():
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    perfect = held_out_kappa(labels, [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    assert perfect.kappa == 1.0 and perfect.folds == (1.0, 1.0)
    # scores that carry no information: constant -> decisions constant -> kappa nan or 0
    flat = held_out_kappa(labels, [0.5] * 8)
    assert math.isnan(flat.kappa) or flat.kappa <= 0


def test_meets_never_accepts_nan():
    assert meets(0.8, 0.8) and not meets(0.79, 0.8) and not meets(math.nan, 0.0)


# --- Noise ceiling ------------------------------------------------------------------------


def test_an_oracle_separates_plans_whose_outcomes_are_certain():
    ceiling = noise_ceiling([0] * 12 + [4] * 12, 4, outcome_label, draws=30)
    assert ceiling.episode_auc > 0.99 and ceiling.plan_auc > 0.99
    assert ceiling.episode_kappa > 0.9 and ceiling.plan_kappa > 0.9


def test_no_judge_can_separate_plans_of_one_success_rate():
    ceiling = noise_ceiling([2] * 24, 4, outcome_label, draws=30)
    assert abs(ceiling.episode_auc - 0.5) < 0.1 and abs(ceiling.plan_auc - 0.5) < 0.1
    assert ceiling.episode_kappa < 0.25 and ceiling.plan_kappa < 0.25


def test_one_episode_labels_cap_an_oracle_below_plan_labels():
    # rates spread as in a plan anchor (many plans at 0 of 4 or 4 of 4, some between)
    successes = [0] * 9 + [1] * 5 + [2] * 2 + [3] * 4 + [4] * 4
    ceiling = noise_ceiling(successes, 4, outcome_label, draws=30)
    assert 0.5 < ceiling.episode_kappa < ceiling.plan_kappa < 1.0
    assert ceiling.episode_auc < 1.0


def test_the_beta_prior_follows_the_spread_of_the_rates():
    a, b = beta_prior([0] * 12 + [4] * 12, 4)  # rates at the extremes: a U-shaped prior
    assert a < 1 and b < 1
    a, b = beta_prior([2] * 24, 4)  # one rate: a narrow prior around it
    assert a > 10 and b > 10 and abs(a / (a + b) - 0.5) < 0.05


@pytest.mark.parametrize(("successes", "trials"), [([], 4), ([5], 4), ([-1, 2], 4), ([1], 0)])
def test_a_noise_ceiling_needs_counts_within_the_trials(successes, trials):
    with pytest.raises(ValueError, match="successes between 0"):
        noise_ceiling(successes, trials, outcome_label)
