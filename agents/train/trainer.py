"""The GRPO training loop: rollout -> rewards -> advantages -> update -> log -> checkpoint.

Each trainer step plays ``tasks_per_step`` questions x G samples on every process, scores
them with the stage's reward, normalizes advantages within groups, collates the selected
steps into a :class:`~agents.train.batch.TrainBatch` and runs
:func:`~agents.train.update.grpo_update`. Everything random in a step is derived from
(seed, step, process), so a resumed run repeats an uninterrupted one exactly.

Runs unchanged under ``accelerate launch``: each process plays its own share of the
tasks (whole groups, so advantages stay local), DDP averages the gradients, and metrics
are summed over processes before the main process logs them.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from agents.agent_format import AgentFormat
from agents.grpo import Advantages, group_advantages
from agents.policy import SamplingParams
from agents.prompts import get_prompt
from agents.rollout import RolloutConfig, RolloutEngine
from agents.train.algos import (
    RewardFn,
    RewardSource,
    Stage,
    derive_seed,
    selector_for,
    stage_at,
    stages_for,
    total_steps,
)
from agents.train.batch import TrainBatch, collate
from agents.train.checkpoint import (
    TrainerState,
    load_checkpoint,
    resolve_resume,
    save_checkpoint,
)
from agents.train.config import Algo, PlanJudge, Precision, TrainConfig
from agents.train.logging import CURVES_FILE, MetricsLogger, Tally, means, plot_curves
from agents.train.logprobs import sequence_logprobs
from agents.train.memory import checkpoint_activations
from agents.train.update import Collectives, UpdateSettings, UpdateStats, filler_batch, grpo_update
from agents.trajectory import Trajectory

FINAL_DIR = "final"
ADAPTER_DIR = "adapter"
"""Inside the final directory: the LoRA adapter alone (PEFT format), for LoRA runs."""
UNSCORED = ("policy_error", "env_error", "template_mismatch")
"""Episodes ending this way have no meaningful outcome: their reward is missing."""
SUMMED = frozenset(
    {"reward/excluded", "tokens/plan", "tokens/rest", "tokens/trained", "batch/sequences"}
)
"""Metrics logged as totals over processes rather than means."""


class OutOfMemory(RuntimeError):
    """Training ran out of memory; the message names the settings to lower."""


@dataclass
class Run:
    """Everything a training run holds while it runs."""

    config: TrainConfig
    accelerator: Any
    model: nn.Module
    """The trained model as prepared by accelerate (DDP-wrapped on several processes)."""
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    logger: MetricsLogger
    comm: Collectives
    initial_model: nn.Module | None = None
    """A frozen copy of the starting weights (judge and KL reference), when needed."""
    judges: dict[Any, Any] = field(default_factory=dict)
    """Plan judges built on first use, by reward source."""
    tasks: dict[str, Any] = field(default_factory=dict)
    """Training tasks by id (the split, cut to max_tasks)."""
    make_env: Callable[..., Any] | None = None

    @property
    def rank(self) -> int:
        return self.accelerator.process_index

    @property
    def world(self) -> int:
        return self.accelerator.num_processes

    @property
    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)


class TrainResult(NamedTuple):
    output_dir: Path
    steps_done: int
    finished: bool
    """False when the run stopped early (stop_after) and can be resumed."""
    pass_before: float | None = None
    """Greedy pass@1 on eval_tasks dev tasks before training (None: not measured)."""
    pass_after: float | None = None
    """The same after training."""


# ----------------------------------------------------------------------------- setup


def build_accelerator(config: TrainConfig) -> Any:
    from accelerate import Accelerator

    bf16_ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    use_bf16 = config.precision is Precision.BF16 or (
        config.precision is Precision.AUTO and bf16_ok
    )
    # Without an accelerator, processes started by `accelerate launch --multi_gpu` or
    # torchrun only join one group (gloo, MULTI_CPU) when accelerate is told to use the CPU.
    cpu = not torch.accelerator.is_available()
    return Accelerator(mixed_precision="bf16" if use_bf16 else "no", cpu=cpu)


def load_initial_model(config: TrainConfig, device: torch.device) -> tuple[nn.Module, Any]:
    """The starting model (float32 weights; bf16 comes from autocast) and its tokenizer."""
    if config.tiny_model:
        from agents.testing import smollm2_tokenizer, tiny_causal_lm

        tokenizer = smollm2_tokenizer()
        return tiny_causal_lm(tokenizer, seed=config.seed).to(device), tokenizer
    from agents.models import load_model_and_tokenizer

    return load_model_and_tokenizer(config.model or None, device=device, dtype=torch.float32)


def with_lora(model: nn.Module, config: TrainConfig) -> nn.Module:
    """Wrap ``model`` with PEFT LoRA adapters when ``lora_rank > 0``."""
    if config.lora_rank <= 0:
        return model
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise ImportError("--lora-rank needs PEFT: pip install peft") from err
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules="all-linear")
    return get_peft_model(model, lora)


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float, warmup: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW over the trainable parameters; linear warm-up, then constant (see
    :class:`LRSchedule` for a decay once the number of steps is known)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule(warmup))


@dataclass(frozen=True)
class LRSchedule:
    """Learning-rate factor of optimizer step ``step`` (picklable).

    Linear warm-up, (step + 1) / warmup, over ``warmup`` steps; then 1, or with
    ``total > warmup`` a cosine decay from 1 to ``floor`` at step ``total``.
    """

    warmup: int
    total: int = 0
    floor: float = 0.1

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.total <= self.warmup:
            return 1.0
        progress = min(1.0, (step - self.warmup) / (self.total - self.warmup))
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def collectives_for(accelerator: Any, model: nn.Module) -> Collectives:
    """The cross-process operations of an update, through ``accelerator``."""
    device = accelerator.device
    return Collectives(
        backward=accelerator.backward,
        all_sum=lambda t: accelerator.reduce(t.to(device), "sum"),
        all_max=lambda t: accelerator.gather(t.to(device)).max().reshape(1),
        no_sync=lambda: accelerator.no_sync(model),
        world_size=accelerator.num_processes,
    )


def env_factory(
    corpus: str, split: str, show_progress: bool = False, **env_kwargs: Any
) -> tuple[Callable, Any]:
    """(a function building one environment of ``split``, the shared backend).

    ``env_kwargs`` go to ``gym.make`` (``top_k``, ``visit_chars``, budgets...).
    """
    import gymnasium as gym

    import webanchor_env
    from webanchor_env.backend import get_backend

    backend = get_backend(corpus, show_progress=show_progress)
    make = lambda: gym.make(webanchor_env.ENV_ID, split=split, backend=backend, **env_kwargs)  # noqa: E731
    return make, backend


def model_format(config: TrainConfig) -> AgentFormat:
    """The format a model trained with ``config`` plays in (saved with it)."""
    return AgentFormat(
        prompt=config.prompt, top_k=config.top_k, visit_chars=config.visit_chars,
        max_turns=config.max_turns, max_new_tokens=config.max_new_tokens,
    )  # fmt: skip


def env_settings(config: TrainConfig) -> dict[str, int]:
    """The environment settings of ``config``."""
    return {"top_k": config.top_k, "visit_chars": config.visit_chars}


def setup_run(config: TrainConfig, lr: float, needs_initial: bool) -> Run:
    """Accelerator, model (LoRA), optimizer, scheduler, logger, environments and tasks."""
    accelerator = build_accelerator(config)
    model, tokenizer = load_initial_model(config, accelerator.device)
    initial = _frozen_copy(model) if needs_initial else None
    model = with_lora(model, config)
    if config.gradient_checkpointing:
        checkpoint_activations(model)
    model.train()
    optimizer, scheduler = make_optimizer(model, lr, config.weight_decay, config.warmup_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    logger = MetricsLogger(config.output_dir, accelerator.is_main_process, config.tensorboard)
    make_env, backend = env_factory(
        config.corpus, config.split, accelerator.is_main_process, **env_settings(config)
    )
    tasks = backend.corpus.tasks_in(config.split)
    tasks = tasks[: config.max_tasks] if config.max_tasks else tasks
    if not tasks:
        raise ValueError(
            f"Expected tasks in split {config.split!r} of {config.corpus!r}, got none."
        )
    comm = collectives_for(accelerator, model)
    run = Run(config, accelerator, model, tokenizer, optimizer, scheduler, logger, comm, initial)
    run.tasks, run.make_env = {t.id: t for t in tasks}, make_env
    return run


def _frozen_copy(model: nn.Module) -> nn.Module:
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return frozen


def build_judge(run: Run, source: RewardSource = RewardSource.PLAN_RUBRIC) -> Any:
    """The stage-1 judge: expected scores (judge_model, or the frozen initial policy), or
    the privileged reference judge (``--judge reference``: reads the gold path).

    The plan rubric is the config's rubric file (checked with ``load_validated_rubric``)
    or the bundled default; the naive reward uses the one-dimension overall rubric.
    """
    from agents.rewards import ExpectedScoreJudge, PrivilegedReferenceJudge, naive_rubric

    c = run.config
    if c.judge is PlanJudge.PRIVILEGED_REFERENCE:
        if source is RewardSource.NAIVE_PLAN:
            raise ValueError(
                "Expected --judge expected for the naive plan reward, got --judge reference "
                "(the privileged reference judge scores the six-dimension plan rubric only)."
            )
        return PrivilegedReferenceJudge(run.tasks.values(), plan_rubric(c))
    if c.judge_model:
        from agents.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(c.judge_model, device=run.accelerator.device)
        model.requires_grad_(False)
    else:
        model, tokenizer = run.initial_model, run.tokenizer
    rubric = naive_rubric() if source is RewardSource.NAIVE_PLAN else plan_rubric(c)
    return ExpectedScoreJudge(model, tokenizer, rubric, batch_size=c.judge_batch_size)


def plan_rubric(config: TrainConfig) -> Any:
    """The rubric file of ``config`` (validated), or None for the judge's bundled default."""
    if not config.rubric:
        return None
    from agents.rubrics.validation import load_validated_rubric

    return load_validated_rubric(config.rubric, require_thresholds=config.require_validated_rubric)


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


