"""benchmarks/bench_compact.py: prompt token counts, answer visibility on replayed gold paths,
and demonstration lengths, on a few bundled train tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_a_small_run_appends_the_three_tables(results_file):
    if not (REPO / "wiki_corpus" / "data" / "default" / "tasks.jsonl").exists():
        pytest.skip("the bundled default corpus is not generated yet")
    from benchmarks import bench_compact

    argv = ["--limit", "3", "--trajectories", "2", "--top-k", "1", "--visit-chars", "800"]
    bench_compact.main([*argv, "--no-goal-mode"])
    text = results_file.read_text()
    assert "## Compact prompt and observation sizes" in text
    assert "| compact-plan-prefill |" in text and "| react-plan |" in text
    row = next(line for line in text.splitlines() if line.startswith("| top_k=1, visit_chars=800"))
    seen = float(row.split("|")[2].strip().rstrip("%"))
    assert 0.0 <= seen <= 100.0
    assert text.count("| react-plan-prefill | top_k=5, visit_chars=4000, window |") == 1
