import math

import pytest
import torch

from agents.grpo import (
    Aggregation,
    aggregate,
    approx_kl,
    clip_fraction,
    clipped_surrogate,
    entropy_from_logits,
    masked_mean,
)

EPS_LOW, EPS_HIGH = 0.2, 0.28
RATIOS = torch.tensor([[1.5, 0.5, 1.0], [1.5, 0.5, 1.0]])


def test_clipped_surrogate_by_hand():
    logp = RATIOS.log().requires_grad_()
    old = torch.zeros(2, 3)
    adv = torch.tensor([2.0, -1.0])
    loss = clipped_surrogate(logp, old, adv, EPS_LOW, EPS_HIGH)
    # A=+2: rho 1.5 -> min(3.0, 1.28*2=2.56); rho 0.5 -> min(1.0, 0.8*2=1.6); rho 1 -> 2
    # A=-1: rho 1.5 -> min(-1.5, -1.28);     rho 0.5 -> min(-0.5, -0.8);     rho 1 -> -1
    expected = torch.tensor([[-2.56, -1.0, -2.0], [1.5, 0.8, 1.0]])
    torch.testing.assert_close(loss, expected)
    loss.sum().backward()
    # d(-rho*A)/dlogp = -rho*A where the unclipped term is the min; 0 where clipping binds
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -1.0, -2.0], [1.5, 0.0, 1.0]]))


def test_clipped_surrogate_accepts_per_token_advantages():
    logp, old = RATIOS.log(), torch.zeros(2, 3)
    per_seq = clipped_surrogate(logp, old, torch.tensor([2.0, -1.0]), EPS_LOW, EPS_HIGH)
    per_tok = torch.tensor([[2.0, 2.0, 2.0], [-1.0, -1.0, -1.0]])
    torch.testing.assert_close(clipped_surrogate(logp, old, per_tok, EPS_LOW, EPS_HIGH), per_seq)


def test_clip_fraction_counts_only_tokens_whose_gradient_was_clipped():
    logp, old = RATIOS.log(), torch.zeros(2, 3)
    adv = torch.tensor([2.0, -1.0])
    full = torch.ones(2, 3, dtype=torch.bool)
    # A=+2: rho 1.5 > 1.28 clipped; rho 0.5 < 0.8 keeps its gradient (unclipped is the min)
    # A=-1: rho 1.5 keeps its gradient; rho 0.5 < 0.8 clipped. The zero grads of
    # test_clipped_surrogate_by_hand: 2 of 6 (ratios outside the range: 4 of 6).
    assert clip_fraction(logp, old, adv, full, EPS_LOW, EPS_HIGH).item() == pytest.approx(2 / 6)
    mask = torch.tensor([[True, False, True], [True, True, True]])
    assert clip_fraction(logp, old, adv, mask, EPS_LOW, EPS_HIGH).item() == pytest.approx(2 / 5)


def test_clip_fraction_of_the_issue_one_clipped_token_of_four():
    # ratios 1.5, 0.5, 0.5, 1.0 with A = +1: three lie outside [0.8, 1.28] (the old count
    # logged 0.75), but only rho 1.5 has its gradient removed: 1/4.
    logp, old = torch.tensor([[1.5, 0.5, 0.5, 1.0]]).log(), torch.zeros(1, 4)
    full = torch.ones(1, 4, dtype=torch.bool)
    assert clip_fraction(logp, old, torch.ones(1), full, EPS_LOW, EPS_HIGH).item() == 0.25
    assert clip_fraction(logp, old, -torch.ones(1), full, EPS_LOW, EPS_HIGH).item() == 0.5
    assert clip_fraction(logp, old, torch.zeros(1), full, EPS_LOW, EPS_HIGH).item() == 0.0
    per_token = torch.tensor([[1.0, -1.0, 1.0, -1.0]])  # clipped: rho 1.5 (A>0), 0.5 (A<0)
    assert clip_fraction(logp, old, per_token, full, EPS_LOW, EPS_HIGH).item() == 0.5


NAN = float("nan")
PER_TOKEN = torch.tensor([[1.0, 2.0, 3.0, NAN], [10.0, NAN, NAN, NAN], [5.0, 5.0, 5.0, 5.0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("token-mean", (1 + 2 + 3 + 10) / 4),  # 4.0
        ("seq-mean-token-mean", (2.0 + 10.0) / 2),  # row means 2 and 10; row 2 is empty
        ("seq-mean-token-sum-norm", (6 / 4 + 10 / 4) / 2),  # sums / 4, mean of 2 rows
    ],
)
def test_aggregate_by_hand(mode, expected):
    x = PER_TOKEN.clone().requires_grad_()
    out = aggregate(x, MASK, mode, fixed_length=4)
    assert out.item() == pytest.approx(expected)
    out.backward()
    assert not torch.isnan(x.grad).any()
    assert x.grad[~MASK].eq(0).all()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("token-mean", (1 + 2 + 3 + 10) / 4),  # a token mean: num_sequences does not apply
        ("seq-mean-token-mean", (2.0 + 10.0) / 8),  # (1/G) sum over G = 8 sampled sequences
        ("seq-mean-token-sum-norm", (6 / 4 + 10 / 4) / 8),
    ],
)
def test_aggregate_over_all_sampled_sequences_by_hand(mode, expected):
    # 8 sequences were sampled; 5 were dropped (zero advantage) and row 2 selects nothing:
    # they add 0 to the sum but count in G, as in the paper's (1/G) sum_i.
    x = PER_TOKEN.clone().requires_grad_()
    out = aggregate(x, MASK, mode, fixed_length=4, num_sequences=8)
    assert out.item() == pytest.approx(expected)
    out.backward()
    assert x.grad[~MASK].eq(0).all()