class RewardBatch(NamedTuple):
    """Rewards of N trajectories; NaN marks a missing one (excluded, counted)."""

    values: Tensor
    """[N] float32."""
    dimensions: dict[str, Tensor]
    """Rubric dimension key -> [N] scores (plan-rubric stages only)."""


def outcome_rewards(trajectories: Sequence[Trajectory]) -> RewardBatch:
    """The environment's 0/1 reward; missing when the episode broke (see UNSCORED)."""
    values = [
        float("nan")
        if (t.truncated_reason or "").startswith(UNSCORED) or not math.isfinite(t.reward)
        else t.reward
        for t in trajectories
    ]
    return RewardBatch(torch.tensor(values, dtype=torch.float32), {})


def rubric_rewards(
    trajectories: Sequence[Trajectory], questions: Sequence[str], judge: Any
) -> RewardBatch:
    """The judge's rubric reward of each plan (the first turn); None becomes NaN."""
    results = judge.score(list(questions), [t.plan for t in trajectories])
    nan = float("nan")
    values = torch.tensor([nan if r.reward is None else r.reward for r in results])
    keys = [d.key for d in judge.rubric.dimensions]
    dims = {
        k: torch.tensor([nan if r.scores is None else float(r.scores[k]) for r in results])
        for k in keys
    }
    return RewardBatch(values.float(), dims)


