"""Smoke runs of the experiments: the smallest scale, a tiny model, the bundled world.

One work directory is shared by the whole session, so the starting policy and the trained
methods are made once and every experiment reuses them, as they do outside the tests.
RESULTS.md is redirected to a temporary file.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def bench_work(tmp_path_factory) -> Path:
    """The experiments' shared work directory."""
    return tmp_path_factory.mktemp("bench-work")


@pytest.fixture()
def results_file(tmp_path, monkeypatch) -> Path:
    """A temporary RESULTS.md that the experiments append to."""
    path = tmp_path / "RESULTS.md"
    monkeypatch.setenv("WEBANCHOR_RESULTS", str(path))
    return path


def experiment(name: str):
    """The experiment module ``benchmarks/<name>.py``."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


def smoke_args(work: Path, *extra: str) -> list[str]:
    """Arguments of a smoke run on the bundled world."""
    return ["--scale", "smoke", "--work-dir", str(work), "--corpus", "world", *extra]