def test_sampled_normalization_keeps_the_gradient_scale_of_a_flat_group():
    # Two groups of two; group B is flat and dropped. The kept mean doubles the weight of
    # group A's tokens (the 2.0x of the issue); (1/G) with G = 4 does not.
    x = torch.zeros(2, 2, requires_grad=True)
    mask = torch.ones(2, 2, dtype=torch.bool)
    aggregate(x, mask, Aggregation.SEQ_MEAN_TOKEN_MEAN).backward()
    torch.testing.assert_close(x.grad, torch.full((2, 2), 1 / 4))  # (1/2 seq) * (1/2 tok)
    x.grad = None
    aggregate(x, mask, Aggregation.SEQ_MEAN_TOKEN_MEAN, num_sequences=4).backward()
    torch.testing.assert_close(x.grad, torch.full((2, 2), 1 / 8))  # (1/4 seq) * (1/2 tok)
    with pytest.raises(ValueError, match="num_sequences >= the 2 sequences"):
        aggregate(x, mask, Aggregation.SEQ_MEAN_TOKEN_MEAN, num_sequences=1)


def test_aggregate_gradients_weigh_tokens_by_mode():
    x = torch.zeros(3, 4, requires_grad=True)
    aggregate(x, MASK, Aggregation.SEQ_MEAN_TOKEN_MEAN).backward()
    # each non-empty sequence weighs 1/2, shared over its selected tokens
    expected = torch.tensor([[1 / 6, 1 / 6, 1 / 6, 0], [1 / 2, 0, 0, 0], [0, 0, 0, 0]])
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("mode", list(Aggregation))
def test_empty_mask_gives_connected_zero(mode):
    x = torch.randn(2, 3, requires_grad=True)
    out = aggregate(x, torch.zeros(2, 3, dtype=torch.bool), mode, fixed_length=3)
    assert out.item() == 0.0
    assert out.grad_fn is not None
    out.backward()
    assert torch.equal(x.grad, torch.zeros(2, 3))


def test_aggregate_errors():
    with pytest.raises(ValueError, match="positive fixed_length for 'seq-mean-token-sum-norm'"):
        aggregate(torch.zeros(1, 2), torch.ones(1, 2, dtype=torch.bool), "seq-mean-token-sum-norm")
    with pytest.raises(ValueError, match=r"same shape, got \(1, 2\) and \(1, 3\)"):
        aggregate(torch.zeros(1, 2), torch.ones(1, 3, dtype=torch.bool))


def test_masked_mean_along_a_dim():
    x = torch.tensor([[1.0, 3.0, NAN], [4.0, 4.0, 4.0]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    torch.testing.assert_close(masked_mean(x, mask, dim=-1), torch.tensor([2.0, 0.0]))
    assert masked_mean(x, mask).item() == 2.0


def test_entropy_from_logits_by_hand():
    logits = torch.tensor([[[0.0, 0.0, -math.inf, -math.inf], [0.0, math.log(3), -1e9, -1e9]]])
    logits = torch.cat([logits, torch.zeros(1, 1, 4)], dim=1)  # [1, 3, 4]
    # uniform over 2: ln 2; p = (1/4, 3/4): -(.25 ln .25 + .75 ln .75); uniform over 4: ln 4
    expected = torch.tensor([[0.693147, 0.562335, 1.386294]])
    logits.requires_grad_()
    entropy = entropy_from_logits(logits)
    torch.testing.assert_close(entropy, expected, atol=1e-5, rtol=0)
    entropy.sum().backward()
    assert not torch.isnan(logits.grad).any()


def test_approx_kl_is_k3_by_hand():
    logp = torch.tensor([[math.log(2), -math.log(2), 0.0, 5.0]])
    mask = torch.tensor([[True, True, True, False]])
    # e^r - 1 - r: r = ln2 -> 0.306853, r = -ln2 -> 0.193147, r = 0 -> 0; mean = 0.5 / 3
    assert approx_kl(logp, torch.zeros(1, 4), mask).item() == pytest.approx(1 / 6, abs=1e-6)