def custom_rewards(
    trajectories: Sequence[Trajectory], tasks: Sequence[Any], reward: RewardFn
) -> RewardBatch:
    """A reward function's values; None, NaN or a wrong count are caught here."""
    values = list(reward(trajectories, tasks))
    if len(values) != len(trajectories):
        raise ValueError(
            f"Expected the reward function to return {len(trajectories)} values, got {len(values)}."
        )
    nan = float("nan")
    floats = [nan if v is None else float(v) for v in values]
    return RewardBatch(torch.tensor(floats, dtype=torch.float32), {})


def score(run: Run, stage: Stage, trajectories: Sequence[Trajectory]) -> RewardBatch:
    if not isinstance(stage.reward, RewardSource):
        tasks = [run.tasks[t.task_id] for t in trajectories]
        return custom_rewards(trajectories, tasks, stage.reward)
    if stage.reward is RewardSource.OUTCOME:
        return outcome_rewards(trajectories)
    if stage.reward not in run.judges:
        run.judges[stage.reward] = build_judge(run, stage.reward)
    questions = [run.tasks[t.task_id].question for t in trajectories]
    return rubric_rewards(trajectories, questions, run.judges[stage.reward])


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


@contextlib.contextmanager
def guard_oom(config: TrainConfig, stage: Stage | None, phase: str) -> Iterator[None]:
    """Turn an out-of-memory error into one that names the settings to lower."""
    try:
        yield
    except (torch.OutOfMemoryError, RuntimeError) as err:
        text = str(err).lower()
        if (
            not isinstance(err, torch.OutOfMemoryError)
            and "out of memory" not in text
            and ("can't allocate memory" not in text)
        ):
            raise
        index = stage.index if stage is not None else 2
        group = stage.settings.group_size if stage is not None else "-"
        raise OutOfMemory(
            f"Out of memory during {phase}. Lower --micro-batch-size (now "
            f"{config.micro_batch_size}), --logprob-chunk-size (now {config.logprob_chunk_size}), "
            f"--tasks-per-step (now {config.tasks_per_step}), --stage{index}-group-size "
            f"(now {group}), --max-new-tokens (now {config.max_new_tokens}) or "
            f"--judge-batch-size (now {config.judge_batch_size})."
        ) from err


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


def param_sync(run: Run) -> dict[str, float]:
    """On several processes: how many ran, and the spread of their parameter checksums
    (0 when the replicas are identical, as DDP promises)."""
    if run.world == 1:
        return {}
    total = sum(p.detach().double().sum() for p in run.unwrapped.parameters())
    sums = run.accelerator.gather(total.reshape(1).to(run.accelerator.device))
    return {
        "dist/processes": float(sums.numel()),
        "dist/param_spread": float(sums.max() - sums.min()),
    }


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


