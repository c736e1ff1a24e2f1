"""The command line, end to end, with scripted stand-ins for the LLM and the judge."""

import json
import re
from dataclasses import replace

import pytest

import agents.rubrics.__main__ as cli
from agents.rewards.judge import RubricJudge
from agents.rewards.rubric import load_default_rubric
from agents.rubrics.labels import PlanRecord, load_plans, save_plans
from agents.rubrics.prompts import CachedComplete
from agents.trajectory import Trajectory, Turn, save_jsonl

RUBRIC = load_default_rubric()


def scripted_llm(prompts):
    """Insight prompts get insights; updater prompts get a revised rubric that says SHARP;
    judge prompts get the plan's own "score=N" when the rubric says SHARP, else 3."""
    out = []
    for p in prompts:
        if "## Current rubric (JSON)" in p:
            data = RUBRIC.to_dict()
            data["dimensions"][0]["description"] += " SHARP"
            out.append(json.dumps(data))
        elif "## Plan\n" in p and "## Rubric" in p:
            sharp = "SHARP" in p.split("## Rubric", 1)[1]
            found = re.search(r"score=(\d)", p.split("## Plan\n", 1)[1])
            score = int(found.group(1)) if sharp and found else 3
            out.append(json.dumps({"scores": dict.fromkeys(RUBRIC.keys, score)}))
        elif "Guess" in p and "did NOT answer" in p:
            out.append("no json here")
        else:
            out.append('{"insights": ["Name every hop."]}')
    return out


@pytest.fixture
def scripted(monkeypatch):
    def complete(self, max_new_tokens, cache_dir, what, prefill=""):
        return CachedComplete(scripted_llm, tag="scripted", cache_path=cache_dir / f"{what}.c")

    def build_judge(kind, rubric, models, cache_dir, max_new_tokens=256, prefill=False, corpus=""):
        return RubricJudge(scripted_llm, rubric)

    monkeypatch.setattr(cli._Models, "complete", complete)
    monkeypatch.setattr(cli, "build_judge", build_judge)


def traj(task, plan, reward, sample):
    messages = ({"role": "user", "content": f"Question: {task}?"},)
    return Trajectory(
        task, 0, sample, (), None, (), (), reward, messages=messages, turns=(Turn(text=plan),)
    )


PLANS = [PlanRecord(f"g{i}", f"t{i}", "Q?", f"score={4 + i % 2}", 1.0, 4) for i in range(5)] + [
    PlanRecord(f"b{i}", f"t{i}", "Q?", f"score={1 + i % 2}", 0.0, 4) for i in range(5)
]


def test_extract_learn_validate(tmp_path, scripted, capsys):
    trajs = tmp_path / "t.jsonl"
    save_jsonl(trajs, [traj("t1", "Plan well", 1.0, 0), traj("t1", "Guess", 0.0, 1)])
    insights = tmp_path / "insights.jsonl"
    assert cli.main(["extract", "--trajectories", str(trajs), "--out", str(insights)]) == 0
    out = capsys.readouterr().out
    assert "Insights: success 1, failure 0, pair 1" in out
    assert "Rejected answers: 1" in out
    assert (tmp_path / "insights.rejected" / "failure_0001.txt").exists()

    plans = save_plans(tmp_path / "plans.jsonl", PLANS)
    run_dir = tmp_path / "learn"
    args = ["learn", "--insights", str(insights), "--plans", str(plans), "--run-dir", str(run_dir)]
    assert cli.main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "stopped: thresholds_met" in out and "meets the thresholds" in out
    assert (run_dir / "rubric.validation.json").exists()

    rubric = run_dir / "rubric.json"
    report = tmp_path / "report.json"
    validate = ["validate", "--rubric", str(rubric), "--plans", str(plans), "--out", str(report)]
    assert cli.main(validate) == 0
    out = capsys.readouterr().out
    assert "| **total** | 1.000 (met) | 1.000 (met) |" in out and "thresholds MET" in out
    assert json.loads(report.read_text())[0]["thresholds_met"] is True


def test_validate_reports_a_failing_rubric(tmp_path, scripted, capsys):
    plans = save_plans(tmp_path / "plans.jsonl", PLANS)
    args = ["validate", "--plans", str(plans), "--out", str(tmp_path / "r.json")]
    assert cli.main(args) == 0
    assert "NOT MET: do not use this rubric" in capsys.readouterr().out
    assert cli.main([*args, "--strict"]) == 1


