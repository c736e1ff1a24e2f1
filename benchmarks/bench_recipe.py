"""How long the SFT recipe must take on this machine: its arithmetic against the CPU's.

The recipe (``--preset``, default ``smollm2-cpu``) is set up as ``python -m agents.train``
sets it up (model, LoRA, gradient checkpointing, the precision this CPU gets, the
environment) and its demonstrations are built as its first step builds them. Then:

* **tokens**: the demonstrations' tokens, all and trained, summed over the recipe's epochs;
* **FLOPs**: one SFT forward and backward of a demonstration (as a recipe step runs it:
  logits at trained positions, checkpoint recomputation included), counted by torch's
  ``FlopCounterMode`` on a seeded sample of demonstrations; FLOPs per token is the sample's
  ratio;
* **seconds**: the same passes timed alone (wall clock, median of ``--repeats``);
* **GEMM**: the throughput of a matrix product at the model's own linear shapes (a pass's
  length of tokens times the hidden and MLP sizes) in the recipe's precision: about the
  most of this CPU the model's arithmetic can use.

Printed and appended to RESULTS.md: the recipe's total FLOPs, the time they take at GEMM
throughput (a lower bound: no pass runs faster than its matrix products), and the time at
the sample's measured speed (an estimate of the passes alone, without the optimizer steps),
against the recipe's 90-minute target.

    python -m benchmarks.bench_recipe                 # the smollm2-cpu recipe, 6 samples
    python -m benchmarks.bench_recipe --sample 3 --no-append
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import torch

from benchmarks._results import add_no_append, append_section
from benchmarks._timing import timed

TARGET_MINUTES = 90.0
"""The recipe's time target (issue: a warm start reachable in one command on a laptop CPU)."""


@dataclass(frozen=True)
class Pass:
    """One demonstration's forward and backward: its size, its count, its time."""

    tokens: int
    trained: int
    flops: float
    seconds: float


@dataclass(frozen=True)
class Extrapolation:
    """The recipe's arithmetic and time, from a sample of passes."""

    flops_per_token: float
    total_flops: float
    achieved_gflops: float
    """The sampled passes' FLOPs over their seconds."""
    bound_seconds: float
    """All the recipe's FLOPs at the GEMM's throughput."""
    estimate_seconds: float
    """All the recipe's tokens at the sampled passes' seconds a token."""


def extrapolate(passes: Sequence[Pass], tokens: int, gemm_gflops: float) -> Extrapolation:
    """Ratio estimates over the sample: FLOPs and seconds a token, times the recipe's tokens."""
    sample_tokens = sum(p.tokens for p in passes)
    flops = sum(p.flops for p in passes)
    seconds = sum(p.seconds for p in passes)
    total = flops / sample_tokens * tokens
    return Extrapolation(
        flops_per_token=flops / sample_tokens,
        total_flops=total,
        achieved_gflops=flops / seconds / 1e9,
        bound_seconds=total / (gemm_gflops * 1e9),
        estimate_seconds=seconds / sample_tokens * tokens,
    )


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    return statistics.median(timed(fn).wall for _ in range(repeats))


def gemm_gflops(
    tokens: int, shapes: Sequence[tuple[int, int]], precision: str, repeats: int
) -> float:
    """Best throughput (GFLOP/s) of ``[tokens, k] @ [k, n]`` over ``shapes``, in the recipe's
    precision (bf16 through autocast, as training computes it)."""
    gen = torch.Generator().manual_seed(0)
    best = 0.0
    for k, n in shapes:
        a = torch.randn(tokens, k, generator=gen)
        b = torch.randn(k, n, generator=gen)
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16)
            if precision == "bf16"
            else contextlib.nullcontext()
        )
        with autocast:
            torch.mm(a, b)  # warm up
            seconds = median_seconds(partial(torch.mm, a, b), repeats)
        best = max(best, 2.0 * tokens * k * n / seconds / 1e9)
    return best


def attention_flops(query, key, value, dropout_p=0.0, is_causal=False, *_, **__) -> int:
    """FLOPs of ``softmax(Q K^T) V`` from the shapes ``[B, H, L, D]``: two products of
    ``2 B H Lq Lk D`` each; a causal mask needs only about half of them (the CPU kernel skips
    the masked blocks)."""
    b, h, lq, d = query
    lk, dv = key[-2], value[-1]
    full = 2 * b * h * lq * lk * (d + dv)
    return full * (lk + 1) // (2 * lk) if is_causal else full


def attention_backward_flops(grad_out, query, key, value, *rest, **kwargs) -> int:
    """The backward's four products (gradients of Q, K, V and the scores): twice the
    forward's arithmetic."""
    return 2 * attention_flops(query, key, value, *rest[2:4])


ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: attention_flops,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (attention_backward_flops),
}
"""Torch's FLOP counter has no formula for the CPU's fused attention: these count it."""


