"""benchmarks/speed.py: parsing the benchmarks' markdown, reporting a failed benchmark while
the others run, and one real quick run of the update benchmark."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmarks import speed

REPO = Path(__file__).resolve().parents[2]

ENV_OUTPUT = """\
## bench_env — 2026-11-21 09:52 UTC

- Machine: Linux, x86_64, 2 CPUs
- Corpus: `default` (4,000 pages, 5,122 passages); model all-MiniLM-L6-v2

| measure | value | target | met |
| --- | --- | --- | --- |
| search_text step, fresh query: median wall (CPU) | 32.7 ms (16.8 ms) |  |  |
| search step / floor | 0.918x (0.982x; 0.910x) | ≤ 1.15x | yes |
| 16 queries, one batched call: median wall (CPU) | 381.1 ms (188.2 ms) |  |  |
| batched speed-up | 1.639x (1.597x; 1.636x) | ≥ 4x | **no** |
| visit_text by URL, cached text: median; p90 | 11.5 µs; 20.6 µs | ≤ 50 µs | yes |
| visit_text by title, offset 200: median | 8.7 µs |  |  |
| get_backend, built cache, fresh process: median of 3 | 1.69 s | ≤ 5 s | yes |
| index build speed / encode speed | 1.041x (1.051x) | ≥ 0.9x | yes |
| memory of this benchmark process (max RSS) | 745 MB |  |  |
"""

ROLLOUT_TABLE = """\
| model | mode | episodes | turns | generated tokens | wall s | CPU s | tokens/s | speedup |
|---|---|---:|---:|---:|---:|---:|---:|---:|
| tiny | lockstep | 8 | 16 | 512 | 1.2 | 0.6 | 436.1 | 3.53x |
| tiny | one by one | 8 | 16 | 512 | 4.1 | 2.0 | 123.7 |  |
| smollm2 | lockstep | 8 | 16 | 432 | 46.7 | 23.1 | 9.2 | 3.46x |
| smollm2 | one by one | 8 | 16 | 476 | 178.3 | 71.9 | 2.7 |  |"""

UPDATE_HEADER = (
    "| model | batch | fwd+bwd s | optimizer s | update s | overhead (diff, CPU) | "
    "overhead (direct, CPU) | trained tok/s | all tok/s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)
TINY = "| tiny | 4x512 | 17.1 | 0.836 | 12.9 | -42.1% | 5.0% | 15.8 | 159 |"
SMOL = "| smollm2 | 4x512 | 296 | 26.9 | 307 | 12.5% | 0.3% | 0.665 | 6.68 |"
# bench_update prints each model's table as it goes, then the whole table.
UPDATE_OUTPUT = "\n\n".join(
    [f"{UPDATE_HEADER}\n{TINY}", f"{UPDATE_HEADER}\n{SMOL}", f"{UPDATE_HEADER}\n{TINY}\n{SMOL}"]
)


# --- Pure helpers -------------------------------------------------------------------------


def test_extract_tables_finds_each_table_and_skips_stray_pipes() -> None:
    text = f"prose\n| not a table, no separator |\nmore\n\n{ROLLOUT_TABLE}\nAppended\n{ENV_OUTPUT}"
    tables = speed.extract_tables(text)
    assert len(tables) == 2
    assert tables[0] == ROLLOUT_TABLE
    assert tables[1].startswith("| measure | value | target | met |")
    assert tables[1].endswith("| memory of this benchmark process (max RSS) | 745 MB |  |  |")
    assert speed.extract_tables("no tables here\n") == []


def test_parse_table_rows_by_column() -> None:
    rows = speed.parse_table(ROLLOUT_TABLE)
    assert len(rows) == 4
    assert rows[0]["model"] == "tiny" and rows[0]["speedup"] == "3.53x"
    assert rows[1]["mode"] == "one by one" and rows[1]["speedup"] == ""
    assert speed.is_separator("| --- | ---: |:---|") and not speed.is_separator("| a | b |")


def test_final_tables_drop_progress_tables_keep_distinct_ones() -> None:
    tables = speed.extract_tables(UPDATE_OUTPUT)
    assert len(tables) == 3
    assert speed.final_tables(tables) == [f"{UPDATE_HEADER}\n{TINY}\n{SMOL}"]
    # one model: the progress table and the final one are the same; one is kept
    one = speed.extract_tables(f"{UPDATE_HEADER}\n{TINY}\n\n{UPDATE_HEADER}\n{TINY}\n")
    assert speed.final_tables(one) == [f"{UPDATE_HEADER}\n{TINY}"]
    # tables with other columns are all kept
    both = speed.extract_tables(f"{ROLLOUT_TABLE}\n\n{UPDATE_HEADER}\n{TINY}\n")
    assert speed.final_tables(both) == both


def test_first_number() -> None:
    assert speed.first_number("1,569.0 ms (609.8 ms)") == 1569.0
    assert speed.first_number("-42.1%") == -42.1
    assert speed.first_number("n/a") is None


def test_env_headlines_are_the_rows_with_targets() -> None:
    found = {h.figure: h for h in speed.env_headlines(speed.extract_tables(ENV_OUTPUT))}
    assert list(found) == [
        "search step / floor (CPU)",
        "batched speed-up, 16 queries (CPU)",
        "visit median",
        "index load, fresh process",
        "index build / encode speed (CPU)",
    ]
    assert found["search step / floor (CPU)"] == speed.Headline(
        "env", "search step / floor (CPU)", "0.918x", "≤ 1.15x", "yes"
    )
    assert found["batched speed-up, 16 queries (CPU)"].value == "1.639x"
    assert found["batched speed-up, 16 queries (CPU)"].met == "no"
    assert found["visit median"].value == "11.5 µs"
    assert found["index load, fresh process"].target == "≤ 5 s"


def test_rollout_headlines_are_the_lockstep_speedups() -> None:
    found = speed.rollout_headlines([ROLLOUT_TABLE])
    assert [(h.figure, h.value, h.target) for h in found] == [
        ("lockstep speed-up, tokens/s (tiny)", "3.53x", ""),
        ("lockstep speed-up, tokens/s (smollm2)", "3.46x", ""),
    ]


def test_update_headlines_against_ten_percent() -> None:
    tables = speed.final_tables(speed.extract_tables(UPDATE_OUTPUT))
    found = {h.figure: h for h in speed.update_headlines(tables)}
    assert found["update overhead, direct (tiny)"].value == "5.0%"
    assert found["update overhead, direct (tiny)"].met == "yes"
    assert found["update overhead, diff (tiny)"].met == "yes"  # -42.1%: noise, but under 10%
    assert found["update overhead, diff (smollm2)"].met == "no"
    assert {h.target for h in found.values()} == {"≤ 10%"}


def test_headline_table_and_unmet_targets_in_bold() -> None:
    table = speed.headline_table(
        [
            speed.Headline("update", "overhead", "12.5%", "≤ 10%", "no"),
            speed.Headline("a", "b", "c"),
        ]
    )
    rows = speed.parse_table(table)
    assert rows[0] == {
        "benchmark": "update",
        "figure": "overhead",
        "value": "12.5%",
        "target": "≤ 10%",
        "met": "**no**",
    }
    assert rows[1]["met"] == ""


def test_options_and_commands() -> None:
    assert speed.parse_only("update, env,update") == ["update", "env"]
    with pytest.raises(Exception, match="expected names"):
        speed.parse_only("env,bogus")
    bench = speed.BENCHMARKS["update"]
    command = speed.command_for(bench, quick=True, extra=["--repeats", "5"])
    assert command[:2] == [sys.executable, "benchmarks/bench_update.py"]
    assert command[-3:] == ["--no-append", "--repeats", "5"]
    assert "tiny" in command
    assert speed.command_for(bench, quick=False) == [sys.executable, bench.script, "--no-append"]
    assert speed.tail("a\n\nb\nc\n", 2) == "b\nc"


# --- Runs ---------------------------------------------------------------------------------


def fake(tmp_path: Path, name: str, code: str) -> speed.Benchmark:
    """A stand-in benchmark: a script that runs ``code``."""
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    return speed.Benchmark(
        name=name,
        title=f"Fake {name}",
        script=str(script),
        default_args="",
        quick_args="",
        headlines=speed.rollout_headlines,
    )


def test_a_failing_benchmark_is_reported_and_the_others_run(
    tmp_path, monkeypatch, results_file, capsys
) -> None:
    benches = {
        "bad": fake(
            tmp_path,
            "bad",
            """
            import sys
            print("some progress", file=sys.stderr)
            print("ValueError: the index is corrupt", file=sys.stderr)
            sys.exit(3)
            """,
        ),
        "silent": fake(tmp_path, "silent", "print('no table today')\n"),
        "good": fake(
            tmp_path,
            "good",
            f"import sys\nassert sys.argv[1:] == ['--no-append']\nprint('''{ROLLOUT_TABLE}''')\n",
        ),
    }
    monkeypatch.setattr(speed, "BENCHMARKS", benches)
    assert speed.main(["--only", "bad,silent,good", "--quiet", "--note", "fake run"]) == 1
    text = results_file.read_text(encoding="utf-8")
    assert text.count(f"## {speed.TITLE} — ") == 1
    assert "Note: fake run" in text
    assert "**Failed**: exit code 3" in text
    assert "ValueError: the index is corrupt" in text
    assert "**Failed**: exit code 0 but no markdown table" in text and "no table today" in text
    assert ROLLOUT_TABLE in text
    assert "| rollout | lockstep speed-up, tokens/s (tiny) | 3.53x |  |  |" in text
    assert "| bad | (failed) | exit code 3 |" in text
    assert capsys.readouterr().out.startswith(f"## {speed.TITLE}\n")


def test_a_benchmark_past_its_time_limit_is_reported(tmp_path, monkeypatch, capsys) -> None:
    slow = fake(tmp_path, "slow", "import time\ntime.sleep(60)\n")
    monkeypatch.setattr(speed, "BENCHMARKS", {"slow": slow})
    assert speed.main(["--no-append", "--quiet", "--timeout", "1"]) == 1
    assert "timed out after 1 s" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_update_for_real_while_env_fails(results_file) -> None:
    """The cheapest real configuration: the quick update benchmark (tiny model) on a smaller
    batch; the env benchmark is given an option it does not have, fails at once, and the
    update still runs. One section is appended, to the temporary file only."""
    real = REPO / "benchmarks" / "RESULTS.md"
    before = real.read_bytes() if real.exists() else None
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.speed",
            "--quick",
            "--only",
            "env,update",
            "--env-args=--bogus-option",
            "--update-args=--sequences 4 --length 256 --micro 2",
            "--note",
            "smoke test",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    text = results_file.read_text(encoding="utf-8")
    assert text.count(f"## {speed.TITLE} — ") == 1
    assert (
        "Command: `python benchmarks/bench_update.py --models tiny --repeats 2 --no-append "
        "--sequences 4 --length 256 --micro 2`" in text
    )
    assert "**Failed**: exit code 2" in text and "unrecognized arguments: --bogus-option" in text
    tables = speed.extract_tables(text)
    update = [t for t in tables if "overhead (direct, CPU)" in t]
    assert len(update) == 1 and "| tiny | 4x256 |" in update[0]
    summary = speed.parse_table(tables[0])
    direct = [r for r in summary if r["figure"] == "update overhead, direct (tiny)"]
    assert len(direct) == 1 and direct[0]["value"].endswith("%")
    assert direct[0]["target"] == "≤ 10%" and direct[0]["met"] in ("yes", "**no**")
    assert "Wall time:" in text
    assert proc.stdout.startswith(f"## {speed.TITLE}\n")
    assert (real.read_bytes() if real.exists() else None) == before


def test_the_memory_job_trains_lora_adapters_when_asked(capsys) -> None:
    import json

    from benchmarks import bench_update

    argv = ["--memory-job", "grpo", "--models", "tiny", "--sequences", "4", "--length", "64"]
    bench_update.main([*argv, "--micro", "2", "--lora-rank", "4"])
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["weights trained"] == "LoRA rank 4" and row["batch"] == "4x64 (micro-batch 2)"
    assert row["peak RSS GiB"] >= row["RSS after load GiB"] > 0
    bench_update.main(argv)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["weights trained"] == "all"
