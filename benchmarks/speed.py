"""One command for the speed benchmarks: the environment, the rollout and the GRPO update.

    python -m benchmarks.speed                      # each benchmark's own default settings
    python -m benchmarks.speed --quick              # about 3 minutes on 2 shared cores
    python -m benchmarks.speed --only env,update --no-append --note "..."

It runs, each in its own process (``sys.executable``, from the repository root, one after
another so they do not compete for the CPU):

- ``env``: ``benchmarks/bench_env.py``: a search step against its floor (the same query
  encoded and searched directly), 16 queries batched against 16 single calls, page visits,
  loading a built index in a fresh process and building it. The default set is the
  bench's own: the bundled corpus (4,000 pages), whose index is built from scratch, which
  takes a quarter of an hour or more on 2 cores. ``--quick`` uses the first 100 pages and
  few queries, rounds, visits and loads.
- ``rollout``: ``benchmarks/bench_rollout.py``: G episodes in lockstep against the same G
  played one by one, in generated tokens per second. Default: the tiny random model and
  SmolLM2-135M; ``--quick``: the tiny model only. Both play the bundled wiki, whose search
  index is built on first use and cached after that.
- ``update``: ``benchmarks/bench_update.py``: what the GRPO update adds to the model's own
  forward and backward passes. Default: tiny model and SmolLM2 on 8 x 512 tokens, 3 rounds
  (SmolLM2 alone takes tens of minutes on 2 cores); ``--quick``: the tiny model on the same
  8 x 512 batch, 2 rounds. (A smaller batch makes the tiny model's forward and backward so
  cheap that the update's fixed costs read as a 30-60% overhead.)

Each benchmark is told not to append to ``benchmarks/RESULTS.md`` itself; its markdown
table(s) are read from its standard output (a table that a later one with the same
columns repeats, such as bench_update's per-model progress tables, is left out). The
combined report has a summary of the headline figures with the targets the benchmarks
state (search step / floor at most 1.15x, batched speed-up at least 4x, visit median at
most 50 µs, index load at most 5 s, index build at least 0.9x encode speed; update
overhead at most 10% of forward + backward; the rollout benchmark states no target), then
per benchmark its command, wall time and table(s). A benchmark that fails (non-zero exit,
time-out, or no table in its output) is reported with its exit code and the last lines of
its standard error, and the others still run; the exit code is then 1. The report is
printed and appended once to RESULTS.md (``$WEBANCHOR_RESULTS`` if set) unless
``--no-append``.

``--env-args``, ``--rollout-args`` and ``--update-args`` add arguments to one benchmark's
command (after speed.py's own, so they override them), e.g.
``--update-args="--repeats 5"``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._results import add_no_append, append_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

TITLE = "Speed: environment, rollout and update"
STDERR_LINES = 15
"""Lines of a failed benchmark's standard error shown in the report."""
UPDATE_TARGET = 0.10
"""bench_update's target (its docstring): the update's overhead at most 10% of fwd+bwd."""


# --- Parsing markdown (pure) --------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """One figure of the summary table."""

    bench: str
    figure: str
    value: str
    target: str = ""
    met: str = ""


def split_row(line: str) -> list[str]:
    """The cells of one markdown table row, stripped."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [cell.strip() for cell in line.split("|")]


def is_separator(line: str) -> bool:
    """Whether a line is a table's header separator, such as ``|---|---:|`` or ``| --- |``."""
    cells = split_row(line)
    return bool(cells) and all(re.fullmatch(r":?-+:?", c) for c in cells)


def extract_tables(text: str) -> list[str]:
    """Every markdown table in ``text`` (a header row, a separator row and body rows), as
    text, in order. Lines that merely start with ``|`` but have no separator are skipped."""
    tables: list[str] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("|"):
            block.append(line.strip())
            continue
        if len(block) >= 2 and is_separator(block[1]):
            tables.append("\n".join(block))
        block = []
    return tables


def parse_table(table: str) -> list[dict[str, str]]:
    """The body rows of a markdown table as dicts from column name to cell."""
    lines = table.strip().splitlines()
    header = split_row(lines[0])
    return [dict(zip(header, split_row(line))) for line in lines[2:]]


def final_tables(tables: Sequence[str]) -> list[str]:
    """Drop every table that a later table with the same header repeats (all its rows
    appear there): progress tables printed before the complete one."""
    kept = []
    for i, table in enumerate(tables):
        lines = table.splitlines()
        repeated = any(
            later.splitlines()[0] == lines[0] and set(lines[2:]) <= set(later.splitlines()[2:])
            for later in tables[i + 1 :]
        )
        if not repeated:
            kept.append(table)
    return kept


def first_number(text: str) -> float | None:
    """The first number in ``text`` (thousands separators allowed), or None."""
    match = re.search(r"-?\d[\d,]*(?:\.\d+)?", text)
    return float(match.group().replace(",", "")) if match else None


