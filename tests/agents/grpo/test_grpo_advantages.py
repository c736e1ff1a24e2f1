import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.grpo import AdvantageScale, group_advantages, valid_reward_mask

NAN = float("nan")


def test_group_scale_matches_hand_computation():
    rewards = torch.tensor([0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 0.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    adv = group_advantages(rewards, groups, "group", eps=0.0)
    # group 0: mean 1, population std sqrt(2/3) = 0.816497 -> +-1/0.816497 = 1.224745
    # group 1: mean 0.5, population std 0.5 -> +-1
    expected = torch.tensor([-1.224745, 0.0, 1.224745, 1.0, -1.0, 1.0, -1.0])
    torch.testing.assert_close(adv.values, expected, atol=1e-5, rtol=0)
    assert adv.zero_variance_groups == 0
    assert adv.num_groups == 2


def test_spread_floor_makes_noise_groups_flat_by_hand():
    # group 0: judge noise, spread 0.5005 - 0.5000 = 0.0005: +-1 without the floor
    # group 1: spread 0.6 - 0.2 = 0.4: mean 0.4, std 0.2 -> +-1 with or without it
    # group 2: equal rewards: flat either way (not counted as low-spread)
    rewards = torch.tensor([0.5, 0.5005, 0.2, 0.6, 0.7, 0.7])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    noisy = group_advantages(rewards, groups, eps=0.0)
    torch.testing.assert_close(noisy.values[:2], torch.tensor([-1.0, 1.0]), atol=1e-3, rtol=0)
    assert (noisy.zero_variance_groups, noisy.low_spread_groups) == (1, 0)
    floored = group_advantages(rewards, groups, eps=0.0, min_spread=0.01)
    expected = torch.tensor([0.0, 0.0, -1.0, 1.0, 0.0, 0.0])
    torch.testing.assert_close(floored.values, expected, atol=1e-6, rtol=0)
    assert (floored.zero_variance_groups, floored.low_spread_groups) == (2, 1)
    assert floored.zero_variance_share == pytest.approx(2 / 3)
    # the floor is strict: a spread equal to it is not below it
    at = group_advantages(torch.tensor([0.0, 0.5]), torch.tensor([0, 0]), min_spread=0.5)
    assert at.low_spread_groups == 0 and at.values.abs().sum() > 0
    with pytest.raises(ValueError, match=r"Expected min_spread >= 0, got -0.1"):
        group_advantages(rewards, groups, min_spread=-0.1)


def test_eps_is_added_to_std():
    adv = group_advantages(torch.tensor([1.0, 0.0]), torch.tensor([3, 3]), eps=0.5)
    # mean 0.5, std 0.5 -> 0.5 / (0.5 + 0.5) = 0.5
    torch.testing.assert_close(adv.values, torch.tensor([0.5, -0.5]))


def test_batch_scale_uses_group_mean_and_batch_std():
    rewards = torch.tensor([0.0, 1.0, 0.0, 3.0])
    groups = torch.tensor([0, 0, 1, 1])
    adv = group_advantages(rewards, groups, AdvantageScale.BATCH, eps=0.0)
    # centered by group means 0.5 and 1.5: [-0.5, 0.5, -1.5, 1.5]
    # batch population std of [0, 1, 0, 3]: mean 1, var (1 + 0 + 1 + 4) / 4 = 1.5
    std = 1.224745
    expected = torch.tensor([-0.5 / std, 0.5 / std, -1.5 / std, 1.5 / std])
    torch.testing.assert_close(adv.values, expected, atol=1e-5, rtol=0)


def test_none_scale_only_centers():
    rewards = torch.tensor([0.0, 1.0, 0.0, 3.0])
    adv = group_advantages(rewards, torch.tensor([0, 0, 1, 1]), "none")
    torch.testing.assert_close(adv.values, torch.tensor([-0.5, 0.5, -1.5, 1.5]))


@pytest.mark.parametrize("scale", list(AdvantageScale))
def test_flat_groups_give_exact_zero(scale):
    # 0.1 * 3 / 3 != 0.1 in floating point: the flat test must not rely on std == 0.
    rewards = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.0, 0.7])
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    adv = group_advantages(rewards, groups, scale)
    assert torch.equal(adv.values[:3], torch.zeros(3))
    assert adv.values[5].item() == 0.0  # a group of one
    assert adv.values[3].item() > 0 > adv.values[4].item()
    assert adv.zero_variance_groups == 2
    assert adv.num_groups == 3
    assert adv.zero_variance_share == pytest.approx(2 / 3)


