"""The training configuration: one frozen dataclass whose field docstrings are the `--help`.

Each field is followed by a one-line docstring (as in CleanRL); :func:`build_parser` reads
those docstrings from the source and turns every field into a command-line option, so the
configuration documents itself (:mod:`agents.cli`, the convention every CLI of the project
follows). The per-stage settings are two nested :class:`StageSettings`, ``stage1`` and
``stage2``, set on the command line as ``--stage1-steps``, ``--stage2-group-size``, ... and
in Python as ``config.replace(stage1_steps=4)`` or ``replace(config.stage1, steps=4)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from agents import cli
from agents.grpo import AdvantageScale, Aggregation, KLConfig, Normalization
from agents.rollout import AgentKind


class Algo(str, enum.Enum):
    """Which training algorithm to run."""

    GRPO = "grpo"
    FIRST_STEP_GRPO = "first-step-grpo"
    ANCHOR_GRPO = "anchor-grpo"
    LAST_STEP_GRPO = "last-step-grpo"
    RANDOM_STEP_GRPO = "random-step-grpo"
    TRACER1 = "tracer1"
    SFT = "sft"


class PlanReward(str, enum.Enum):
    """What rewards the plan in anchor-grpo's stage 1."""

    RUBRIC = "rubric"
    """The plan-rubric judge: R = sum of dimension scores / sum of their maxima."""
    NAIVE = "naive"
    """One overall rating of the plan (the paper's naive-reward ablation)."""


class PlanJudge(str, enum.Enum):
    """What scores the plan for the stage-1 rubric reward."""

    EXPECTED = "expected"
    """Expected rubric scores from an LLM's digit probabilities (judge_model, or the initial policy)."""
    PRIVILEGED_REFERENCE = "reference"
    """The privileged reference judge: reads the gold path; no model (plan rubric only)."""


class Precision(str, enum.Enum):
    """Numeric precision of the forward and backward passes."""

    AUTO = "auto"
    """bf16 where the hardware supports it (a CUDA GPU with bf16), else fp32."""
    BF16 = "bf16"
    FP32 = "fp32"


