"""Supervised warm start on the gold-path trajectories of the train split.

SmolLM2-135M does not write the tool-call format zero-shot, so RL from it sees only
zero rewards. The warm start plays every training task's gold path through the real
environment with the scripted oracle (:class:`agents.scripted.OraclePolicy`) in the
rollout engine: observations are real, and the trajectories are token-exact, with the
same prompt, prefills and chat template as the RL rollouts. The demonstrations are
causally honest (:mod:`wiki_corpus.honesty`): the plan names only the question's
entities and every later name and URL comes from an earlier observation. A share of
them show a recovery (:class:`agents.scripted.RecoveryPolicy`): a visit that fails with
``page_not_found``, then a visit to a URL the agent has seen. The loss is the
cross-entropy of the tokens the oracle wrote (action mask 1), averaged over those
tokens; prompt, prefill and tool-response tokens, and the failed visit, are context only.

SFT steps go through the same loop as GRPO (:func:`agents.train.loop.run_loop`):
checkpoints, exact resume, metrics and curves work the same way.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from agents.grpo import masked_mean
from agents.policy import SamplingParams
from agents.prompts import get_prompt
from agents.rollout import RolloutConfig, rollout
from agents.train.algos import derive_seed
from agents.train.batch import pad_trajectories
from agents.train.config import TrainConfig
from agents.train.logprobs import CHUNK_SIZE, token_logprobs
from agents.train.loop import conclude, evaluate, run_loop
from agents.train.memory import transient_activations
from agents.train.run import LRSchedule, Run, TrainResult, param_sync, setup_run
from agents.train.update import clip_gradients
from agents.trajectory import Trajectory

GOLD_MAX_NEW_TOKENS = 1024
"""Per-turn limit for the oracle: long enough never to cut a gold action."""


RECOVERY_EVERY = 4
"""One task in this many also gets a recovery demonstration (see :func:`gold_trajectories`)."""


def sft_tasks(tasks: Sequence[Any], max_hops: int = 0, max_tasks: int = 0) -> list[Any]:
    """The tasks that give demonstrations: at most ``max_hops`` hops, the first ``max_tasks``
    of them (0: no limit)."""
    chosen = [t for t in tasks if not max_hops or t.hops <= max_hops]
    return chosen[:max_tasks] if max_tasks else chosen


def gold_trajectories(
    tokenizer: Any,
    make_env: Any,
    tasks: Sequence[Any],
    prompt: str,
    split: str,
    recovery_every: int = RECOVERY_EVERY,
) -> list[Trajectory]:
    """Token-exact demonstrations on ``tasks``; only those that solve the task.

    Every task's gold path, played by the scripted oracle with an honest plan, and for one
    task in ``recovery_every`` (0: none) a recovery demonstration: a visit to a page that
    does not exist, its ``page_not_found``, then the gold path again. The mistaken turn is
    left out of the loss (mask 0): only the recovery is learned.
    """
    from agents.scripted import OraclePolicy, RecoveryPolicy

    config = RolloutConfig(
        prompt=get_prompt(prompt),
        params=SamplingParams(max_new_tokens=GOLD_MAX_NEW_TOKENS, temperature=0.0),
        split=split,
    )
    labels = config.prompt.step_labels
    oracle = OraclePolicy(tasks, tokenizer, step_labels=labels)
    played = rollout(oracle, make_env, [t.id for t in tasks], config)
    demos = [t for t in played if t.reward >= 1.0]
    chosen = list(tasks)[::recovery_every] if recovery_every > 0 else []
    if chosen:
        recovery, by_id = (
            RecoveryPolicy(chosen, tokenizer, step_labels=labels),
            {t.id: t for t in chosen},
        )
        for t in rollout(recovery, make_env, list(by_id), config):
            turn = recovery.mistake_turn(by_id[t.task_id])
            if t.reward >= 1.0 and turn is not None:
                demos.append(without_turn(t, turn))
    return demos


def without_turn(trajectory: Trajectory, turn: int) -> Trajectory:
    """``trajectory`` with the tokens of ``turn`` left out of the loss (mask 0)."""
    keep = [s != turn for s in trajectory.step_ids]
    mask = tuple(m if k else 0 for m, k in zip(trajectory.action_mask, keep))
    logprobs = trajectory.logprobs
    if logprobs is not None:
        logprobs = tuple(lp if k else 0.0 for lp, k in zip(logprobs, keep))
    return replace(trajectory, action_mask=mask, logprobs=logprobs)


def sft_loss(
    model: nn.Module, ids: Tensor, attention: Tensor, mask: Tensor, chunk_size: int = CHUNK_SIZE
) -> Tensor:
    """Mean negative log-likelihood of the tokens in ``mask [B, T]``; logits only at the
    positions that predict them (:func:`agents.train.logprobs.token_logprobs`)."""
    logp = token_logprobs(model, ids, attention, mask, chunk_size=chunk_size).logp  # [B, T]
    return -masked_mean(logp, mask)


def steps_per_epoch(num: int, micro_batch_size: int, world: int) -> int:
    return max(1, math.ceil(num / (micro_batch_size * world)))


LENGTH_WINDOW = 16
"""Steps' worth of trajectories sorted by length together (see :func:`epoch_order`)."""


