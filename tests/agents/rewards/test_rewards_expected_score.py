import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from agents.rewards import ExpectedScoreJudge, build_dimension_prompt, load_default_rubric
from agents.rewards.judge import AGENT_DESCRIPTION, _digit_continuation

RUBRIC = load_default_rubric()
QUESTIONS = ["Who designed Lumen Tower?", "Where was Ada Brook born?", "Who designed Lumen Tower?"]
PLANS = [
    "1. search Lumen Tower architect 2. visit the page 3. answer",
    "Search Ada Brook",
    "1. visit a page about towers in general and guess the answer from memory",
]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the words the prompts use; digits are tokens 2-11."""
    pre = pre_tokenizers.Whitespace()
    texts = [AGENT_DESCRIPTION, *QUESTIONS, *PLANS]
    texts += [build_dimension_prompt("", "", d) for d in RUBRIC.dimensions]
    vocab = {"[UNK]": 0, "[PAD]": 1, **{str(d): 2 + d for d in range(10)}}
    for word, _ in sorted({w for t in texts for w in pre.pre_tokenize_str(t)}):
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)  # peaked, plan-dependent digit distributions
    return model, tokenizer


def test_expected_scores_match_hand_computation(setup):
    model, tokenizer = setup
    judge = ExpectedScoreJudge(model, tokenizer, batch_size=2)
    assert judge.prefix_ids == [] and judge.digit_ids == list(range(2, 8))
    table = judge.expected_scores(QUESTIONS, PLANS)  # [3, 6]
    assert table.shape == (3, 6)
    model.eval()
    for i, (q, p) in enumerate(zip(QUESTIONS, PLANS)):
        for j, d in enumerate(RUBRIC.dimensions):
            ids = torch.tensor([tokenizer(build_dimension_prompt(q, p, d))["input_ids"]])
            with torch.no_grad():
                logits = model(ids).logits[0, -1]
            digit_logits = logits[2:8]  # tokens "0".."5"
            probs = torch.exp(digit_logits - digit_logits.max())
            probs = probs / probs.sum()
            expected = sum(probs[k].item() * k for k in range(6))
            assert table[i, j].item() == pytest.approx(expected, abs=1e-5)
    assert ((table >= 0) & (table <= 5)).all()
    assert table.std() > 0.05  # not a constant: the check above is not vacuous


def test_batch_equals_one_by_one(setup):
    model, tokenizer = setup
    judge = ExpectedScoreJudge(model, tokenizer, batch_size=8)
    batch = judge.expected_scores(QUESTIONS, PLANS)
    single = torch.cat([judge.expected_scores([q], [p]) for q, p in zip(QUESTIONS, PLANS)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=0)


def test_score_gives_valid_rewards_and_restores_training_mode(setup):
    model, tokenizer = setup
    model.train()
    results = ExpectedScoreJudge(model, tokenizer).score(QUESTIONS[:2], PLANS[:2])
    assert model.training
    for r in results:
        assert r.ok and r.failure is None
        assert 0.0 <= r.reward <= 1.0
        assert set(r.scores) == set(RUBRIC.keys)
        assert r.reward == pytest.approx(sum(r.scores.values()) / 30)


class FakeTokenizer:
    """Encodes " d" as [space, digit] like SmolLM2's BPE does."""

    def __init__(self, spaced_single: bool):
        self.spaced_single = spaced_single

    def encode(self, text, add_special_tokens=False):
        digit = 100 + int(text.strip())
        if text.startswith(" "):
            return [200 + int(text)] if self.spaced_single else [7, digit]
        return [digit]


def test_digit_continuation_handles_a_separate_space_token():
    assert _digit_continuation(FakeTokenizer(spaced_single=False), 5) == (
        [7],
        list(range(100, 106)),
    )
    assert _digit_continuation(FakeTokenizer(spaced_single=True), 3) == ([], [200, 201, 202, 203])


def test_rejects_rubrics_with_two_digit_scores(setup):
    model, tokenizer = setup
    from agents.rewards import Dimension, Rubric

    rubric = Rubric("wide", "1", (Dimension("x", "X", "d", ("c",), 10),))
    with pytest.raises(ValueError, match="Expected max_score <= 9"):
        ExpectedScoreJudge(model, tokenizer, rubric=rubric)


def test_last_token_logits_equal_the_full_forward_at_each_rows_end(setup):
    from agents.rewards.judge import last_token_logits

    model = setup[0]
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=attention).logits
        fast = last_token_logits(model, ids, attention, lengths)
    assert torch.allclose(fast, full[torch.arange(2), lengths - 1], atol=1e-5)