def test_nan_rewards_are_excluded_from_statistics():
    rewards = torch.tensor([1.0, NAN, 0.0, 0.5])
    adv = group_advantages(rewards, torch.tensor([0, 0, 0, 0]), eps=0.0)
    # valid [1, 0, 0.5]: mean 0.5, population std sqrt((0.25 + 0.25 + 0) / 3) = 0.408248
    expected = torch.tensor([1.224745, 0.0, -1.224745, 0.0])
    torch.testing.assert_close(adv.values, expected, atol=1e-5, rtol=0)
    assert adv.valid.tolist() == [True, False, True, True]
    assert adv.num_excluded == 1


def test_group_with_only_invalid_rewards_counts_as_zero_variance():
    rewards = torch.tensor([NAN, float("inf"), 1.0, 0.0])
    adv = group_advantages(rewards, torch.tensor([5, 5, 9, 9]))
    assert not torch.isnan(adv.values).any()
    assert adv.values[:2].tolist() == [0.0, 0.0]
    assert adv.num_excluded == 2
    assert adv.zero_variance_groups == 1
    assert adv.num_groups == 2


def test_all_nan_batch_scale_gives_zeros():
    adv = group_advantages(torch.tensor([NAN, NAN]), torch.tensor([0, 1]), "batch")
    assert adv.values.tolist() == [0.0, 0.0]
    assert adv.zero_variance_share == 1.0


def test_valid_reward_mask():
    mask = valid_reward_mask(torch.tensor([0.0, NAN, float("-inf"), 1.0]))
    assert mask.tolist() == [True, False, False, True]


def test_integer_rewards_and_arbitrary_group_ids():
    adv = group_advantages(torch.tensor([1, 0, 1, 1]), torch.tensor([-7, -7, 40, 40]), eps=0.0)
    assert adv.values.dtype == torch.float32
    torch.testing.assert_close(adv.values, torch.tensor([1.0, -1.0, 0.0, 0.0]))


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"Expected rewards \[N\] and group_ids \[N\]"):
        group_advantages(torch.zeros(3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="integer tensor of group ids, got torch.float32"):
        group_advantages(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="'mean' is not a valid AdvantageScale"):
        group_advantages(torch.zeros(2), torch.zeros(2, dtype=torch.long), "mean")


samples = st.lists(
    st.tuples(
        st.integers(0, 4),  # group id
        st.one_of(st.floats(-10, 10), st.sampled_from([0.0, 1.0]), st.just(NAN)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(samples, st.sampled_from(list(AdvantageScale)))
def test_properties(pairs, scale):
    groups = torch.tensor([g for g, _ in pairs])
    rewards = torch.tensor([r for _, r in pairs], dtype=torch.float64)
    adv = group_advantages(rewards, groups, scale)
    values = adv.values
    assert not torch.isnan(values).any()
    assert values[~adv.valid].eq(0).all()
    flat = 0
    for g in groups.unique():
        in_group = (groups == g) & adv.valid
        valid_rewards = rewards[in_group]
        if valid_rewards.numel() == 0 or bool((valid_rewards == valid_rewards[0]).all()):
            flat += 1
            assert values[groups == g].eq(0).all()
        else:
            # centered advantages sum to zero within each group
            assert math.isclose(values[in_group].sum().item(), 0.0, abs_tol=1e-6)
            if scale is AdvantageScale.GROUP:
                # and have population std ~1 (up to eps)
                std = values[in_group].std(unbiased=False).item()
                assert std <= 1.0 + 1e-9
    assert adv.zero_variance_groups == flat
