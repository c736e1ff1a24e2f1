"""Smoke runs of the experiments: the smallest scale, a tiny model, the bundled world.

One work directory is shared by the whole session, so the starting policy and the trained
methods are made once and every experiment reuses them, as they do outside the tests.
RESULTS.md is redirected to a temporary file.
"""

from __future__ import annotations

from pathlib import Path

import pytest


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
