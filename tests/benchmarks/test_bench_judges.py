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
    value, interval = auc.split("[")
    low, high = (float(x) for x in interval.strip(" ]").split(","))
    assert int(scored) == 16 and float(value) >= 0.8 and low <= float(value) <= high

    # a trajectories file is read as it is (e.g. a plan-anchor probe)
    results_file.write_text("")
    path = episodes / "trajectories.jsonl"
    assert bench_judges.main(["--episodes", str(path), "--judges", "reference"]) == 0
    text = results_file.read_text()
    assert f"read from `{path}` (8 questions)" in text
    row = next(line for line in text.splitlines() if line.startswith("| reference (privileged)"))
    assert int(row.split("|")[2]) == 16


def test_continued_plans_and_question_slices(tmp_path):
    from types import SimpleNamespace

    from benchmarks import bench_judges

    anchor = [
        {"task_id": "a", "correct_step": "A+", "correct": [1.0, 1.0, 0.0, 0.0],
         "incorrect_step": "A-", "incorrect": [1.0, 0.0, 0.0, 0.0]},
        {"task_id": "b", "correct_step": None, "correct": [], "incorrect_step": None},
        {"task_id": "c", "correct_step": "C+", "correct": [1.0, 1.0, 1.0, 0.0],
         "incorrect_step": "C-", "incorrect": [0.0, 0.0, 0.0, 0.0]},
    ]  # fmt: skip
    path = tmp_path / "questions.json"
    path.write_text(__import__("json").dumps(anchor))
    by_id = {k: SimpleNamespace(question=f"Q{k}?") for k in "abc"}
    got = bench_judges.continued_plans(path, by_id)
    assert got.plans == ["A+", "A-", "C+", "C-"]
    assert got.labels == [1, 0, 1, 0]  # 2 of 4 right is half: labelled right
    assert got.questions == ["Qa?", "Qa?", "Qc?", "Qc?"]
    assert got.continuations == [(2, 4), (1, 4), (3, 4), (0, 4)]
    note = bench_judges.ceiling_note(got)
    assert "Noise ceiling of these 4 fixed steps" in note and "labels of 4 continuations" in note
    uneven = got._replace(continuations=[(2, 4), (1, 3)])
    assert bench_judges.ceiling_note(uneven) == ""  # no common number of continuations
    assert bench_judges.continued_plans(path, by_id, kept={"c"}).plans == ["C+", "C-"]

    episodes = [SimpleNamespace(task_id=k) for k in "aabccd"]
    ids = lambda text: "".join(t.task_id for t in bench_judges.question_slice(episodes, text))  # noqa: E731
    assert ids("") == "aabccd" and ids("2:") == "ccd" and ids(":1") == "aa" and ids("1:3") == "bcc"
    assert ids("-1:") == "d"
    for bad in ("2", "a:b", "1:x"):
        with pytest.raises(ValueError, match="Expected START:STOP"):
            bench_judges.parse_slice(bad)
    with pytest.raises(SystemExit):  # the command line says so before reading anything
        bench_judges.main(["--question-slice", "two", "--no-append"])
