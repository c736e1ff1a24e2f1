"""The training half of ``make demo``: the shipped warm start, a plan-anchor probe, a few
Anchor-GRPO steps, and greedy dev pass@1 before and after them.

1. The start policy is SmolLM2-135M-Instruct with the shipped SFT warm start
   (``smollm2-sft``, :func:`agents.models.warm_start_dir`), played in the format saved
   with it (:mod:`agents.agent_format`).
2. Its greedy pass@1 on the first ``eval_tasks`` dev questions of at most ``max_hops`` hops,
   with the share of turns holding a valid action, through :func:`agents.evaluate.evaluate`.
3. The plan-anchor probe: ``probe_tasks`` of those questions are continued greedily from a
   correct first step (the honest oracle's plan and first action) and from a wrong one (the
   plan and first action written for another question); the share answered right after each.
4. Anchor-GRPO: stage 1 rewards the plan with the *privileged* reference judge (it reads the
   gold path; no judge model, so it fits a laptop), stage 2 the 0/1 outcome of whole
   trajectories. LoRA adapters on the warm start; curves (reward, tool calls) in a PNG.
5. The same greedy evaluation of the trained model.

Whether a few CPU steps move pass@1 is what the run measures; the demo prints it either way.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from agents.agent_format import AgentFormat
from agents.models import WARM_START, default_device, inference_dtype, warm_start_dir
from agents.train.config import Algo, PlanJudge, Precision, TrainConfig
from agents.train.logging import CURVES_FILE
from agents.train.loop import FINAL_DIR
from agents.train.run import TrainResult, env_factory
from agents.train.trainer import train
from agents.trajectory import Trajectory, first_step


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs; the defaults fit ``make demo`` on a 2-core CPU."""

    corpus: str = "default"
    eval_tasks: int = 16
    """Dev questions (of at most ``max_hops`` hops) for greedy pass@1, before and after."""
    max_hops: int = 2
    probe_tasks: int = 4
    """Questions of the plan-anchor probe (continued from a correct and a wrong first step)."""
    tiny_model: bool = False
    """A tiny random model with the SmolLM2 tokenizer instead of the warm start (tests)."""
    format: AgentFormat | None = None
    """The format to play in; None: the one saved with the warm start."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """:class:`TrainConfig` fields of the Anchor-GRPO run over :data:`TRAINING`."""


TRAINING: dict[str, Any] = {
    "stage1_steps": 2,
    "stage2_steps": 1,
    "stage1_group_size": 4,
    "stage2_group_size": 4,
    "tasks_per_step": 2,
    "learning_rate": 2e-5,
    "lora_rank": 16,
    "lora_alpha": 32,
    "micro_batch_size": 2,
}
"""The demo's Anchor-GRPO settings (:class:`TrainConfig` fields): a few LoRA steps that fit a
laptop CPU in minutes."""


OUTPUTS = ("eval-before", "anchor-grpo", "eval-after")
"""The demo's subdirectories of its output directory, replaced by every run."""


class ProbeResult(NamedTuple):
    questions: int
    after_correct: float
    after_wrong: float


class DemoResult(NamedTuple):
    before: dict[str, Any]
    probe: ProbeResult
    anchor: TrainResult
    after: dict[str, Any]
    seconds: dict[str, float]


def start_format(settings: DemoSettings) -> AgentFormat:
    """The format of the start policy: ``settings.format``, else the warm start's own."""
    saved = settings.format or AgentFormat.load(warm_start_dir())
    if saved is None:
        raise FileNotFoundError(f"Expected the shipped warm start in {warm_start_dir()}.")
    return saved


def start_policy(settings: DemoSettings, seed: int = 0) -> Any:
    """The start policy as an :class:`agents.hf_policy.HFPolicy`."""
    from agents.hf_policy import HFPolicy

    if settings.tiny_model:
        from agents.testing import smollm2_tokenizer, tiny_causal_lm

        tokenizer = smollm2_tokenizer()
        return HFPolicy(tiny_causal_lm(tokenizer, seed=seed), tokenizer)
    return HFPolicy.from_pretrained(WARM_START, device="cpu", dtype=inference_dtype("cpu"))


def dev_tasks(settings: DemoSettings) -> list[Any]:
    """The first ``eval_tasks`` dev questions of at most ``max_hops`` hops."""
    _, backend = env_factory(settings.corpus, "dev")
    tasks = [t for t in backend.corpus.tasks_in("dev") if t.hops <= settings.max_hops]
    return tasks[: settings.eval_tasks]


def greedy_eval(policy: Any, settings: DemoSettings, fmt: AgentFormat, out: Path) -> dict:
    """Greedy pass@1 and turn statistics of ``policy`` on :func:`dev_tasks`."""
    from agents.evaluate import EvalConfig, evaluate

    config = EvalConfig(
        policy="tiny" if settings.tiny_model else WARM_START, corpus=settings.corpus,
        split="dev", max_hops=settings.max_hops, limit=settings.eval_tasks, temperature=0.0,
        batch_tasks=settings.eval_tasks, out=str(out), progress=False, **asdict(fmt),
    )  # fmt: skip
    return evaluate(config, policy=policy)["metrics"]


