"""Named bundles of training settings: ``python -m agents.train --preset NAME``.

A preset sets defaults; any flag given on the command line overrides it.
"""

from __future__ import annotations

from typing import Any


def cpu_precision() -> str:
    """bf16 autocast where the CPU computes bf16 natively (AMX or AVX-512 BF16: 2.2x faster
    than fp32 on such a CPU); fp32 elsewhere, where bf16 is emulated and slower (over 7x a
    step on an AVX2-only AMD EPYC; RESULTS.md, "SFT recipe step time by precision")."""
    from agents.models import cpu_has_native_bf16

    return "bf16" if cpu_has_native_bf16() else "fp32"


SMOLLM2_CPU: dict[str, Any] = {
    "algo": "sft",
    "output_dir": "runs/smollm2-sft",
    # The compact format, each action labelled with its plan step (a 135M model trained on
    # bare tool calls lost count of its plan), and short observations.
    "prompt": "compact-plan-steps",
    "top_k": 2,
    "visit_chars": 1200,
    "max_turns": 8,
    "max_new_tokens": 400,
    # LoRA adapters, in bf16 autocast where the CPU computes bf16 natively, else fp32.
    "lora_rank": 16,
    "lora_alpha": 32,
    "precision": cpu_precision,
    # Honest gold trajectories (and recovery demonstrations) of every 1- to 3-hop train task:
    # 799 tasks, 999 demonstrations, 1.67 M tokens; the longest turn is 389 tokens.
    "sft_max_hops": 3,
    "sft_max_tasks": 0,
    "sft_epochs": 1,
    "sft_learning_rate": 2e-4,
    "sft_lr_decay": True,
    "warmup_steps": 8,
    "sft_batch_size": 4,
    # One trajectory per forward: the longest (3,383 tokens) peaks at 2.75 GiB, against
    # 4.37 GiB for two at once; the first 48 steps of the recipe peaked at 3.79 GiB. It
    # costs time: about 10-15% a step (see RESULTS.md).
    "micro_batch_size": 1,
    "save_every": 20,
}
"""The SFT warm start of SmolLM2-135M-Instruct sized for a 2-core CPU: 250 steps, under 4 GiB
of memory. Its time depends on the CPU's bf16: the first 8 steps took 20 s each on a quiet
2-core Intel CPU with AMX-BF16 (about 85 minutes in all), against about 80 s a step in fp32 on
a 2-core AMD EPYC without it (about 5.5 hours; RESULTS.md)."""

PRESETS: dict[str, dict[str, Any]] = {"smollm2-cpu": SMOLLM2_CPU}
"""Preset settings by name; a setting given as a function is decided by this machine when the
preset is read (:func:`cpu_precision`)."""


def preset(name: str) -> dict[str, Any]:
    """The settings of preset ``name`` on this machine; the error lists the known names."""
    if name not in PRESETS:
        raise ValueError(f"Expected a preset among {sorted(PRESETS)}, got {name!r}.")
    return {k: v() if callable(v) else v for k, v in PRESETS[name].items()}
