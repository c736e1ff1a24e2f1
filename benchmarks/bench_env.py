"""Speed of the wiki backend: a search step against its floor, batched search, visit, load
time and index build, on the bundled corpus (or any corpus directory).

    python -m benchmarks.bench_env                      # bundled corpus, flat index
    python -m benchmarks.bench_env --corpus DIR --index-type hnsw --no-append

Targets (from the issue): a search step costs at most 1.15x its floor (the same query
encoded by the same model plus the same FAISS search, done directly); 16 queries batched
are at least 4x faster than 16 single calls; a visit takes at most 50 µs at the median;
``get_backend`` with a built cache takes at most ~5 s in a fresh process; building the index
runs at least 0.9x as fast as the model's own ``encode`` over the same passages. Ratios are
measured within one run, interleaving the two sides. The table is printed and appended to
``benchmarks/RESULTS.md`` with the machine, date and command (``--no-append``: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import wiki_corpus
from benchmarks._results import add_no_append, append_section
from benchmarks._timing import Timing, timed
from webanchor_env.backend import WikiBackend
from webanchor_env.embedding import get_encoder

BATCH = 16
GOALS = 30

LOAD_SNIPPET = """
import json, resource, sys, time
t0 = time.perf_counter()
from webanchor_env.backend import get_backend
backend = get_backend(sys.argv[1], model=sys.argv[3] or None, index_type=sys.argv[4],
                      cache_dir=sys.argv[2], show_progress=False)
t1 = time.perf_counter()
backend.search_text(["warm-up query about a city"], top_k=5)
t2 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load": t1 - t0, "first_search": t2 - t1, "rss_mb": rss,
                  "loaded": not backend.build_timings}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="default", help="'default' or a corpus directory")
    parser.add_argument("--model", default=None, help="sentence-transformers model (default)")
    parser.add_argument("--index-type", default="flat", choices=("flat", "ivf", "hnsw"))
    parser.add_argument("--top-k", type=int, default=5, help="results per query")
    parser.add_argument("--queries", type=int, default=60, help="fresh queries for the floor")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of batched vs single")
    parser.add_argument("--visits", type=int, default=20_000, help="timed visit calls")
    parser.add_argument("--loads", type=int, default=3, help="fresh-process loads")
    parser.add_argument("--torch-threads", type=int, default=None, help="torch threads")
    parser.add_argument(
        "--cache-dir", default=None, help="reuse (or build once) the index here; no build rows"
    )
    parser.add_argument("--pages", type=int, default=None, help="use only the first N pages")
    add_no_append(parser)
    return parser.parse_args()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def compare(ours: list[Timing], base: list[Timing]) -> dict[str, float]:
    """Medians of both sides, and ratios ours/base: of CPU sums, of wall medians, of wall sums."""
    return {
        "ours": median([t.wall for t in ours]),
        "base": median([t.wall for t in base]),
        "ours_cpu": median([t.cpu for t in ours]),
        "base_cpu": median([t.cpu for t in base]),
        "cpu": sum(t.cpu for t in ours) / sum(t.cpu for t in base),
        "wall_median": median([t.wall for t in ours]) / median([t.wall for t in base]),
        "wall_sum": sum(t.wall for t in ours) / sum(t.wall for t in base),
    }


def fresh_queries(corpus: wiki_corpus.Corpus, n: int, seed: int = 0) -> list[str]:
    """Distinct task questions (then title questions), shuffled: none is in any cache."""
    pool = list(dict.fromkeys(t.question for t in corpus.tasks))
    pool += [f"What is known about {p.title}?" for p in corpus.pages]
    pool = list(dict.fromkeys(pool))
    random.Random(seed).shuffle(pool)
    if len(pool) < n:
        raise SystemExit(f"Expected at least {n} distinct queries in the corpus, got {len(pool)}.")
    return pool[:n]


