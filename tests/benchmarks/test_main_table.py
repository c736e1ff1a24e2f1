"""The main table: its pure helpers, and a smoke run with every kind of row."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bench_util import experiment, smoke_args

from agents.methods import get_method

mt = experiment("main_table")
EXAMPLE = Path(__file__).with_name("example_method.py")


# --- Pure helpers -------------------------------------------------------------------------


def test_lists_and_checkpoints_parse():
    assert mt.harness.split_list(" oracle, random,,") == ["oracle", "random"]
    assert mt.parse_checkpoint("mine=/models/x") == ("mine", "/models/x")
    for bad in ("no-equals", "=dir", "name=", "two words=dir"):
        with pytest.raises(ValueError):
            mt.parse_checkpoint(bad)


def test_rows_keep_order_and_leave_out_duplicates():
    grpo = get_method("grpo")
    rows, duplicates = mt.build_rows(
        ["oracle", "smollm2"], [get_method("start"), grpo], [("mine", "/m"), ("grpo", "/g")]
    )
    assert [(r.name, r.kind) for r in rows] == [
        ("oracle", "scripted"),
        ("smollm2", "policy"),
        ("start", "method"),
        ("grpo", "method"),
        ("mine", "checkpoint"),
    ]
    assert rows[3].method is grpo and rows[4].policy == "/m"
    assert duplicates == ["grpo"]


def test_missing_local_checkpoints_raise_but_hub_ids_pass(tmp_path):
    assert mt.harness.check_checkpoint(str(tmp_path)) == str(tmp_path)
    assert mt.harness.check_checkpoint("HuggingFaceTB/SmolLM2-135M-Instruct").startswith("Hugging")
    for missing in ("/nonexistent/ckpt", "./runs/x", str(tmp_path / "nope")):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            mt.harness.check_checkpoint(missing)


def test_cell_numbers_add_search_and_visit_calls():
    metrics = {"pass@1": 0.5, "pass@3": 0.75, "mean_search_calls": 1.5, "mean_visit_calls": 2.0}
    numbers = mt.cell_numbers(metrics, 3)
    assert numbers["pass@1"] == 0.5 and numbers["pass@3"] == 0.75
    assert numbers["tool_calls"] == pytest.approx(3.5)
    assert mt.cell_numbers({"pass@1": 0.0}, 3)["tool_calls"] is None


def test_train_seconds_sum_the_time_metrics():
    records = [
        {"step": 0, "time/rollout": 1.0, "time/update": 0.5, "reward/mean": 1.0},
        {"step": 1, "time/rollout": 2.0, "time/reward": None},
    ]
    assert mt.train_seconds(records) == pytest.approx(3.5)
    assert mt.train_seconds([{"step": 0, "reward/mean": 0.0}]) is None


def test_table_has_a_line_per_row_and_dashes_for_what_failed():
    results = {
        "oracle": {"kind": "scripted", "corpora": {"world": {"pass@1": 1.0, "pass@2": 1.0,
                                                               "tool_calls": 2.0}}},
        "grpo": {"kind": "method", "corpora": {}, "train_seconds": 12.34},
        "start": {"kind": "method", "corpora": {"world": {"pass@1": 0.25, "pass@2": 0.5,
                  "pass@1_ci95": (0.125, 0.4375), "tool_calls": 1.0}}},
    }  # fmt: skip
    text = mt.table_markdown(results, ["world", "hotpotqa"], 2)
    lines = text.strip().splitlines()
    head = "| row | kind | world pass@1 [95% CI] | world pass@2 | world tool calls"
    assert lines[0].startswith(head)
    assert "hotpotqa pass@1" in lines[0] and lines[0].endswith("train s |")
    assert lines[2] == "| oracle | scripted | 1.000 | 1.000 | 2.00 | - | - | - | - |"
    assert lines[3] == "| grpo | method | - | - | - | - | - | - | 12.3 |"
    assert lines[4] == "| start | method | 0.250 [0.12, 0.44] | 0.500 | 1.00 | - | - | - | - |"


def test_only_the_oracle_gets_the_turns_of_its_longest_gold_path():
    world = mt.harness.CorpusSpec("world", "default", "test")
    tasks = mt.corpus_tasks(world, 2)
    assert len(tasks) == 2 and all(t.split == "test" for t in tasks)
    longest = mt.gold_turns(tasks)
    assert longest == max(len(t.gold.actions) for t in tasks) and longest > 2
    smoke = mt.harness.SCALES["smoke"]
    assert mt.row_scale(mt.policy_row("oracle"), world, smoke).max_turns == longest
    assert mt.row_scale(mt.policy_row("random"), world, smoke) is smoke
    assert mt.gold_turns([]) == 0


def test_budget_note_names_the_rows_with_other_turn_limits():
    results = {
        "oracle": {"corpora": {"world": {"max_turns": 7}, "hotpotqa": {"max_turns": 2}}},
        "grpo": {"corpora": {"world": {"max_turns": 2}}},
    }
    note = mt.budget_note(results, 2)
    assert "Turn limit: 2, except oracle on world: 7" in note and "grpo" not in note
    assert mt.budget_note({"grpo": results["grpo"]}, 2) == " Turn limit: 2 for every row."


def test_a_stale_evaluation_directory_is_set_aside_and_brought_back(tmp_path):
    out = tmp_path / "eval"
    mt.harness.fresh_eval_dir(out, {"scale": "smoke"})
    (out / "trajectories.jsonl").write_text("partial\n")
    mt.harness.fresh_eval_dir(out, {"scale": "smoke"})
    assert (out / "trajectories.jsonl").exists()  # same settings: resumes
    mt.harness.fresh_eval_dir(out, {"scale": "small"})
    assert not (out / "trajectories.jsonl").exists()  # other settings: starts empty
    (out / "trajectories.jsonl").write_text("small\n")
    mt.harness.fresh_eval_dir(out, {"scale": "smoke"})  # back: the first one returns
    assert (out / "trajectories.jsonl").read_text() == "partial\n"
    mt.harness.fresh_eval_dir(out, {"scale": "small"})
    assert (out / "trajectories.jsonl").read_text() == "small\n"
    assert len(list((tmp_path / ".set_aside").iterdir())) == 1  # the smoke one, once
    (out / "made_with.json").write_text("{broken")  # no readable stamp: nothing to keep
    mt.harness.fresh_eval_dir(out, {"scale": "other"})
    assert not (out / "trajectories.jsonl").exists()
    assert len(list((tmp_path / ".set_aside").iterdir())) == 1


def test_an_evaluation_is_kept_across_budgets_it_does_not_use(tmp_path, monkeypatch):
    import dataclasses

    import agents.evaluate

    h = mt.harness
    played = []
    monkeypatch.setattr(
        agents.evaluate, "evaluate", lambda config: played.append(config) or {"metrics": {}}
    )
    world, out = h.CorpusSpec("world", "default", "test"), tmp_path / "eval"
    small = h.SCALES["small"]

    def kept_after(scale) -> bool:
        (out / "trajectories.jsonl").write_text("episodes\n")
        h.evaluate_policy("random", world, scale, out)
        return (out / "trajectories.jsonl").exists()

    h.evaluate_policy("random", world, small, out)
    stamp = json.loads((out / "made_with.json").read_text())
    assert stamp["model"] == "random" and stamp["eval"]["limit"] == small.eval_tasks
    assert "out" not in stamp["eval"] and stamp["eval"]["seed"] == small.seed
    # Budgets the evaluation does not use keep its episodes (it resumes) ...
    others = dataclasses.replace(small, anchor_batch_episodes=3, anchor_continuations=9)
    assert kept_after(others.with_training(stage1_steps=50, learning_rate=1.0))
    # ... what it plays empties the directory.
    assert not kept_after(small.with_training(seed=small.seed + 1))
    assert not kept_after(dataclasses.replace(small, eval_tasks=small.eval_tasks + 1))
    assert played[-1].limit == small.eval_tasks + 1 and played[-1].resume


def test_a_model_directory_is_stamped_by_content_not_by_checkout_time(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "checkpoints").mkdir(parents=True)
        (d / "adapter_model.safetensors").write_bytes(b"weights")
        (d / "adapter_config.json").write_text("{}")
        (d / "curves.png").write_bytes(d.name.encode())  # not part of the weights
    os.utime(b / "adapter_model.safetensors", (0, 0))  # another checkout's time
    assert mt.harness.model_stamp(str(a)) == mt.harness.model_stamp(str(b))
    (b / "adapter_model.safetensors").write_bytes(b"other weights")
    assert mt.harness.model_stamp(str(a)) != mt.harness.model_stamp(str(b))
    (b / "adapter_model.safetensors").write_bytes(b"weights")
    (b / "adapter_config.json").rename(b / "config.json")  # same bytes, another file
    assert mt.harness.model_stamp(str(a)) != mt.harness.model_stamp(str(b))


def test_plot_draws_pass1_per_row_and_corpus(tmp_path):
    pytest.importorskip("matplotlib")
    results = {
        "oracle": {"corpora": {"world": {"pass@1": 1.0}, "hotpotqa": {"pass@1": 0.5}}},
        "grpo": {"corpora": {}},
    }
    results["start"] = {"corpora": {"world": {"pass@1": 0.25, "pass@1_ci95": (0.125, 0.5)}}}
    path = mt.plot_pass1(results, ["world", "hotpotqa"], tmp_path / "t.png", "title")
    assert path is not None and path.stat().st_size > 1000
    names = list(results)
    assert mt.pass1_bars(results, names, "world") == (
        [0, 2],
        [1.0, 0.25],
        [[0.0, 0.125], [0.0, 0.25]],
    )
    assert mt.pass1_bars(results, names, "hotpotqa") == ([0], [0.5], [[0.0], [0.0]])
    nan = float("nan")
    bars = mt.harness.error_bars([0.5, nan, 0.2], [(0.25, 0.75), None, None])
    assert bars == [[0.25, 0.0, 0.0], [0.25, 0.0, 0.0]]
    with pytest.raises(ValueError):
        mt.harness.error_bars([0.5], [])


# --- Smoke run ----------------------------------------------------------------------------


def _table_row(text: str, name: str) -> list[str]:
    [line] = [ln for ln in text.splitlines() if ln.startswith(f"| {name} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.slow
def test_smoke_run_evaluates_policies_methods_and_reports_a_missing_checkpoint(
    bench_work, results_file
):
    argv = smoke_args(
        bench_work,
        "--policies", "oracle,random",
        "--methods", "start,grpo,example-plan-length",
        "--methods-file", str(EXAMPLE),
        "--checkpoints", "ghost=/nonexistent/ckpt",
    )  # fmt: skip
    assert experiment("main_table").main(argv) == 0

    text = results_file.read_text(encoding="utf-8")
    assert "## Main table" in text and "scale smoke" in text
    for name in ("oracle", "random", "start", "grpo", "example-plan-length"):
        cells = _table_row(text, name)
        low, high = (float(x) for x in cells[2].split("[")[1].rstrip("]").split(","))
        cells[2] = cells[2].split(" [")[0]
        pass1, pass_k, calls = (float(c) for c in cells[2:5])  # numbers, not dashes
        assert 0.0 <= pass1 <= pass_k <= 1.0 and calls >= 0.0
        assert low - 0.005 <= pass1 <= high + 0.005  # the interval holds the estimate
    oracle = _table_row(text, "oracle")[2]
    assert oracle == "1.000 [1.00, 1.00]"  # the oracle solves the bundled world
    assert "Turn limit: 7 for every row" in text  # the smoke budget fits the gold paths
    assert _table_row(text, "grpo")[1] == "method" and _table_row(text, "grpo")[5] != "-"
    assert "Failed (the rest ran)" in text
    assert "- checkpoint ghost" in text and "/nonexistent/ckpt" in text

    assert (bench_work / "models" / "example-plan-length" / "final" / "config.json").exists()
    root = bench_work / "main_table"
    assert (root / "main_table.png").stat().st_size > 1000
    record = json.loads((root / "results.json").read_text(encoding="utf-8"))
    assert record["rows"]["oracle"]["corpora"]["world"]["pass@1"] == 1.0
    assert record["rows"]["ghost"]["corpora"] == {}
    assert any(f["what"].startswith("checkpoint ghost") for f in record["failures"])
    assert (bench_work / "evals" / "example-plan-length" / "world" / "summary.json").exists()


def test_small_scale_starts_from_the_shipped_warm_start_in_its_format(tmp_path):
    from agents.agent_format import AgentFormat
    from agents.models import WARM_START, warm_start_dir

    small = mt.harness.SCALES["small"]
    fmt = AgentFormat.load(warm_start_dir())
    assert (small.prompt, small.max_turns, small.top_k) == (fmt.prompt, fmt.max_turns, fmt.top_k)
    assert small.settings.max_new_tokens == fmt.max_new_tokens
    assert small.settings.lora_rank > 0 and "shipped warm start" in small.describe()
    assert mt.harness.start_model(small, tmp_path) == WARM_START  # nothing trained
    assert not (tmp_path / "models").exists()
    assert mt.harness.check_checkpoint(WARM_START) == WARM_START
    smoke = mt.harness.SCALES["smoke"]
    assert smoke.start is mt.harness.Start.SFT and smoke.prompt == "react-plan-prefill"


def test_a_model_trained_with_the_reference_judge_is_stamped_with_its_version(
    tmp_path, monkeypatch
):
    import agents.train.trainer
    from agents.rewards import reference

    def fake_train(config, stages):  # writes what the cache looks for
        (Path(config.output_dir) / "final").mkdir(parents=True)
        (Path(config.output_dir) / "final" / "config.json").write_text("{}")
        trained.append(config.judge.value)

    trained: list[str] = []
    monkeypatch.setattr(agents.train.trainer, "train", fake_train)
    h, small = mt.harness, mt.harness.SCALES["small"]
    ref, grpo = get_method("anchor-grpo-ref"), get_method("grpo")
    for method in (ref, grpo, ref, grpo):  # the second time: both cached
        h.method_model(method, small, tmp_path, "start")
    assert trained == ["reference", "expected"]
    stamp = json.loads((tmp_path / "models" / ref.name / "made_with.json").read_text())
    assert stamp["rewards"] == {reference.JUDGE_NAME: reference.VERSION}
    assert "rewards" not in json.loads((tmp_path / "models/grpo/made_with.json").read_text())
    # a runtime setting (how the run uses the machine) does not train the models again
    h.method_model(ref, small.with_training(bounded_heap=False, progress=False), tmp_path, "start")
    assert trained == ["reference", "expected"]
    monkeypatch.setattr(reference, "VERSION", reference.VERSION + 1)  # the rules change
    h.method_model(ref, small, tmp_path, "start")
    h.method_model(grpo, small, tmp_path, "start")
    assert trained == ["reference", "expected", "reference"]  # only the judged one again


def test_reading_calls_overlapping_intervals_a_tie():
    def row(low, high, trained=True):
        entry = {"corpora": {"world": {"pass@1_ci95": (low, high)}}}
        return entry | ({"train_seconds": 1.0} if trained else {})

    results = {
        "start": row(0.2, 0.4, trained=False), "grpo": row(0.3, 0.5), "up": row(0.45, 0.7),
        "down": row(0.0, 0.1), "oracle": row(1.0, 1.0, trained=False),
    }  # fmt: skip
    text = mt.reading(results, ["world", "hotpotqa"])
    assert text == (
        "On world: up above start (intervals apart); down below start (intervals apart); "
        "grpo tied with start (intervals overlap)."
    )
    assert mt.reading({"grpo": row(0.3, 0.5)}, ["world"]) == ""


def test_the_seed_flag_reaches_training_and_sampling() -> None:
    from benchmarks.harness import common_parser, scale_from

    parser = common_parser("x")
    assert scale_from(parser.parse_args([])).seed == 0
    base = ["--scale", "smoke", "--model", "tiny"]
    seeded = scale_from(parser.parse_args([*base, "--seed", "3"]))
    assert (seeded.seed, seeded.settings.seed, seeded.settings.tiny_model) == (3, 3, True)
    assert seeded.training_key() != scale_from(parser.parse_args(base)).training_key()
