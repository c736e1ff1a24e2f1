"""HFPolicy: batching, seeding, stops, EOS, limits and exact log-probabilities.

A tiny random Llama over the real SmolLM2 tokenizer stands in for the model.

Two computation paths for the same rows (batched or alone, shared or full prefill, a batch
that shrinks when a row leaves) give logits that agree within float tolerance, not bit for
bit: reductions run in another order, and CPUs with other kernels (AVX-512, AMX) round
otherwise. Their sampled tokens are compared only until they part at a near-tie (see
:func:`assert_alike_until_they_part`); runs along one path with one seed are compared exactly.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from typing import NamedTuple

import pytest
import torch

from agents import hf_policy
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
LOGIT_ATOL = 1e-4
"""How closely two computation paths' logits for one context must agree (under 1e-6 apart here)."""
GREEDY_MARGIN = 1e-2
"""Greedy tokens of two paths are compared while the top two logits are at least this far apart."""


class Draw(NamedTuple):
    """One step of one row, as the sampler saw it."""

    stream: torch.Tensor  # the state of the row's random generator before the draw
    logits: torch.Tensor  # [V] float32, before temperature
    token: int


class Row(NamedTuple):
    """One request's turn and every draw that sampled it."""

    turn: SampledTurn
    draws: list[Draw]


def generate_recorded(
    policy: HFPolicy, requests: list[GenerationRequest], params: SamplingParams
) -> list[Row]:
    """``policy.generate``, keeping the sampler's inputs and token of every row at every step."""
    draws: dict[torch.Generator, list[Draw]] = {}  # one generator per row, in request order

    def recording(logits, params, generators):
        streams = [g.get_state() for g in generators]
        tokens, logps = sample_tokens(logits, params, generators)
        for g, stream, row, token in zip(generators, streams, logits.float(), tokens.tolist()):
            draws.setdefault(g, []).append(Draw(stream, row.clone(), token))
        return tokens, logps

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hf_policy, "sample_tokens", recording)
        turns = policy.generate(requests, params)
    rows = [Row(turn, steps) for turn, steps in zip(turns, draws.values(), strict=True)]
    assert all(tuple(d.token for d in row.draws) == row.turn.token_ids for row in rows)
    return rows


def assert_alike_until_they_part(got: Row, want: Row) -> int:
    """Check one row sampled along two computation paths; return how many leading tokens agree.

    Step by step, up to and including the first step whose tokens differ, both paths must
    draw from the same position of the same random stream and from logits that agree within
    ``LOGIT_ATOL``. Tokens are not compared past that step: logits that agree within float
    tolerance can fall on either side of a step of the sampler's CDF (a near-tie), and where
    they do depends on the CPU's kernels, so two correct paths may part there.
    """
    parted = min(len(got.draws), len(want.draws))
    for step, (a, b) in enumerate(zip(got.draws, want.draws)):
        assert torch.equal(a.stream, b.stream), f"step {step}: another random stream or position"
        torch.testing.assert_close(a.logits, b.logits, atol=LOGIT_ATOL, rtol=0)
        if a.token != b.token:
            parted = step
            break
    assert got.turn.logprobs[:parted] == pytest.approx(want.turn.logprobs[:parted], abs=1e-4)
    return parted


def assert_same_samples(got: list[Row], want: list[Row]) -> None:
    """The same requests along two paths: alike until they part, identical if they never do."""
    for g, w in zip(got, want, strict=True):
        if assert_alike_until_they_part(g, w) == min(len(g.draws), len(w.draws)):
            assert g.turn.token_ids == w.turn.token_ids
            assert g.turn.finish_reason == w.turn.finish_reason


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
def free_rows(policy, requests_) -> list[Row]:
    """Unconstrained turns of the batch and their draws: the reference for batching, stop
    and EOS tests."""
    return generate_recorded(policy, requests_, FREE)


@pytest.fixture(scope="module")
def free_turns(free_rows) -> list[SampledTurn]:
    return [row.turn for row in free_rows]


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


def test_batched_sampling_equals_one_by_one_with_row_seeds(policy, requests_, free_rows):
    for row, request in enumerate(requests_):  # alone: no padding, other shapes
        params = SamplingParams(max_new_tokens=24, seed=7 + row, stop=())
        assert_same_samples(generate_recorded(policy, [request], params), free_rows[row : row + 1])


def test_request_seed_overrides_the_row_seed(policy, requests_, free_rows):
    swapped = [
        GenerationRequest(requests_[1].prompt_ids, seed=7 + 1),
        GenerationRequest(requests_[0].prompt_ids, seed=7 + 0),
    ]
    rows = generate_recorded(policy, swapped, SamplingParams(max_new_tokens=24, seed=123, stop=()))
    assert_same_samples(rows, [free_rows[1], free_rows[0]])  # the same streams, step by step


