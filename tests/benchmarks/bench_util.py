"""Helpers of the experiment tests: import an experiment module, smoke-run arguments."""

from __future__ import annotations

import importlib
from pathlib import Path


def experiment(name: str):
    """The experiment module ``benchmarks.<name>``."""
    return importlib.import_module(f"benchmarks.{name}")


def smoke_args(work: Path, *extra: str) -> list[str]:
    """Arguments of a smoke run on the bundled world."""
    return ["--scale", "smoke", "--work-dir", str(work), "--corpus", "world", *extra]
