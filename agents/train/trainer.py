"""The GRPO training loop: rollout -> rewards -> advantages -> update -> log -> checkpoint.

Each trainer step plays ``tasks_per_step`` questions x G samples on every process, scores
them with the stage's reward, normalizes advantages within groups, collates the selected
steps into a :class:`~agents.train.batch.TrainBatch` and runs
:func:`~agents.train.update.grpo_update`. Everything random in a step is derived from
(seed, step, process), so a resumed run repeats an uninterrupted one exactly.

Runs unchanged under ``accelerate launch``: each process plays its own share of the
tasks (whole groups, so advantages stay local), DDP averages the gradients, and metrics
are summed over processes before the main process logs them.

What GRPO shares with SFT is in :mod:`agents.train.run` (the run and its setup) and
:mod:`agents.train.loop` (the step loop, checkpoints, evaluation, the final model); the
stage rewards and plan judges are in :mod:`agents.train.rewards`. :func:`train` runs
either algorithm.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from agents.anticipatory import action_reader  # (importing it registers its prompts)
from agents.grpo import Advantages, group_advantages
from agents.methods import stages_for
from agents.policy import SamplingParams
from agents.prompts import get_prompt
from agents.rollout import RolloutConfig, RolloutEngine
from agents.train.algos import (
    RewardSource,
    Stage,
    derive_seed,
    selector_for,
    stage_at,
    total_steps,
)
from agents.train.batch import TrainBatch, collate
from agents.train.config import Algo, PlanJudge, TrainConfig
from agents.train.logging import Tally, means
from agents.train.logprobs import sequence_logprobs
from agents.train.loop import conclude, evaluate, run_loop
from agents.train.rewards import RewardBatch, score
from agents.train.run import Run, TrainResult, guard_oom, param_sync, setup_run
from agents.train.sft import train_sft
from agents.train.update import UpdateSettings, UpdateStats, filler_batch, grpo_update
from agents.trajectory import Trajectory

SUMMED = frozenset(
    {
        "reward/count", "reward/excluded", "tokens/plan", "tokens/rest", "tokens/trained",
        "batch/sequences",
    }
)  # fmt: skip
"""Metrics logged as totals over processes rather than means."""


# ----------------------------------------------------------------------------- one step


def tasks_for_step(
    task_ids: Sequence[str], seed: int, step: int, rank: int, world: int, per_rank: int
) -> tuple[list[str], list[int]]:
    """(task ids, group ids) of process ``rank`` at ``step``.

    Tasks are drawn without replacement from a permutation of the split that is
    reshuffled every epoch (seeded by (seed, epoch)); group ids are unique over the run.
    """
    n = len(task_ids)
    chosen, groups = [], []
    for j in range(per_rank):
        index = (step * world + rank) * per_rank + j
        epoch, pos = divmod(index, n)
        order = torch.randperm(
            n, generator=torch.Generator().manual_seed(derive_seed(seed, "tasks", epoch))
        )
        chosen.append(task_ids[int(order[pos])])
        groups.append(index)
    return chosen, groups


def rollout_config(config: TrainConfig, stage: Stage, seed: int) -> RolloutConfig:
    params = SamplingParams(
        max_new_tokens=config.max_new_tokens, temperature=config.temperature, seed=seed
    )
    return RolloutConfig(
        reader=action_reader(config.agent, config.horizon),
        group_size=stage.settings.group_size,
        prompt=get_prompt(config.prompt),
        params=params,
        max_turns=config.max_turns,
        plan_only=stage.plan_only,
        split=config.split,
    )


def play(run: Run, stage: Stage, step: int) -> list[Trajectory]:
    """This process's rollouts of ``step``: G episodes of each of its tasks."""
    from agents.hf_policy import HFPolicy

    c = run.config
    ids, groups = tasks_for_step(
        list(run.tasks), c.seed, step, run.rank, run.world, c.tasks_per_step
    )
    seed = derive_seed(c.seed, "rollout", step, run.rank)
    policy = HFPolicy(run.unwrapped, run.tokenizer)
    with RolloutEngine(policy, run.make_env, rollout_config(c, stage, seed)) as engine:
        return engine.run(ids, group_ids=groups)


def update_settings(config: TrainConfig, stage: Stage) -> UpdateSettings:
    s = stage.settings
    return UpdateSettings(
        eps_low=s.eps_low,
        eps_high=s.eps_high,
        kl=s.kl,
        aggregation=s.aggregation,
        fixed_length=config.max_turns * config.max_new_tokens,
        normalization=config.normalization,
        optimizer_steps=config.optimizer_steps_per_batch,
        micro_batch_size=config.micro_batch_size,
        max_grad_norm=config.max_grad_norm,
        temperature=config.temperature if config.temperature > 0 else 1.0,
        chunk_size=config.logprob_chunk_size,
        bounded_heap=config.bounded_heap,
    )