ENV_FIGURES = {
    "search step / floor": "search step / floor (CPU)",
    "batched speed-up": "batched speed-up, 16 queries (CPU)",
    "visit_text by url": "visit median",
    "get_backend": "index load, fresh process",
    "index build speed": "index build / encode speed (CPU)",
}
"""bench_env's rows with a target, by the start of their measure: the summary's name."""


def env_headlines(tables: Sequence[str]) -> list[Headline]:
    """bench_env: every row with a target (the first value, such as the CPU ratio or the
    median of "median; p90"), with its target and verdict."""
    out = []
    for table in tables:
        for row in parse_table(table):
            measure, target = row.get("measure", ""), row.get("target", "")
            if not target:
                continue
            figure = next(
                (name for key, name in ENV_FIGURES.items() if measure.lower().startswith(key)),
                measure,
            )
            value = row.get("value", "").split(";")[0].split(" (")[0].strip()
            met = row.get("met", "").replace("*", "")
            out.append(Headline("env", figure, value, target, met))
    return out


def rollout_headlines(tables: Sequence[str]) -> list[Headline]:
    """bench_rollout: the lockstep speed-up over one-by-one play, per model (no target)."""
    out = []
    for table in tables:
        for row in parse_table(table):
            if row.get("mode") == "lockstep" and row.get("speedup"):
                figure = f"lockstep speed-up, tokens/s ({row.get('model', '?')})"
                out.append(Headline("rollout", figure, row["speedup"]))
    return out


def update_headlines(tables: Sequence[str]) -> list[Headline]:
    """bench_update: the overhead over forward + backward per model, measured directly and
    as a difference, against the 10% target."""
    out = []
    for table in tables:
        for row in parse_table(table):
            for column, how in (
                ("overhead (direct, CPU)", "direct"),
                ("overhead (diff, CPU)", "diff"),
            ):
                if column not in row:
                    continue
                value = first_number(row[column])
                met = "" if value is None else ("yes" if value <= 100 * UPDATE_TARGET else "no")
                figure = f"update overhead, {how} ({row.get('model', '?')})"
                out.append(Headline("update", figure, row[column], f"≤ {UPDATE_TARGET:.0%}", met))
    return out


def headline_table(headlines: Sequence[Headline]) -> str:
    """The summary as a markdown table."""
    lines = ["| benchmark | figure | value | target | met |", "|---|---|---|---|---|"]
    for h in headlines:
        met = "**no**" if h.met == "no" else h.met
        lines.append(f"| {h.bench} | {h.figure} | {h.value} | {h.target} | {met} |")
    return "\n".join(lines)


def tail(text: str, n: int = STDERR_LINES) -> str:
    """The last ``n`` non-empty lines of ``text``."""
    return "\n".join([line for line in text.splitlines() if line.strip()][-n:])


# --- The benchmarks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    """One sub-benchmark: its script, its two argument sets, and what it reports."""

    name: str
    title: str
    script: str
    """Path relative to the repository root."""
    default_args: str
    """Its arguments by default (shell syntax)."""
    quick_args: str
    """Its arguments with ``--quick``."""
    headlines: Callable[[Sequence[str]], list[Headline]]


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            name="env",
            title="Environment: search, batching, visits, index load and build (bench_env)",
            script="benchmarks/bench_env.py",
            default_args="",
            quick_args="--pages 100 --queries 10 --rounds 1 --visits 2000 --loads 1",
            headlines=env_headlines,
        ),
        Benchmark(
            name="rollout",
            title="Rollout: lockstep vs one by one (bench_rollout)",
            script="benchmarks/bench_rollout.py",
            default_args="",
            quick_args="--models tiny",
            headlines=rollout_headlines,
        ),
        Benchmark(
            name="update",
            title="GRPO update overhead vs forward + backward (bench_update)",
            script="benchmarks/bench_update.py",
            default_args="",
            quick_args="--models tiny --repeats 2",
            headlines=update_headlines,
        ),
    )
}
"""The benchmarks, in their default order. Default arguments are each bench's own."""


@dataclass
class Outcome:
    """What one benchmark run gave."""

    bench: Benchmark
    command: list[str]
    returncode: int | None = None
    """None when it timed out."""
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    tables: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and bool(self.tables)

    def shown_command(self) -> str:
        """The command as a reader would type it: ``python`` and the script's relative path."""
        return shlex.join(["python", *self.command[1:]])

    def failure(self) -> str:
        if self.returncode is None:
            return f"timed out after {self.seconds:.0f} s"
        if self.returncode != 0:
            return f"exit code {self.returncode}"
        return "exit code 0 but no markdown table in its output"


def command_for(bench: Benchmark, quick: bool, extra: Sequence[str] = ()) -> list[str]:
    """The command that runs ``bench``: the chosen argument set, ``--no-append`` (this
    script writes the one report), then ``extra`` (last, so it overrides)."""
    args = bench.quick_args if quick else bench.default_args
    return [sys.executable, bench.script, *shlex.split(args), "--no-append", *extra]


def _pump(stream, sink: list[str], echo: Callable[[str], None] | None) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line)
        if echo is not None:
            echo(line)
    stream.close()


