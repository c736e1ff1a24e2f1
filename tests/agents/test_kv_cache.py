"""Key/value states kept across turns: the cache layer, the prefix store, and HFPolicy
prefilling only new tokens with the same log-probabilities as a full forward pass."""

from __future__ import annotations

import copy
import inspect
import warnings

import pytest
import torch

from agents.hf_policy import HFPolicy
from agents.kv_cache import (
    GrowingLayer,
    PrefixStore,
    cache_keyword,
    common_prefix_length,
    growing_cache,
    left_padded,
    length_buckets,
)
from agents.policy import GenerationRequest, SamplingParams
from agents.testing import tiny_causal_lm

PARAMS = SamplingParams(max_new_tokens=10, temperature=1.0, seed=11, stop=())


def states(length: int, fill: float = 0.0, layers: int = 2) -> tuple:
    k = torch.arange(length, dtype=torch.float32).view(1, 1, length, 1).expand(1, 2, length, 3)
    return tuple((k + fill, -k - fill) for _ in range(layers))


def test_growing_layer_equals_concatenation_and_grows_past_its_buffer():
    layer = GrowingLayer.holding(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5), 6)
    want_k = torch.zeros(2, 3, 4, 5)
    for _ in range(5):  # 4 + 5 positions: past the buffer of 6
        new = torch.randn(2, 3, 1, 5)
        k, v = layer.update(new, -new)
        want_k = torch.cat([want_k, new], dim=-2)
        torch.testing.assert_close(k, want_k, rtol=0, atol=0)
        torch.testing.assert_close(v[..., 4:, :], -want_k[..., 4:, :], rtol=0, atol=0)
    assert layer.get_seq_length() == 9
    layer.batch_select_indices(torch.tensor([1]))
    torch.testing.assert_close(layer.keys, want_k[1:], rtol=0, atol=0)
    layer.update(torch.ones(1, 3, 2, 5), torch.ones(1, 3, 2, 5))
    assert layer.keys.shape == (1, 3, 11, 5)


def test_left_padded_stacks_rows_behind_padding_with_spare_room():
    cache, mask = left_padded([states(3, 1.0), states(5, 2.0)], spare=4)
    assert mask.tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    keys = cache.layers[0].keys
    assert keys.shape == (2, 2, 5, 3)
    torch.testing.assert_close(keys[0, :, 2:], states(3, 1.0)[0][0][0])
    assert cache.layers[0]._key_buffer.shape[-2] == 9  # 5 + 4 spare: decoding never copies
    assert isinstance(growing_cache().layer_class_to_replicate(), GrowingLayer)


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [((), (1,), 0), ((1, 2, 3), (1, 2, 3, 4), 3), ((1, 2, 3), (1, 2), 2), ((5, 2), (1, 2), 0)]
    + [(tuple(range(100)), tuple(range(37)) + (0,) * 63, 37)],
)
def test_common_prefix_length(a, b, want):
    assert common_prefix_length(a, b) == want == common_prefix_length(b, a)


def test_store_finds_the_longest_prefix_and_drops_what_a_longer_entry_extends():
    store = PrefixStore(max_bytes=1 << 20)
    store.put((1, 2, 3), states(3))
    store.put((1, 2, 9, 9), states(4))
    assert store.longest_prefix((1, 2, 3, 4, 5), limit=4)[0] == 3
    assert store.longest_prefix((1, 2, 3, 4, 5), limit=2)[0] == 2
    assert store.longest_prefix((7,), limit=0) == (0, None)
    store.put((1, 2, 3, 4, 5, 6), states(6))  # extends (1, 2, 3): that entry goes
    assert len(store) == 2
    length, found = store.longest_prefix((1, 2, 3, 4, 5, 6, 7), limit=6)
    assert length == 6 and found[0][0].shape[-2] == 6


def test_store_evicts_the_least_recently_used_beyond_its_budget():
    one = sum(k.nbytes + v.nbytes for k, v in states(4))
    store = PrefixStore(max_bytes=2 * one)
    store.put((1, 1, 1, 1), states(4))
    store.put((2, 2, 2, 2), states(4))
    store.longest_prefix((1, 1, 5), limit=2)  # (1, ...) used: (2, ...) is now the oldest
    store.put((3, 3, 3, 3), states(4))
    assert len(store) == 2 and store.nbytes <= 2 * one
    assert store.longest_prefix((2, 2, 2), limit=2) == (0, None)
    assert store.longest_prefix((1, 1, 1), limit=2)[0] == 2
    store.put(tuple(range(20)), states(20))  # larger than the whole budget: not kept
    assert store.longest_prefix(tuple(range(5)), limit=4) == (0, None)


