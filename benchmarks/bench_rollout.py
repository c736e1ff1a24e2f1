"""Rollout speed: the same G episodes of one task, played by today's engine (each turn
keeps the key/value states of the turns before it and prefills only its new tokens) and
by the previous one (every turn prefills the whole conversation again), side by side in
one process on this CPU; and G episodes in lockstep against one after another.

    python -m benchmarks.bench_rollout                       # tiny random model and SmolLM2
    python -m benchmarks.bench_rollout --models smollm2 --dtypes bfloat16

Prints a markdown table (CPU seconds per generated token, prefilled positions against
the positions that had never been run before) and appends it to
``benchmarks/RESULTS.md`` with the machine, the date and the command (``--no-append``:
print only). Episodes run on the first task of the chosen split of the bundled wiki.
The tiny model is the randomly initialized Llama of the unit tests (SmolLM2 tokenizer); it
rarely writes a stop string, so nearly every turn runs to ``max_new_tokens``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, replace

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
    max_turns: int = 3
    """Assistant turns per episode."""
    max_new_tokens: int = 64
    """Tokens per turn."""
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    """Weights of the kept-states engine (the previous engine runs in float32)."""
    one_by_one: bool = False
    """Also play the G episodes one after another (today's engine)."""
    corpus: str = "default"
    split: str = "test"
    seed: int = 0
    threads: int = 1
    """torch CPU threads (1 avoids thread contention on a shared machine)."""
    note: str = ""
    write: bool = True
    """Append the table to benchmarks/RESULTS.md."""


class Needed:
    """Counts the prompt positions no earlier forward pass had run (a trie of every
    sequence run so far): what a perfect cache would prefill."""

    def __init__(self) -> None:
        self.root: dict = {}
        self.positions = 0

    def add(self, ids, count: bool) -> None:
        node = self.root
        for token in ids:
            if token not in node:
                node[token] = {}
                self.positions += count
            node = node[token]


class Counting:
    """A policy that counts the positions its inner HFPolicy needed to prefill."""

    def __init__(self, inner: HFPolicy) -> None:
        self.inner, self.needed = inner, Needed()
        self.tokenizer, self.eos_token_ids = inner.tokenizer, inner.eos_token_ids
        self.keeping_states = inner.keeping_states

    def generate(self, requests, params):
        for request in requests:
            self.needed.add(request.prompt_ids, count=True)
        turns = self.inner.generate(requests, params)
        for request, turn in zip(requests, turns):
            self.needed.add(request.prompt_ids + turn.token_ids[:-1], count=False)
        return turns


def load(name: str, dtype: str):
    import torch

    if name == "tiny":
        from agents.testing import smollm2_tokenizer, tiny_causal_lm

        tokenizer = smollm2_tokenizer()
        return tiny_causal_lm(tokenizer).to(getattr(torch, dtype)), tokenizer
    from agents.models import load_model_and_tokenizer

    source = None if name == "smollm2" else name
    return load_model_and_tokenizer(source, device="cpu", dtype=getattr(torch, dtype))


PREVIOUS = "full prefill (previous)"
KEPT = "kept states"


@dataclass(frozen=True)
class Run:
    """One measured configuration."""

    engine: str
    """:data:`KEPT` (``HFPolicy(reuse_cache=True)``) or :data:`PREVIOUS`."""
    dtype: str
    lockstep: bool = True


def runs_of(bench: Bench) -> list[Run]:
    """The previous engine in float32 first (the reference), then the kept-states engine in
    each dtype, then (``--one-by-one``) the kept-states engine playing one episode at a time."""
    runs = [Run(PREVIOUS, "float32")] + [Run(KEPT, dtype) for dtype in bench.dtypes]
    return runs + ([Run(KEPT, bench.dtypes[0], lockstep=False)] if bench.one_by_one else [])


def play(policy: Counting, make_env, config: RolloutConfig, task_id: str, lockstep: bool):
    """Generated tokens, prefilled positions and seconds of G episodes; the trajectories."""
    size = config.group_size
    config = replace(config, group_size=size if lockstep else 1)
    inner, before = policy.inner, policy.inner.prefilled_positions
    start, cpu = time.perf_counter(), time.process_time()
    with RolloutEngine(policy, make_env, config) as engine:
        if lockstep:
            trajectories = engine.run([task_id])
        else:
            trajectories = [t for g in range(size) for t in engine.run([task_id], group_ids=[g])]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    tokens = sum(sum(t.action_mask) for t in trajectories)
    return {
        "episodes": len(trajectories),
        "turns": sum(t.num_turns for t in trajectories),
        "tokens": tokens,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "cpu_ms_per_token": 1000 * cpu / max(tokens, 1),
        "prefilled": inner.prefilled_positions - before,
        "needed": policy.needed.positions,
    }, trajectories


def logprob_gap(model, trajectories) -> tuple[float, float]:
    """Mean and max |sampling log-prob - log-prob of ``model``| over the policy's tokens."""
    import torch

    from agents.train.logprobs import token_logprobs

    gaps = []
    with torch.no_grad():
        for t in trajectories:
            ids = torch.tensor([t.token_ids])
            mask = torch.tensor([t.action_mask], dtype=torch.float32)
            logp = token_logprobs(model, ids, torch.ones_like(ids), mask).logp[0]
            sampled = torch.tensor(t.logprobs)
            gaps.append((logp - sampled)[mask[0].bool()].abs())
    every = torch.cat(gaps)
    return float(every.mean()), float(every.max())


def measure(bench: Bench, name: str, make_env, task_id: str) -> list[dict]:
    config = RolloutConfig(
        group_size=bench.group_size,
        prompt=REACT_PREFILL,
        params=SamplingParams(max_new_tokens=bench.max_new_tokens, seed=bench.seed),
        max_turns=bench.max_turns,
    )
    models = {dtype: load(name, dtype) for dtype in {"float32", *bench.dtypes}}
    rows = []
    for run in runs_of(bench):
        model, tokenizer = models[run.dtype]
        policy = Counting(HFPolicy(model, tokenizer, reuse_cache=run.engine == KEPT))
        warm_up = GenerationRequest(tuple(tokenizer.encode("Hello there")))
        policy.inner.generate([warm_up] * 2, SamplingParams(max_new_tokens=2))  # kernels
        mode = "lockstep" if run.lockstep else "one by one"
        row = {"model": name, "engine": run.engine, "dtype": run.dtype, "mode": mode}
        figures, trajectories = play(policy, make_env, config, task_id, run.lockstep)
        reference = models["float32"][0]
        row |= figures | dict(zip(("gap_mean", "gap_max"), logprob_gap(reference, trajectories)))
        rows.append(row)
        print(f"{name} {run}: {row['cpu_ms_per_token']:.1f} CPU ms/token", file=sys.stderr)
    base = rows[0]["cpu_ms_per_token"]
    for row in rows:
        row["speedup"] = base / row["cpu_ms_per_token"]
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| model | engine | weights | mode | episodes | turns | generated tokens | wall s | CPU s "
        "| CPU ms / token | prefilled / needed positions | CPU speed-up vs previous "
        "| sampling log-prob vs float32 forward: mean / max abs gap |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = r["prefilled"] / max(r["needed"], 1)
        lines.append(
            f"| {r['model']} | {r['engine']} | {r['dtype']} | {r['mode']} | {r['episodes']} | "
            f"{r['turns']} | "
            f"{r['tokens']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['cpu_ms_per_token']:.1f} | {r['prefilled']:,} / {r['needed']:,} = {ratio:.2f} | "
            f"{r['speedup']:.2f}x | {r['gap_mean']:.1e} / {r['gap_max']:.1e} |"
        )
    return "\n".join(lines)


def append_results(text: str, bench: Bench, load_before: tuple[float, float, float]) -> None:
    """Append the table to RESULTS.md with the settings and the load before measuring."""
    settings = (
        f"G = {bench.group_size} episodes of one task ({bench.split} split of the {bench.corpus} "
        f"wiki), at most {bench.max_turns} turns of {bench.max_new_tokens} new tokens, "
        f"prompt react-plan-prefill, temperature 1, {bench.threads} torch thread(s), all in "
        "one process. Needed positions: those no earlier forward pass of the run had "
        "computed (what a perfect cache prefills). CPU s is the process's own time. Log-prob "
        "gap: the sampling log-probs of the policy's tokens against a float32 forward pass "
        "over the finished trajectories (what training computes)."
    )
    title = "Rollout engine: kept key/value states vs full prefill"
    append_section(title, f"{settings}\n\n{text}", bench.note, load_at_start=load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(Bench.models))
    parser.add_argument("--group-size", type=int, default=Bench.group_size)
    parser.add_argument("--max-turns", type=int, default=Bench.max_turns)
    parser.add_argument("--max-new-tokens", type=int, default=Bench.max_new_tokens)
    parser.add_argument(
        "--dtypes", nargs="+", default=list(Bench.dtypes), choices=("float32", "bfloat16")
    )
    parser.add_argument("--one-by-one", action="store_true", help="also play one at a time")
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
        dtypes=tuple(args.dtypes),
        one_by_one=args.one_by_one,
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