def build_batch(
    run: Run, stage: Stage, step: int, trajectories: Sequence[Trajectory], adv: Advantages
) -> TrainBatch | None:
    """Collate the sequences that carry a signal: valid reward, and a nonzero advantage
    unless KL is on (a zero advantage gives an exactly zero surrogate gradient)."""
    keep = adv.valid & ((adv.values != 0) | stage.settings.kl.enabled)
    selector = selector_for(stage.steps, derive_seed(run.config.seed, "steps", run.rank), step)
    pad = run.tokenizer.pad_token_id
    return collate(trajectories, adv.values, keep, selector, pad if pad is not None else 0)


def with_logps(run: Run, batch: TrainBatch, settings: UpdateSettings, kl: bool) -> TrainBatch:
    """Fill in reference log-probs (KL on) and recompute old ones when asked or unknown."""
    args = (
        batch.input_ids.to(run.accelerator.device),
        batch.attention_mask.to(run.accelerator.device),
    )
    kwargs = {"temperature": settings.temperature, "chunk_size": settings.chunk_size}
    kwargs["micro_batch_size"] = settings.micro_batch_size
    if run.config.recompute_old_logp or torch.isnan(batch.old_logp).any():
        mask = batch.loss_mask.to(args[0].device)
        fresh = sequence_logprobs(run.model, *args, **kwargs, mask=mask).cpu()
        batch = batch._replace(old_logp=fresh.masked_fill(~batch.action_mask, 0.0))
    if kl and batch.num_sequences:
        mask = batch.loss_mask.to(args[0].device)
        ref = sequence_logprobs(run.initial_model, *args, **kwargs, mask=mask).cpu()
        batch = batch._replace(ref_logp=ref)
    return batch


def update(
    run: Run, stage: Stage, step: int, batch: TrainBatch | None, sampled: int
) -> UpdateStats | None:
    """One GRPO update on every process, or None (with a warning) when no process has data.

    ``sampled``: the sequences this process sampled, the batch's dropped ones included."""
    present = run.comm.all_sum(torch.tensor([float(batch is not None)]))
    if float(present.sum()) == 0:
        warnings.warn(
            f"Step {step}: empty batch (every group had equal rewards or no valid reward); "
            "skipping the update.",
            stacklevel=2,
        )
        return None
    settings = update_settings(run.config, stage)
    batch = batch if batch is not None else filler_batch().select(torch.zeros(0, dtype=torch.long))
    batch = with_logps(run, batch, settings, stage.settings.kl.enabled)
    generator = torch.Generator().manual_seed(
        derive_seed(run.config.seed, "minibatch", step, run.rank)
    )
    return grpo_update(
        run.model, run.optimizer, run.scheduler, batch, settings, generator, run.comm, sampled
    )


def grpo_step(run: Run, stages: tuple[Stage, ...], step: int) -> dict[str, Any]:
    """One trainer step; returns its logged record."""
    stage = stage_at(stages, step)
    t0 = time.perf_counter()
    with guard_oom(run.config, stage, "rollouts"):
        trajectories = play(run, stage, step)
    t1 = time.perf_counter()
    with guard_oom(run.config, stage, "reward scoring"):
        rewards = score(run, stage, trajectories)
    groups = torch.tensor([t.group_id for t in trajectories], dtype=torch.long)
    adv = group_advantages(
        rewards.values, groups, run.config.advantage_scale, min_spread=run.config.min_reward_spread
    )
    batch = build_batch(run, stage, step, trajectories, adv)
    t2 = time.perf_counter()
    with guard_oom(run.config, stage, "the update"):
        stats = update(run, stage, step, batch, len(trajectories))
    t3 = time.perf_counter()
    record = step_record(run, stage, trajectories, rewards, adv, batch, stats)
    times = {"time/rollout": t1 - t0, "time/reward": t2 - t1, "time/update": t3 - t2}
    return {"step": step, "stage": stage.name, **record, **param_sync(run), **times}


# ----------------------------------------------------------------------------- metrics