def bench_build(
    corpus: wiki_corpus.Corpus, args: argparse.Namespace, cache_dir: Path
) -> tuple[WikiBackend, dict[str, Timing]]:
    """Build the index in an empty cache, then encode the same passages directly."""
    encoder = get_encoder(args.model)
    model_load = timed(lambda: encoder.model)
    warm = [p.title for p in corpus.pages[:64]]
    encoder.model.encode(warm, batch_size=encoder.batch_size, show_progress_bar=False)
    built: list[WikiBackend] = []
    total = timed(
        lambda: built.append(
            WikiBackend.open(
                corpus,
                model=args.model,
                index_type=args.index_type,
                cache_dir=cache_dir,
                show_progress=False,
            )
        )
    )
    backend = built[0]
    texts = [p.text for p in backend.index.passages]
    direct = timed(
        lambda: encoder.model.encode(
            texts,
            batch_size=encoder.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
    )
    return backend, {"model_load": model_load, "total": total, "direct": direct}


def bench_search(backend: WikiBackend, queries: list[str], k: int) -> dict[str, float]:
    """Per fresh query: backend.search_text vs model.encode + the same FAISS search.

    The floor runs under the encoder's own thread limit (one torch thread for a query), so
    both sides do the same work; ``untuned`` is the floor with the process's thread count.
    """
    encoder = backend.index.encoder
    model, batch_size = encoder.model, encoder.batch_size
    faiss_index, depth = backend.index.faiss_index, backend.index.depth(k)

    def direct(q: str) -> None:
        vec = model.encode(
            [q],
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        faiss_index.search(vec, depth)

    def floor(q: str) -> None:
        with encoder.thread_limit(1):
            direct(q)

    ours: list[Timing] = []
    base: list[Timing] = []
    untuned: list[Timing] = []
    for i, q in enumerate(queries):
        sides = [(base, lambda q=q: floor(q)), (ours, lambda q=q: backend.search_text([q], k))]
        for sink, fn in sides if i % 2 else sides[::-1]:
            sink.append(timed(fn))
        if i % 4 == 0:
            untuned.append(timed(lambda q=q: direct(q)))
    return {**compare(ours, base), "untuned": median([t.wall for t in untuned])}


def bench_batch(backend: WikiBackend, queries: list[str], rounds: int, k: int):
    """Rounds of 16 fresh queries in one call against 16 other fresh queries one by one."""
    batched: list[Timing] = []
    single: list[Timing] = []
    for r in range(rounds):
        a = queries[2 * r * BATCH : (2 * r + 1) * BATCH]
        b = queries[(2 * r + 1) * BATCH : (2 * r + 2) * BATCH]
        sides = [
            (batched, lambda a=a: backend.search(a, k)),
            (single, lambda b=b: [backend.search([q], k) for q in b]),
        ]
        for sink, fn in sides if r % 2 else sides[::-1]:
            sink.append(timed(fn))
    return compare(single, batched)


def bench_visit(backend: WikiBackend, n: int, goals: list[str]) -> dict[str, float]:
    """Visits of cached pages by URL and by title; goal mode with fresh (uncached) goals."""
    urls = [p.url for p in backend.store.pages]
    for url in urls:
        backend.visit_text([url])  # every page's text is cached before timing
    rng = random.Random(0)
    order = [rng.choice(urls) for _ in range(n)]
    times = []
    clock = time.perf_counter_ns
    for url in order:
        start = clock()
        backend.visit_text([url])
        times.append(clock() - start)
    times.sort()
    titles = [p.title.lower() for p in backend.store.pages]
    by_title = []
    for title in (rng.choice(titles) for _ in range(min(n, 5000))):
        start = clock()
        backend.visit_text(title, offset=200, max_chars=1000)
        by_title.append(clock() - start)
    goal_t = [
        timed(lambda u=u, g=g: backend.visit_text([u], g, goal_mode=True)).wall
        for u, g in zip(order, goals)
    ]
    return {
        "median_us": times[len(times) // 2] / 1e3,
        "p90_us": times[int(len(times) * 0.9)] / 1e3,
        "title_offset_median_us": median(by_title) / 1e3,
        "goal_median": median(goal_t),
    }


def bench_load(corpus_dir: Path, cache_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    runs = []
    for _ in range(args.loads):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                LOAD_SNIPPET,
                str(corpus_dir),
                str(cache_dir),
                args.model or "",
                args.index_type,
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if not all(r["loaded"] for r in runs):
        raise SystemExit("Expected the fresh processes to load the built cache; they rebuilt it.")
    return {key: median([r[key] for r in runs]) for key in ("load", "first_search", "rss_mb")}


def build_rows(backend: WikiBackend, build: dict[str, Timing]) -> list[tuple[str, ...]]:
    """Table rows for the build: phases, and index build speed against the model's encode."""
    ph = backend.build_timings
    n_pages, n_passages = len(backend.store), len(backend.index.passages)
    index_wall = sum(ph[p] for p in ("passages", "encode", "index", "write"))
    index_cpu = sum(ph[f"{p}_cpu"] for p in ("passages", "encode", "index", "write"))
    build_cpu = build["direct"].cpu / index_cpu
    build_wall = build["direct"].wall / index_wall
    return [
        (
            "model load (sentence-transformers import + weights)",
            f"{build['model_load'].wall:.2f} s",
            "",
            "",
        ),
        (f"build: parse {n_pages:,} pages", f"{ph['parse']:.2f} s", "", ""),
        (
            f"build: cut {n_passages:,} passages; encode; FAISS; write",
            "; ".join(f"{ph[p]:.2f} s" for p in ("passages", "encode", "index", "write")),
            "",
            "",
        ),
        ("model.encode over the same passages, directly", f"{build['direct'].wall:.2f} s", "", ""),
        (
            "index build speed / encode speed",
            f"{build_cpu:.3f}x ({build_wall:.3f}x)",
            "≥ 0.9x",
            verdict(build_cpu >= 0.9),
        ),
        (
            "whole build incl. parsing, speed / encode speed",
            f"{build['direct'].cpu / build['total'].cpu:.3f}x "
            f"({build['direct'].wall / build['total'].wall:.3f}x)",
            "",
            "",
        ),
    ]


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def main() -> None:
    args = parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    load_before = os.getloadavg()
    corpus = wiki_corpus.load(args.corpus)
    with tempfile.TemporaryDirectory(prefix="webanchor-bench-") as tmp:
        cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tmp) / "cache"
        if args.pages is not None:  # a smaller corpus made of the first pages, for quick runs
            pages = corpus.pages[: args.pages]
            wiki_corpus.write_corpus(Path(tmp) / "corpus", pages, corpus.tasks, corpus.meta)
            corpus = wiki_corpus.load(Path(tmp) / "corpus")
        assert corpus.path is not None
        build: dict[str, Timing] | None = None
        if args.cache_dir:  # an index built before: no build figures this time
            backend = WikiBackend.open(
                corpus, model=args.model, index_type=args.index_type, cache_dir=cache_dir
            )
        else:
            backend, build = bench_build(corpus, args, cache_dir)
        sizes = {f.name: f.stat().st_size for f in backend.cache_path.iterdir() if f.is_file()}
        load = bench_load(corpus.path, cache_dir, args)
    n_search = args.queries + 2 * BATCH * args.rounds
    queries = fresh_queries(corpus, n_search + GOALS)
    search = bench_search(backend, queries[: args.queries], args.top_k)
    batch = bench_batch(backend, queries[args.queries :], args.rounds, args.top_k)
    visit = bench_visit(backend, args.visits, queries[n_search:])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_pages, n_passages = len(backend.store), len(backend.index.passages)

    def ratios(r: dict[str, float]) -> str:
        return f"{r['cpu']:.3f}x ({r['wall_median']:.3f}x; {r['wall_sum']:.3f}x)"

    rows = [
        (
            "search_text step, fresh query: median wall (CPU)",
            f"{ms(search['ours'])} ({ms(search['ours_cpu'])})",
            "",
            "",
        ),
        (
            "floor: model.encode + same FAISS search: median wall (CPU)",
            f"{ms(search['base'])} ({ms(search['base_cpu'])})",
            "",
            "",
        ),
        (
            "the floor with the process's torch threads, not one: median wall",
            ms(search["untuned"]),
            "",
            "",
        ),
        (
            "search step / floor",
            ratios(search),
            "≤ 1.15x",
            verdict(search["cpu"] <= 1.15),
        ),
        (
            f"{BATCH} queries, one batched call: median wall (CPU)",
            f"{ms(batch['base'])} ({ms(batch['base_cpu'])})",
            "",
            "",
        ),
        (
            f"{BATCH} queries, {BATCH} single calls: median wall (CPU)",
            f"{ms(batch['ours'])} ({ms(batch['ours_cpu'])})",
            "",
            "",
        ),
        ("batched speed-up", ratios(batch), "≥ 4x", verdict(batch["cpu"] >= 4)),
        (
            "visit_text by URL, cached text: median; p90",
            f"{visit['median_us']:.1f} µs; {visit['p90_us']:.1f} µs",
            "≤ 50 µs",
            verdict(visit["median_us"] <= 50),
        ),
        (
            "visit_text by title, offset 200: median",
            f"{visit['title_offset_median_us']:.1f} µs",
            "",
            "",
        ),
        (
            "visit_text in goal mode, fresh goal (encodes it): median",
            ms(visit["goal_median"]),
            "",
            "",
        ),
        (
            f"get_backend, built cache, fresh process: median of {args.loads}",
            f"{load['load']:.2f} s",
            "≤ 5 s",
            verdict(load["load"] <= 5),
        ),
        ("then the first search (loads the model)", f"{load['first_search']:.2f} s", "", ""),
        ("memory of that process after one search (max RSS)", f"{load['rss_mb']:,.0f} MB", "", ""),
        (
            "cache size: index.faiss; pages.json",
            "; ".join(f"{sizes.get(f, 0) / 2**20:.1f} MB" for f in ("index.faiss", "pages.json")),
            "",
            "",
        ),
        ("memory of this benchmark process (max RSS)", f"{rss_mb:,.0f} MB", "", ""),
    ]
    if build is not None:
        rows[-2:-2] = build_rows(backend, build)
    table = ["| measure | value | target | met |", "| --- | --- | --- | --- |"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    header = [
        f"- Corpus: `{args.corpus}`{' (first pages only)' if args.pages else ''} "
        f"({n_pages:,} pages, {n_passages:,} passages); model "
        f"{backend.index.encoder.name}; index `{args.index_type}`; top-k {args.top_k}; "
        f"torch threads {torch.get_num_threads()}",
        "- Ratios are of process CPU time (all threads), which other load on a shared machine "
        "barely moves; wall-clock ratios (of medians; of sums) follow in parentheses.",
        "",
    ]
    report = "\n".join(header + table) + "\n"
    print(report)
    if not args.no_append:
        print(f"Appended to {append_section('bench_env', report, load_at_start=load_before)}")


if __name__ == "__main__":
    main()