def measure_pass(run, trajectory, repeats: int) -> Pass:
    """FLOPs (counted) and median seconds (timed apart) of one SFT forward and backward."""
    from torch.utils.flop_counter import FlopCounterMode

    from agents.train.batch import pad_trajectories
    from agents.train.memory import transient_activations
    from agents.train.sft import sft_loss

    c = run.config
    ids, attention, _, action, _ = pad_trajectories([trajectory], run.tokenizer.pad_token_id or 0)

    def step() -> None:
        with transient_activations(c.bounded_heap):
            sft_loss(run.model, ids, attention, action, chunk_size=c.logprob_chunk_size).backward()
        run.model.zero_grad(set_to_none=True)

    counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_FLOPS)
    with counter:
        step()
    return Pass(
        tokens=len(trajectory.token_ids),
        trained=sum(trajectory.action_mask),
        flops=float(counter.get_total_flops()),
        seconds=median_seconds(step, repeats),
    )


def model_shapes(model) -> list[tuple[int, int]]:
    """(in, out) of the model's linear layers (not the LoRA adapters), each shape once."""
    shapes = {
        (m.in_features, m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lora_" not in name
    }
    return sorted(shapes)


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds / 60:.0f} min)"


def main(argv: list[str] | None = None) -> Extrapolation:
    from agents.train.config import Precision, parse_args
    from agents.train.run import setup_run
    from agents.train.sft import gold_trajectories, sft_tasks

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--sample", type=int, default=6, help="demonstrations measured")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes of each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-args",
        default="",
        help="more `python -m agents.train` flags over the preset's (e.g. '--sft-max-tasks 8' "
        "for a quick look: the totals are then those tasks')",
    )
    add_no_append(parser)
    args = parser.parse_args(argv)

    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as out:
        flags = ["--preset", args.preset, *shlex.split(args.train_args)]
        config = replace(parse_args(flags), output_dir=out, tensorboard=False)
        run = setup_run(config, config.sft_learning_rate, needs_initial=False)
        tasks = sft_tasks(list(run.tasks.values()), config.sft_max_hops, config.sft_max_tasks)
        start = time.perf_counter()
        data = gold_trajectories(run.tokenizer, run.make_env, tasks, config.prompt, config.split)
        built = time.perf_counter() - start
        chosen = random.Random(args.seed).sample(range(len(data)), min(args.sample, len(data)))
        passes = []
        for i in chosen:
            passes.append(measure_pass(run, data[i], args.repeats))
            p = passes[-1]
            print(
                f"demonstration {i}: {p.tokens} tokens ({p.trained} trained), "
                f"{p.flops / 1e9:.0f} GFLOP, {p.seconds:.1f} s",
                flush=True,
            )
        length = max(p.tokens for p in passes)
        precision = Precision(config.precision).value
        gemm = gemm_gflops(length, model_shapes(run.model), precision, 5)

    epochs = config.sft_epochs
    tokens = epochs * sum(len(t.token_ids) for t in data)
    trained = epochs * sum(sum(t.action_mask) for t in data)
    sample_tokens = sum(p.tokens for p in passes)
    result = extrapolate(passes, tokens, gemm)
    rows = [
        ("demonstrations (epochs)", f"{len(data):,} ({epochs}), built in {built:.0f} s"),
        ("tokens in the recipe (trained)", f"{tokens:,} ({trained:,})"),
        (
            f"FLOPs a token, forward + backward (sample of {len(passes)}: "
            f"{sample_tokens:,} tokens)",
            f"{result.flops_per_token / 1e9:.3f} GFLOP",
        ),
        ("FLOPs of the recipe", f"{result.total_flops / 1e15:.2f} PFLOP"),
        (
            f"GEMM throughput at the model's shapes ({precision}, {length} rows, "
            f"{torch.get_num_threads()} threads)",
            f"{gemm:.0f} GFLOP/s",
        ),
        (
            "throughput of the sampled passes",
            f"{result.achieved_gflops:.0f} GFLOP/s ({result.achieved_gflops / gemm:.0%})",
        ),
        ("**lower bound**: the recipe at GEMM throughput", hours(result.bound_seconds)),
        ("estimate: the recipe at the sampled passes' speed", hours(result.estimate_seconds)),
        ("target", f"{TARGET_MINUTES:.0f} min"),
    ]
    table = "| quantity | value |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
    print("\n" + table)
    if not args.no_append:
        note = (
            f"Preset `{args.preset}` {args.train_args} as `python -m agents.train` sets it "
            f"up on this machine (precision {precision}, LoRA rank {config.lora_rank}, "
            f"gradient checkpointing {config.gradient_checkpointing}, bounded heap "
            f"{config.bounded_heap}); FLOPs counted by torch's FlopCounterMode, seconds timed "
            f"apart (median of {args.repeats}); sample seed {args.seed}. The bound assumes every "
            "FLOP runs at the GEMM's throughput; the recipe cannot be faster on this CPU "
            "without fewer tokens or fewer FLOPs a token."
        )
        append_section(
            "SFT recipe: its arithmetic against this CPU", table, note, load_at_start=load_at_start
        )
    return result


if __name__ == "__main__":
    main()
