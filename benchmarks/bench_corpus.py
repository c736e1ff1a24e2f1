"""Speed and memory of the synthetic corpus generator.

    python -m benchmarks.bench_corpus                      # 10,000 and 100,000 pages
    python -m benchmarks.bench_corpus --sizes 4000 --note "idle machine"

Each size runs in a fresh child process (so its peak RSS and CPU time are its own; CPU
time well below wall time means other work shared the machine): build the world,
render every page, draw and validate 1,000 / 200 / 300 tasks, write the corpus directory
to a temporary folder. The script prints a markdown table and appends it to
``benchmarks/RESULTS.md`` under a heading with the machine, the date and the command
(``--no-append``: print only).
Targets: 10,000 pages in at most 60 s; 100,000 pages in at most 10 minutes with a peak
RSS under 4 GB, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import add_no_append, append_section

HEADER = "| pages | tasks | generate s | write s | total s | CPU s | pages/s | peak RSS MB |"


def run_child(n_pages: int, seed: int) -> dict[str, float]:
    """Generate and write one corpus in this process; return the measurements."""
    from wiki_corpus.generate import generate
    from wiki_corpus.io import write_corpus

    start = time.perf_counter()
    result = generate(n_pages, seed)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_corpus(Path(tmp) / "corpus", result.pages, result.tasks, result.meta)
    done = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "pages": len(result.pages),
        "tasks": len(result.tasks),
        "generate_s": generated - start,
        "write_s": done - generated,
        "total_s": done - start,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def measure(n_pages: int, seed: int) -> dict[str, float]:
    """Run one size in a child process and parse its JSON line."""
    cmd = [sys.executable, "-m", "benchmarks.bench_corpus", "--child", str(n_pages)]
    cmd += ["--seed", str(seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(rows: list[dict[str, float]]) -> str:
    lines = [HEADER, "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['pages']:,} | {r['tasks']:,} | {r['generate_s']:.1f} | {r['write_s']:.1f} "
            f"| {r['total_s']:.1f} | {r['cpu_s']:.1f} | {r['pages'] / r['total_s']:,.0f} "
            f"| {r['peak_rss_mb']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--note", default="", help="remark recorded with the figures")
    add_no_append(parser)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(run_child(args.child, args.seed)))
        return 0
    load = os.getloadavg()
    rows = []
    for n in args.sizes:
        rows.append(measure(n, args.seed))
        print(f"{n:,} pages: {rows[-1]['total_s']:.1f} s", file=sys.stderr)
    text = table(rows)
    print(text)
    if not args.no_append:
        append_section("Corpus generation", text, args.note, load_at_start=load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
