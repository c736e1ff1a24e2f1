"""The GRPO update on a tiny model: direction of the change, exact zeros off the mask,
micro-batching that does not change the gradient, log-prob chunking."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from agents.grpo import Aggregation, AllSteps, FirstStep, KLConfig, Normalization, aggregate
from agents.train.batch import TrainBatch, collate
from agents.train.logprobs import (
    forward_logits,
    gather_logprobs,
    masked_entropy,
    output_head,
    sequence_logprobs,
    token_logprobs,
)
from agents.train.update import UpdateSettings, grpo_update, micro_batches, policy_loss

VOCAB = 48


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


class Traj:
    """A stand-in trajectory: prompt (-1), plan (0), tool response (-1), turn 1, ..."""

    def __init__(self, layout: list[tuple[int, int]], seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        n = sum(length for _, length in layout)
        self.token_ids = tuple(torch.randint(3, VOCAB, (n,), generator=gen).tolist())
        self.step_ids = tuple(s for s, length in layout for _ in range(length))
        self.action_mask = tuple(int(s >= 0) for s in self.step_ids)
        self.logprobs = None


LAYOUT = [(-1, 5), (0, 4), (-1, 3), (1, 3), (-1, 2), (2, 2)]


def make_batch(model, selector, advantages, layouts=None) -> TrainBatch:
    layouts = layouts or [LAYOUT, [(-1, 3), (0, 6), (-1, 4), (1, 5)], LAYOUT[:4]]
    trajs = [Traj(layout, seed=i) for i, layout in enumerate(layouts)]
    adv = torch.tensor(advantages, dtype=torch.float32)
    batch = collate(trajs, adv, torch.ones(len(trajs), dtype=torch.bool), selector, pad_id=0)
    old = sequence_logprobs(model, batch.input_ids, batch.attention_mask)
    return batch._replace(old_logp=old.masked_fill(~batch.action_mask, 0.0))


def test_gather_logprobs_matches_log_softmax_for_any_chunk_size():
    logits = torch.randn(2, 7, VOCAB)
    ids = torch.randint(0, VOCAB, (2, 7))
    full = torch.log_softmax(logits / 0.7, dim=-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    for chunk in (1, 3, 100):
        out = gather_logprobs(logits, ids, temperature=0.7, chunk_size=chunk)
        assert out.shape == (2, 7)
        assert torch.all(out[:, 0] == 0)
        torch.testing.assert_close(out[:, 1:], full)


@pytest.mark.parametrize("aggregation", list(Aggregation))
def test_stage1_gradient_is_exactly_zero_off_the_plan(aggregation):
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0, -0.5, 0.7])
    settings = UpdateSettings(aggregation=aggregation, fixed_length=32)
    logits = forward_logits(model, batch.input_ids, batch.attention_mask)
    logits.retain_grad()
    logp = gather_logprobs(logits, batch.input_ids)
    per_token = policy_loss(logp, batch, settings).per_token
    aggregate(per_token, batch.loss_mask, aggregation, 32).backward()
    grad = logits.grad.abs().sum(-1)  # [B, T]: logits at t-1 produce token t
    predicts_plan = torch.zeros_like(batch.loss_mask)
    predicts_plan[:, :-1] = batch.loss_mask[:, 1:]
    assert torch.all(grad[~predicts_plan] == 0)  # exactly zero, not merely small
    assert torch.all(grad[predicts_plan] > 0)
    assert torch.equal(batch.loss_mask, batch.step_ids == 0)


def test_one_step_moves_plan_logprobs_in_the_direction_of_the_advantage():
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0, -1.0, 0.0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    settings = UpdateSettings(optimizer_steps=1, micro_batch_size=2)
    grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    after = sequence_logprobs(model, batch.input_ids, batch.attention_mask)
    mask = batch.loss_mask
    delta = [float((after[i] - batch.old_logp[i])[mask[i]].sum()) for i in range(2)]
    assert delta[0] > 0  # positive advantage: the plan became more likely
    assert delta[1] < 0  # negative advantage: less likely


class RecordingSGD(torch.optim.SGD):
    """Keeps a copy of the gradients at each step (and changes nothing: lr 0)."""

    def __init__(self, params):
        self.params_list = list(params)
        super().__init__(self.params_list, lr=0.0)
        self.grads = []

    def step(self, closure=None):
        self.grads.append([p.grad.clone() for p in self.params_list])
        return super().step(closure)


@pytest.mark.parametrize("aggregation", list(Aggregation))
def test_micro_batching_does_not_change_the_gradient(aggregation):
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [1.0, -0.5, 0.7])
    grads = []
    for micro in (1, 2, 3):
        m = copy.deepcopy(model)
        opt = RecordingSGD(m.parameters())
        settings = UpdateSettings(
            aggregation=aggregation, fixed_length=32, optimizer_steps=1, micro_batch_size=micro
        )
        grpo_update(m, opt, None, batch, settings, torch.Generator().manual_seed(0))
        grads.append(opt.grads[0])
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_several_optimizer_steps_keep_old_logprobs_and_report_stats():
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [1.0, -1.0, 0.5])
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-2)
    settings = UpdateSettings(optimizer_steps=3, micro_batch_size=1, eps_low=0.1, eps_high=0.1)
    stats = grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    assert stats.optimizer_steps == 3
    assert stats.grad_norm > 0 and stats.entropy > 0
    assert stats.approx_kl >= 0 and 0 <= stats.clip_fraction <= 1
    assert stats.ref_kl == 0


def test_an_empty_mini_batch_takes_no_optimizer_step():
    # One sequence, two mini-batches: the second is empty. AdamW on a zero gradient would
    # still move the weights by its momentum; no step at all leaves them as one step did.
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0], layouts=[LAYOUT])
    after = []
    for steps in (1, 2):
        m = copy.deepcopy(model)
        optimizer = torch.optim.AdamW(m.parameters(), lr=1e-2)
        settings = UpdateSettings(optimizer_steps=steps, micro_batch_size=1)
        stats = grpo_update(m, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
        assert stats.optimizer_steps == 1
        assert all(state["step"] == 1 for state in optimizer.state.values())
        after.append([p.detach().clone() for p in m.parameters()])
    for one, two in zip(*after):
        assert torch.equal(one, two)
    empty = batch.select(torch.zeros(0, dtype=torch.long))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    stats = grpo_update(model, optimizer, scheduler, empty, UpdateSettings(), torch.Generator())
    assert stats.optimizer_steps == 0 and scheduler.last_epoch == 0


@pytest.mark.parametrize("micro", [1, 3])
def test_sampled_normalization_divides_by_every_sampled_sequence(micro):
    # 3 kept sequences out of 6 sampled (3 dropped with zero advantage): the paper's 1/G
    # gives half the gradient of the kept mean, 3/6; token-mean is not affected.
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [1.0, -0.5, 0.7])
    grads = {}
    for normalization in Normalization:
        for aggregation in (Aggregation.SEQ_MEAN_TOKEN_MEAN, Aggregation.TOKEN_MEAN):
            m = copy.deepcopy(model)
            opt = RecordingSGD(m.parameters())
            settings = UpdateSettings(
                aggregation=aggregation,
                normalization=normalization,
                optimizer_steps=1,
                micro_batch_size=micro,
                max_grad_norm=0.0,
            )
            grpo_update(m, opt, None, batch, settings, torch.Generator().manual_seed(0), sampled=6)
            grads[normalization, aggregation] = opt.grads[0]
    seq, tok = Aggregation.SEQ_MEAN_TOKEN_MEAN, Aggregation.TOKEN_MEAN
    for half, full in zip(grads[Normalization.SAMPLED, seq], grads[Normalization.KEPT, seq]):
        torch.testing.assert_close(half, full * 3 / 6, rtol=1e-5, atol=1e-8)
    for a, b in zip(grads[Normalization.SAMPLED, tok], grads[Normalization.KEPT, tok]):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="sampled >= the batch's 3 sequences, got 2"):
        grpo_update(model, opt, None, batch, UpdateSettings(), torch.Generator(), sampled=2)


def test_sampled_normalization_splits_the_sampled_sequences_over_mini_batches():
    # 1 kept of 4 sampled, 2 optimizer steps: the shuffle splits the 4 sampled sequences
    # into mini-batches of 2; the kept one divides by 2 (gradient x 1/2), the mini-batch
    # of two dropped ones takes no step. The kept mean divides by 1.
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0], layouts=[LAYOUT])
    grads = {}
    for normalization, sampled in ((Normalization.SAMPLED, 4), (Normalization.KEPT, None)):
        m = copy.deepcopy(model)
        opt = RecordingSGD(m.parameters())
        settings = UpdateSettings(
            normalization=normalization, optimizer_steps=2, micro_batch_size=1, max_grad_norm=0
        )
        gen = torch.Generator().manual_seed(0)
        stats = grpo_update(m, opt, None, batch, settings, gen, sampled=sampled)
        assert stats.optimizer_steps == len(opt.grads) == 1
        grads[normalization] = opt.grads[0]
    for a, b in zip(grads[Normalization.SAMPLED], grads[Normalization.KEPT]):
        torch.testing.assert_close(a, b / 2, rtol=1e-5, atol=1e-8)


def test_kl_term_uses_reference_logprobs():
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [0.0, 0.0, 0.0])
    ref = sequence_logprobs(tiny_model(seed=1), batch.input_ids, batch.attention_mask)
    batch = batch._replace(ref_logp=ref)
    settings = UpdateSettings(kl=KLConfig(beta=0.5), optimizer_steps=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    stats = grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    assert stats.ref_kl > 0  # zero advantages, yet the KL term pulls toward the reference
    assert stats.grad_norm > 0


def test_gradient_clipping_reports_the_norm_before_clipping():
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [3.0, -3.0, 1.0])
    optimizer = RecordingSGD(model.parameters())
    settings = UpdateSettings(optimizer_steps=1, max_grad_norm=1e-3)
    stats = grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    clipped = torch.sqrt(sum((g.float() ** 2).sum() for g in optimizer.grads[0]))
    assert stats.grad_norm > 1e-3
    assert float(clipped) == pytest.approx(1e-3, rel=1e-3)


def test_logits_only_where_needed_give_the_same_logprobs_and_gradients():
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0, -0.5, 0.7])
    mask = batch.loss_mask
    full = gather_logprobs(
        forward_logits(model, batch.input_ids, batch.attention_mask), batch.input_ids
    )
    (full * mask).sum().backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    kept = token_logprobs(model, batch.input_ids, batch.attention_mask, mask, chunk_size=2)
    assert kept.states.shape == (int(mask.sum()), model.config.hidden_size)  # per row, not union
    torch.testing.assert_close(kept.logp[mask], full[mask])
    assert torch.all(kept.logp[~mask] == 0)
    (kept.logp * mask).sum().backward()
    for got, expected in zip([p.grad for p in model.parameters()], want):
        torch.testing.assert_close(got, expected)


def test_the_vocabulary_projection_sees_only_the_selected_positions_in_chunks():
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0, -0.5, 0.7])
    mask = batch.loss_mask
    shapes = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda m, i, out: shapes.append(tuple(out.shape)))
    token_logprobs(model, batch.input_ids, batch.attention_mask, mask, chunk_size=3)
    handle.remove()
    projected = [s for s in shapes if s[-1] == VOCAB]  # the bypassed call returns hidden states
    assert sum(s[0] for s in projected) == int(mask.sum()) and max(s[0] for s in projected) <= 3
    assert "forward" not in head.__dict__  # the head is itself again


def test_models_that_change_logits_after_the_head_take_the_full_logits_path():
    model = tiny_model()
    batch = make_batch(model, AllSteps(), [1.0, -0.5, 0.7])
    direct = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.loss_mask)
    model.config.final_logit_softcapping = 30.0  # Llama ignores it; the path must not
    assert output_head(model) is None
    full = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.loss_mask)
    assert full.states.shape[-1] == VOCAB
    torch.testing.assert_close(full.logp, direct.logp)
    assert float(masked_entropy(full)) == pytest.approx(float(masked_entropy(direct)), rel=1e-5)


def test_micro_batches_are_packed_by_length_and_trimmed():
    model = tiny_model()
    layouts = [[(-1, 2), (0, 2)], LAYOUT, [(-1, 3), (0, 3)], [(-1, 5), (0, 6), (-1, 4), (1, 5)]]
    batch = make_batch(model, AllSteps(), [1.0, -0.5, 0.7, 0.2], layouts)
    micros = micro_batches(batch, torch.arange(4), 2)
    assert [m.input_ids.shape for m in micros] == [(2, 20), (2, 6)]


def test_sequence_logprobs_in_packed_micro_batches_equal_one_pass():
    model = tiny_model()
    layouts = [[(-1, 2), (0, 2)], LAYOUT, [(-1, 3), (0, 3)], [(-1, 5), (0, 6), (-1, 4), (1, 5)]]
    batch = make_batch(model, AllSteps(), [1.0, -0.5, 0.7, 0.2], layouts)
    ids, attention, mask = batch.input_ids, batch.attention_mask, batch.loss_mask
    whole = sequence_logprobs(model, ids, attention, micro_batch_size=4)
    packed = sequence_logprobs(model, ids, attention, micro_batch_size=2)
    torch.testing.assert_close(packed[attention.bool()], whole[attention.bool()])
    masked = sequence_logprobs(model, ids, attention, micro_batch_size=1, mask=mask)
    torch.testing.assert_close(masked[mask], whole[mask])
    assert torch.all(masked[~mask] == 0)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_through_peft_trains_only_the_adapters():
    pytest.importorskip("peft")
    from agents.train.config import TrainConfig
    from agents.train.run import with_lora

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = with_lora(tiny_model(), TrainConfig(lora_rank=4, lora_alpha=8))
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    batch = make_batch(model, FirstStep(), [1.0, -1.0, 0.5])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    settings = UpdateSettings(optimizer_steps=1)
    stats = grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    assert stats.grad_norm > 0
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name])


def test_each_micro_batch_runs_with_its_activations_transient(monkeypatch):
    import contextlib

    import agents.train.update as update

    entered: list[bool] = []

    @contextlib.contextmanager
    def recording(bounded):
        entered.append(bounded)
        yield bounded

    monkeypatch.setattr(update, "transient_activations", recording)
    model = tiny_model()
    batch = make_batch(model, FirstStep(), [1.0, -1.0, 0.5])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    settings = UpdateSettings(optimizer_steps=1, micro_batch_size=1)
    grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
    assert entered == [True, True, True]  # one block per micro-batch of one sequence
    entered.clear()
    fast = UpdateSettings(optimizer_steps=1, micro_batch_size=2, bounded_heap=False)
    grpo_update(model, optimizer, None, batch, fast, torch.Generator().manual_seed(0))
    assert entered == [False, False]  # the setting reaches every micro-batch
