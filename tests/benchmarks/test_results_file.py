"""benchmarks/_results.py and the bench scripts' append paths: one section per run, with
its date, machine, commit and command, written where ``WEBANCHOR_RESULTS`` points."""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from types import SimpleNamespace

from benchmarks import _results


def test_sections_are_appended_under_one_title(results_file) -> None:
    assert _results.results_path() == results_file
    _results.append_section("First", "| a |\n| --- |\n| 1 |", note="n1", command="python x.py")
    _results.append_section("Second", "body two")
    text = results_file.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results\n") and text.count("# Benchmark results") == 1
    first, second = text.index("## First — "), text.index("## Second — ")
    assert first < text.index("Command: `python x.py`") < text.index("Note: n1") < second
    assert "Commit: " in text[first:second] and "Load average at the end: " in text[first:second]
    assert "at the start" not in text  # no load taken before measuring, none recorded
    assert text.rstrip().endswith("body two")


def test_the_command_of_a_module_run_names_the_module(monkeypatch) -> None:
    main = types.ModuleType("__main__")
    main.__spec__ = SimpleNamespace(name="benchmarks.bench_env")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/repo/benchmarks/bench_env.py", "--no-append"])
    assert _results.this_command() == "python -m benchmarks.bench_env --no-append"
    main.__spec__ = None  # run as a script
    assert _results.this_command() == "python /repo/benchmarks/bench_env.py --no-append"


def test_the_update_benchmark_appends_its_settings_and_table(results_file) -> None:
    bench_update = importlib.import_module("benchmarks.bench_update")
    args = argparse.Namespace(micro=4, group=4, repeats=2)
    bench_update.append_results("| model | x |\n| --- | --- |\n| tiny | 1 |", args)
    text = results_file.read_text(encoding="utf-8")
    assert "## GRPO update overhead — " in text
    assert "Micro-batch 4, G = 4, FirstStep mask, medians of 2 rounds" in text
    assert text.rstrip().endswith("| tiny | 1 |")


def test_the_rollout_benchmark_keeps_its_note_and_start_load(results_file) -> None:
    bench_rollout = importlib.import_module("benchmarks.bench_rollout")
    bench = bench_rollout.Bench(note="quiet machine")
    bench_rollout.append_results("| t |\n| --- |\n| 1 |", bench, (1.0, 2.0, 3.0))
    text = results_file.read_text(encoding="utf-8")
    assert "## Rollout engine: kept key/value states vs full prefill — " in text
    assert "Load average at the start: 1.00 / 2.00 / 3.00; at the end: " in text
    assert "Note: quiet machine" in text