def test_store_forgets_states_when_the_model_changes():
    model = torch.nn.Linear(2, 2)
    store = PrefixStore(max_bytes=1 << 20)
    store.check_model(model)
    store.put((1, 2), states(2))
    store.check_model(model)  # unchanged: kept
    assert len(store) == 1
    model.weight.grad = torch.ones_like(model.weight)
    torch.optim.SGD(model.parameters(), lr=0.1).step()  # in place: the version moves
    store.check_model(model)
    assert len(store) == 0


@pytest.fixture(scope="module")
def model(tokenizer):
    return tiny_causal_lm(tokenizer, seed=0)


def chat(tokenizer, text: str) -> tuple[int, ...]:
    messages = [{"role": "user", "content": text}]
    return tuple(
        tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=False
        )
    )


def full_logp(model, prompt, sampled) -> torch.Tensor:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + sampled])).logits[0].float()
    logp = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)
    return logp.gather(-1, torch.tensor(sampled)[:, None]).squeeze(-1)


def two_turns(policy: HFPolicy, tokenizer, first: list[tuple[int, ...]]):
    """Turn 1 on ``first``, then turn 2 on each prompt + its sample + a tool response."""
    turns1 = policy.generate([GenerationRequest(p) for p in first], PARAMS)
    tool = tuple(tokenizer.encode("<|im_end|>\n<|im_start|>user\nA tool said: 42.<|im_end|>\n"))
    second = [p + t.token_ids + tool for p, t in zip(first, turns1)]
    before = policy.prefilled_positions
    turns2 = policy.generate([GenerationRequest(p) for p in second], PARAMS)
    return second, turns2, policy.prefilled_positions - before


def test_a_later_turn_prefills_only_its_new_tokens_with_exact_logprobs(model, tokenizer):
    policy = HFPolicy(model, tokenizer)
    first = [chat(tokenizer, "Who founded the city by the lake?")] * 3 + [
        chat(tokenizer, "Which river runs through it?")
    ]
    with policy.keeping_states():
        before = policy.prefilled_positions
        turns1 = policy.generate([GenerationRequest(p) for p in first], PARAMS)
        # the group's identical prompts: the first row in full, the others one token each
        shared = common_prefix_length(first[0], first[3])
        assert policy.prefilled_positions - before == len(first[0]) + 2 + len(first[3]) - shared
        tool = tuple(tokenizer.encode("<|im_end|>\n<|im_start|>user\nA tool: 42.<|im_end|>\n"))
        second = [p + t.token_ids + tool for p, t in zip(first, turns1)]
        before = policy.prefilled_positions
        turns2 = policy.generate([GenerationRequest(p) for p in second], PARAMS)
        new = sum(len(tool) + 1 for _ in second)  # the last sampled token was never run
        assert policy.prefilled_positions - before == new
    assert len(policy.store) == 0  # released with the block
    for prompt, turn in zip(second, turns2):
        want = full_logp(model, prompt, turn.token_ids)
        torch.testing.assert_close(torch.tensor(turn.logprobs), want, atol=1e-4, rtol=0)


def test_outside_a_block_each_call_starts_from_nothing(model, tokenizer):
    policy = HFPolicy(model, tokenizer)
    prompts = [chat(tokenizer, "Name the painter of the harbour.")] * 2
    first = policy.generate([GenerationRequest(p) for p in prompts], PARAMS)
    assert len(policy.store) == 0
    assert policy.generate([GenerationRequest(p) for p in prompts], PARAMS) == first


def test_states_are_not_reused_after_a_training_step(tokenizer):
    model = tiny_causal_lm(tokenizer, seed=1)
    policy, prompt = HFPolicy(model, tokenizer), chat(tokenizer, "Where is the old mill?")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with policy.keeping_states():
        turn = policy.generate([GenerationRequest(prompt)], PARAMS)[0]
        longer = prompt + turn.token_ids + tuple(tokenizer.encode(" and then"))
        model(input_ids=torch.tensor([longer])).logits.float().mean().backward()
        optimizer.step()  # the kept states are now of other weights
        before = policy.prefilled_positions
        again = policy.generate([GenerationRequest(longer)], PARAMS)[0]
        assert policy.prefilled_positions - before == len(longer)  # all of it, again
    want = full_logp(model, longer, again.token_ids)
    torch.testing.assert_close(torch.tensor(again.logprobs), want, atol=1e-4, rtol=0)


