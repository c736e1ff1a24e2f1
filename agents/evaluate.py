"""Evaluate any policy on any corpus split: pass@1, pass@k, tool use, format errors, truncation.

Usage::

    python -m agents.evaluate --policy oracle --split test
    python -m agents.evaluate --policy smollm2 --prompt react-plan-prefill --n 4 --k 2
    python -m agents.evaluate --policy smollm2 --max-hops 1 --n 4 --temperature 1
    python -m agents.evaluate --policy smollm2-sft --split dev --max-hops 2 --temperature 0
    python -m agents.evaluate --policy openai:http://localhost:8000/v1:Qwen/Qwen2.5-7B-Instruct

``--policy`` is ``oracle``, ``naive`` or ``random`` (the scripted agents), ``smollm2`` (the
bundled SmolLM2-135M-Instruct), ``smollm2-sft`` (the same with the shipped SFT warm start),
any Hugging Face id or local model directory, or
``openai:<base_url>:<model>`` (an OpenAI-compatible endpoint; the model is what follows
the last colon). A trained model plays in the format saved with it (prompt variant, search
results, visit size, turn and token limits; :mod:`agents.agent_format`) unless those flags
are given. Each task is played ``n`` times, in lockstep groups, ``--batch-tasks``
tasks at a time. pass@1 is averaged over the n runs; pass@k uses the unbiased estimator
``1 - C(n-c, k) / C(n, k)`` of Chen et al. (2021). ``--max-hops``, ``--min-hops`` and
``--difficulty`` select the tasks by hop count and difficulty.

Besides pass@k the summary reports the share of turns that held a valid action (a tool call
the environment ran, or the answer), the share of turns cut by ``--max-new-tokens`` and of
episodes that ended without an answer, and, for n >= 2, the share of tasks with mixed
outcomes (some runs right, some wrong): the groups GRPO can learn from; watch it at
temperature 1 with n >= 4 before any RL run.

A lockstep batch decodes its ``batch_tasks`` x ``n`` episodes together, each keeping its
key/value states; ``--max-rows`` decodes at most that many at once (32 rows of the warm
start peaked at 6.6 GiB, 16 at a time at 5.8 GiB for 1.2x the time; benchmarks/RESULTS.md).

The output directory gets ``run.json`` (the configuration and the prompt variant),
``trajectories.jsonl`` (appended after every batch, so an interrupted evaluation keeps what
it finished; ``--resume`` skips the tasks already there), ``summary.json`` and
``summary.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents import cli
from agents.agent_format import AgentFormat
from agents.models import INFERENCE_DTYPES, model_directory
from agents.policy import Policy, SamplingParams
from agents.prompts import PromptVariant, get_prompt
from agents.rollout import AgentKind, EnvFactory, RolloutConfig, RolloutEngine
from agents.trajectory import Trajectory, Turn, load_jsonl, save_jsonl
from webanchor_env.actions import ErrorCode
from webanchor_env.env import describe_splits
from wiki_corpus.schema import Task

SCRIPTED = ("oracle", "naive", "random")
AGENTS = tuple(kind.value for kind in AgentKind)
FORMAT_ERRORS = frozenset(
    code.value
    for code in (
        ErrorCode.INVALID_ACTION_TYPE,
        ErrorCode.BINARY_ACTION,
        ErrorCode.ACTION_TOO_LONG,
        ErrorCode.ACTION_TOO_DEEP,
        ErrorCode.EMPTY_ACTION,
        ErrorCode.NO_ACTION,
        ErrorCode.EMPTY_ANSWER,
        ErrorCode.INVALID_JSON,
        ErrorCode.INVALID_TOOL_CALL,
        ErrorCode.UNKNOWN_TOOL,
        ErrorCode.MISSING_ARGUMENT,
        ErrorCode.INVALID_ARGUMENT,
    )
)
"""Error codes that mean the agent did not write the action format (not e.g. a missing page)."""
RUN_KEYS = (
    "policy",
    "corpus",
    "split",
    "max_hops",
    "min_hops",
    "difficulty",
    "n",
    "agent",
    "prompt",
    "horizon",
    "seed",
)
"""Settings a resumed evaluation must share with the run it continues."""


class EvaluationError(ValueError):
    """Nothing to evaluate: a split without tasks, or no task the policy can play."""


FORMAT_DEFAULTS: dict[str, Any] = {
    "prompt": None,
    "max_turns": 20,
    "max_new_tokens": 256,
    "top_k": 5,
    "visit_chars": 4000,
}
"""Settings a trained model's saved format (:mod:`agents.agent_format`) provides; these
values apply to models without one. Prompt None: the agent kind's own default."""


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation; every field is a command-line option (``--batch-tasks`` ...) helped by
    its docstring (:mod:`agents.cli`)."""

    policy: str = "oracle"
    """oracle|naive|random|smollm2|smollm2-sft|HF id or directory|openai:URL:MODEL"""
    corpus: str = "default"
    """Bundled corpus name or directory."""
    split: str = "test"
    """train, dev or test."""
    n: int = 1
    """Runs per task."""
    k: int = 1
    """k of pass@k (at most n)."""
    agent: str = "react"
    """react or anticipatory."""
    prompt: str | None = None
    """Prompt variant (a trained model's saved format first, else the agent kind's default)."""
    horizon: int = 3
    """Predicted actions per turn (anticipatory)."""
    batch_tasks: int = 8
    """Tasks per lockstep rollout."""
    max_rows: int | None = None
    """Episodes decoded together in one forward pass, at most (None: a whole lockstep
    batch, batch_tasks x n). Lower it to bound memory: each row keeps its key/value states,
    about 45 KB a token for SmolLM2-135M in float32."""
    max_turns: int | None = None
    """Assistant turns per episode (a trained model's saved format first, else 20)."""
    max_new_tokens: int | None = None
    """Tokens per turn (a trained model's saved format first, else 256)."""
    top_k: int | None = None
    """Search results per query (a trained model's saved format first, else 5)."""
    visit_chars: int | None = None
    """Characters one visit returns (a trained model's saved format first, else 4000)."""
    temperature: float = 1.0
    """Sampling temperature (0: greedy)."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    seed: int = 0
    """Sampling seed."""
    max_hops: int | None = None
    """Only tasks of at most N hops."""
    min_hops: int | None = None
    """Only tasks of at least N hops."""
    difficulty: str | None = None
    """Only tasks of these difficulties, e.g. 1,2."""
    limit: int | None = None
    """Evaluate only the first N tasks."""
    out: str = "runs/eval"
    """Output directory."""
    resume: bool = False
    """Continue the run in --out."""
    device: str | None = None
    """cpu or cuda (default: cuda if any)."""
    dtype: str = "auto"
    """Model dtype: float32, bfloat16, or auto (bf16 where computed natively)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        saved = AgentFormat.load(model_directory(self.policy))
        for name, fallback in FORMAT_DEFAULTS.items():
            if getattr(self, name) is None:
                value = getattr(saved, name) if saved is not None else fallback
                object.__setattr__(self, name, value)
        if self.n < 1 or not 1 <= self.k <= self.n:
            raise ValueError(f"Expected n >= 1 and 1 <= k <= n, got n={self.n}, k={self.k}.")
        if self.agent not in AGENTS:
            raise ValueError(f"Expected agent among {AGENTS}, got {self.agent!r}.")
        if self.batch_tasks < 1:
            raise ValueError(f"Expected batch_tasks >= 1, got {self.batch_tasks}.")
        if self.max_rows is not None and self.max_rows < 1:
            raise ValueError(f"Expected max_rows >= 1 or None, got {self.max_rows}.")
        for name in ("max_hops", "min_hops"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"Expected {name} >= 1, got {getattr(self, name)}.")
        self.difficulties()  # checks the list
        if self.dtype not in INFERENCE_DTYPES:
            raise ValueError(f"Expected dtype among {INFERENCE_DTYPES}, got {self.dtype!r}.")

    def difficulties(self) -> frozenset[int] | None:
        """The difficulties of ``difficulty`` ("1,2"), or None for all."""
        if self.difficulty is None:
            return None
        try:
            return frozenset(int(x) for x in str(self.difficulty).split(",") if x.strip())
        except ValueError:
            raise ValueError(
                f"Expected difficulty as comma-separated integers (e.g. 1,2), "
                f"got {self.difficulty!r}."
            ) from None

    def selects(self, task: Task) -> bool:
        """Whether ``task`` passes the hop and difficulty filters."""
        levels = self.difficulties()
        hops_ok = (self.max_hops is None or task.hops <= self.max_hops) and (
            self.min_hops is None or task.hops >= self.min_hops
        )
        return hops_ok and (levels is None or task.difficulty in levels)


# --- Metrics (pure) ---------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"Expected 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}.")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else 0.0


def valid_action(turn: Turn, answered: bool) -> bool:
    """Whether a turn held a valid action: a tool call the environment ran, or the answer
    that ended the episode (``answered``: the turn is the last of an answered episode)."""
    return bool(turn.tool_calls) or answered


def mixed_outcome_rate(counts: Sequence[tuple[int, int]]) -> float | None:
    """Share of tasks run at least twice with some runs right and some wrong; ``counts`` is
    (runs, right) per task. None when no task was run twice."""
    grouped = [(n, c) for n, c in counts if n >= 2]
    return _mean(float(0 < c < n) for n, c in grouped) if grouped else None


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a success rate (scipy); None without trials."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_interval(
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values``, resampling the values
    themselves (tasks, or questions): :func:`pooled_interval` with groups of one. None for
    fewer than two values; equal values give a zero-width interval."""
    return pooled_interval([[v] for v in values], level, resamples, seed)


def pooled_interval(
    groups: Sequence[Sequence[float]], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean over all values pooled, resampling whole
    ``groups`` (the values of one task: its episodes are not independent); None for fewer
    than two non-empty groups. Groups may differ in size; equal values give a zero-width
    interval."""
    import numpy as np

    groups = [[float(v) for v in g] for g in groups if len(g)]
    if len(groups) < 2:
        return None
    pooled = [v for g in groups for v in g]
    if max(pooled) == min(pooled):
        return pooled[0], pooled[0]
    sums = np.array([sum(g) for g in groups])
    sizes = np.array([len(g) for g in groups], dtype=float)
    picks = np.random.default_rng(seed).integers(0, len(groups), (resamples, len(groups)))
    means = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def pass1_interval(counts: Sequence[tuple[int, int]]) -> tuple[float, float] | None:
    """95% interval of pass@1 from (runs, right) per task: Wilson when every task ran once
    (the tasks are the trials), else a bootstrap over tasks of their success rates (the
    runs of one task are not independent trials)."""
    if not counts:
        return None
    if all(n == 1 for n, _ in counts):
        return wilson_interval(sum(c for _, c in counts), len(counts))
    return bootstrap_interval([c / n for n, c in counts])


def summarize(trajectories: Sequence[Trajectory], k: int = 1) -> dict[str, Any]:
    """The metrics of a run: per-task pass@1 and pass@k, tool calls, turns, errors."""
    by_task: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        by_task[t.task_id].append(t)
    counts = [(len(ts), sum(t.reward >= 1.0 for t in ts)) for ts in by_task.values()]
    turns = [turn for t in trajectories for turn in t.turns if turn.observation is not None]
    format_errors = sum(any(e in FORMAT_ERRORS for e in turn.errors) for turn in turns)
    valid = sum(
        valid_action(turn, t.terminated and i == t.num_turns - 1)
        for t in trajectories
        for i, turn in enumerate(t.turns)
        if turn.observation is not None
    )
    cut = sum(turn.finish_reason == "length" for t in trajectories for turn in t.turns)
    all_turns = sum(len(t.turns) for t in trajectories)
    reasons = Counter(t.end_reason.value for t in trajectories)  # plain strings in the JSON
    return {
        "tasks": len(by_task),
        "episodes": len(trajectories),
        "pass@1": _mean(c / n for n, c in counts),
        "pass@1_ci95": pass1_interval(counts),
        f"pass@{k}": _mean(pass_at_k(n, c, k) for n, c in counts if n >= k),
        "mean_f1": _mean(float(t.rewards.get("f1", 0.0)) for t in trajectories),
        "mean_search_calls": _mean(t.info.get("search_calls", 0) for t in trajectories),
        "mean_visit_calls": _mean(t.info.get("visit_calls", 0) for t in trajectories),
        "mean_turns": _mean(t.num_turns for t in trajectories),
        "mean_policy_tokens": _mean(sum(t.action_mask) for t in trajectories),
        "format_error_rate": format_errors / len(turns) if turns else 0.0,
        "valid_action_rate": valid / len(turns) if turns else 0.0,
        "turn_truncation_rate": cut / all_turns if all_turns else 0.0,
        "truncation_rate": _mean(float(not t.terminated) for t in trajectories),
        "mixed_outcome_rate": mixed_outcome_rate(counts),
        "end_reasons": dict(sorted(reasons.items())),
    }


def markdown_table(summary: dict[str, Any], k: int) -> str:
    """One-row markdown table of the headline metrics."""
    m = summary["metrics"]
    head = (
        f"| policy | corpus | split | prompt | tasks | n | pass@1 | pass@{k} | search | visit "
        "| turns | valid actions | format err | turns cut | truncated | mixed outcomes |"
    )
    mixed = m["mixed_outcome_rate"]
    row = (
        f"| {summary['config']['policy']} | {summary['config']['corpus']} | "
        f"{summary['config']['split']} | {summary['prompt']['name']} | {m['tasks']} | "
        f"{summary['config']['n']} | {m['pass@1']:.3f} | {m[f'pass@{k}']:.3f} | "
        f"{m['mean_search_calls']:.2f} | {m['mean_visit_calls']:.2f} | {m['mean_turns']:.2f} | "
        f"{m['valid_action_rate']:.3f} | {m['format_error_rate']:.3f} | "
        f"{m['turn_truncation_rate']:.3f} | {m['truncation_rate']:.3f} | "
        f"{'-' if mixed is None else f'{mixed:.3f}'} |"
    )
    rule = "|" + "---|" * (head.count("|") - 1)
    return "\n".join([head, rule, row])


# --- Building the pieces ----------------------------------------------------------------------


def load_policy(
    name: str,
    tasks: Sequence[Task] = (),
    *,
    agent: str = "react",
    horizon: int = 3,
    seed: int = 0,
    device: str | None = None,
    dtype: str = "auto",
    step_labels: bool = False,
    max_rows: int | None = None,
) -> Policy:
    """The policy called ``name`` (see the module docstring); scripted ones are text-only.
    ``step_labels``: the oracle labels its actions with their plan steps (for a prompt
    variant that does); ``max_rows``: rows per forward pass of a model (None: all)."""
    from agents import scripted

    if name == "oracle" and agent == "anticipatory":
        from agents.anticipatory import AnticipatoryOracle

        return AnticipatoryOracle(tasks, horizon=horizon)
    if name == "oracle":
        return scripted.OraclePolicy(tasks, step_labels=step_labels)
    if name == "naive":
        return scripted.NaivePolicy()
    if name == "random":
        return scripted.RandomPolicy(seed=seed)
    if name.startswith("openai:"):
        from agents.openai_policy import OpenAIPolicy

        base_url, _, model = name[len("openai:") :].rpartition(":")
        if not base_url or not model:
            raise ValueError(f"Expected openai:<base_url>:<model>, got {name!r}.")
        return OpenAIPolicy(base_url=base_url, model=model)
    from agents.hf_policy import HFPolicy
    from agents.models import default_device, inference_dtype

    device = device or default_device()
    return HFPolicy.from_pretrained(
        name, device=device, dtype=inference_dtype(device, dtype), max_batch_size=max_rows
    )


def rollout_config(config: EvalConfig) -> RolloutConfig:
    """The rollout settings of an evaluation: agent kind, prompt, sampling, limits."""
    params = SamplingParams(
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        seed=config.seed,
    )
    from agents.anticipatory import action_reader, anticipatory_prompt

    if config.prompt:
        prompt: PromptVariant = get_prompt(config.prompt)
    elif config.agent == AgentKind.ANTICIPATORY:
        prompt = anticipatory_prompt(config.horizon)
    else:
        prompt = get_prompt("react-plan")
    return RolloutConfig(
        group_size=config.n,
        prompt=prompt,
        params=params,
        max_turns=config.max_turns,
        reader=action_reader(config.agent, config.horizon),
        split=config.split,
    )


def env_factory(config: EvalConfig) -> EnvFactory:
    """Environments over the configured corpus and split (one shared search backend)."""
    import gymnasium as gym

    import webanchor_env

    def make() -> gym.Env:
        return gym.make(
            webanchor_env.ENV_ID,
            corpus=config.corpus,
            split=config.split,
            max_episode_steps=config.max_turns,
            top_k=config.top_k,
            visit_chars=config.visit_chars,
        )

    return make


# --- Running ----------------------------------------------------------------------------------


def _open_run(out: Path, config: EvalConfig, prompt: PromptVariant) -> list[Trajectory]:
    """Create the output directory, or check and reload it when resuming."""
    run_file, traj_file = out / "run.json", out / "trajectories.jsonl"
    record = {key: getattr(config, key) for key in RUN_KEYS}
    record["prompt"] = prompt.name
    if traj_file.exists() and not config.resume:
        raise FileExistsError(
            f"Expected an empty output directory, got {out} with trajectories in it "
            "(pass --resume to continue that run, or another --out)."
        )
    done: list[Trajectory] = []
    if config.resume and run_file.exists():
        previous = json.loads(run_file.read_text(encoding="utf-8"))["run"]
        changed = {k: (previous.get(k), v) for k, v in record.items() if previous.get(k) != v}
        if changed:
            raise ValueError(
                f"Expected --resume with the settings of {out}, got changes {changed}."
            )
    if config.resume and traj_file.exists():
        done = load_jsonl(traj_file, allow_partial_tail=True)  # evaluate() rewrites the file
    out.mkdir(parents=True, exist_ok=True)
    run = {"run": record, "config": asdict(config), "prompt_variant": prompt.to_json()}
    run_file.write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return done


def evaluate(
    config: EvalConfig,
    *,
    policy: Policy | None = None,
    make_env: EnvFactory | None = None,
) -> dict[str, Any]:
    """Run the evaluation and write its outputs; returns the summary.

    ``policy`` and ``make_env`` replace the ones named by the configuration (tests pass a
    tiny model or a small corpus this way; the summary still records ``config.policy``).
    """
    started = time.perf_counter()
    out = Path(config.out)
    rollout = rollout_config(config)
    done = _open_run(out, config, rollout.prompt)
    make_env = make_env or env_factory(config)
    tasks, no_gold = tasks_to_play(config, make_env, policy)
    kept, todo = split_done(done, tasks, config.n)
    traj_file = out / "trajectories.jsonl"
    if traj_file.exists():  # resumed: drop an interrupted last line and any group cut short
        replayed = {t.id for _, t in todo}  # (those tasks are played again whole)
        save_jsonl(traj_file, [t for t in done if t.task_id not in replayed])
    if not todo:
        trajectories = kept  # nothing left to play: no model is loaded
    else:
        if policy is None:
            policy = load_policy(
                config.policy,
                tasks,
                agent=config.agent,
                horizon=config.horizon,
                seed=config.seed,
                device=config.device,
                dtype=config.dtype,
                step_labels=rollout.prompt.step_labels,
                max_rows=config.max_rows,
            )
        elif hasattr(policy, "bind_tasks"):
            policy.bind_tasks(tasks)
        with RolloutEngine(policy, make_env, rollout) as engine:
            trajectories = _run_batches(engine, config, tasks, kept, todo, out)
    summary = {
        "config": asdict(config),
        "prompt": rollout.prompt.to_json(),
        "metrics": summarize(trajectories, config.k),
        "excluded": {"no gold path": len(no_gold), "first": no_gold[:20]},
        "seconds": round(time.perf_counter() - started, 3),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(markdown_table(summary, config.k) + "\n", encoding="utf-8")
    return summary


def tasks_to_play(
    config: EvalConfig, make_env: EnvFactory, policy: Policy | None = None
) -> tuple[list[Task], list[str]]:
    """The selected tasks of the split, and the ids of those left out because the policy is
    an oracle and they have no gold path to replay (it would only recite the answer).

    Raises :class:`EvaluationError` when the split holds no task (naming the splits that
    do), when the selection keeps none, or when none is left to play.
    """
    from agents.scripted import OraclePolicy

    probe = make_env()
    split_tasks = list(probe.unwrapped.tasks(config.split))
    held = "" if split_tasks else describe_splits(probe.unwrapped.split_sizes())
    probe.close()
    where = f"split {config.split!r} of corpus {config.corpus!r}"
    if not split_tasks:
        raise EvaluationError(
            f"Expected {where} to hold tasks, got none; {held} (choose one with --split)."
        )
    tasks = [t for t in split_tasks if config.selects(t)][: config.limit]
    if not tasks:
        raise EvaluationError(
            f"Expected tasks with max_hops={config.max_hops}, min_hops={config.min_hops}, "
            f"difficulty={config.difficulty} "
            f"among the {len(split_tasks)} tasks of split {config.split!r}, got none."
        )
    oracle = isinstance(policy, OraclePolicy) if policy is not None else config.policy == "oracle"
    no_gold = [t.id for t in tasks if oracle and not t.gold.has_path]
    if len(no_gold) == len(tasks):
        raise EvaluationError(
            f"Expected tasks with a gold path (gold actions that search or visit) for the "
            f"oracle in {where}, got none of {len(tasks):,}: it could only recite the answers."
        )
    if no_gold:
        print(
            f"Left out {len(no_gold):,} of {len(tasks):,} tasks without a gold path (the oracle "
            f"would only recite their answers), such as {no_gold[0]!r}.",
            file=sys.stderr,
        )
    left_out = set(no_gold)
    return [t for t in tasks if t.id not in left_out], no_gold


def split_done(
    done: Sequence[Trajectory], tasks: Sequence[Task], n: int
) -> tuple[list[Trajectory], list[tuple[int, Task]]]:
    """``(kept, todo)`` of a resumed run: the first ``n`` trajectories of each task that has
    all ``n`` episodes (a group cut short is played again whole), and the tasks still to
    play with their positions (their group ids)."""
    counts = Counter(t.task_id for t in done)
    wanted = {t.id for t in tasks}
    seen: Counter[str] = Counter()
    kept = []
    for t in done:
        if t.task_id in wanted and counts[t.task_id] >= n and seen[t.task_id] < n:
            seen[t.task_id] += 1
            kept.append(t)
    finished = {t.task_id for t in kept}
    todo = [(i, t) for i, t in enumerate(tasks) if t.id not in finished]
    return kept, todo


def _run_batches(
    engine: RolloutEngine,
    config: EvalConfig,
    tasks: Sequence[Task],
    kept: list[Trajectory],
    todo: list[tuple[int, Task]],
    out: Path,
) -> list[Trajectory]:
    """Play the tasks not finished yet, appending each batch's trajectories to the file."""
    from tqdm.auto import tqdm

    finished = {t.task_id for t in kept}
    bar = tqdm(
        total=len(tasks) * config.n,
        initial=len(finished) * config.n,
        unit="episode",
        desc=f"{config.policy} on {config.split}",
        disable=not config.progress,
        file=sys.stderr,
    )
    results = list(kept)
    with bar:
        for start in range(0, len(todo), config.batch_tasks):
            batch = todo[start : start + config.batch_tasks]
            trajectories = engine.run(
                [t.id for _, t in batch],
                group_ids=[i for i, _ in batch],
                on_finish=lambda _: bar.update(1),
            )
            save_jsonl(out / "trajectories.jsonl", trajectories, append=True)
            results.extend(trajectories)
            bar.set_postfix(pass1=f"{summarize(results)['pass@1']:.3f}")
    return results


# --- Command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    """Options generated from :class:`EvalConfig`'s fields and their docstrings."""
    parser = argparse.ArgumentParser(
        prog="python -m agents.evaluate", description=__doc__.split("\n\n")[0]
    )
    cli.add_arguments(parser, EvalConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    config = EvalConfig(**vars(_parser().parse_args(argv)))
    try:
        summary = evaluate(config)
    except EvaluationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(markdown_table(summary, config.k))
    if summary["excluded"]["no gold path"]:
        print(f"Tasks left out (no gold path): {summary['excluded']['no gold path']:,}")
    print(f"Wrote {Path(config.out) / 'summary.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
