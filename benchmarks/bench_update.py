"""How much the GRPO update adds to the model's own forward and backward passes.

For each model (the tiny test model and SmolLM2-135M) one synthetic rollout batch is
built: B trajectories of T tokens laid out like agent conversations (a long prompt,
the plan, tool responses, later turns), in groups of G with random 0/1 rewards. In one
run, alternating, it times:

* ``fwd+bwd``: the model's forward (logits where policy tokens are predicted) and
  backward with a trivial loss, over the same micro-batches as the update;
* ``optimizer``: gradient clipping and one AdamW step;
* ``update``: the whole pipeline: group advantages, step masks, collation, the clipped
  surrogate, aggregation, statistics, clipping and the optimizer step
  (:func:`agents.train.update.grpo_update`).

The overhead is ``update - fwd+bwd - optimizer`` (medians of this process's CPU time, which
other programs on a shared machine do not inflate), also measured directly: the same math
on precomputed log-probs with a backward through them only. The target: overhead at most
10% of fwd+bwd. Throughput is wall-clock: policy tokens trained (and all tokens) per second
of ``update``. Prints a markdown table and appends it to
benchmarks/RESULTS.md with the machine, date and command (``--no-append``: print only).

``--memory`` measures peak memory instead: the peak resident set size (``ru_maxrss``) of a
fresh process that loads the model (float32, all weights trained, AdamW) and takes one SFT
step on a micro-batch of gold-trajectory-shaped sequences, or one GRPO update on the batch
above; the RSS after loading is given beside it.

    python -m benchmarks.bench_update                # tiny model and SmolLM2
    python -m benchmarks.bench_update --models tiny --repeats 5
    python -m benchmarks.bench_update --memory --models smollm2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import torch

from agents.grpo import (
    FirstStep,
    aggregate,
    approx_kl,
    clip_fraction,
    clipped_surrogate,
    entropy_from_logits,
    group_advantages,
)
from agents.train.batch import TrainBatch, collate
from agents.train.logprobs import token_logprobs
from agents.train.update import ENTROPY_ROWS, UpdateSettings, grpo_update, micro_batches
from agents.trajectory import Trajectory
from benchmarks._results import add_no_append, append_section
from benchmarks._timing import timed


def synthetic_trajectories(
    vocab: int, num: int, length: int, group: int, seed: int = 0
) -> list[Trajectory]:
    """``num`` conversations of ``length`` tokens: 60% prompt, then plan / tool response /
    turns; rewards 0/1 at random, G per group."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(num):
        prompt = int(length * 0.6)
        rest = length - prompt
        layout = [(-1, prompt), (0, rest // 4), (-1, rest // 4), (1, rest // 4)]
        layout.append((-1, rest - 3 * (rest // 4)))
        steps = [s for s, n in layout for _ in range(n)]
        mask = [int(s >= 0) for s in steps]
        ids = torch.randint(3, vocab, (length,), generator=gen).tolist()
        logp = [-2.0 * m for m in mask]
        reward = float(torch.rand((), generator=gen) < 0.5)
        out.append(
            Trajectory(
                "t",
                i // group,
                i % group,
                tuple(ids),
                tuple(logp),
                tuple(mask),
                tuple(steps),
                reward,
            )  # fmt: skip
        )
    return out


def build(trajectories: list[Trajectory], selector=None) -> TrainBatch:
    """Rewards -> group advantages -> masks -> padded batch (the update's bookkeeping)."""
    rewards = torch.tensor([t.reward for t in trajectories])
    groups = torch.tensor([t.group_id for t in trajectories])
    adv = group_advantages(rewards, groups)
    keep = torch.ones(len(trajectories), dtype=torch.bool)
    return collate(trajectories, adv.values + 0.1, keep, selector or FirstStep(), pad_id=0)


def bare_forward_backward(model, batch: TrainBatch, micro: int) -> None:
    rows = torch.arange(batch.num_sequences)
    for m in micro_batches(batch, rows, micro):
        logp = token_logprobs(model, m.input_ids, m.attention_mask, m.loss_mask)[0]
        (logp * m.loss_mask).sum().backward()


def optimizer_step(model, optimizer) -> None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def direct_overhead(trajectories, settings: UpdateSettings, vocab: int) -> None:
    """The update's own work without the model, on the same batch: advantages, masks and
    collation; per micro-batch the surrogate, aggregation and its backward (a leaf tensor
    stands in for the log-probs), the logged statistics, and the entropy estimate on a
    sample of next-token distributions, as :func:`agents.train.update.grpo_update` does."""
    batch = build(trajectories)
    rows = torch.arange(batch.num_sequences)
    for m in micro_batches(batch, rows, settings.micro_batch_size):
        logp = (m.old_logp + 0.01).requires_grad_(True)
        per_token = clipped_surrogate(logp, m.old_logp, m.advantages, 0.2, 0.28)
        aggregate(per_token, m.loss_mask, settings.aggregation).backward()
        float(clip_fraction(logp, m.old_logp, m.advantages, m.loss_mask, 0.2, 0.28))
        float(approx_kl(logp, m.old_logp, m.loss_mask))
        sample = torch.randn(min(int(m.loss_mask.sum()), ENTROPY_ROWS), vocab)
        float(entropy_from_logits(sample).mean())


def measure(name: str, model, vocab: int, args: argparse.Namespace) -> dict[str, object]:
    trajectories = synthetic_trajectories(vocab, args.sequences, args.length, args.group)
    settings = UpdateSettings(optimizer_steps=1, micro_batch_size=args.micro)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7)
    model.train()
    batch = build(trajectories)
    gen = torch.Generator().manual_seed(0)
    runs = {
        "fb": lambda: bare_forward_backward(model, batch, args.micro),
        "opt": lambda: optimizer_step(model, optimizer),
        "update": lambda: grpo_update(model, optimizer, None, build(trajectories), settings, gen),
        "direct": lambda: direct_overhead(trajectories, settings, vocab),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.repeats + 1):  # alternating; the first round warms up
        for key, fn in runs.items():
            w, c = timed(fn)
            if r:
                wall[key].append(w)
                cpu[key].append(c)
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: statistics.median(v) for k, v in cpu.items()}
    trained = int(batch.loss_mask.sum())
    return {
        "model": name,
        "batch": f"{args.sequences}x{args.length}",
        "fwd+bwd s": w["fb"],
        "optimizer s": w["opt"],
        "update s": w["update"],
        "overhead (diff, CPU)": (c["update"] - c["fb"] - c["opt"]) / c["fb"],
        "overhead (direct, CPU)": c["direct"] / c["fb"],
        "trained tok/s": trained / w["update"],
        "all tok/s": int(batch.attention_mask.sum()) / w["update"],
    }


def sft_trajectories(vocab: int, num: int, length: int, trained: int) -> list[Trajectory]:
    """``num`` sequences shaped like a gold 1-hop trajectory as SFT sees it: ``length``
    tokens of which ``trained`` (the plan and three actions) are the policy's."""
    gen = torch.Generator().manual_seed(1)
    turn = trained // 4
    layout = [(-1, length - 4 * turn - 3 * 200)]
    for k in range(4):
        layout += [(k, turn)] + ([(-1, 200)] if k < 3 else [])
    steps = [s for s, n in layout for _ in range(n)]
    mask = tuple(int(s >= 0) for s in steps)
    out = []
    for i in range(num):
        ids = tuple(torch.randint(3, vocab, (len(steps),), generator=gen).tolist())
        out.append(Trajectory("t", i, 0, ids, None, mask, tuple(steps), 1.0))
    return out


def memory_job(job: str, name: str, args: argparse.Namespace) -> dict[str, object]:
    """Load the model, take one SFT step or one GRPO update, report peak RSS (run alone in a
    fresh process: the peak is the process's)."""
    from agents.train.batch import pad_trajectories
    from agents.train.memory import checkpoint_activations, peak_rss_gib, transient_activations
    from agents.train.sft import sft_loss

    model, vocab = load(name)
    if args.lora_rank:  # as the trainer does: adapters first, then checkpointing
        from agents.train.config import TrainConfig
        from agents.train.run import with_lora

        model = with_lora(
            model, TrainConfig(lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank)
        )
    if args.gradient_checkpointing:
        checkpoint_activations(model)
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-7)
    loaded = peak_rss_gib()
    if job == "sft":
        data = sft_trajectories(vocab, args.micro, args.sft_length, args.sft_trained)
        ids, attention, _, action, _ = pad_trajectories(data, 0)
        with transient_activations(args.bounded_heap):  # as the SFT loop runs each micro-batch
            sft_loss(model, ids, attention, action).backward()
        optimizer_step(model, optimizer)
        shape = f"{args.micro}x{args.sft_length} ({args.sft_trained} trained each)"
    else:
        trajectories = synthetic_trajectories(vocab, args.sequences, args.length, args.group)
        settings = UpdateSettings(
            optimizer_steps=1, micro_batch_size=args.micro, bounded_heap=args.bounded_heap
        )
        batch = build(trajectories)
        grpo_update(model, optimizer, None, batch, settings, torch.Generator().manual_seed(0))
        shape = f"{args.sequences}x{args.length} (micro-batch {args.micro})"
    return {
        "model": name,
        "job": job,
        "batch": shape,
        "checkpointing": "yes" if args.gradient_checkpointing else "no",
        "weights trained": f"LoRA rank {args.lora_rank}" if args.lora_rank else "all",
        "bounded heap": "yes" if args.bounded_heap else "no",
        "RSS after load GiB": loaded,
        "peak RSS GiB": peak_rss_gib(),
    }


def measure_memory(args: argparse.Namespace) -> list[dict[str, object]]:
    """Each (model, job) in a fresh process, so that each peak is that job's alone."""
    rows = []
    for name in args.models:
        for job in args.jobs.split(","):
            command = [sys.executable, "-m", "benchmarks.bench_update", "--memory-job", job]
            command += ["--models", name]
            command += ["--micro", str(args.micro), "--sequences", str(args.sequences)]
            command += ["--length", str(args.length), "--group", str(args.group)]
            command += ["--sft-length", str(args.sft_length)]
            command += ["--sft-trained", str(args.sft_trained)]
            command += ["--lora-rank", str(args.lora_rank)]
            command.append("--bounded-heap" if args.bounded_heap else "--no-bounded-heap")
            if not args.gradient_checkpointing:
                command.append("--no-gradient-checkpointing")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(table(rows[-1:]), flush=True)
    return rows


def load(name: str):
    from agents.testing import smollm2_tokenizer, tiny_causal_lm

    if name == "tiny":
        tokenizer = smollm2_tokenizer()
        return tiny_causal_lm(tokenizer), len(tokenizer)
    from agents.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(None, dtype=torch.float32)
    return model, len(tokenizer)


def table(rows: list[dict[str, object]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = []
        for k in keys:
            v = row[k]
            if isinstance(v, float):
                v = f"{100 * v:.1f}%" if k.startswith("overhead") else f"{v:.3g}"
            cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def append_results(text: str, args: argparse.Namespace) -> None:
    """Append the table to RESULTS.md with the settings and torch's version and threads."""
    settings = (
        f"Micro-batch {args.micro}, G = {args.group}, FirstStep mask, medians of "
        f"{args.repeats} rounds; torch {torch.__version__} ({torch.get_num_threads()} threads)."
    )
    append_section("GRPO update overhead", f"{settings}\n\n{text}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2"])
    parser.add_argument("--sequences", type=int, default=8, help="B: sequences in the batch")
    parser.add_argument("--length", type=int, default=512, help="T: tokens per sequence")
    parser.add_argument("--group", type=int, default=4, help="G: samples per question")
    parser.add_argument("--micro", type=int, default=4, help="sequences per forward pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="measure peak RSS instead")
    parser.add_argument("--sft-length", type=int, default=1600, help="tokens per SFT sequence")
    parser.add_argument("--sft-trained", type=int, default=170, help="trained tokens of each")
    parser.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --memory: recompute layer activations in the backward, as the trainer does",
    )
    parser.add_argument(
        "--lora-rank",
        type=int,
        default=0,
        help="with --memory: train LoRA adapters (0: all weights)",
    )
    parser.add_argument(
        "--jobs", default="sft,grpo", choices=("sft,grpo", "sft", "grpo"), help="with --memory"
    )
    parser.add_argument(
        "--bounded-heap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --memory: as TrainConfig.bounded_heap",
    )
    parser.add_argument("--memory-job", choices=("sft", "grpo"), help=argparse.SUPPRESS)
    add_no_append(parser, "--no-save")  # the old name
    args = parser.parse_args(argv)
    if args.memory_job:  # the child process of --memory
        print(json.dumps(memory_job(args.memory_job, args.models[0], args)))
        return
    if args.memory:
        text = table(measure_memory(args))
        print("\n" + text)
        if not args.no_append:
            trained = f"LoRA rank {args.lora_rank} adapters" if args.lora_rank else "all weights"
            note = (
                f"One SFT step (micro-batch of {args.micro}) and one GRPO update "
                f"(FirstStep mask, one optimizer step), float32, {trained} trained with "
                f"AdamW; each in a fresh process; torch {torch.__version__}. Peak RSS is "
                "`ru_maxrss`: the whole process (Python, torch, model, optimizer state)."
            )
            append_section("Peak memory of an SFT step and a GRPO update", f"{note}\n\n{text}")
        return
    rows = []
    for name in args.models:
        model, vocab = load(name)
        rows.append(measure(name, model, vocab, args))
        print(table(rows[-1:]), flush=True)
    text = table(rows)
    print("\n" + text)
    if not args.no_append:
        append_results(text, args)


if __name__ == "__main__":
    main()
