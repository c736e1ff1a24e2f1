"""Headless Chromium for tests: find (or install) it, load a local page, take a screenshot.

Chromium comes from Debian's packages. When it is missing and the tests run as root on a
system with apt, :func:`ensure_chromium` installs it once (``apt-get update && apt-get
install -y chromium``); otherwise the caller skips, saying how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
)
_CONSOLE_ERROR = re.compile(r":CONSOLE[^\]]*\]\s*\"(Uncaught[^\"]*)\"")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def ensure_chromium(timeout_s: float = 900) -> str | None:
    """A Chromium executable, installing Debian's package first when missing and allowed.

    Installs only as root with ``apt-get`` present; returns None when that is not possible
    or the install fails (the caller skips with :data:`INSTALL_HINT`).
    """
    found = find_chromium()
    if found or os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, timeout=timeout_s)
        if done.returncode != 0:
            return None
    return find_chromium()


@dataclass(frozen=True)
class PageLoad:
    """What a headless load of a page gave: the DOM after scripts ran and console errors."""

    dom: str
    console_errors: tuple[str, ...]

    def attribute(self, tag: str, name: str) -> str | None:
        """The value of attribute ``name`` on the first ``<tag ...>`` of the DOM, or None."""
        opening = re.search(rf"<{tag}\b[^>]*>", self.dom)
        if opening is None:
            return None
        found = re.search(rf'\s{re.escape(name)}="([^"]*)"', opening.group(0))
        return found.group(1) if found else None


def _run(chromium: str, args: list[str], profile: Path, timeout_s: float) -> tuple[str, str]:
    command = [chromium, *_FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    return done.stdout, done.stderr


def load_page(chromium: str, page: Path, *, timeout_s: float = 120) -> PageLoad:
    """Open a local HTML file headless and return its DOM once scripts ran, and any
    uncaught script errors Chromium logged to the console."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        dom, log = _run(
            chromium,
            ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom"]
            + [page.resolve().as_uri()],
            Path(profile),
            timeout_s,
        )
    return PageLoad(dom, tuple(_CONSOLE_ERROR.findall(log)))


def screenshot(
    chromium: str, page: Path, out: Path, *, size: tuple[int, int] = (1280, 2000), timeout_s=120
) -> Path:
    """A PNG screenshot of a local HTML file; raises if Chromium wrote none."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        _run(
            chromium,
            [f"--screenshot={out}", f"--window-size={size[0]},{size[1]}", page.resolve().as_uri()],
            Path(profile),
            timeout_s,
        )
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {page} to {out}.")
    return out
