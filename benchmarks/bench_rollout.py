"""Rollout speed: G episodes in lockstep (one batched generate call a turn) against the same
G episodes played one after another, with the same model, prompt and limits on this CPU.

    python -m benchmarks.bench_rollout                       # tiny random model and SmolLM2
    python -m benchmarks.bench_rollout --models tiny --max-new-tokens 64

Prints a markdown table of generated tokens per second and appends it to
``benchmarks/RESULTS.md`` with the machine, the date and the command (``--no-append``:
print only). Episodes run on the first task of the chosen split of the bundled wiki (its
search index is built on first use).
The tiny model is the randomly initialized Llama of the unit tests (SmolLM2 tokenizer); it
rarely writes a stop string, so nearly every turn runs to ``max_new_tokens``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import gymnasium as gym

import webanchor_env
from agents.hf_policy import HFPolicy
from agents.policy import GenerationRequest, SamplingParams
from agents.prompts import REACT_PREFILL
from agents.rollout import RolloutConfig, RolloutEngine
from benchmarks._results import add_no_append, append_section


@dataclass(frozen=True)
class Bench:
    """What to measure."""

    models: tuple[str, ...] = ("tiny", "smollm2")
    """Models: "tiny" (random, test-sized) and/or "smollm2"."""
    group_size: int = 8
    """G: episodes of one task."""
    max_turns: int = 2
    """Assistant turns per episode."""
    max_new_tokens: int = 32
    """Tokens per turn."""
    corpus: str = "default"
    split: str = "test"
    seed: int = 0
    threads: int = 1
    """torch CPU threads (1 avoids thread contention on a shared machine)."""
    note: str = ""
    write: bool = True
    """Append the table to benchmarks/RESULTS.md."""


def load(name: str) -> HFPolicy:
    if name == "tiny":
        from agents.testing import smollm2_tokenizer, tiny_causal_lm

        tokenizer = smollm2_tokenizer()
        return HFPolicy(tiny_causal_lm(tokenizer), tokenizer)
    return HFPolicy.from_pretrained(None if name == "smollm2" else name, device="cpu")


def play(engine: RolloutEngine, task_id: str, group_size: int, lockstep: bool) -> dict:
    """Generated tokens, turns and seconds of G episodes, batched or one by one."""
    start, cpu = time.perf_counter(), time.process_time()
    if lockstep:
        trajectories = engine.run([task_id])
    else:
        trajectories = [t for g in range(group_size) for t in engine.run([task_id], group_ids=[g])]
    seconds = time.perf_counter() - start
    tokens = sum(sum(t.action_mask) for t in trajectories)
    return {
        "mode": "lockstep" if lockstep else "one by one",
        "episodes": len(trajectories),
        "turns": sum(t.num_turns for t in trajectories),
        "tokens": tokens,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "tokens_per_s": tokens / seconds,
    }


def measure(bench: Bench, name: str, make_env, task_id: str) -> list[dict]:
    policy = load(name)
    warm_up = GenerationRequest(tuple(policy.tokenizer.encode("Hello there")))
    policy.generate([warm_up] * 2, SamplingParams(max_new_tokens=2))  # kernels, allocator
    params = SamplingParams(max_new_tokens=bench.max_new_tokens, seed=bench.seed)
    rows = []
    for lockstep in (True, False):
        config = RolloutConfig(
            group_size=bench.group_size if lockstep else 1,
            prompt=REACT_PREFILL,
            params=params,
            max_turns=bench.max_turns,
        )
        with RolloutEngine(policy, make_env, config) as engine:
            rows.append({"model": name, **play(engine, task_id, bench.group_size, lockstep)})
        print(
            f"{name} {rows[-1]['mode']}: {rows[-1]['tokens_per_s']:.1f} tokens/s", file=sys.stderr
        )
    rows[0]["speedup"] = rows[0]["tokens_per_s"] / rows[1]["tokens_per_s"]
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| model | mode | episodes | turns | generated tokens | wall s | CPU s | tokens/s | speedup |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        speedup = f"{r['speedup']:.2f}x" if "speedup" in r else ""
        lines.append(
            f"| {r['model']} | {r['mode']} | {r['episodes']} | {r['turns']} | {r['tokens']} | "
            f"{r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {r['tokens_per_s']:.1f} | {speedup} |"
        )
    return "\n".join(lines)


def append_results(text: str, bench: Bench, load_before: tuple[float, float, float]) -> None:
    """Append the table to RESULTS.md with the settings and the load before measuring."""
    settings = (
        f"G = {bench.group_size} episodes of one task ({bench.split} split of the {bench.corpus} "
        f"wiki), at most {bench.max_turns} turns of {bench.max_new_tokens} new tokens, "
        f"prompt react-plan-prefill, temperature 1, {bench.threads} torch thread(s)."
    )
    title = "Rollout engine: lockstep vs one by one"
    append_section(title, f"{settings}\n\n{text}", bench.note, load_at_start=load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(Bench.models))
    parser.add_argument("--group-size", type=int, default=Bench.group_size)
    parser.add_argument("--max-turns", type=int, default=Bench.max_turns)
    parser.add_argument("--max-new-tokens", type=int, default=Bench.max_new_tokens)
    parser.add_argument("--corpus", default=Bench.corpus)
    parser.add_argument("--split", default=Bench.split)
    parser.add_argument("--threads", type=int, default=Bench.threads)
    parser.add_argument("--note", default="")
    add_no_append(parser, "--no-write")  # the old name
    args = parser.parse_args(argv)
    bench = Bench(
        models=tuple(args.models),
        group_size=args.group_size,
        max_turns=args.max_turns,
        max_new_tokens=args.max_new_tokens,
        corpus=args.corpus,
        split=args.split,
        threads=args.threads,
        note=args.note,
        write=not args.no_append,
    )
    import torch

    torch.set_num_threads(bench.threads)
    load_before = os.getloadavg()

    def make_env() -> gym.Env:
        return gym.make(webanchor_env.ENV_ID, corpus=bench.corpus, split=bench.split)

    probe = make_env()
    task_id = probe.unwrapped.tasks(bench.split)[0].id
    probe.close()
    rows = [row for name in bench.models for row in measure(bench, name, make_env, task_id)]
    text = table(rows)
    print(text)
    if bench.write:
        append_results(text, bench, load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
