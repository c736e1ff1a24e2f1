"""Helpers of the experiment tests: import an experiment module, smoke-run arguments."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def experiment(name: str):
    """The experiment module ``benchmarks/<name>.py``."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def smoke_args(work: Path, *extra: str) -> list[str]:
    """Arguments of a smoke run on the bundled world."""
    return ["--scale", "smoke", "--work-dir", str(work), "--corpus", "world", *extra]
