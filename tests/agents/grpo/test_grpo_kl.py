import pytest
import torch

from agents.grpo import KLConfig, KLEstimator, kl_k1, kl_k3, per_token_kl

LOGP = torch.tensor([[-1.0, -2.0, -0.5]])
REF = torch.tensor([[-2.0, -1.0, -0.5]])


def test_k1_by_hand():
    torch.testing.assert_close(kl_k1(LOGP, REF), torch.tensor([[1.0, -1.0, 0.0]]))


def test_k3_by_hand():
    # ref - logp = -1 -> e^-1 + 1 - 1 = 0.367879; +1 -> e - 1 - 1 = 0.718282; 0 -> 0
    expected = torch.tensor([[0.367879, 0.718282, 0.0]])
    torch.testing.assert_close(kl_k3(LOGP, REF), expected, atol=1e-6, rtol=0)


def test_per_token_kl_dispatches_on_estimator():
    torch.testing.assert_close(per_token_kl(LOGP, REF, "k1"), kl_k1(LOGP, REF))
    torch.testing.assert_close(per_token_kl(LOGP, REF), kl_k3(LOGP, REF))
    with pytest.raises(ValueError, match="'k2' is not a valid KLEstimator"):
        per_token_kl(LOGP, REF, "k2")


def test_kl_is_off_by_default():
    config = KLConfig()
    assert config.beta == 0.0
    assert config.estimator is KLEstimator.K3
    assert not config.enabled
    assert KLConfig(beta=0.04).enabled