def probe(policy: Any, settings: DemoSettings, fmt: AgentFormat) -> ProbeResult:
    """Greedy continuations of ``probe_tasks`` questions after a correct and a wrong first
    step; the wrong one is the correct first step of the next question (another entity)."""
    from agents.policy import SamplingParams
    from agents.prompts import get_prompt
    from agents.rollout import RolloutConfig, RolloutEngine, rollout
    from agents.scripted import OraclePolicy

    tasks = dev_tasks(settings)[: max(2, settings.probe_tasks)]
    make_env, _ = env_factory(settings.corpus, "dev", top_k=fmt.top_k, visit_chars=fmt.visit_chars)
    params = SamplingParams(max_new_tokens=fmt.max_new_tokens, temperature=0.0, seed=0)
    one = RolloutConfig(prompt=get_prompt(fmt.prompt), params=params, max_turns=1, split="dev")
    ids = [t.id for t in tasks]
    labels = one.prompt.step_labels
    oracle = rollout(OraclePolicy(tasks, policy.tokenizer, step_labels=labels), make_env, ids, one)
    correct = [first_step(t) for t in oracle]
    wrong = correct[1:] + correct[:1]
    config = RolloutConfig(prompt=one.prompt, params=params, max_turns=fmt.max_turns, split="dev")
    with RolloutEngine(policy, make_env, config) as engine:
        right = engine.run(ids, forced_first_turns=correct)
        off = engine.run(ids, forced_first_turns=wrong)
    return ProbeResult(len(ids), _solved(right), _solved(off))


def _solved(trajectories: list[Trajectory]) -> float:
    return sum(t.reward >= 1.0 for t in trajectories) / max(1, len(trajectories))


def anchor_config(settings: DemoSettings, fmt: AgentFormat, out: Path) -> TrainConfig:
    """The Anchor-GRPO run of the demo: LoRA on the warm start, the reference judge."""
    values: dict[str, Any] = dict(
        algo=Algo.ANCHOR_GRPO, model="" if settings.tiny_model else WARM_START,
        tiny_model=settings.tiny_model, corpus=settings.corpus, output_dir=str(out),
        **asdict(fmt), judge=PlanJudge.PRIVILEGED_REFERENCE, precision=native_precision(), eval_tasks=0, seed=0,
    )  # fmt: skip
    return TrainConfig.from_dict(values | TRAINING | settings.overrides)


def native_precision() -> Precision:
    """bf16 where the hardware computes it natively (:func:`agents.models.inference_dtype`)."""
    import torch

    native = inference_dtype(default_device()) == torch.bfloat16
    return Precision.BF16 if native else Precision.FP32


def demo_run(output_dir: str | Path = "runs/demo", settings: DemoSettings | None = None):
    """Steps 2-5 of the module docstring; every part's wall time in ``seconds``."""
    settings = settings or DemoSettings()
    out, seconds = Path(output_dir), {}
    for part in OUTPUTS:  # the demo's own outputs from an earlier run: it starts over
        shutil.rmtree(out / part, ignore_errors=True)
    fmt = start_format(settings)
    clock = time.perf_counter()
    policy = start_policy(settings)
    before = greedy_eval(policy, settings, fmt, out / "eval-before")
    seconds["eval before"], clock = time.perf_counter() - clock, time.perf_counter()
    probed = probe(policy, settings, fmt)
    seconds["probe"], clock = time.perf_counter() - clock, time.perf_counter()
    del policy
    anchor = train(anchor_config(settings, fmt, out / "anchor-grpo"))
    seconds["anchor-grpo"], clock = time.perf_counter() - clock, time.perf_counter()
    from agents.hf_policy import HFPolicy

    final = str(anchor.output_dir / FINAL_DIR)
    trained = HFPolicy.from_pretrained(final, device="cpu", dtype=inference_dtype("cpu"))
    after = greedy_eval(trained, settings, fmt, out / "eval-after")
    seconds["eval after"] = time.perf_counter() - clock
    return DemoResult(before, probed, anchor, after, seconds)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def demo_summary(result: DemoResult) -> str:
    """The lines the demo prints."""
    b, a, p = result.before, result.after, result.probe
    lines = [
        f"greedy dev pass@1 of the warm start: {_pct(b['pass@1'])} of {b['tasks']} questions "
        f"(valid actions {_pct(b['valid_action_rate'])} of turns, "
        f"{_pct(b['turn_truncation_rate'])} of turns cut)",
        f"plan-anchor probe, {p.questions} questions: {_pct(p.after_correct)} right after a "
        f"correct first step, {_pct(p.after_wrong)} after a wrong one",
        f"greedy dev pass@1 after {result.anchor.steps_done} anchor-grpo steps: "
        f"{_pct(a['pass@1'])} (valid actions {_pct(a['valid_action_rate'])})",
        f"curves: {result.anchor.output_dir / CURVES_FILE}",
        "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items()),
    ]
    return "\n".join(lines)
