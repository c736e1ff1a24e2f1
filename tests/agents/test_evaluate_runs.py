"""agents.evaluate: the pass@k estimator, the summary, outputs, resuming, and the CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agents.evaluate import (
    EvalConfig,
    _parser,
    evaluate,
    load_policy,
    main,
    markdown_table,
    pass_at_k,
    summarize,
)
from agents.scripted import NaivePolicy, OraclePolicy, RandomPolicy
from agents.trajectory import Trajectory, Turn, load_jsonl

REPO = Path(__file__).resolve().parents[2]


def test_pass_at_k_matches_hand_computed_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))  # 0.7
    assert pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # fewer than k failures: some k-subset always passes
    with pytest.raises(ValueError, match="1 <= k <= n, got n=2, c=1, k=3"):
        pass_at_k(2, 1, 3)


def _t(task: str, reward: float, errors=(), reason=None, searches=1) -> Trajectory:
    turns = (Turn("a", errors=tuple(errors), observation="o"), Turn("b", observation="o"))
    return Trajectory(
        task, 0, 0, (1, 2), None, (0, 1), (-1, 0), reward,
        {"f1": reward}, turns=turns, info={"search_calls": searches, "visit_calls": 2},
        truncated_reason=reason,
    )  # fmt: skip


def test_summarize_counts_per_task():
    runs = [
        _t("a", 1.0),
        _t("a", 0.0, ["no_action"], "max_turns"),
        _t("b", 0.0, ["page_not_found"]),
        _t("b", 0.0, searches=3),
    ]
    m = summarize(runs, k=2)
    assert m["tasks"] == 2 and m["episodes"] == 4
    assert m["pass@1"] == pytest.approx(0.25)  # (1/2 + 0/2) / 2
    assert m["pass@2"] == pytest.approx(0.5)
    assert m["mean_search_calls"] == pytest.approx(1.5) and m["mean_turns"] == 2
    assert m["format_error_rate"] == pytest.approx(1 / 8)  # page_not_found is not a format error
    assert m["truncation_rate"] == pytest.approx(0.25)
    assert m["end_reasons"] == {"answered": 3, "max_turns": 1}
    # two runs a task: the runs are not independent trials, the interval resamples tasks
    low, high = m["pass@1_ci95"]
    assert (low, high) == pytest.approx((0.0, 0.5))  # task rates 0.5 and 0: means 0, .25, .5


def test_bootstrap_interval_resamples_the_values():
    from agents.evaluate import bootstrap_interval

    rates = [1.0] * 6 + [0.0] * 14
    low, high = bootstrap_interval(rates)
    assert low < 0.3 < high and 0.05 < low < 0.2 and 0.4 < high < 0.55
    assert bootstrap_interval(rates) == (low, high)  # seeded
    assert bootstrap_interval([0.5, 0.5]) == (0.5, 0.5) and bootstrap_interval([1.0]) is None
    assert bootstrap_interval([0.1] * 3) == (0.1, 0.1)  # exact, not a float sum's rounding
    # two values: resampled means 0, 0.5, 1 with chances 1/4, 1/2, 1/4, so the 2.5th and
    # 97.5th percentiles are the extremes; with 1/4 below 30%, the 30th percentile is 0.5
    assert bootstrap_interval([0.0, 1.0]) == (0.0, 1.0)
    assert bootstrap_interval([0.0, 1.0], level=0.4) == (0.5, 0.5)


def test_pooled_interval_resamples_whole_groups():
    from agents.evaluate import pooled_interval

    rates = [1.0] * 6 + [0.0] * 14
    low, high = pooled_interval([[1.0, 1.0, 1.0], [0.0]])  # pooled means 1, 0.75 or 0
    assert (low, high) == (0.0, 1.0) and pooled_interval([[1.0, 1.0, 1.0], [0.0]]) == (low, high)
    # the same 20 values in 2 groups of 10 (0.6 and 0.0) can only give 0, 0.3 or 0.6
    assert pooled_interval([rates[:10], rates[10:]]) == (0.0, 0.6)
    assert pooled_interval([[0.5], [0.5, 0.5]]) == (0.5, 0.5)
    assert pooled_interval([[1.0], []]) is None and pooled_interval([]) is None


def test_one_run_a_task_gets_a_wilson_interval():
    m = summarize([_t(str(i), float(i < 3)) for i in range(10)])
    low, high = m["pass@1_ci95"]
    assert m["pass@1"] == pytest.approx(0.3)
    assert low == pytest.approx(0.1078, abs=1e-4) and high == pytest.approx(0.6032, abs=1e-4)


def test_config_is_checked():
    with pytest.raises(ValueError, match="1 <= k <= n, got n=2, k=3"):
        EvalConfig(n=2, k=3)
    with pytest.raises(ValueError, match="agent among"):
        EvalConfig(agent="reflexion")


def test_the_oracle_scores_one_and_every_output_is_written(make_env, tasks, tmp_path):
    config = EvalConfig(n=2, k=2, out=str(tmp_path / "run"), progress=False, batch_tasks=2, seed=4)
    summary = evaluate(config, policy=OraclePolicy(), make_env=make_env)
    assert summary["metrics"]["pass@1"] == 1.0 and summary["metrics"]["pass@2"] == 1.0
    assert summary["metrics"]["format_error_rate"] == 0.0
    out = tmp_path / "run"
    written = json.loads((out / "summary.json").read_text())
    assert written["config"]["seed"] == 4 and written["config"]["policy"] == "oracle"
    assert written["prompt"]["name"] == "react-plan" and written["config"]["corpus"] == "default"
    assert json.loads((out / "run.json").read_text())["prompt_variant"]["system_text"]
    assert "| oracle |" in (out / "summary.md").read_text()
    trajectories = load_jsonl(out / "trajectories.jsonl")
    assert sorted((t.task_id, t.sample) for t in trajectories) == [
        (i, s) for i in ("q-1", "q-2", "q-3") for s in (0, 1)
    ]
    with pytest.raises(FileExistsError, match="pass --resume"):
        evaluate(config, policy=OraclePolicy(), make_env=make_env)


def test_an_interrupted_run_resumes_where_it_stopped(make_env, tasks, tmp_path, recording):
    out = tmp_path / "run"
    config = EvalConfig(n=2, out=str(out), progress=False, batch_tasks=1)
    evaluate(config, policy=OraclePolicy(), make_env=make_env)
    lines = (out / "trajectories.jsonl").read_text().splitlines(keepends=True)
    (out / "trajectories.jsonl").write_text("".join(lines[:2]) + lines[2][:50])  # killed mid-write
    policy = recording(OraclePolicy(tasks))
    resumed = evaluate(
        EvalConfig(n=2, out=str(out), progress=False, batch_tasks=1, resume=True),
        policy=policy,
        make_env=make_env,
    )
    assert resumed["metrics"]["episodes"] == 6 and resumed["metrics"]["pass@1"] == 1.0
    assert {r.messages[1]["content"] for r in policy.requests} == {
        "Question: In which town was the architect of Lumen Tower born?",
        "Question: When was the Glasswing Bridge opened?",
    }
    assert len(load_jsonl(out / "trajectories.jsonl")) == 6
    with pytest.raises(ValueError, match="changes .*'policy': \\('oracle', 'naive'\\)"):
        evaluate(
            EvalConfig(policy="naive", n=2, out=str(out), resume=True, progress=False),
            policy=NaivePolicy(),
            make_env=make_env,
        )


def test_a_group_cut_short_is_played_again_whole(make_env, tasks, tmp_path, recording):
    out = tmp_path / "run"
    config = EvalConfig(n=2, out=str(out), progress=False, batch_tasks=1)
    evaluate(config, policy=OraclePolicy(), make_env=make_env)
    lines = (out / "trajectories.jsonl").read_text().splitlines(keepends=True)
    (out / "trajectories.jsonl").write_text("".join(lines[:3]))  # q-2 has 1 of its 2 episodes
    policy = recording(OraclePolicy(tasks))
    resumed = evaluate(replace(config, resume=True), policy=policy, make_env=make_env)
    assert resumed["metrics"]["episodes"] == 6
    assert len(policy.requests) > 0
    written = load_jsonl(out / "trajectories.jsonl")
    assert sorted((t.task_id, t.sample) for t in written) == [
        (i, s) for i in ("q-1", "q-2", "q-3") for s in (0, 1)
    ]


def test_a_file_holding_only_an_interrupted_line_resumes_cleanly(make_env, tmp_path):
    out = tmp_path / "run"
    config = EvalConfig(n=2, out=str(out), progress=False)
    evaluate(config, policy=OraclePolicy(), make_env=make_env)
    first = (out / "trajectories.jsonl").read_text().splitlines()[0]
    (out / "trajectories.jsonl").write_text(first[:40])  # killed while writing the first line
    resumed = evaluate(replace(config, resume=True), policy=OraclePolicy(), make_env=make_env)
    assert resumed["metrics"]["episodes"] == 6
    assert len(load_jsonl(out / "trajectories.jsonl")) == 6  # no broken line left behind


def test_a_finished_run_resumes_without_loading_a_model(make_env, tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = EvalConfig(n=2, out=str(out), progress=False)
    first = evaluate(config, policy=OraclePolicy(), make_env=make_env)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run must not load its policy")

    monkeypatch.setattr("agents.evaluate.load_policy", refuse)
    again = evaluate(replace(config, resume=True), make_env=make_env)
    assert again["metrics"] == first["metrics"]
    assert len(load_jsonl(out / "trajectories.jsonl")) == 6


def test_scripted_baselines_and_the_anticipatory_oracle_through_evaluate(make_env, tmp_path):
    naive = evaluate(
        EvalConfig(policy="naive", out=str(tmp_path / "n"), progress=False),
        policy=NaivePolicy(),
        make_env=make_env,
    )
    assert naive["metrics"]["mean_turns"] == 3 and naive["metrics"]["pass@1"] < 1.0
    anticipatory = evaluate(
        EvalConfig(agent="anticipatory", horizon=2, out=str(tmp_path / "a"), progress=False),
        policy=load_policy("oracle", agent="anticipatory", horizon=2),
        make_env=make_env,
    )
    assert anticipatory["metrics"]["pass@1"] == 1.0
    assert anticipatory["prompt"]["name"] == "anticipatory-t2"
    assert isinstance(load_policy("random", seed=3), RandomPolicy)
    with pytest.raises(ValueError, match="openai:<base_url>:<model>"):
        load_policy("openai:nothing")


def test_the_command_line_builds_the_config_and_runs(agents_corpus_dir, tmp_path, capsys):
    args = _parser().parse_args(
        ["--n", "3", "--k", "2", "--limit", "2", "--no-progress", "--prompt", "react-plan-prefill"]
    )
    config = EvalConfig(**vars(args))
    assert (config.n, config.k, config.limit, config.progress, config.prompt) == (
        3,
        2,
        2,
        False,
        "react-plan-prefill",
    )
    out = tmp_path / "cli"
    argv = [
        "--corpus",
        str(agents_corpus_dir),
        "--split",
        "test",
        "--out",
        str(out),
        "--no-progress",
        "--limit",
        "2",
    ]
    assert main(argv) == 0
    assert "| oracle |" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["metrics"]["tasks"] == 2


def test_markdown_table_has_one_row_under_the_header(make_env, tmp_path):
    summary = evaluate(
        EvalConfig(out=str(tmp_path / "m"), progress=False, limit=1),
        policy=OraclePolicy(),
        make_env=make_env,
    )
    head, rule, row = markdown_table(summary, 1).splitlines()
    assert head.count("|") == rule.count("|") == row.count("|")


@pytest.mark.slow
def test_the_oracle_scores_one_on_the_bundled_test_split(tmp_path):
    if not (REPO / "wiki_corpus" / "data" / "default" / "tasks.jsonl").exists():
        pytest.skip("the bundled default corpus is not generated yet")
    out = tmp_path / "bundled"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "agents.evaluate",
        "--policy",
        "oracle",
        "--split",
        "test",
        "--out",
        str(out),
        "--no-progress",
    ]
    subprocess.run(command, cwd=REPO, env=env, check=True, timeout=1500)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["tasks"] > 0
    assert summary["metrics"]["pass@1"] == 1.0


def _turned(task: str, reward: float, turns: tuple[Turn, ...], reason=None) -> Trajectory:
    return Trajectory(
        task, 0, 0, (1, 2), None, (0, 1), (-1, 0), reward, {}, turns=turns,
        truncated_reason=reason,
    )  # fmt: skip


def test_summarize_counts_valid_actions_cut_turns_and_mixed_outcomes():
    search = Turn("s", tool_calls=("search",), observation="o")
    broken = Turn("x", errors=("no_action",), observation="o", finish_reason="length")
    answer = Turn("a", observation="o")
    runs = [
        _turned("a", 1.0, (search, answer)),  # answered: both turns valid
        _turned("a", 0.0, (broken, broken), reason="max_turns"),  # neither valid, both cut
        _turned("b", 0.0, (search, answer)),
        _turned("b", 0.0, (search, broken), reason="max_turns"),
        _turned("c", 1.0, (answer,)),
    ]
    m = summarize(runs, k=1)
    assert m["valid_action_rate"] == pytest.approx(6 / 9)
    assert m["turn_truncation_rate"] == pytest.approx(3 / 9)
    assert m["mixed_outcome_rate"] == pytest.approx(1 / 2)  # a is mixed, b is not; c ran once
    assert summarize(runs[-1:])["mixed_outcome_rate"] is None


def test_tasks_are_selected_by_hops_and_difficulty(make_env, tmp_path):
    def played(**selection) -> set[str]:
        out = tmp_path / "-".join(f"{k}{v}" for k, v in selection.items())
        config = EvalConfig(out=str(out), progress=False, **selection)
        evaluate(config, policy=OraclePolicy(), make_env=make_env)
        return {t.task_id for t in load_jsonl(out / "trajectories.jsonl")}

    assert played(max_hops=1) == {"q-1", "q-3"}  # q-2 has two hops
    assert played(min_hops=2) == {"q-2"}
    assert played(difficulty="1,2") == {"q-1", "q-2", "q-3"}
    with pytest.raises(ValueError, match="min_hops=None, difficulty=4 among the 3 tasks"):
        played(difficulty="4")
    with pytest.raises(ValueError, match="comma-separated integers .*got 'easy'"):
        EvalConfig(difficulty="easy")
    args = _parser().parse_args(["--max-hops", "2", "--difficulty", "1,2"])
    assert (args.max_hops, EvalConfig(**vars(args)).difficulties()) == (2, frozenset({1, 2}))


def test_random_agent_at_temperature_one_reports_the_new_metrics(make_env, tmp_path):
    config = EvalConfig(n=4, out=str(tmp_path / "r"), progress=False, max_hops=1)
    m = evaluate(config, policy=RandomPolicy(seed=1), make_env=make_env)["metrics"]
    assert 0.0 <= m["valid_action_rate"] <= 1.0 and m["turn_truncation_rate"] == 0.0
    assert m["mixed_outcome_rate"] is not None and m["tasks"] == 2


def test_max_rows_bounds_the_rows_of_a_forward_pass(make_env, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="max_rows >= 1"):
        EvalConfig(max_rows=0)
    seen = {}

    def fake_from_pretrained(name, **kwargs):
        seen.update(kwargs, name=name)
        return NaivePolicy()

    monkeypatch.setattr("agents.hf_policy.HFPolicy.from_pretrained", fake_from_pretrained)
    config = EvalConfig(policy="some/model", n=2, max_rows=3, out=str(tmp_path), progress=False)
    evaluate(config, make_env=make_env)
    assert seen["name"] == "some/model" and seen["max_batch_size"] == 3