def test_same_seed_is_deterministic_and_chunking_changes_nothing(policy, requests_, free_rows):
    again = policy.generate(requests_, FREE)  # the same computation: identical, bit for bit
    assert again == [row.turn for row in free_rows]
    chunked = HFPolicy(policy.model, policy.tokenizer, max_batch_size=3)  # batches of 3 and 1
    assert_same_samples(generate_recorded(chunked, requests_, FREE), free_rows)


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
    compared = 0
    for request, turn, cold_turn in zip(requests_, greedy, cold):
        ids = torch.tensor([request.prompt_ids + turn.token_ids])
        with torch.no_grad():
            logits = policy.model(input_ids=ids).logits[0, len(request.prompt_ids) - 1 : -1]
        top2 = logits.topk(2, dim=-1).values  # [N, 2]
        clear = (top2[:, 0] - top2[:, 1] >= GREEDY_MARGIN).tolist()
        n = clear.index(False) if False in clear else len(clear)  # up to the first near-tie:
        # the cached decode picks the argmax of a full forward pass, and at T = 1e-4 the
        # runner-up has a probability below exp(-100)
        assert turn.token_ids[:n] == tuple(logits.argmax(-1).tolist())[:n]
        assert cold_turn.token_ids[:n] == turn.token_ids[:n]
        compared += n
        expected = full_logp(policy.model, request.prompt_ids, turn.token_ids, 1.0)
        torch.testing.assert_close(torch.tensor(turn.logprobs), expected, atol=1e-4, rtol=0)
    assert compared >= sum(len(t.token_ids) for t in greedy) // 2  # most steps are clear


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
    target = uniform * cdf[:, -1]
    expected = torch.searchsorted(cdf, target[:, None], right=True).squeeze(-1)
    step = cdf.gather(-1, torch.stack([expected - 1, expected], -1))  # [64, 2]: around the target
    margin = torch.minimum(target - step[:, 0], step[:, 1] - target) / cdf[:, -1]
    assert margin[2:].min() > 1e-9  # no near-tie: both orders of summation round far below this
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


def test_stop_string_ends_the_row_and_is_included(policy, requests_, free_rows, free_turns):
    tok = policy.tokenizer
    reference = free_turns[0].token_ids
    stop = tok.decode(reference[6:9])  # a stop spanning several tokens, met at token 9 or before
    first = next(k for k in range(1, len(reference) + 1) if stop in tok.decode(reference[:k]))
    # no other row meets the stop first, so until row 0 does, both runs are one computation
    assert not any(stop in tok.decode(t.token_ids[:first]) for t in free_turns[1:])
    rows = generate_recorded(
        policy, requests_, SamplingParams(max_new_tokens=24, seed=7, stop=(stop,))
    )
    turns = [row.turn for row in rows]
    assert turns[0].token_ids == reference[:first]
    assert turns[0].finish_reason == "stop"
    assert stop in turns[0].text
    assert len(turns[0].logprobs) == len(turns[0].token_ids)
    for row in (1, 2, 3):  # the other rows go on, in a smaller batch, once row 0 leaves
        parted = assert_alike_until_they_part(rows[row], free_rows[row])
        if stop in turns[row].text:
            assert turns[row].finish_reason == "stop"
        elif parted == len(turns[row].token_ids):
            assert turns[row].token_ids == free_turns[row].token_ids


def test_eos_ends_the_row_and_is_kept_in_token_ids(policy, requests_, free_turns):
    reference = free_turns[2].token_ids
    eos = reference[4]
    first = reference.index(eos)
    # until row 2 samples `eos`, no row leaves one run's batch but not the other's (none
    # samples `eos` or ends on the usual EOS before), so both runs are one computation
    assert all(eos not in t.token_ids[:first] and len(t.token_ids) > first for t in free_turns)
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
    plain = HFPolicy(policy.model, policy.tokenizer, share_prefix=False, reuse_cache=False)
    for params in (FREE, SamplingParams(max_new_tokens=16, temperature=0.8, top_p=0.9, seed=5)):
        shared = generate_recorded(policy, requests, params)
        assert_same_samples(shared, generate_recorded(plain, requests, params))


def test_shared_prefix_survives_rows_leaving_the_batch(policy, shared_requests):
    """Stops drop rows from the repeated prefix cache; the others go on unchanged."""
    reference = generate_recorded(policy, shared_requests, FREE)
    eos = reference[1].turn.token_ids[3]
    first = reference[1].turn.token_ids.index(eos)
    # row 1 leaves first (no row samples `eos` or ends before it does): until then, one computation
    assert all(
        eos not in r.turn.token_ids[:first] and len(r.turn.token_ids) > first for r in reference
    )
    custom = HFPolicy(policy.model, policy.tokenizer, eos_token_ids=[eos])
    rows = generate_recorded(custom, shared_requests, FREE)
    assert rows[1].turn.token_ids == reference[1].turn.token_ids[: first + 1]
    for got, want in zip(rows, reference):  # the others go on in a smaller batch
        assert_alike_until_they_part(got, want)
    assert rows[1].turn.finish_reason == "stop"
    assert len(rows[1].turn.token_ids) <= 4


def test_short_common_prefix_uses_the_full_prefill(policy, shared_requests, requests_):
    """Without kept states: below min_shared_prefix, or with sharing off, prompts are
    prefilled whole."""
    policy = HFPolicy(policy.model, policy.tokenizer, reuse_cache=False)
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
