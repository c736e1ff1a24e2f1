"""Load test of the search service on loopback: throughput, p50/p99 latency, errors, batching.

    python -m benchmarks.bench_serve --corpus default --clients 32 --requests 2000 --seconds 60

Starts ``python -m webanchor_env.serve`` as a subprocess on a free loopback port, then
``--clients`` threads each send one-query ``/search`` requests back to back until
``--requests`` have been sent or ``--seconds`` have passed, whichever comes first (the test
is bounded in time and count). Every query is distinct and the caches are cold, so each one
is encoded. The baseline is in-process batched search on the same backend (batches of
``--batch`` queries, new queries again). Prints a markdown table and appends it to
``benchmarks/RESULTS.md`` with the machine, the date and the command.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks._results import add_no_append, append_section

REPO = Path(__file__).resolve().parents[1]


def unique_queries(questions: Sequence[str], n: int, tag: str) -> list[str]:
    """``n`` distinct queries built from the questions (suffixed when they run out)."""
    out = []
    for i in range(n):
        base = questions[i % len(questions)]
        out.append(base if i < len(questions) else f"{base} ({tag} {i // len(questions)})")
    return [f"{q} {tag}" for q in out] if tag else out


@dataclass(frozen=True)
class LoadResult:
    """What the clients saw."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.seconds


def load_test(url: str, queries: list[str], clients: int, seconds: float, top_k: int) -> LoadResult:
    """``clients`` threads send the queries one per request until all are sent or time is up."""
    from webanchor_env.remote import RemoteSearchBackend, RetryPolicy

    lock = threading.Lock()
    cursor = iter(range(len(queries)))
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + seconds

    def client() -> None:
        remote = RemoteSearchBackend(url, retry=RetryPolicy(attempts=1, timeout_s=30))
        while time.perf_counter() < deadline:
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            start = time.perf_counter()
            try:
                remote.search(queries[i], top_k)
            except (ConnectionError, RuntimeError):
                with lock:
                    errors[0] += 1
                continue
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return LoadResult(len(latencies) + errors[0], errors[0], elapsed, np.asarray(latencies))


def in_process(backend, queries: list[str], batch: int, top_k: int) -> float:  # noqa: ANN001
    """Queries per second of batched in-process search (cold cache)."""
    backend.index.clear_cache()
    start = time.perf_counter()
    for i in range(0, len(queries), batch):
        backend.search(queries[i : i + batch], top_k)
    return len(queries) / (time.perf_counter() - start)


def start_service(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    """The service as a subprocess on a free loopback port; returns it and its URL."""
    command = [sys.executable, "-m", "webanchor_env.serve", "--corpus", args.corpus]
    command += ["--port", "0", "--max-batch", str(args.max_batch)]
    command += ["--max-wait-ms", str(args.max_wait_ms)]
    if args.torch_threads:
        command += ["--torch-threads", str(args.torch_threads)]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("Serving "):
        proc.kill()
        raise RuntimeError(f"The service did not start (first line: {line!r}).")
    return proc, line.split()[-1]


def table(served: LoadResult, stats: dict, baseline: float, clients: int) -> str:
    lat = served.latencies_ms
    rows = [
        "| clients | requests | errors | seconds | served q/s | p50 ms | p99 ms "
        "| mean batch | in-process batched q/s | served / in-process |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {clients} | {served.requests:,} | {served.errors} | {served.seconds:.1f} "
        f"| {served.throughput:,.1f} | {np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} "
        f"| {stats['mean_batch_queries']:.1f} | {baseline:,.1f} "
        f"| {served.throughput / baseline:.2f} |",
    ]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="default")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2_000, help="most requests sent")
    parser.add_argument("--seconds", type=float, default=60.0, help="longest load phase")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32, help="in-process batch size")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--torch-threads", type=int, default=None, help="in both processes")
    parser.add_argument("--note", default="")
    add_no_append(parser)
    args = parser.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    from webanchor_env.backend import get_backend
    from webanchor_env.remote import ServiceClient

    backend = get_backend(args.corpus, cache_dir=args.cache_dir)
    questions = [t.question for t in backend.corpus.tasks]
    backend.search(["warm up"], 1)
    proc, url = start_service(args)
    try:
        served = load_test(
            url, unique_queries(questions, args.requests, "s"), args.clients, args.seconds,
            args.top_k,
        )  # fmt: skip
        stats = ServiceClient(url).stats()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    n_base = max(args.batch, min(served.requests, args.requests))
    baseline = in_process(backend, unique_queries(questions, n_base, "b"), args.batch, args.top_k)
    text = table(served, stats, baseline, args.clients)
    print(text)
    print(f"Service stats: {stats}", file=sys.stderr)
    if not args.no_append:
        note = (
            f"corpus {args.corpus}; server max batch {args.max_batch}, wait {args.max_wait_ms} ms; "
            f"one distinct query per request, cold caches; torch threads "
            f"{args.torch_threads or 'default'}. {args.note}"
        )
        append_section("Search service load test", text, note.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
