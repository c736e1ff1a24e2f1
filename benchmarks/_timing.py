"""Timing one call: wall-clock and this process's CPU seconds, for every benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple


class Timing(NamedTuple):
    """Wall-clock and process CPU seconds (all threads) of one measured call. CPU time is
    what ratios should use on a shared machine: other programs do not inflate it."""

    wall: float
    cpu: float


def timed(fn: Callable[[], object]) -> Timing:
    """Call ``fn`` once and time it."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)
