"""HFPolicy: batching, seeding, stops, EOS, limits and exact log-probabilities.

A tiny random Llama over the real SmolLM2 tokenizer stands in for the model.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from agents.hf_policy import (
    HFPolicy,
    invert_cdf,
    left_pad,
    left_pad_after_prefix,
    sample_tokens,
    shared_prefix_length,
)
from agents.policy import GenerationRequest, Policy, SampledTurn, SamplingParams
from agents.testing import smollm2_tokenizer, tiny_causal_lm

QUESTIONS = [
    "Who built the Lumen Tower?",
    "In which year was the river port founded, and by whom?",
    "Name the mayor.",
    "Which city hosts the oldest observatory of the northern province?",
]
FREE = SamplingParams(max_new_tokens=24, seed=7, stop=())


@pytest.fixture(scope="module")
def tokenizer():
    return smollm2_tokenizer()


@pytest.fixture(scope="module")
def policy(tokenizer) -> HFPolicy:
    return HFPolicy(tiny_causal_lm(tokenizer, seed=0), tokenizer)


@pytest.fixture(scope="module")
def requests_(tokenizer) -> list[GenerationRequest]:
    """Chat prompts of different lengths (so the batch needs padding)."""
    out = []
    for question in QUESTIONS:
        messages = ({"role": "user", "content": question},)
        ids = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=False
        )
        out.append(GenerationRequest(prompt_ids=tuple(ids), messages=messages))
    return out


@pytest.fixture(scope="module")
def free_turns(policy, requests_) -> list[SampledTurn]:
    """Unconstrained turns of the batch: the reference for stop and EOS tests."""
    return policy.generate(requests_, FREE)


def full_logp(model, prompt: tuple[int, ...], sampled: tuple[int, ...], temperature: float):
    """log_softmax(logits / T) of a separate full forward pass, at the sampled tokens."""
    ids = torch.tensor([prompt + sampled])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].float()  # [N, V]
    logp = torch.log_softmax(logits / temperature, dim=-1)
    return logp.gather(-1, torch.tensor(sampled)[:, None]).squeeze(-1)


def test_hf_policy_satisfies_the_protocol(policy):
    assert isinstance(policy, Policy)
    assert policy.eos_token_ids == {policy.tokenizer.convert_tokens_to_ids("<|im_end|>")}


def test_batched_sampling_equals_one_by_one_with_row_seeds(policy, requests_, free_turns):
    for row, request in enumerate(requests_):
        alone = policy.generate([request], SamplingParams(max_new_tokens=24, seed=7 + row, stop=()))
        assert alone[0].token_ids == free_turns[row].token_ids
        assert alone[0].logprobs == pytest.approx(free_turns[row].logprobs, abs=1e-4)


def test_request_seed_overrides_the_row_seed(policy, requests_, free_turns):
    swapped = [
        GenerationRequest(requests_[1].prompt_ids, seed=7 + 1),
        GenerationRequest(requests_[0].prompt_ids, seed=7 + 0),
    ]
    turns = policy.generate(swapped, SamplingParams(max_new_tokens=24, seed=123, stop=()))
    assert turns[0].token_ids == free_turns[1].token_ids
    assert turns[1].token_ids == free_turns[0].token_ids


def test_same_seed_is_deterministic_and_chunking_changes_nothing(policy, requests_, free_turns):
    again = HFPolicy(policy.model, policy.tokenizer, max_batch_size=3).generate(requests_, FREE)
    assert [t.token_ids for t in again] == [t.token_ids for t in free_turns]


def test_left_padding_does_not_change_a_rows_logits(policy, requests_):
    prompts = [r.prompt_ids for r in requests_]
    ids, mask, positions = left_pad(prompts, policy.pad_token_id, torch.device("cpu"))
    with torch.no_grad():
        batched = policy.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        for row, prompt in enumerate(prompts):
            alone = policy.model(input_ids=torch.tensor([prompt])).logits[0]  # [T, V]
            padded = batched[row, ids.shape[1] - len(prompt) :]  # the row's real positions
            torch.testing.assert_close(padded, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9), (1.3, 0.5)])
def test_logprobs_equal_a_full_forward_pass(policy, requests_, temperature, top_p):
    params = SamplingParams(max_new_tokens=12, temperature=temperature, top_p=top_p, seed=3)
    turns = policy.generate(requests_, params)
    for request, turn in zip(requests_, turns):
        expected = full_logp(policy.model, request.prompt_ids, turn.token_ids, temperature)
        torch.testing.assert_close(torch.tensor(turn.logprobs), expected, atol=1e-4, rtol=0)


def test_small_temperature_and_zero_temperature_are_greedy(policy, requests_):
    greedy = policy.generate(requests_, SamplingParams(max_new_tokens=8, temperature=0, stop=()))
    cold = policy.generate(
        requests_, SamplingParams(max_new_tokens=8, temperature=1e-4, seed=1, stop=())
    )
    assert [t.token_ids for t in cold] == [t.token_ids for t in greedy]
    for request, turn in zip(requests_, greedy):
        ids = torch.tensor([request.prompt_ids + turn.token_ids])
        with torch.no_grad():
            logits = policy.model(input_ids=ids).logits[0, len(request.prompt_ids) - 1 : -1]
        assert tuple(logits.argmax(-1).tolist()) == turn.token_ids
        expected = full_logp(policy.model, request.prompt_ids, turn.token_ids, 1.0)
        torch.testing.assert_close(torch.tensor(turn.logprobs), expected, atol=1e-4, rtol=0)


def test_tiny_top_p_keeps_only_the_most_likely_token():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9], [5.0, 0.0, 0.0, 0.0]])
    params = SamplingParams(top_p=1e-6, seed=0)
    tokens, logps = sample_tokens(
        logits, params, [torch.Generator().manual_seed(s) for s in (1, 2)]
    )
    assert tokens.tolist() == [1, 0]
    torch.testing.assert_close(logps, torch.log_softmax(logits, -1)[[0, 1], [1, 0]])


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_the_sampler_does_not_depend_on_the_other_rows(top_p):
    logits = 3 * torch.randn(6, 5000, generator=torch.Generator().manual_seed(0))
    params = SamplingParams(temperature=0.8, top_p=top_p)
    streams = [torch.Generator().manual_seed(100 + row) for row in range(6)]
    tokens, logps = sample_tokens(logits, params, streams)
    for row in range(6):
        alone = sample_tokens(
            logits[row : row + 1], params, [torch.Generator().manual_seed(100 + row)]
        )
        assert (alone[0].item(), alone[1].item()) == (tokens[row].item(), logps[row].item())


def test_two_level_inverse_cdf_matches_a_plain_cumulative_sum():
    generator = torch.Generator().manual_seed(0)
    weights = torch.rand(64, 1000, generator=generator, dtype=torch.float64)
    weights[weights < 0.6] = 0.0  # many zero-weight entries, whole blocks of them too
    weights[:, :300] = 0.0
    uniform = torch.rand(64, generator=generator, dtype=torch.float64)
    uniform[:2] = torch.tensor([0.0, 1.0 - 1e-12], dtype=torch.float64)
    cdf = weights.cumsum(-1)
    expected = torch.searchsorted(cdf, (uniform * cdf[:, -1])[:, None], right=True).squeeze(-1)
    chosen = invert_cdf(weights, uniform)
    assert torch.equal(chosen, expected)
    assert bool((weights.gather(-1, chosen[:, None]) > 0).all())


def test_sampled_frequencies_follow_the_nucleus_distribution():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05])).repeat(20000, 1)
    generators = [torch.Generator().manual_seed(i) for i in range(20000)]
    tokens, logps = sample_tokens(logits, SamplingParams(top_p=0.8), generators)
    frequencies = torch.bincount(tokens, minlength=4).double() / 20000
    torch.testing.assert_close(
        frequencies, torch.tensor([0.625, 0.375, 0, 0]).double(), atol=0.015, rtol=0
    )
    torch.testing.assert_close(
        logps, torch.log(torch.tensor([0.5, 0.3]))[tokens], atol=1e-6, rtol=0
    )


def test_stop_string_ends_the_row_and_is_included(policy, requests_, free_turns):
    tok = policy.tokenizer
    reference = free_turns[0].token_ids
    stop = tok.decode(reference[6:9])  # a stop spanning several tokens, met at token 9 or before
    first = next(k for k in range(1, len(reference) + 1) if stop in tok.decode(reference[:k]))
    turns = policy.generate(requests_, SamplingParams(max_new_tokens=24, seed=7, stop=(stop,)))
    assert turns[0].token_ids == reference[:first]
    assert turns[0].finish_reason == "stop"
    assert stop in turns[0].text
    assert len(turns[0].logprobs) == len(turns[0].token_ids)
    for row in (1, 2, 3):  # the other rows go on unchanged once row 0 leaves the batch
        reference_row = free_turns[row].token_ids
        assert turns[row].token_ids == reference_row[: len(turns[row].token_ids)]
        if stop not in turns[row].text:
            assert turns[row].token_ids == reference_row


def test_eos_ends_the_row_and_is_kept_in_token_ids(policy, requests_, free_turns):
    reference = free_turns[2].token_ids
    eos = reference[4]
    first = reference.index(eos)
    custom = HFPolicy(policy.model, policy.tokenizer, eos_token_ids=[eos])
    turns = custom.generate(requests_, FREE)
    assert turns[2].token_ids == reference[: first + 1]
    assert turns[2].finish_reason == "stop"
    assert turns[2].text == policy.tokenizer.decode(reference[:first])


def test_per_turn_limit_gives_length(policy, requests_):
    turns = policy.generate(requests_, SamplingParams(max_new_tokens=5, seed=0, stop=()))
    assert all(len(t.token_ids) == 5 and t.finish_reason == "length" for t in turns)
    assert all(t.text == policy.tokenizer.decode(t.token_ids) for t in turns)


def test_model_mode_is_restored_and_empty_prompts_are_refused(policy, requests_):
    policy.model.train()
    try:
        policy.generate(requests_[:1], SamplingParams(max_new_tokens=2, seed=0))
        assert policy.model.training
    finally:
        policy.model.eval()
    with pytest.raises(ValueError, match="non-empty prompt_ids"):
        policy.generate([GenerationRequest(prompt_ids=())], FREE)


SYSTEM = (
    "You answer questions about a small wiki. Search, visit pages, then answer inside "
    "<answer></answer> tags. Cite the page you used and keep the answer short."
)


@pytest.fixture(scope="module")
def shared_requests(tokenizer) -> list[GenerationRequest]:
    """Prompts sharing a long system prompt + question, then different histories."""
    base = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTIONS[1]}]
    histories = [[], [{"role": "assistant", "content": "Let me search."}]]
    histories += [
        [
            {"role": "assistant", "content": f"<search>{q}</search>"},
            {"role": "user", "content": f"Result {k}: " + "river port " * k},
        ]
        for k, q in enumerate(QUESTIONS[:3], start=1)
    ]
    out = []
    for history in histories:
        ids = tokenizer.apply_chat_template(
            base + history, add_generation_prompt=True, tokenize=True, return_dict=False
        )
        out.append(GenerationRequest(prompt_ids=tuple(ids)))
    assert shared_prefix_length([r.prompt_ids for r in out]) >= 32
    return out


def test_shared_prefix_length_leaves_every_row_a_token():
    assert shared_prefix_length([(1, 2, 3, 4), (1, 2, 5), (1, 2, 3)]) == 2
    assert shared_prefix_length([(1, 2, 3), (1, 2, 3)]) == 2  # identical: re-feed the last
    assert shared_prefix_length([(1, 2, 3), (1, 2)]) == 1  # a prompt that is a prefix
    assert shared_prefix_length([(1,), (1,)]) == 0
    assert shared_prefix_length([(5, 2), (6, 2)]) == 0


def test_suffix_padding_after_a_prefix_continues_positions():
    ids, mask, positions = left_pad_after_prefix([(7, 8, 9), (4,)], 5, 0, torch.device("cpu"))
    assert ids.tolist() == [[7, 8, 9], [0, 0, 4]]
    assert mask.tolist() == [[1] * 5 + [1, 1, 1], [1] * 5 + [0, 0, 1]]
    assert positions[0].tolist() == [5, 6, 7]
    assert positions[1, -1].item() == 5


def shared_batches(shared_requests):
    """Shared prefix + different suffixes; identical prompts; both mixed in one batch."""
    same = [shared_requests[3]] * 4
    return {"suffixes": shared_requests, "identical": same, "mixed": shared_requests[2:] + same}


@pytest.mark.parametrize("batch", ["suffixes", "identical", "mixed"])
@pytest.mark.parametrize(("temperature", "top_p"), [(1.0, 1.0), (0.7, 0.9)])
def test_shared_prefix_logprobs_equal_a_full_forward_pass(
    policy, shared_requests, batch, temperature, top_p
):
    requests = shared_batches(shared_requests)[batch]
    params = SamplingParams(max_new_tokens=12, temperature=temperature, top_p=top_p, seed=3)
    turns = policy.generate(requests, params)
    for request, turn in zip(requests, turns):
        expected = full_logp(policy.model, request.prompt_ids, turn.token_ids, temperature)
        torch.testing.assert_close(torch.tensor(turn.logprobs), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("batch", ["suffixes", "identical", "mixed"])
def test_shared_prefix_samples_like_full_prefill(policy, shared_requests, batch):
    requests = shared_batches(shared_requests)[batch]
    plain = HFPolicy(policy.model, policy.tokenizer, share_prefix=False)
    for params in (FREE, SamplingParams(max_new_tokens=16, temperature=0.8, top_p=0.9, seed=5)):
        shared = policy.generate(requests, params)
        reference = plain.generate(requests, params)
        assert [t.token_ids for t in shared] == [t.token_ids for t in reference]
        for got, want in zip(shared, reference):
            assert got.logprobs == pytest.approx(want.logprobs, abs=1e-4)
            assert got.finish_reason == want.finish_reason


def test_shared_prefix_survives_rows_leaving_the_batch(policy, shared_requests):
    """Stops drop rows from the repeated prefix cache; the others go on unchanged."""
    reference = policy.generate(shared_requests, FREE)
    custom = HFPolicy(policy.model, policy.tokenizer, eos_token_ids=[reference[1].token_ids[3]])
    turns = custom.generate(shared_requests, FREE)
    for got, want in zip(turns, reference):
        assert got.token_ids == want.token_ids[: len(got.token_ids)]
    assert turns[1].finish_reason == "stop"
    assert len(turns[1].token_ids) <= 4


def test_short_common_prefix_uses_the_full_prefill(policy, shared_requests, requests_):
    """Below min_shared_prefix, or with sharing off, prompts are prefilled whole."""
    calls = []
    handle = policy.model.register_forward_pre_hook(
        lambda _m, _a, kw: calls.append(kw["input_ids"].shape), with_kwargs=True
    )
    try:
        policy.generate(requests_, SamplingParams(max_new_tokens=1, seed=0))
        assert calls[0][0] == len(requests_)
        calls.clear()
        policy.generate(shared_requests, SamplingParams(max_new_tokens=1, seed=0))
        prefix = shared_prefix_length([r.prompt_ids for r in shared_requests])
        assert calls[0] == (1, prefix)
        assert calls[1][0] == len(shared_requests)
    finally:
        handle.remove()


def test_sampling_params_are_validated():
    with pytest.raises(ValueError, match="max_new_tokens >= 1, got 0"):
        SamplingParams(max_new_tokens=0)
    with pytest.raises(ValueError, match="0 < top_p <= 1, got 0"):
        SamplingParams(top_p=0)
    with pytest.raises(TypeError, match="tuple of strings"):
        SamplingParams(stop="</answer>")  # type: ignore[arg-type]