def test_labels_round_trip_through_the_cli(tmp_path, scripted, capsys):
    plans = save_plans(tmp_path / "plans.jsonl", [*PLANS, PlanRecord("u", "t", "Q?", "p")])
    sheet = tmp_path / "labels.csv"
    assert cli.main(["export-labels", "--plans", str(plans), "--out", str(sheet)]) == 0
    assert "Exported 11 of 11 plans" in capsys.readouterr().out
    lines = sheet.read_text().splitlines()
    filled = [lines[0]] + [
        line.replace(",,", ",1," if line.startswith("g") else ",0,", 1) for line in lines[1:-1]
    ]
    sheet.write_text("\n".join([*filled, "zz,Q?,p,1,", lines[-1]]) + "\n")

    clean = tmp_path / "clean.jsonl"
    args = ["import-labels", "--labels", str(sheet), "--plans", str(plans), "--out", str(clean)]
    assert cli.main(args) == 2
    assert "labels.csv:12: unknown plan id 'zz'" in capsys.readouterr().err
    assert cli.main([*args, "--skip-bad"]) == 0
    captured = capsys.readouterr()
    assert "10 labelled (5 correct, 5 incorrect), 1 unlabeled, 1 bad rows excluded" in (
        captured.out
    )
    assert "excluded:" in captured.err and len(clean.read_text().splitlines()) == 10

    # plans without outcomes: validation against the human labels only
    bare = [replace(p, success_rate=None, n_continuations=0) for p in PLANS]
    unlabelled = save_plans(tmp_path / "bare.jsonl", bare)
    validate = ["validate", "--plans", str(unlabelled), "--labels", str(sheet), "--skip-bad"]
    assert cli.main(validate) == 0
    out = capsys.readouterr().out
    assert "labels: human" in out and "labels: outcomes" not in out
    assert "NOT MET" in out  # the scripted judge scores the default rubric flat
    assert load_plans(unlabelled) == bare


@pytest.mark.slow  # end to end: builds a search index and loads the embedding model
def test_label_outcomes_with_the_plan_follower(tmp_path, agents_corpus_dir, tasks, capsys):
    from agents.policy import GenerationRequest
    from agents.scripted import OraclePolicy, PlanStyle

    task = next(t for t in tasks if t.id == "q-1")
    messages = ({"role": "system", "content": "s"}, {"role": "user", "content": task.question})
    gold = (
        OraclePolicy(tasks, plan_style=PlanStyle.GOLD)
        .move(GenerationRequest((1,), messages))
        .text()
    )
    lazy = gold.replace("2. Read Lumen Tower", "2. Think about Lumen Tower")
    plans = save_plans(
        tmp_path / "plans.jsonl",
        [
            PlanRecord("gold", task.id, task.question, gold),
            PlanRecord("lazy", task.id, task.question, lazy),
        ],
    )
    out = tmp_path / "labelled.jsonl"
    args = ["label-outcomes", "--plans", str(plans), "--corpus", str(agents_corpus_dir)]
    args += ["--split", "test", "--n", "2", "--slip", "0", "--out", str(out), "--no-progress"]
    assert cli.main(args) == 0
    assert "correct (rate >= 0.5): 1, incorrect: 1" in capsys.readouterr().out
    labelled = load_plans(out)
    assert [p.success_rate for p in labelled] == [1.0, 0.0]
    assert labelled[0].continuation == "plan-follower(slip=0.0)"


def test_validate_with_the_privileged_reference_judge(tmp_path, agents_corpus_dir, tasks, capsys):
    from agents.scripted import honest_plan

    task = next(t for t in tasks if t.id == "q-1")
    good = honest_plan(task.question, task.gold.actions)
    records = [PlanRecord(f"g{i}", task.id, task.question, good, 1.0, 2) for i in range(3)]
    records += [PlanRecord(f"b{i}", task.id, task.question, "Think.", 0.0, 2) for i in range(3)]
    plans = save_plans(tmp_path / "plans.jsonl", records)
    args = ["validate", "--plans", str(plans), "--judge", "reference"]
    assert cli.main([*args, "--corpus", str(agents_corpus_dir), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "privileged-reference (reads the gold path)" in out
    assert "thresholds MET" in out


def test_label_outcomes_from_the_plans_own_episodes(tmp_path, capsys):
    episodes = [
        traj("t1", "<plan>A</plan>", 1.0, 0),
        traj("t1", "<plan>A</plan>", 0.0, 1),
        traj("t1", "<plan>A</plan>", 1.0, 2),
        traj("t1", "<plan>B</plan>", 0.0, 3),
        traj("t2", "<plan>A</plan>", 0.5, 0),  # another task: another plan; 0.5 is no success
        traj("t2", "", 1.0, 1),  # no plan: left out
    ]
    path = save_jsonl(tmp_path / "episodes.jsonl", episodes)
    out = tmp_path / "plans.jsonl"
    args = ["label-outcomes", "--trajectories", str(path), "--own-episodes", "--out", str(out)]
    assert cli.main(args) == 0
    assert "correct (rate >= 0.5): 1, incorrect: 2, mixed outcomes: 1" in capsys.readouterr().out
    plans = load_plans(out)
    assert [(p.task_id, p.plan, p.n_continuations) for p in plans] == [
        ("t1", "<plan>A</plan>", 3),
        ("t1", "<plan>B</plan>", 1),
        ("t2", "<plan>A</plan>", 1),
    ]
    assert [p.success_rate for p in plans] == pytest.approx([2 / 3, 0.0, 0.0])
    assert {p.continuation for p in plans} == {"own episode"}
    args += ["--success-threshold", "0.5"]
    assert cli.main(args) == 0
    assert load_plans(out)[2].success_rate == 1.0
    with pytest.raises(SystemExit, match="--trajectories"):
        cli.main(["label-outcomes", "--plans", str(out), "--own-episodes", "--out", str(out)])