@dataclass(frozen=True)
class StageSettings:
    """The knobs that differ between stage 1 and stage 2 (``--stage1-*``, ``--stage2-*``)."""

    steps: int = 2
    """Rollout batches (trainer steps) in this stage."""
    group_size: int = 4
    """G: samples per question; advantages are normalized within each group."""
    eps_low: float = 0.2
    """Lower clip range of the ratio: 1 - eps_low."""
    eps_high: float = 0.28
    """Upper clip range of the ratio: 1 + eps_high (DAPO's clip-higher)."""
    kl_beta: float = 0.0
    """Weight of the KL penalty to the initial policy (0: no reference model)."""
    aggregation: Aggregation = Aggregation.SEQ_MEAN_TOKEN_MEAN
    """Loss aggregation: token-mean, seq-mean-token-mean or seq-mean-token-sum-norm."""

    def __post_init__(self) -> None:
        cli.coerce_enums(self)

    @property
    def kl(self) -> KLConfig:
        """The KL penalty of this stage (off when ``kl_beta`` is 0)."""
        return KLConfig(beta=self.kl_beta)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in every checkpoint."""

    # ---------------------------------------------------------------- run
    algo: Algo = Algo.ANCHOR_GRPO
    """Training algorithm: grpo, first-step-grpo, anchor-grpo, last-step-grpo, random-step-grpo, tracer1 (with --agent anticipatory) or sft."""
    model: str = ""
    """Hugging Face model id or local directory; empty: SmolLM2-135M-Instruct from the offline GGUF."""
    tiny_model: bool = False
    """Use a tiny randomly initialized model with the SmolLM2 tokenizer (tests and smoke runs)."""
    corpus: str = "default"
    """Corpus: 'default' (the bundled wiki) or the path of a corpus directory."""
    split: str = "train"
    """Split whose tasks are trained on."""
    max_tasks: int = 0
    """Train on only the first N tasks of the split (0: all)."""
    output_dir: str = "runs/webanchor"
    """Directory for metrics.jsonl, TensorBoard events, curves.png, checkpoints and the final model."""
    seed: int = 0
    """Seed of everything: model init (tiny model), task order, rollout sampling."""
    resume: str = ""
    """Checkpoint directory to resume from, or 'auto' for the newest one in output_dir (empty: start fresh)."""
    stop_after: int = 0
    """Stop this invocation after this many trainer steps (0: run to the end); resume later."""

    # ---------------------------------------------------------------- rollouts
    tasks_per_step: int = 2
    """Questions per rollout batch on each process; each is sampled group_size times."""
    max_turns: int = 6
    """Assistant turns per episode (the plan turn included)."""
    max_new_tokens: int = 96
    """Token limit of every assistant turn (the plan included)."""
    prompt: str = "react-plan-prefill"
    """Prompt variant (agents.prompts): react-plan, react-plan-prefill or compact-plan-steps for small models; anticipatory-t3-prefill for --agent anticipatory."""
    agent: AgentKind = AgentKind.REACT
    """react (plan, then one action a turn) or anticipatory (TraceR1: predict horizon actions a turn, run the first)."""
    horizon: int = 3
    """Actions an anticipatory agent predicts each turn."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (log-probs are taken at the same temperature)."""
    top_k: int = 5
    """Search results per query (environment setting)."""
    visit_chars: int = 4000
    """Characters of a page one visit returns (environment setting; lower it for short contexts)."""

    # ---------------------------------------------------------------- stages
    stage1: StageSettings = StageSettings(steps=3)
    """Stage 1, the planner stage of first-step/anchor/last/random-step-grpo and tracer1 (grpo has none)."""
    stage2: StageSettings = StageSettings(steps=2)
    """Stage 2: whole trajectories, all policy tokens (all of grpo)."""
    advantage_scale: AdvantageScale = AdvantageScale.GROUP
    """Divide centered rewards by the group std (group), the batch std (batch) or nothing (none)."""
    min_reward_spread: float = 0.01
    """Groups whose rewards differ by less than this (max - min) count as flat: zero advantage, not judge noise scaled to +-1."""
    normalization: Normalization = Normalization.SAMPLED
    """Sequence-level losses divide by every sampled sequence, zero-advantage ones adding 0 (sampled, the paper's 1/G), or by the kept ones (kept)."""

    # ---------------------------------------------------------------- optimization
    learning_rate: float = 1e-6
    """AdamW learning rate of the GRPO stages."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Optimizer steps of linear learning-rate warm-up."""
    optimizer_steps_per_batch: int = 2
    """Optimizer steps per rollout batch: the batch is split into this many mini-batches."""
    micro_batch_size: int = 4
    """Sequences per forward/backward pass; gradients accumulate over a mini-batch."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0: no clipping)."""
    recompute_old_logp: bool = False
    """Recompute old log-probs with a forward pass instead of using the sampler's."""
    precision: Precision = Precision.AUTO
    """auto (bf16 where the hardware has it), bf16 or fp32."""
    lora_rank: int = 0
    """Train LoRA adapters of this rank through PEFT (0: train all weights)."""
    lora_alpha: int = 16
    """LoRA scaling alpha."""
    logprob_chunk_size: int = 256
    """Selected tokens per vocabulary projection and log-softmax chunk (lower it when memory is short)."""
    gradient_checkpointing: bool = True
    """Recompute each layer's activations in the backward instead of keeping them (less memory, about a third more compute)."""
    bounded_heap: bool = True
    """glibc only: each micro-batch's activations get their own mappings, returned when freed (a LoRA update of 4 x 2,000 tokens peaks at 1.4 GiB instead of 5.0, in about 1.35x the time on a CPU); --no-bounded-heap for speed where memory is plentiful."""
    plan_reward: PlanReward = PlanReward.RUBRIC
    """Stage-1 reward of anchor-grpo: rubric (six-dimension plan rubric) or naive (one overall rating)."""
    rubric: str = ""
    """Rubric JSON file (e.g. from the Plan Rubrics Learner); empty: the bundled default rubric."""
    require_validated_rubric: bool = False
    """Refuse a rubric file whose validation record is missing or missed the thresholds (else warn)."""
    judge: PlanJudge = PlanJudge.EXPECTED
    """Stage-1 plan judge: expected (an LLM's expected rubric scores) or reference (privileged: reads the gold path)."""
    judge_model: str = ""
    """Model of the stage-1 expected-score rubric judge; empty: a frozen copy of the initial policy."""
    judge_batch_size: int = 8
    """Judge prompts per forward pass."""

    # ---------------------------------------------------------------- sft
    sft_max_tasks: int = 32
    """Gold-path trajectories of the train split used for the SFT warm start (0: all)."""
    sft_max_hops: int = 0
    """Only tasks of at most this many hops give SFT demonstrations (0: all)."""
    sft_lr_decay: bool = False
    """Cosine-decay the SFT learning rate to a tenth over the run, after the warm-up."""
    sft_batch_size: int = 0
    """Trajectories per SFT optimizer step on each process, in micro-batches of micro_batch_size (0: micro_batch_size)."""
    sft_epochs: int = 2
    """Passes over the SFT trajectories."""
    sft_learning_rate: float = 5e-5
    """AdamW learning rate of SFT."""

    # ---------------------------------------------------------------- logging
    save_every: int = 0
    """Save a checkpoint every N trainer steps (0: only at the end and when stopping early)."""
    keep_checkpoints: int = 2
    """Newest checkpoints to keep."""
    tensorboard: bool = True
    """Also write TensorBoard events (skipped with a note when tensorboard is missing)."""
    progress: bool = True
    """Show a progress bar."""
    eval_tasks: int = 0
    """Dev tasks to measure pass@1 on (greedy) before and after training (0: skip)."""
    eval_before: bool = True
    """Also measure pass@1 before training (off when the starting policy was measured already)."""

    def __post_init__(self) -> None:
        cli.coerce_enums(self)
        for name in ("stage1", "stage2"):
            if isinstance(getattr(self, name), dict):  # from JSON
                object.__setattr__(self, name, StageSettings(**getattr(self, name)))
        flat = cli.flatten(self)
        positive = ("tasks_per_step", "max_turns", "max_new_tokens", "top_k", "visit_chars")
        positive += ("horizon", "stage1_group_size", "stage2_group_size")
        positive += ("optimizer_steps_per_batch", "micro_batch_size", "logprob_chunk_size")
        for name in positive + ("judge_batch_size",):
            if flat[name] < 1:
                raise ValueError(f"Expected {name} >= 1, got {flat[name]!r}.")
        nonnegative = ("stage1_steps", "stage2_steps", "stop_after", "save_every", "max_tasks")
        nonnegative += ("sft_max_tasks", "sft_max_hops", "sft_batch_size")
        for name in nonnegative + ("min_reward_spread",):
            if flat[name] < 0:
                raise ValueError(f"Expected {name} >= 0, got {flat[name]!r}.")
        anticipatory = self.agent is AgentKind.ANTICIPATORY
        if anticipatory != self.prompt.startswith("anticipatory") or (
            self.algo is Algo.TRACER1 and not anticipatory
        ):
            raise ValueError(
                "Expected --agent anticipatory with an anticipatory-* prompt (tracer1 needs them:"
                " --agent anticipatory --prompt anticipatory-t3-prefill) or --agent react with"
                f" another, got --algo {self.algo.value} --agent {self.agent.value}"
                f" --prompt {self.prompt}."
            )

    def stage(self, index: int) -> StageSettings:
        """The settings of stage 1 or 2."""
        if index not in (1, 2):
            raise ValueError(f"Expected stage 1 or 2, got {index!r}.")
        return self.stage1 if index == 1 else self.stage2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (enums as their values; each stage a dict)."""
        return cli.as_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; the flat ``stage1_*`` keys of older runs are read
        too. Unknown keys are an error."""
        return cls(**cli.nest(cls, data))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes``; a stage's setting may be given flat (``stage2_steps=0``)."""
        return dataclasses.replace(self, **cli.nest(type(self), changes, base=self))