def _kill_group(proc: subprocess.Popen) -> None:
    """End the benchmark's process group (the benchmark and any process it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_benchmark(
    bench: Benchmark, command: list[str], timeout: float | None = None, echo: bool = True
) -> Outcome:
    """Run one benchmark in its own process; its standard error is echoed as it comes
    (prefixed with its name) when ``echo``, and both streams are kept."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    out: list[str] = []
    err: list[str] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="webanchor-speed-") as tmp:
        # Should a benchmark append anyway, it appends to a scratch file, not RESULTS.md.
        env["WEBANCHOR_RESULTS"] = str(Path(tmp) / "RESULTS.md")
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # its own process group: a time-out ends its children too
        )
        prefix = f"[{bench.name}] "

        def show(line: str) -> None:
            sys.stderr.write(prefix + line)
            sys.stderr.flush()

        readers = [
            threading.Thread(target=_pump, args=(proc.stdout, out, None), daemon=True),
            threading.Thread(
                target=_pump, args=(proc.stderr, err, show if echo else None), daemon=True
            ),
        ]
        for reader in readers:
            reader.start()
        returncode: int | None = None
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
        except BaseException:  # Ctrl-C: do not leave the benchmark running on its own
            _kill_group(proc)
            raise
        for reader in readers:
            reader.join(timeout=10)
    outcome = Outcome(bench, command, returncode, time.perf_counter() - start)
    outcome.stdout, outcome.stderr = "".join(out), "".join(err)
    outcome.tables = final_tables(extract_tables(outcome.stdout))
    return outcome


# --- The report ---------------------------------------------------------------------------


def section(outcome: Outcome) -> str:
    """One benchmark's part of the report."""
    lines = [
        f"### {outcome.bench.title}",
        "",
        f"Command: `{outcome.shown_command()}`",
        "",
    ]
    if outcome.ok:
        lines += [f"Wall time: {outcome.seconds:.1f} s.", ""]
        for table in outcome.tables:
            lines += [table, ""]
        return "\n".join(lines).rstrip()
    lines += [f"**Failed**: {outcome.failure()}, after {outcome.seconds:.1f} s.", ""]
    stderr = tail(outcome.stderr) or "(nothing on standard error)"
    lines += ["Last lines of its standard error:", "", "```", stderr, "```"]
    if outcome.returncode == 0 and outcome.stdout.strip():
        lines += ["", "Last lines of its standard output:", "", "```", tail(outcome.stdout), "```"]
    return "\n".join(lines)


def report(outcomes: Sequence[Outcome], quick: bool) -> str:
    """The combined report: settings, summary of headline figures, then each benchmark."""
    headlines: list[Headline] = []
    for o in outcomes:
        if not o.ok:
            headlines.append(Headline(o.bench.name, "(failed)", o.failure()))
            continue
        found = o.bench.headlines(o.tables)
        headlines += found or [Headline(o.bench.name, "(no headline figure found)", "")]
    total = sum(o.seconds for o in outcomes)
    settings = "quick settings (small corpus slice, tiny model)" if quick else "default settings"
    lines = [
        f"Benchmarks: {', '.join(o.bench.name for o in outcomes)}, with speed.py's {settings}; "
        f"{total:.1f} s in all. Each ran in its own process, one after another.",
        "",
        "### Summary",
        "",
        headline_table(headlines),
        "",
        *[part for o in outcomes for part in (section(o), "")],
    ]
    return "\n".join(lines).rstrip() + "\n"


# --- Command line -------------------------------------------------------------------------


def parse_only(text: str) -> list[str]:
    """``env,update`` -> the benchmark names, in that order, without repeats."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected names among {', '.join(BENCHMARKS)}, got {text!r}"
        )
    return list(dict.fromkeys(names))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small settings: a few minutes in all on 2 cores"
    )
    parser.add_argument(
        "--only",
        type=parse_only,
        default=list(BENCHMARKS),
        help=f"comma-separated benchmarks to run, in order (default {','.join(BENCHMARKS)})",
    )
    add_no_append(parser)
    parser.add_argument("--note", default="", help="a note for the RESULTS.md section")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds allowed per benchmark (default none)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo their standard error")
    for name in BENCHMARKS:
        parser.add_argument(
            f"--{name}-args",
            default="",
            metavar="ARGS",
            help=f"more arguments for bench_{name}.py (shell-quoted, after speed.py's own)",
        )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    outcomes = []
    for name in args.only:
        bench = BENCHMARKS[name]
        command = command_for(bench, args.quick, shlex.split(getattr(args, f"{name}_args")))
        print(f"Running {name}: {shlex.join(['python', *command[1:]])}", file=sys.stderr)
        outcome = run_benchmark(bench, command, args.timeout, echo=not args.quiet)
        status = "done" if outcome.ok else f"FAILED ({outcome.failure()})"
        print(f"{name}: {status} in {outcome.seconds:.1f} s", file=sys.stderr)
        outcomes.append(outcome)
    body = report(outcomes, args.quick)
    print(f"## {TITLE}\n\n{body}")
    if not args.no_append:
        path = append_section(TITLE, body, args.note)
        print(f"Appended to {path}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
