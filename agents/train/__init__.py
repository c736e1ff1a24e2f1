"""Training: GRPO, First-step GRPO, Anchor-GRPO, the last/random-step ablations, TraceR1,
and SFT.

``python -m agents.train --help`` lists every setting. The trainer composes the pure GRPO
math of :mod:`agents.grpo` with the rollout engine; :mod:`agents.train.trl_adapter` gives
TRL's ``GRPOTrainer`` the same rollouts, step masks and rewards.

The names below are imported on first use, so that importing one submodule (the method
registry imports :mod:`agents.train.algos`) does not load the whole trainer.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "agents.train.algos": ("RewardSource", "Stage", "StepChoice"),
    "agents.train.batch": ("TrainBatch", "collate"),
    "agents.train.checkpoint": ("ConfigMismatchError",),
    "agents.train.config": ("Algo", "Precision", "StageSettings", "TrainConfig", "parse_args"),
    "agents.train.demo": ("DemoResult", "DemoSettings", "demo_run", "demo_summary"),
    "agents.train.run": ("OutOfMemory", "TrainResult"),
    "agents.train.trainer": ("train",),
    "agents.train.update": ("UpdateSettings", "UpdateStats", "grpo_update"),
    "agents.methods": ("stages_for",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