# ----------------------------------------------------------------------------- the loop


StepFn = Callable[[int], dict[str, Any]]


def start_step(run: Run) -> int:
    """0, or the step of the checkpoint being resumed (its state restored)."""
    path = resolve_resume(run.config)
    if path is None:
        return 0
    state = load_checkpoint(run.accelerator, path, run.config)
    run.logger.truncate_from(state.step)
    return state.step


def run_loop(run: Run, total: int, step_fn: StepFn, stage_of: Callable[[int], int]) -> int:
    """Run steps from the resumed one to ``total``: log each, checkpoint as configured.

    Returns the number of completed steps (less than ``total`` if ``stop_after`` hit).
    """
    c = run.config
    first = start_step(run)
    bar = _progress(run, first, total)
    step = first
    for step in range(first, total):
        record = step_fn(step)
        run.logger.log(record)
        bar.update(1)
        bar.set_postfix(_postfix(record), refresh=False)
        done = step + 1
        stop = c.stop_after > 0 and done - first >= c.stop_after
        if done == total or stop or (c.save_every and done % c.save_every == 0):
            stage = stage_of(min(done, total - 1))
            save_checkpoint(run.accelerator, TrainerState(done, stage, c), c.keep_checkpoints)
        if stop:
            break
    bar.close()
    return step + 1 if total > first else first


def _progress(run: Run, first: int, total: int) -> Any:
    from tqdm.auto import tqdm

    disable = not (run.config.progress and run.accelerator.is_main_process)
    return tqdm(total=total, initial=first, desc=run.config.algo.value, disable=disable)


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    keys = ("stage", "reward/mean", "loss/policy", "sft/loss")
    return {
        k.split("/")[-1]: f"{v:.3g}" if isinstance(v, float) else str(v)
        for k in keys
        if (v := record.get(k)) is not None
    }


def finish(run: Run) -> Path:
    """Save the final model and tokenizer, draw the curves, close the logs."""
    out = Path(run.config.output_dir) / FINAL_DIR
    run.accelerator.wait_for_everyone()
    if run.accelerator.is_main_process:
        model = run.unwrapped
        if run.config.lora_rank > 0:
            model.save_pretrained(out / ADAPTER_DIR)  # the adapter alone, before merging
            model = model.merge_and_unload()
        model.save_pretrained(out)
        run.tokenizer.save_pretrained(out)
        model_format(run.config).save(out)
        plot_curves(run.logger.path, Path(run.config.output_dir) / CURVES_FILE)
    run.logger.close()
    run.accelerator.wait_for_everyone()
    return out


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


def conclude(run: Run, done: int, total: int, before: float | None) -> TrainResult:
    """After the loop: evaluate, save the final model and curves (if the run finished)."""
    finished = done >= total
    after = None
    if finished:
        if run.config.eval_tasks:
            after = evaluate(run, run.config.eval_tasks)
            record = {"eval/pass@1_before": before, "eval/pass@1_after": after}
            run.logger.log({"step": done, "stage": "eval", **record})
        finish(run)
    else:
        run.logger.close()
    return TrainResult(Path(run.config.output_dir), done, finished, before, after)


def train(config: TrainConfig, stages: Sequence[Stage] | None = None) -> TrainResult:
    """Train with ``config`` (GRPO variants or SFT) and return where the results are;
    ``stages`` replaces the algorithm's own schedule (see :func:`train_grpo`)."""
    if config.algo is Algo.SFT:
        from agents.train.sft import train_sft

        return train_sft(config)
    return train_grpo(config, stages)


# ----------------------------------------------------------------------------- evaluation


def evaluate(run: Run, num_tasks: int, split: str = "dev") -> float:
    """Greedy pass@1 on the first ``num_tasks`` tasks of ``split``, shared over processes."""
    from agents.hf_policy import HFPolicy

    c = run.config
    make_env, backend = env_factory(c.corpus, split, **env_settings(c))
    ids = [t.id for t in backend.corpus.tasks_in(split)[:num_tasks]]
    mine = ids[run.rank :: run.world]
    params = SamplingParams(max_new_tokens=c.max_new_tokens, temperature=0.0, seed=0)
    config = RolloutConfig(
        prompt=get_prompt(c.prompt), params=params, max_turns=c.max_turns, split=split
    )
    solved = 0.0
    if mine:
        with RolloutEngine(HFPolicy(run.unwrapped, run.tokenizer), make_env, config) as engine:
            solved = sum(float(t.reward >= 1.0) for t in engine.run(mine))
    total = run.comm.all_sum(torch.tensor([solved, float(len(mine))]))
    return float(total[0] / total[1]) if float(total[1]) else 0.0
