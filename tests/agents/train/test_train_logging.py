"""Metrics files: JSONL (with truncation for resumes), TensorBoard, curves, tallies."""

from __future__ import annotations

import torch

from agents.train.logging import MetricsLogger, Tally, means, plot_curves, read_metrics


def test_jsonl_lines_truncation_and_nan_as_null(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    for step in range(4):
        logger.log({"step": step, "stage": "stage1", "reward/mean": step / 2, "x": float("nan")})
    with logger.path.open("a") as f:
        f.write('{"step": 4, "rew')  # a line cut short by a kill
    logger.truncate_from(2)
    records = read_metrics(logger.path)
    assert [r["step"] for r in records] == [0, 1]
    assert records[1] == {"step": 1, "stage": "stage1", "reward/mean": 0.5, "x": None}


def test_tensorboard_events_and_curves_png(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=True)
    for step in range(3):
        stage = "stage1" if step < 2 else "stage2"
        logger.log({"step": step, "stage": stage, "reward/mean": 0.1 * step, "loss/entropy": 2.0})
    logger.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    png = plot_curves(logger.path, tmp_path / "curves.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_curves(tmp_path / "missing.jsonl", tmp_path / "none.png") is None


def test_disabled_logger_writes_nothing(tmp_path):
    logger = MetricsLogger(tmp_path / "rank1", enabled=False)
    logger.log({"step": 0})
    assert not (tmp_path / "rank1").exists()


def test_tally_reduces_sums_and_counts():
    a, b = Tally(), Tally()
    a.add("reward/mean", 1.0, 2)
    a.declare("loss/policy")
    b.add("reward/mean", 2.0, 1)
    b.add("loss/policy", 0.5)
    # a stand-in all-reduce: the sum of both processes' tensors
    other = torch.tensor([[0.5, 1.0], [2.0, 1.0]], dtype=torch.float64)
    sums = a.reduce(lambda t: t + other)
    assert sums == {"loss/policy": (0.5, 1.0), "reward/mean": (3.0, 3.0)}
    assert means(sums) == {"loss/policy": 0.5, "reward/mean": 1.0}
    assert means({"x": (0.0, 0.0)}) == {"x": None}
