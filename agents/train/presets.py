"""Named bundles of training settings: ``python -m agents.train --preset NAME``.

A preset sets defaults; any flag given on the command line overrides it.
"""

from __future__ import annotations

from typing import Any

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
    # LoRA adapters in bf16 autocast (2.2x faster than fp32 on a CPU with AMX-BF16).
    "lora_rank": 16,
    "lora_alpha": 32,
    "precision": "bf16",
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
"""The SFT warm start of SmolLM2-135M-Instruct sized for a 2-core CPU: 250 steps (the first
8 took 20 s each on a quiet machine: about 85 minutes), under 4 GiB of memory."""

PRESETS: dict[str, dict[str, Any]] = {"smollm2-cpu": SMOLLM2_CPU}


def preset(name: str) -> dict[str, Any]:
    """The settings of preset ``name``; the error lists the known names."""
    if name not in PRESETS:
        raise ValueError(f"Expected a preset among {sorted(PRESETS)}, got {name!r}.")
    return dict(PRESETS[name])
