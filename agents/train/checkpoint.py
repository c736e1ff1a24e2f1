"""Checkpoints: model, optimizer, scheduler, random states, stage and step, saved atomically.

``accelerate`` saves what it prepared (model, optimizer), the objects registered with
``register_for_checkpointing`` (the scheduler) and each process's Python, NumPy and torch
random states. Next to them ``trainer_state.json`` holds the step, the stage and the whole
configuration, so that a resume with a different configuration is refused with the
differences listed. Everything else a run draws (task order, rollout seeds, mini-batch
shuffles, random-step choices) is derived from (seed, step), so it needs no saving.

A checkpoint is written into ``checkpoints/.tmp-step-N`` and renamed to
``checkpoints/step-N`` only when complete: a run killed while saving leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agents.train.config import TrainConfig, config_differences

if TYPE_CHECKING:
    from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
CHECKPOINT_DIR = "checkpoints"
_PREFIX = "step-"


class ConfigMismatchError(ValueError):
    """A resume was asked with a configuration other than the checkpoint's."""


@dataclass(frozen=True)
class TrainerState:
    """Where a run stands: trainer steps completed and the stage of the next step."""

    step: int
    stage: int
    config: TrainConfig


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints under ``output_dir``, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(_PREFIX) and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]))


def save_checkpoint(accelerator: Accelerator, state: TrainerState, keep: int = 2) -> Path:
    """Save the accelerator's objects and ``state``; every process must call it."""
    root = checkpoint_root(state.config.output_dir)
    final = root / f"{_PREFIX}{state.step:06d}"
    tmp = root / f".tmp-{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    if accelerator.is_main_process:
        record = {"step": state.step, "stage": state.stage, "config": state.config.to_dict()}
        (tmp / STATE_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in list_checkpoints(state.config.output_dir)[: -max(keep, 1)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def resolve_resume(config: TrainConfig) -> Path | None:
    """The checkpoint ``config.resume`` names: a directory, 'auto' (the newest in
    output_dir, or None when there is none), or None when empty."""
    if not config.resume:
        return None
    if config.resume == "auto":
        found = list_checkpoints(config.output_dir)
        return found[-1] if found else None
    path = Path(config.resume)
    if not (path / STATE_FILE).exists():
        raise FileNotFoundError(
            f"Expected a checkpoint directory holding {STATE_FILE}, got {str(path)!r}."
        )
    return path


def read_state(path: str | Path) -> TrainerState:
    record = json.loads((Path(path) / STATE_FILE).read_text(encoding="utf-8"))
    config = TrainConfig.from_dict(record["config"])
    return TrainerState(int(record["step"]), int(record["stage"]), config)


def check_config(saved: TrainConfig, current: TrainConfig, path: str | Path) -> None:
    """Raise :class:`ConfigMismatchError` listing every difference that matters."""
    diffs = config_differences(saved, current)
    if diffs:
        listed = "\n  ".join(diffs)
        raise ConfigMismatchError(
            f"Refusing to resume from {str(path)!r}: it was saved with another "
            f"configuration (saved -> now):\n  {listed}"
        )


def load_checkpoint(
    accelerator: Accelerator, path: str | Path, config: TrainConfig
) -> TrainerState:
    """Check the configuration, then restore everything saved in ``path``."""
    state = read_state(path)
    check_config(state.config, config, path)
    accelerator.load_state(str(path))
    return TrainerState(state.step, state.stage, config)