def step_record(
    run: Run,
    stage: Stage,
    trajectories: Sequence[Trajectory],
    rewards: RewardBatch,
    adv: Advantages,
    batch: TrainBatch | None,
    stats: UpdateStats | None,
) -> dict[str, float | None]:
    """The step's metrics, summed over processes: rewards, rubric, groups, tokens, loss."""
    tally = Tally()
    values = rewards.values
    valid = torch.isfinite(values)
    good = values[valid]
    tally.add("reward/mean", good.sum(), valid.sum())
    tally.add("reward/_sq", (good**2).sum(), valid.sum())
    tally.add("reward/count", valid.sum(), 1)  # the rollouts reward/mean and /std are over
    tally.add("reward/excluded", (~valid).sum(), 1)
    if stage.reward is RewardSource.OUTCOME:
        tally.add("reward/pass_rate", (good >= 1).sum(), valid.sum())
    for key, dim in rewards.dimensions.items():
        ok = torch.isfinite(dim)
        tally.add(f"rubric/{key}", dim[ok].sum(), ok.sum())
    if stage.reward in (RewardSource.PLAN_RUBRIC, RewardSource.NAIVE_PLAN):
        tally.add("rubric/score", good.sum(), valid.sum())
    tally.add("groups/zero_variance_share", adv.zero_variance_groups, adv.num_groups)
    tally.add("groups/low_spread_share", adv.low_spread_groups, adv.num_groups)
    _token_counts(tally, trajectories, batch)
    _loss_stats(tally, stats)
    sums = tally.reduce(run.comm.all_sum)
    mean = means(sums)
    sq = mean.pop("reward/_sq")
    record: dict[str, float | None] = {
        k: (sums[k][0] if k in SUMMED else v) for k, v in mean.items()
    }
    m = mean["reward/mean"]
    record["reward/std"] = math.sqrt(max(sq - m * m, 0.0)) if m is not None else None
    record["lr"] = run.scheduler.get_last_lr()[0]
    return dict(sorted(record.items()))


def _token_counts(
    tally: Tally, trajectories: Sequence[Trajectory], batch: TrainBatch | None
) -> None:
    plan = rest = calls = turns = 0
    for t in trajectories:
        for m, s in zip(t.action_mask, t.step_ids):
            plan += bool(m) and s == 0
            rest += bool(m) and s > 0
        calls += int(t.info.get("search_calls", 0)) + int(t.info.get("visit_calls", 0))
        turns += t.num_turns
    n = len(trajectories)
    tally.add("tokens/plan", plan)
    tally.add("tokens/rest", rest)
    tally.add("tokens/trained", 0 if batch is None else batch.loss_mask.sum())
    tally.add("batch/sequences", 0 if batch is None else batch.num_sequences)
    tally.add("episode/tool_calls", calls, n)
    tally.add("episode/turns", turns, n)


def _loss_stats(tally: Tally, stats: UpdateStats | None) -> None:
    names = ("loss", "clip_fraction", "approx_kl", "entropy", "grad_norm", "ref_kl")
    keys = ("loss/policy", "loss/clip_fraction", "loss/approx_kl", "loss/entropy")
    keys += ("loss/grad_norm", "loss/ref_kl")
    for name, key in zip(names, keys):
        if stats is None:
            tally.declare(key)
        else:
            tally.add(key, getattr(stats, name))


def train_grpo(config: TrainConfig, stages: Sequence[Stage] | None = None) -> TrainResult:
    """Run the stages of ``config.algo`` (any algorithm but sft), or the given ``stages``
    (a planning method's own schedule; the config still supplies every setting)."""
    stages = tuple(stages) if stages is not None else stages_for(config)
    if not stages:
        raise ValueError("Expected at least one stage with steps > 0.")
    judged = any(isinstance(s.reward, RewardSource) and s.reward.judged for s in stages)
    needs_initial = any(s.settings.kl.enabled for s in stages) or (
        judged and not config.judge_model and config.judge is PlanJudge.EXPECTED
    )
    run = setup_run(config, config.learning_rate, needs_initial)
    total = total_steps(stages)
    before = None
    if config.eval_tasks and config.eval_before:
        before = evaluate(run, config.eval_tasks)
    done = run_loop(
        run, total, lambda s: grpo_step(run, stages, s), lambda s: stage_at(stages, s).index
    )
    return conclude(run, done, total, before)


def train(config: TrainConfig, stages: Sequence[Stage] | None = None) -> TrainResult:
    """Train with ``config`` (GRPO variants or SFT) and return where the results are;
    ``stages`` replaces the algorithm's own schedule (see :func:`train_grpo`)."""
    if config.algo is Algo.SFT:
        return train_sft(config)
    return train_grpo(config, stages)
