"""The rollout engine's token invariants (see the docstring of agents.rollout).

1. mask and step ids have the length of the ids;
2. the tokens under the mask are exactly the tokens the policy sampled;
3. the sequence equals the chat template of the final conversation: token for token for a
   policy that writes canonical tokenizations (the oracle), at the text level for a random
   model, with every non-policy segment equal to its own canonical tokenization.
"""

from __future__ import annotations

import copy
import itertools

import pytest

from agents.policy import SamplingParams
from agents.prompts import COMPACT_PREFILL, COMPACT_STEPS, REACT, REACT_PREFILL
from agents.rollout import RolloutConfig, request_seed, rollout
from agents.scripted import OraclePolicy
from agents.trajectory import Trajectory

SEED = 11


def _template_ids(tokenizer, trajectory: Trajectory) -> list[int]:
    text = tokenizer.apply_chat_template(list(trajectory.messages), tokenize=False)
    return tokenizer.encode(text, add_special_tokens=False)


def _check_lengths_and_mask(t: Trajectory, sampled: list[tuple[int, ...]]) -> None:
    assert len(t.action_mask) == len(t.step_ids) == len(t.token_ids)
    assert t.policy_token_ids == tuple(itertools.chain.from_iterable(sampled))
    for k, ids in enumerate(sampled):  # each turn's tokens carry its step id
        assert sum(1 for s, m in zip(t.step_ids, t.action_mask) if m and s == k) == len(ids)
    assert all((s == -1) == (m == 0) for s, m in zip(t.step_ids, t.action_mask))


def _sampled(policy, t: Trajectory) -> list:
    return [policy.by_seed[request_seed(SEED, t.group_id, t.sample, k)] for k in range(t.num_turns)]


@pytest.mark.parametrize(
    "prompt", [REACT, REACT_PREFILL, COMPACT_PREFILL, COMPACT_STEPS], ids=lambda p: p.name
)
@pytest.mark.parametrize("end_with_eos", [False, True], ids=["stop-string", "eos"])
def test_oracle_trajectories_equal_the_chat_template_token_for_token(
    make_env, tasks, tokenizer, recording, prompt, end_with_eos
):
    labels = prompt.step_labels
    policy = recording(
        OraclePolicy(tasks, tokenizer, end_with_eos=end_with_eos, step_labels=labels)
    )
    config = RolloutConfig(group_size=2, prompt=prompt, params=SamplingParams(seed=SEED))
    trajectories = rollout(policy, make_env, ["q-1", "q-2"], config)
    assert [t.reward for t in trajectories] == [1.0] * 4
    for t in trajectories:
        turns = _sampled(policy, t)
        _check_lengths_and_mask(t, [turn.token_ids for turn in turns])
        assert list(t.token_ids) == _template_ids(tokenizer, t)
        assert t.logprobs is None  # scripted: no log-probabilities
        assert t.messages[-1]["role"] == "assistant"
        if prompt.first_prefill:
            assert t.messages[2]["content"].startswith(prompt.first_prefill)


def test_the_smollm2_template_delta_of_a_tool_response(make_env, tasks, tokenizer):
    policy = OraclePolicy(tasks, tokenizer)
    (t,) = rollout(policy, make_env, ["q-1"], RolloutConfig())
    text = tokenizer.decode(list(t.token_ids), skip_special_tokens=False)
    observation = t.turns[0].observation
    delta = f"<|im_end|>\n<|im_start|>user\n{observation}<|im_end|>\n<|im_start|>assistant\n"
    assert delta in text
    assert text.endswith("</answer><|im_end|>\n")


@pytest.fixture(scope="module")
def random_runs(make_env, tiny_policy, recording):
    policy = recording(tiny_policy)
    config = RolloutConfig(
        group_size=2,
        params=SamplingParams(max_new_tokens=16, seed=SEED),
        max_turns=2,
        prompt=REACT_PREFILL,
    )
    return policy, rollout(policy, make_env, ["q-1", "q-3"], config)


def test_random_model_masks_exactly_the_sampled_tokens(random_runs):
    policy, trajectories = random_runs
    assert policy.batch_sizes[0] == 4
    for t in trajectories:
        turns = _sampled(policy, t)
        _check_lengths_and_mask(t, [turn.token_ids for turn in turns])
        expected = [lp for turn in turns for lp in turn.logprobs]
        assert [lp for lp, m in zip(t.logprobs, t.action_mask) if m] == expected
        assert all(lp == 0.0 for lp, m in zip(t.logprobs, t.action_mask) if not m)


def test_random_model_trajectories_equal_the_template_as_text(random_runs, tokenizer):
    _, trajectories = random_runs
    for t in trajectories:
        rendered = tokenizer.apply_chat_template(list(t.messages), tokenize=False)
        assert tokenizer.decode(list(t.token_ids), skip_special_tokens=False) == rendered


def test_random_model_non_policy_segments_are_canonical_tokenizations(random_runs, tokenizer):
    _, trajectories = random_runs
    for t in trajectories:
        rendered = tokenizer.apply_chat_template(list(t.messages), tokenize=False)
        for mask, group in itertools.groupby(zip(t.token_ids, t.action_mask), key=lambda x: x[1]):
            if mask:
                continue
            ids = [i for i, _ in group]
            text = tokenizer.decode(ids, skip_special_tokens=False)
            assert text in rendered
            assert tokenizer.encode(text, add_special_tokens=False) == ids


CHATML_LIKE = (
    "{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] + '<|im_end|>\\n\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}"
)


def test_another_chat_template_is_followed_token_for_token(make_env, tasks, tokenizer):
    other = copy.deepcopy(tokenizer)
    other.chat_template = CHATML_LIKE
    trajectories = rollout(OraclePolicy(tasks, other), make_env, ["q-2"], RolloutConfig())
    (t,) = trajectories
    assert t.reward == 1.0
    assert list(t.token_ids) == _template_ids(other, t)
    assert other.decode(list(t.token_ids)).startswith("### system:\n")
