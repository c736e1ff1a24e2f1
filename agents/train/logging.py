"""Training metrics: one JSON object a line, TensorBoard scalars, and a PNG of the curves.

Only the main process writes. Keys are flat ``group/name`` strings (``reward/mean``,
``rubric/goal_alignment``, ``loss/clip_fraction``...); ``step`` and ``stage`` are plain.
Keys under ``time/`` are wall-clock measurements: the only ones that differ between two
runs of the same configuration.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"

CURVES = (
    ("sft/loss", "SFT loss"),
    ("reward/mean", "reward mean"),
    ("reward/pass_rate", "pass rate"),
    ("rubric/score", "plan rubric score"),
    ("loss/policy", "loss"),
    ("loss/clip_fraction", "clip fraction"),
    ("loss/approx_kl", "approx. KL"),
    ("loss/entropy", "entropy"),
    ("groups/zero_variance_share", "zero-variance groups"),
    ("tokens/plan", "plan tokens"),
    ("tokens/rest", "other policy tokens"),
    ("episode/tool_calls", "tool calls per episode"),
)
"""(metric key, plot title) of the panels of curves.png, in order."""


class MetricsLogger:
    """Appends metrics to ``metrics.jsonl`` and TensorBoard under ``output_dir``."""

    def __init__(self, output_dir: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.dir = Path(output_dir)
        self.enabled = enabled
        self.path = self.dir / METRICS_FILE
        self._writer = None
        if enabled:
            self.dir.mkdir(parents=True, exist_ok=True)
            if tensorboard:
                self._writer = _summary_writer(self.dir / "tensorboard")

    def truncate_from(self, step: int) -> None:
        """Drop lines of steps >= ``step`` (written after the checkpoint being resumed)."""
        if not self.enabled or not self.path.exists():
            return
        lines = self.path.read_text(encoding="utf-8").splitlines()
        keep = [ln for ln in lines if ln.strip() and _step_of(ln) < step]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
        tmp.replace(self.path)

    def log(self, record: Mapping[str, Any]) -> None:
        """Write one record (must hold an integer ``step``)."""
        if not self.enabled:
            return
        clean = {k: _finite(v) for k, v in record.items()}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(clean, allow_nan=False) + "\n")
        if self._writer is not None:
            for key, value in clean.items():
                if key != "step" and isinstance(value, (int, float)) and value is not None:
                    self._writer.add_scalar(key, value, global_step=int(record["step"]))
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard not installed
        warnings.warn(
            "tensorboard is not installed: skipping TensorBoard logs (pip install tensorboard).",
            stacklevel=3,
        )
        return None
    return SummaryWriter(log_dir=str(log_dir))


def _step_of(line: str) -> int:
    try:
        return int(json.loads(line)["step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return 1 << 62  # a line cut short by a kill: drop it


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file."""
    text = Path(path).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> Path | None:
    """Draw the panels of :data:`CURVES` that have data into ``png_path`` (matplotlib, Agg).

    Each stage is its own line (a stage-1 rubric reward and a stage-2 0/1 reward are not
    one curve); an evaluation record, when present, goes into the title. Returns the path,
    or None when there is nothing to plot or matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed: no curves.png.", stacklevel=2)
        return None
    records = read_metrics(metrics_path) if Path(metrics_path).exists() else []
    evals = [r for r in records if r.get("stage") == "eval"]
    records = [r for r in records if r.get("stage") != "eval"]
    panels = [(k, t) for k, t in CURVES if any(r.get(k) is not None for r in records)]
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (key, title) in zip(axes.flat, panels):
        _plot_by_stage(ax, records, key)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if evals:
        before, after = evals[-1].get("eval/pass@1_before"), evals[-1].get("eval/pass@1_after")
        measured = [] if before is None else [f"{_pct(before)} before"]
        measured.append(f"{_pct(after)} after training")
        fig.suptitle("dev pass@1: " + ", ".join(measured))
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def _plot_by_stage(ax: Any, records: list[dict[str, Any]], key: str) -> None:
    stages = list(dict.fromkeys(r.get("stage") for r in records))
    for stage in stages:
        points = [(r["step"], r.get(key)) for r in records if r.get("stage") == stage]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=str(stage))
    if len(stages) > 1:
        ax.legend(fontsize=7)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


class Tally:
    """Sums and counts of metrics on one process, reduced over processes in one call.

    Every process must add the same keys (values may be 0 with count 0) so that the
    all-reduced tensor lines up.
    """

    def __init__(self) -> None:
        self._sums: dict[str, list[float]] = {}

    def add(self, key: str, total: float, count: float = 1.0) -> None:
        """Add ``total`` over ``count`` items to ``key`` (its mean is sum / count)."""
        entry = self._sums.setdefault(key, [0.0, 0.0])
        entry[0] += float(total)
        entry[1] += float(count)

    def declare(self, *keys: str) -> None:
        """Make sure ``keys`` exist (with nothing added) on every process."""
        for key in keys:
            self._sums.setdefault(key, [0.0, 0.0])

    def reduce(self, all_sum: Callable[[Any], Any] = lambda t: t) -> dict[str, tuple[float, float]]:
        """{key: (sum, count)} summed over processes; ``all_sum`` all-reduces a tensor."""
        import torch

        keys = sorted(self._sums)
        local = torch.tensor([self._sums[k] for k in keys], dtype=torch.float64).reshape(-1, 2)
        total = all_sum(local).cpu().tolist() if keys else []
        return {k: (s, c) for k, (s, c) in zip(keys, total)}


def means(sums: Mapping[str, tuple[float, float]]) -> dict[str, float | None]:
    """{key: sum / count}, None where the count is 0."""
    return {k: (s / c if c else None) for k, (s, c) in sums.items()}
