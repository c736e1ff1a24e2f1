"""benchmarks/bench_judges.py: judges scored against the outcomes of real episodes."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_reference_judge_separates_solved_from_failed_episodes(tmp_path, results_file):
    if not (REPO / "wiki_corpus" / "data" / "default" / "tasks.jsonl").exists():
        pytest.skip("the bundled default corpus is not generated yet")
    from agents.evaluate import EvalConfig, evaluate
    from benchmarks import bench_judges

    episodes = tmp_path / "episodes"
    lines = []
    for policy in ("oracle", "naive"):  # right with gold plans; mostly wrong with a bare one
        out = tmp_path / policy
        evaluate(EvalConfig(policy=policy, split="dev", max_hops=2, limit=8, out=str(out)))
        lines += (out / "trajectories.jsonl").read_text().splitlines()
    episodes.mkdir()
    (episodes / "trajectories.jsonl").write_text("\n".join(lines) + "\n")

    assert bench_judges.main(["--episodes", str(episodes), "--judges", "reference"]) == 0
    text = results_file.read_text()
    assert "## Plan judges against the warm start's real outcomes" in text
    row = next(line for line in text.splitlines() if line.startswith("| reference (privileged)"))
    scored, auc = row.split("|")[2:4]
    assert int(scored) == 16 and float(auc) >= 0.8

    # a trajectories file is read as it is (e.g. a plan-anchor probe)
    results_file.write_text("")
    path = episodes / "trajectories.jsonl"
    assert bench_judges.main(["--episodes", str(path), "--judges", "reference"]) == 0
    text = results_file.read_text()
    assert f"read from `{path}` (8 questions)" in text
    row = next(line for line in text.splitlines() if line.startswith("| reference (privileged)"))
    assert int(row.split("|")[2]) == 16
