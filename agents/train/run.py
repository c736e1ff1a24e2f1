"""What GRPO and SFT runs share: the :class:`Run`, its setup and its guards.

Setup builds the accelerator, the model (LoRA-wrapped when asked, float32 weights), the
optimizer and its learning-rate schedule, the metrics logger, the environments and the
training tasks; :func:`guard_oom` names the settings to lower when memory runs out, and
:func:`param_sync` checks that the replicas of a multi-process run agree.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from agents.agent_format import AgentFormat
from agents.models import peft_deprecations_hidden
from agents.train.algos import Stage
from agents.train.config import Precision, TrainConfig
from agents.train.logging import MetricsLogger
from agents.train.memory import checkpoint_activations
from agents.train.update import Collectives


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
    """An Accelerator for ``config``'s precision. Runs in one process one after another (the
    demo, a notebook, the tests) may differ in precision: accelerate keeps one global state
    and refuses a second precision, so that state (not the process group) is reset first."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    bf16_ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    use_bf16 = config.precision is Precision.BF16 or (
        config.precision is Precision.AUTO and bf16_ok
    )
    # Without an accelerator, processes started by `accelerate launch --multi_gpu` or
    # torchrun only join one group (gloo, MULTI_CPU) when accelerate is told to use the CPU.
    cpu = not torch.accelerator.is_available()
    AcceleratorState._reset_state(reset_partial_state=False)
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
    with peft_deprecations_hidden():
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