def epoch_order(lengths: Sequence[int], seed: int, epoch: int, per_step: int) -> list[int]:
    """The order of the trajectories in ``epoch``: similar lengths share a step.

    A fresh permutation seeded by (seed, epoch) is cut into windows of ``LENGTH_WINDOW``
    steps; each window is sorted by length and cut into steps of ``per_step``, and the steps
    are shuffled (a last, partial step stays last), so a micro-batch pads little and the
    order of lengths stays random.
    """
    gen = torch.Generator().manual_seed(derive_seed(seed, "sft", epoch))
    order = torch.randperm(len(lengths), generator=gen).tolist()
    window = LENGTH_WINDOW * per_step
    steps: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: (lengths[i], i))
        steps += [chunk[i : i + per_step] for i in range(0, len(chunk), per_step)]
    full = len(steps) - (len(steps[-1]) < per_step if steps else 0)
    shuffle = torch.randperm(full, generator=gen).tolist() + list(range(full, len(steps)))
    return [i for s in shuffle for i in steps[s]]


def sft_rows(
    lengths: Sequence[int], seed: int, step: int, per_epoch: int, size: int, rank: int, world: int
) -> list[int]:
    """Indices of the trajectories process ``rank`` trains on at ``step`` (maybe none).

    Each epoch visits every trajectory once in :func:`epoch_order`; a step takes the next
    ``size * world`` of it and each process its own ``size``.
    """
    epoch, index = divmod(step, per_epoch)
    order = epoch_order(lengths, seed, epoch, size * world)
    start = index * size * world + rank * size
    return order[start : start + size]


def sft_step(run: Run, data: Sequence[Trajectory], step: int, per_epoch: int) -> dict[str, Any]:
    """One optimizer step of SFT on this process's share of the step's trajectories.

    The share (``sft_batch_size``, default ``micro_batch_size``) goes through the model in
    micro-batches of ``micro_batch_size`` whose gradients accumulate; each is weighted by
    its trained tokens, so the step's loss is the mean over all of the step's tokens.
    """
    c, device = run.config, run.accelerator.device
    lengths = [len(t.token_ids) for t in data]
    size, micro = sft_batch(c), c.micro_batch_size
    rows = sft_rows(lengths, c.seed, step, per_epoch, size, run.rank, run.world)
    pad = run.tokenizer.pad_token_id or 0
    batches = []
    for j in range(math.ceil(size / micro)):  # the same count on every process
        chunk = rows[j * micro : (j + 1) * micro]
        ids, attention, _, action, _ = pad_trajectories([data[i] for i in chunk or [0]], pad)
        if not chunk:
            action = torch.zeros_like(action)  # a filler pass: joins the all-reduce, adds nothing
        batches.append((ids.to(device), attention.to(device), action.to(device)))
    counts = [float(b[2].sum()) for b in batches]
    tokens = sum(counts)
    total = float(run.comm.all_sum(torch.tensor([tokens])).item())
    loss_sum = 0.0
    for j, (batch, count) in enumerate(zip(batches, counts)):
        last = j == len(batches) - 1
        sync = contextlib.nullcontext() if last else run.comm.no_sync()
        with sync, transient_activations(c.bounded_heap):  # its activations leave with it
            loss = sft_loss(run.model, *batch, chunk_size=c.logprob_chunk_size)
            weight = count * run.world / total if total > 0 else 0.0
            run.comm.backward(loss * weight)
        loss_sum += float(loss.detach()) * count
    norm = clip_gradients(run.model, c.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    sums = run.comm.all_sum(torch.tensor([loss_sum, tokens]))
    record = {"step": step, "stage": "sft", "sft/loss": float(sums[0] / sums[1]) if total else None}
    record |= {"sft/tokens": total, "sft/epoch": step // per_epoch, "loss/grad_norm": float(norm)}
    return record | {"lr": run.scheduler.get_last_lr()[0]} | param_sync(run)


def sft_batch(config: TrainConfig) -> int:
    """Trajectories per SFT optimizer step on each process."""
    return config.sft_batch_size or config.micro_batch_size


def train_sft(config: TrainConfig) -> TrainResult:
    """Supervised fine-tuning on gold trajectories; saves the model to output_dir/final."""
    run = setup_run(config, config.sft_learning_rate, needs_initial=False)
    tasks = sft_tasks(list(run.tasks.values()), config.sft_max_hops, config.sft_max_tasks)
    data = gold_trajectories(run.tokenizer, run.make_env, tasks, config.prompt, config.split)
    if not data:
        raise ValueError(
            f"Expected gold-path trajectories for SFT, got none from {len(tasks)} tasks of "
            f"split {config.split!r} (do the tasks carry gold actions that solve them?)."
        )
    per_epoch = steps_per_epoch(len(data), sft_batch(config), run.world)
    total = per_epoch * config.sft_epochs
    if config.sft_lr_decay:
        run.scheduler.lr_lambdas = [LRSchedule(config.warmup_steps, total)]
    before = _eval(run)
    done = run_loop(run, total, lambda s: sft_step(run, data, s, per_epoch), lambda s: 0)
    return conclude(run, done, total, before)


def _eval(run: Run) -> float | None:
    c = run.config
    return evaluate(run, c.eval_tasks) if c.eval_tasks and c.eval_before else None
