"""SmolLM2-135M-Instruct plays a real episode through the rollout engine (slow)."""

from __future__ import annotations

import itertools

import pytest

from agents.policy import SamplingParams
from agents.prompts import REACT_PREFILL
from agents.rollout import RolloutConfig, rollout


@pytest.mark.slow
def test_smollm2_plays_a_real_episode(make_env):
    from agents.hf_policy import HFPolicy

    policy = HFPolicy.from_pretrained(None, device="cpu")
    config = RolloutConfig(
        group_size=2,
        prompt=REACT_PREFILL,
        params=SamplingParams(max_new_tokens=32, temperature=0.7, seed=0),
        max_turns=2,
    )
    trajectories = rollout(policy, make_env, ["q-1"], config)
    tokenizer = policy.tokenizer
    for t in trajectories:
        assert 1 <= t.num_turns <= 2
        assert t.terminated or t.truncated_reason in {"max_turns", "context_budget"}
        assert len(t.action_mask) == len(t.step_ids) == len(t.logprobs) == len(t.token_ids)
        assert sum(t.action_mask) == sum(turn.num_tokens for turn in t.turns) > 0
        rendered = tokenizer.apply_chat_template(list(t.messages), tokenize=False)
        assert tokenizer.decode(list(t.token_ids), skip_special_tokens=False) == rendered
        for mask, group in itertools.groupby(zip(t.token_ids, t.action_mask), key=lambda x: x[1]):
            ids = [i for i, _ in group]
            if not mask:
                text = tokenizer.decode(ids, skip_special_tokens=False)
                assert tokenizer.encode(text, add_special_tokens=False) == ids
        assert all(turn.text.startswith(turn.prefill) for turn in t.turns)
        assert t.turns[0].prefill == "<plan>"