RUNTIME_FIELDS = frozenset(
    {"resume", "stop_after", "progress", "tensorboard", "eval_tasks", "eval_before", "bounded_heap"}
)
"""Fields that do not change what a run computes: a resume may change them, and a
benchmark's trained model is not stamped with them."""


def config_differences(saved: TrainConfig, current: TrainConfig) -> list[str]:
    """Lines 'field: saved -> current' for every setting (outside RUNTIME_FIELDS) that
    differs, named as its flag is (``stage1_eps_high``)."""
    a, b = cli.flatten(saved), cli.flatten(current)
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in RUNTIME_FIELDS and a[k] != b[k]]


# ---------------------------------------------------------------- command line


EXAMPLES = """examples:
  python -m agents.train --preset smollm2-cpu      # the SFT warm start of SmolLM2 (CPU)
  python -m agents.train --algo sft --output-dir runs/sft
  python -m agents.train --algo anchor-grpo --model runs/sft/final --stage1-steps 20 \\
      --stage2-steps 40 --stage1-group-size 8 --judge-model smollm2 --output-dir runs/anchor
  python -m agents.train --algo anchor-grpo --output-dir runs/anchor --resume auto
  python -m agents.train --algo tracer1 --agent anticipatory --prompt anticipatory-t3-prefill
  accelerate launch --multi_gpu --num_processes 2 -m agents.train --algo grpo ...
"""


def field_docs(cls: type = TrainConfig) -> dict[str, str]:
    """Field name -> its docstring (:func:`agents.cli.field_docs`)."""
    return cli.field_docs(cls)


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one ``--option`` per config setting, helped by its docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.train",
        description="Train a web agent with GRPO, First-step GRPO, Anchor-GRPO, the "
        "last/random-step ablations, TraceR1, or SFT on gold trajectories.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset", metavar="NAME",
        help="named defaults (agents.train.presets: smollm2-cpu); other flags override them",
    )  # fmt: skip
    cli.add_arguments(parser, TrainConfig)
    return parser


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The config given by command-line arguments (``sys.argv[1:]`` by default).

    A starting model with a saved format (``--model smollm2-sft`` or a trained directory,
    :mod:`agents.agent_format`) sets the prompt, observation and turn settings, ``--preset
    NAME`` (agents.train.presets) sets its own; flags given on the command line override both.
    """
    from agents.agent_format import AgentFormat
    from agents.models import model_directory
    from agents.train.presets import PRESETS, preset

    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", choices=sorted(PRESETS), default=None)
    first.add_argument("--model", default="")
    known, rest = first.parse_known_args(argv)
    chosen = preset(known.preset) if known.preset else {}
    parser = build_parser()
    saved = AgentFormat.load(model_directory(known.model or chosen.get("model", "")))
    if saved is not None:
        parser.set_defaults(**dataclasses.asdict(saved))
    parser.set_defaults(**chosen)
    if known.model:
        rest += ["--model", known.model]
    values = vars(parser.parse_args(rest))
    values.pop("preset", None)
    return TrainConfig.from_dict(values)
