"""Training: GRPO, First-step GRPO, Anchor-GRPO, the last/random-step ablations, and SFT.

``python -m agents.train --help`` lists every setting. The trainer composes the pure GRPO
math of :mod:`agents.grpo` with the rollout engine; :mod:`agents.train.trl_adapter` gives
TRL's ``GRPOTrainer`` the same rollouts, step masks and rewards.
"""

from agents.train.algos import RewardSource, Stage, StepChoice, stages_for
from agents.train.batch import TrainBatch, collate
from agents.train.checkpoint import ConfigMismatchError
from agents.train.config import Algo, Precision, StageSettings, TrainConfig, parse_args
from agents.train.demo import DemoResult, DemoSettings, demo_run, demo_summary
from agents.train.run import OutOfMemory, TrainResult
from agents.train.trainer import train
from agents.train.update import UpdateSettings, UpdateStats, grpo_update

__all__ = [
    "Algo",
    "ConfigMismatchError",
    "DemoResult",
    "DemoSettings",
    "OutOfMemory",
    "Precision",
    "RewardSource",
    "Stage",
    "StageSettings",
    "StepChoice",
    "TrainBatch",
    "TrainConfig",
    "TrainResult",
    "UpdateSettings",
    "UpdateStats",
    "collate",
    "demo_run",
    "demo_summary",
    "grpo_update",
    "parse_args",
    "stages_for",
    "train",
]
