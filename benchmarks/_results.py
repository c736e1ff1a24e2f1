"""Appending a measured section to ``benchmarks/RESULTS.md``: date, machine, load, commit
and the command that produced it, so every figure there can be traced and rerun.

``WEBANCHOR_RESULTS`` points the writer at another file (tests use it, so they never touch
the real one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def results_path() -> Path:
    """The file sections are appended to."""
    return Path(os.environ.get("WEBANCHOR_RESULTS", REPO / "benchmarks" / "RESULTS.md"))


def add_no_append(parser: argparse.ArgumentParser, *old_names: str) -> None:
    """The flag every benchmark shares, ``--no-append`` (``args.no_append``): print only.
    ``old_names`` keep a script's earlier spelling working."""
    parser.add_argument(
        "--no-append",
        *old_names,
        dest="no_append",
        action="store_true",
        help="print only; leave RESULTS.md alone",
    )


def commit() -> str:
    """The short commit of the working tree (``+dirty`` when it has changes), or ``unknown``."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def this_command() -> str:
    """How this process was started: ``python -m benchmarks.NAME ARGS`` for a module run
    with ``-m``, else ``python SCRIPT ARGS``."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is None or not spec.name:
        return shlex.join(["python", *sys.argv])
    return shlex.join(["python", "-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]])


def _load(values: Sequence[float]) -> str:
    return " / ".join(f"{x:.2f}" for x in values[:3])


def append_section(
    title: str,
    body: str,
    note: str = "",
    command: str | None = None,
    load_at_start: Sequence[float] | None = None,
) -> Path:
    """Append one section: heading with the date, machine, load, commit and command
    (``command``: the one that produced the figures, when it is not this process's;
    ``load_at_start``: ``os.getloadavg()`` taken before measuring, recorded beside the load
    at the end, since other work on a shared machine moves the figures)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    load = f"at the end: {_load(os.getloadavg())}"
    if load_at_start is not None:
        load = f"at the start: {_load(load_at_start)}; {load}"
    lines = [
        "",
        f"## {title} — {now}",
        "",
        f"Machine: {machine}. Load average {load} (1 / 5 / 15 min). Commit: {commit()}.",
        "",
        f"Command: `{command or this_command()}`",
        "",
    ]
    if note:
        lines += [f"Note: {note}", ""]
    path = results_path()
    if not path.exists():
        lines.insert(0, "# Benchmark results")
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join([*lines, body, ""]))
    return path