def test_the_old_full_prefill_stays_selectable(model, tokenizer):
    old = HFPolicy(model, tokenizer, reuse_cache=False, share_prefix=False)
    first = [chat(tokenizer, "Who built the bridge?")] * 2
    with old.keeping_states():
        second, turns, prefilled = two_turns(old, tokenizer, first)
    assert prefilled == 2 * max(len(p) for p in second)  # every prompt, padded, in full
    for prompt, turn in zip(second, turns):
        want = full_logp(model, prompt, turn.token_ids)
        torch.testing.assert_close(torch.tensor(turn.logprobs), want, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    ("lengths", "max_padding", "want"),
    [
        ([5, 100, 98, 7, 95], 0.1, [[1, 2, 4], [3], [0]]),
        ([5, 100, 98, 7, 95], 0.5, [[1, 2, 4, 3], [0]]),
        ([5, 100, 98, 7, 95], 0.0, [[1], [2], [4], [3], [0]]),
        ([10, 10, 10], 0.0, [[0, 1, 2]]),
        ([], 0.1, []),
    ],
)
def test_length_buckets_bound_the_padding(lengths, max_padding, want):
    buckets = length_buckets(lengths, max_padding)
    assert buckets == want
    for bucket in buckets:
        real = sum(lengths[i] for i in bucket)
        assert lengths[bucket[0]] * len(bucket) <= (1 + max_padding) * real


def test_rows_of_different_lengths_prefill_together_behind_padding(model, tokenizer):
    """Rows extending kept states by different amounts share one padded prefill (padding
    between each row's kept states and its new tokens) with exact log-probs."""
    policy = HFPolicy(model, tokenizer, max_padding=10.0)  # everything in one batch
    first = [chat(tokenizer, f"Question {i}: who drew the {i}th map?") for i in range(3)]
    tools = ["Nothing.", "A long answer from the tool, " * 6, "Two results: a, b."]
    with policy.keeping_states():
        turns1 = policy.generate([GenerationRequest(p) for p in first], PARAMS)
        second = [
            p
            + t.token_ids
            + tuple(tokenizer.encode(f"<|im_end|>\n<|im_start|>user\n{x}<|im_end|>\n"))
            for p, t, x in zip(first, turns1, tools)
        ]
        before = policy.prefilled_positions
        turns2 = policy.generate([GenerationRequest(p) for p in second], PARAMS)
        new = [len(s) - len(p) - len(t.token_ids) + 1 for s, p, t in zip(second, first, turns1)]
        assert len(set(new)) == 3  # three different lengths...
        assert policy.prefilled_positions - before == 3 * max(new)  # ...padded to the longest
    for prompt, turn in zip(second, turns2):
        want = full_logp(model, prompt, turn.token_ids)
        torch.testing.assert_close(torch.tensor(turn.logprobs), want, atol=1e-4, rtol=0)


def test_store_drops_what_a_batch_has_taken_over():
    store = PrefixStore(max_bytes=1 << 20)
    store.put((1, 2), states(2))  # a previous turn, extended below
    store.put((1, 2, 3, 4), states(4))  # a prompt of the batch itself
    store.put((7, 8), states(2))  # another episode's
    store.drop_prefixes_of([(1, 2, 3, 4), (5, 6)])
    assert store.longest_prefix((7, 8, 9), limit=2)[0] == 2
    assert store.longest_prefix((1, 2, 3, 4, 5), limit=4) == (0, None)


def test_while_decoding_only_the_batch_holds_the_rows_states(model, tokenizer):
    policy = HFPolicy(model, tokenizer)
    prompts = [chat(tokenizer, "Where does the canal end?")] * 3
    with policy.keeping_states():
        turns = policy.generate([GenerationRequest(p) for p in prompts], PARAMS)
        # after the call: one entry a row (its prompt and sampled tokens), nothing else
        assert len(policy.store) == 3
        for prompt, turn in zip(prompts, turns):
            length, _ = policy.store.longest_prefix(prompt + turn.token_ids, limit=10_000)
            assert length == len(prompt) + len(turn.token_ids) - 1


def test_the_cache_keyword_follows_the_models_signature(model):
    class Renamed(torch.nn.Module):
        def forward(self, input_ids, cache=None): ...

    class Older(torch.nn.Module):
        def forward(self, input_ids, past_key_values=None): ...

    assert cache_keyword(Renamed()) == "cache"
    assert cache_keyword(Older()) == "past_key_values"
    want = (
        "cache"
        if "cache" in inspect.signature(type(model).forward).parameters
        else "past_key_values"
    )
    assert cache_keyword(model) == want
    peft = pytest.importorskip("peft")
    from agents.models import peft_deprecations_hidden

    with peft_deprecations_hidden():
        wrapped = peft.get_peft_model(
            copy.deepcopy(model), peft.LoraConfig(r=2, target_modules=["q_proj"])
        )
    assert cache_keyword(wrapped) == want


@pytest.mark.parametrize("reuse_cache", [True, False])
def test_no_engine_path_passes_a_deprecated_cache_keyword(model, tokenizer, reuse_cache):
    policy = HFPolicy(model, tokenizer, reuse_cache=reuse_cache)
    first = [chat(tokenizer, "Who built the bridge?")] * 2 + [chat(tokenizer, "Which bridge?")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with policy.keeping_states():
            two_turns(policy, tokenizer, first)
    deprecated = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert deprecated == []
