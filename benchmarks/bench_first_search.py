"""Time to the first search result in a fresh process, and the shipped index's size and recall.

    python -m benchmarks.bench_first_search                 # 3 fresh processes per encoder
    python -m benchmarks.bench_first_search --repeats 5 --no-append

Each run is a new Python process with an empty ``WEBANCHOR_CACHE`` (a fresh machine): it
imports ``webanchor_env``, calls ``gym.make("WebAnchor-Wiki-v0")``, ``reset`` and one search
step, and reports the seconds of each phase. ``bert`` is the default (the torch-only BERT
encoder of ``webanchor_env.bert``); ``sentence-transformers`` forces the library path for
the same model, for comparison in the same run. The bundled corpus's prebuilt index is
loaded in both (nothing is built). Target: import + make + reset + first search <= 5 s on
a quiet 2-core machine. The table is printed and appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import add_no_append, append_section

PHASES = ("import", "make", "reset", "search", "total")


def child(encoder: str) -> dict[str, float]:
    """One fresh-process measurement (runs in the child)."""
    t0 = time.perf_counter()
    import gymnasium as gym

    import webanchor_env

    if encoder == "sentence-transformers":
        from webanchor_env import bert

        bert.supports = lambda directory: False  # type: ignore[assignment]
    t1 = time.perf_counter()
    env = gym.make("WebAnchor-Wiki-v0", split="dev")
    t2 = time.perf_counter()
    question, _ = env.reset(seed=0)
    t3 = time.perf_counter()
    query = json.dumps({"name": "search", "arguments": {"query": [question]}})
    obs, *_ = env.step(f"<tool_call>{query}</tool_call>")
    t4 = time.perf_counter()
    assert "found 5 results" in obs, obs[:200]
    assert webanchor_env.__name__
    return {
        "import": t1 - t0,
        "make": t2 - t1,
        "reset": t3 - t2,
        "search": t4 - t3,
        "total": t4 - t0,
    }


def measure(encoder: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "WEBANCHOR_CACHE": cache}
        cmd = [sys.executable, "-m", "benchmarks.bench_first_search", "--child", encoder]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        if any(Path(cache).iterdir()):
            raise RuntimeError("the run built an index instead of loading the shipped one")
    return json.loads(out.strip().splitlines()[-1])


def shipped_facts() -> str:
    from webanchor_env.backend import shipped_index_dir
    from webanchor_env.index import read_manifest
    from wiki_corpus.io import bundled_path

    directory = shipped_index_dir(bundled_path("default"))
    manifest = read_manifest(directory)
    sizes = {
        str(p.relative_to(directory)): p.stat().st_size / 1e6
        for p in directory.rglob("*")
        if p.is_file()
    }
    files = ", ".join(f"{name} {mb:.2f} MB" for name, mb in sorted(sizes.items()))
    recall = manifest.notes.get("recall_at_10_vs_float32")
    return (
        f"Shipped indexes of the bundled corpus (dense, and BM25 under bm25/): "
        f"{manifest.n_passages} passages, "
        f"{manifest.vectors} vectors; {files} ({sum(sizes.values()):.2f} MB in all; float32 "
        f"vectors alone would be {manifest.n_passages * manifest.dim * 4 / 1e6:.2f} MB). "
        f"Recall@10 of pages vs the float32 index over {manifest.notes.get('recall_queries')}: "
        f"{recall}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_no_append(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    load_at_start = os.getloadavg()
    rows = ["| encoder | runs | " + " | ".join(f"{p} s" for p in PHASES) + " |"]
    rows.append("|---|---|" + "---|" * len(PHASES))
    for encoder in ("bert", "sentence-transformers"):
        runs = [measure(encoder) for _ in range(args.repeats)]
        cells = [
            f"{statistics.median(r[p] for r in runs):.2f} (max {max(r[p] for r in runs):.2f})"
            for p in PHASES
        ]
        rows.append(f"| {encoder} | {len(runs)} | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    facts = shipped_facts()
    print(table, "\n", facts, sep="\n")
    if not args.no_append:
        body = (
            f"{table}\n\nMedian (max) seconds per phase over fresh processes with an empty "
            f"cache directory. {facts}"
        )
        path = append_section("First search in a fresh process", body, load_at_start=load_at_start)
        print(f"appended to {path}")


if __name__ == "__main__":
    main()
