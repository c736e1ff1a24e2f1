import pytest
import torch

from agents.grpo import (
    AllSteps,
    CallableSteps,
    ExplicitSteps,
    FirstStep,
    LastStep,
    RandomStep,
    StepSelector,
    sequence_has_tokens,
)

#                       0   1  2  3   4  5  6   7  8
STEP_IDS = torch.tensor(
    [
        [-1, -1, 0, 0, -1, 1, 1, -1, 2],
        [-1, 0, 0, -1, 1, -1, -1, -1, -1],
        [-1, -1, -1, -1, -1, -1, -1, -1, -1],
    ]
)


def positions(mask: torch.Tensor) -> list[list[int]]:
    return [row.nonzero().flatten().tolist() for row in mask]


def test_all_steps_selects_every_policy_token():
    assert positions(AllSteps()(STEP_IDS)) == [[2, 3, 5, 6, 8], [1, 2, 4], []]


def test_first_step_selects_the_plan_turn():
    assert positions(FirstStep()(STEP_IDS)) == [[2, 3], [1, 2], []]


def test_first_step_is_the_plan_even_when_the_policy_did_not_write_it():
    # A forced plan is prompt (step -1 once collated): the sequence has no first step of
    # its own, and the mask does not fall back to turn 1.
    forced = torch.tensor([[-1, -1, -1, -1, 1, 1, -1, 2], [-1, 0, 0, -1, 1, 1, -1, 2]])
    assert positions(FirstStep()(forced)) == [[], [1, 2]]
    assert positions(FirstStep()(torch.tensor([[-1, 3, 3, -1, 4]]))) == [[]]


def test_last_step_is_per_sequence():
    assert positions(LastStep()(STEP_IDS)) == [[8], [4], []]


def test_explicit_steps():
    assert positions(ExplicitSteps({0, 2})(STEP_IDS)) == [[2, 3, 8], [1, 2], []]
    assert positions(ExplicitSteps([5])(STEP_IDS)) == [[], [], []]
    with pytest.raises(ValueError, match=r"Expected step ids >= 0, got \[-1, 0\]"):
        ExplicitSteps({0, -1})


def test_callable_steps_are_restricted_to_policy_tokens():
    # -1 % 2 == 1 in torch, so the raw rule would also pick non-policy tokens.
    mask = CallableSteps(lambda s: s % 2 == 1)(STEP_IDS)
    assert positions(mask) == [[5, 6], [4], []]


def test_callable_steps_check_the_returned_mask():
    with pytest.raises(ValueError, match=r"bool mask of shape \(3, 9\), got torch.int64"):
        CallableSteps(lambda s: s)(STEP_IDS)


def test_random_step_picks_one_present_step_per_sequence():
    selector = RandomStep(seed=3)
    for _ in range(20):
        mask = selector(STEP_IDS)
        assert not mask[2].any()
        for row in range(2):
            chosen = STEP_IDS[row][mask[row]].unique()
            assert chosen.numel() == 1
            assert torch.equal(mask[row], STEP_IDS[row] == chosen)


def test_random_step_is_reproducible_and_advances():
    a, b = RandomStep(seed=11), RandomStep(seed=11)
    draws_a = [a(STEP_IDS) for _ in range(10)]
    draws_b = [b(STEP_IDS) for _ in range(10)]
    assert all(torch.equal(x, y) for x, y in zip(draws_a, draws_b))
    assert any(not torch.equal(draws_a[0], x) for x in draws_a[1:])


def test_random_step_is_uniform_over_steps():
    # sequence 0 has steps {0, 1, 2} with 2, 2 and 1 tokens: steps, not tokens, are uniform
    selector = RandomStep(seed=0)
    counts = torch.zeros(3)
    n = 3000
    batch = STEP_IDS[:1].expand(n, -1)
    mask = selector(batch)
    for step in range(3):
        counts[step] = (mask & (batch == step)).any(dim=-1).sum()
    assert counts.sum() == n
    assert torch.allclose(counts / n, torch.full((3,), 1 / 3), atol=0.04)


def test_random_step_without_policy_tokens():
    assert not RandomStep()(torch.full((2, 4), -1)).any()
    assert RandomStep()(torch.zeros(2, 0, dtype=torch.long)).shape == (2, 0)


def test_selectors_satisfy_protocol():
    for sel in (AllSteps(), FirstStep(), LastStep(), RandomStep(), ExplicitSteps({1})):
        assert isinstance(sel, StepSelector)


def test_sequence_has_tokens():
    assert sequence_has_tokens(FirstStep()(STEP_IDS)).tolist() == [True, True, False]
