"""Large corpora: exact vs approximate FAISS indexes, and the disk-backed page store.

    python -m benchmarks.bench_large_index --corpus /tmp/webanchor_large/hotpotqa500 \
        --name "HotpotQA dev 500"
    python -m benchmarks.bench_large_index --corpus /tmp/webanchor_large/wiki100k \
        --name "generated 100k" --generate 100000 --max-passages 10000 --store

For one corpus: embeds its passages with all-MiniLM-L6-v2 (all of them, through the
environment's own index cache, or the first ``--max-passages`` when encoding all would take
too long on the machine), builds the exact index (``IndexFlatIP``) and approximate ones
(IVF-Flat at several ``nprobe``, HNSW at several ``efSearch``, IVF-PQ), and reports for each
recall@10 against the exact index, query latency (one query at a time), build time and
index memory (serialized bytes). Queries are the corpus's task questions.

``--store`` also builds the SQLite page store (:mod:`webanchor_env.pagestore_db`) of the
whole corpus and compares Visit latency and resident memory with the in-memory store.

Prints markdown tables and appends them to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._results import append_section

K = 10


# --- Recall (pure) ------------------------------------------------------------------------


def recall_at_k(exact: np.ndarray, approx: np.ndarray, k: int = K) -> float:
    """Mean over queries of |approx top-k ∩ exact top-k| / |exact top-k|.

    ``exact`` and ``approx`` are ``[Q, >=k]`` id arrays; ``-1`` (FAISS's "no result") is
    never a match, and a query whose exact list is empty is skipped.
    """
    if exact.shape[0] != approx.shape[0]:
        raise ValueError(f"Expected as many rows, got {exact.shape[0]} and {approx.shape[0]}.")
    scores = []
    for want, got in zip(exact[:, :k], approx[:, :k]):
        truth = {int(i) for i in want if i >= 0}
        if truth:
            scores.append(len(truth & {int(i) for i in got if i >= 0}) / len(truth))
    return float(np.mean(scores)) if scores else 0.0


# --- Embeddings ---------------------------------------------------------------------------


def _passage_texts(corpus: Path, limit: int) -> Iterator[str]:
    from webanchor_env.passages import PassageSettings, split_page
    from webanchor_env.reader import parse_html
    from wiki_corpus.io import pages_path, read_pages

    settings = PassageSettings()
    count = 0
    for i, page in enumerate(read_pages(pages_path(corpus))):
        parsed = parse_html(page.html, title=page.title, url=page.url)
        for passage in split_page(parsed, i, settings):
            yield passage.text
            count += 1
            if count == limit:
                return


def passage_vectors(corpus: Path, max_passages: int, cache: Path) -> tuple[np.ndarray, str]:
    """``([N, D] vectors, how they were made)``: all passages through the environment's
    index cache, or the first ``max_passages`` encoded here (cached as ``.npy``)."""
    if max_passages <= 0:
        from webanchor_env.backend import WikiBackend

        backend = WikiBackend.open(corpus, index_type="flat", show_progress=True)
        index = backend.index.faiss_index
        return index.reconstruct_n(0, index.ntotal), "all passages (environment index cache)"
    path = cache / f"{corpus.name}-{max_passages}.npy"
    if not path.exists():
        from webanchor_env.embedding import get_encoder

        texts = list(_passage_texts(corpus, max_passages))
        vectors = get_encoder().encode(texts, show_progress=True)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    vectors = np.load(path)
    return vectors, f"first {len(vectors):,} passages in corpus order"


def query_vectors(corpus: Path, limit: int) -> np.ndarray:
    """Embeddings of the corpus's task questions ``[Q, D]``."""
    from webanchor_env.embedding import get_encoder
    from wiki_corpus.io import TASKS_FILE, read_tasks

    questions = [t.question for t in itertools.islice(read_tasks(corpus / TASKS_FILE), limit)]
    return get_encoder().encode(questions, show_progress=False)


# --- Index variants -----------------------------------------------------------------------


def _keep(index: Any) -> None:
    """No search-time setting."""


@dataclass(frozen=True)
class Variant:
    """One index configuration: its family (variants of a family share one built index),
    how to build it, and the search-time setting to apply."""

    name: str
    family: str
    build: Callable[[np.ndarray], Any]
    tune: Callable[[Any], None] = _keep


def _ivf(vectors: np.ndarray, pq_bits: int = 0) -> Any:
    import faiss

    n, dim = vectors.shape
    nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(dim)
    if pq_bits:  # 48 sub-quantizers; at 8 bits, 48 bytes a vector instead of 1,536
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, 48, pq_bits, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    return index


def _hnsw(vectors: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 80
    index.add(vectors)
    return index


def _flat(vectors: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


def _nprobe(value: int) -> Callable[[Any], None]:
    def tune(index: Any) -> None:
        index.nprobe = value

    return tune


def _ef_search(value: int) -> Callable[[Any], None]:
    def tune(index: Any) -> None:
        index.hnsw.efSearch = value

    return tune


def variants(pq_bits: int = 8) -> list[Variant]:
    """The exact index first, then the approximate ones with their search settings.

    ``pq_bits`` is the code size of each PQ sub-quantizer (tests use fewer: faster training).
    """

    def ivf_pq(vectors: np.ndarray) -> Any:
        return _ivf(vectors, pq_bits)

    out = [Variant("flat (exact)", "flat", _flat)]
    out += [Variant(f"IVF-Flat nprobe={p}", "ivf", _ivf, _nprobe(p)) for p in (1, 8, 32, 128)]
    out += [Variant(f"HNSW32 efSearch={e}", "hnsw", _hnsw, _ef_search(e)) for e in (16, 64, 256)]
    out += [Variant(f"IVF-PQ48 nprobe={p}", "ivfpq", ivf_pq, _nprobe(p)) for p in (8, 32)]
    return out


@dataclass(frozen=True)
class Row:
    name: str
    recall: float
    latency_ms: float
    build_s: float
    memory_mb: float


def measure(
    vectors: np.ndarray, queries: np.ndarray, chosen: Sequence[Variant] | None = None
) -> list[Row]:
    """Build each variant (an index is reused across its search settings) and measure it."""
    import faiss

    built: dict[str, tuple[Any, float, float]] = {}
    exact_ids: np.ndarray | None = None
    rows = []
    for variant in chosen if chosen is not None else variants():
        if variant.family not in built:
            start = time.perf_counter()
            index = variant.build(vectors)
            build_s = time.perf_counter() - start
            memory = faiss.serialize_index(index).nbytes / 1e6
            built[variant.family] = (index, build_s, memory)
        index, build_s, memory = built[variant.family]
        variant.tune(index)
        index.search(queries[:8], K)  # warm up
        start = time.perf_counter()
        ids = np.stack([index.search(q[None, :], K)[1][0] for q in queries])  # [Q, K]
        latency = (time.perf_counter() - start) / len(queries) * 1000
        if exact_ids is None:
            exact_ids = ids
        rows.append(Row(variant.name, recall_at_k(exact_ids, ids), latency, build_s, memory))
        print(f"{variant.name}: recall@10 {rows[-1].recall:.3f}", file=sys.stderr)
    return rows


def index_table(rows: Sequence[Row]) -> str:
    lines = [
        "| index | recall@10 vs exact | query ms (1 at a time) | build s | memory MB |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.name} | {r.recall:.3f} | {r.latency_ms:.3f} | {r.build_s:.2f} | {r.memory_mb:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


# --- Page store ---------------------------------------------------------------------------


def _rss_mb() -> float:
    """Resident memory of this process now (Linux ``/proc``), in MB."""
    import os

    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _visit_us(store, keys: Sequence[str]) -> float:  # noqa: ANN001
    from webanchor_env import tools

    start = time.perf_counter()
    for key in keys:
        tools.visit_text(store, None, [key])
    return (time.perf_counter() - start) / len(keys) * 1e6


def measure_store(kind: str, corpus: Path, db: Path, n_visits: int) -> dict[str, float]:
    """In a fresh process: resident memory a store adds, and its Visit latency (µs)."""
    import random

    from webanchor_env import tools  # noqa: F401 - imported before the baseline is taken
    from webanchor_env.pagestore_db import DiskPageStore
    from webanchor_env.store import PageStore
    from wiki_corpus.io import pages_path, read_pages

    before = _rss_mb()
    if kind == "disk":
        store: PageStore = DiskPageStore(db)
    else:
        store = PageStore(list(read_pages(pages_path(corpus))))
    loaded_mb = _rss_mb() - before
    keys = [p.url for p in random.Random(0).sample(store.pages, min(n_visits, len(store)))]
    first = _visit_us(store, keys)  # in memory: parses each page on its first visit
    again = _visit_us(store, keys[-256:])  # the disk store's LRU holds the last 512 pages
    return {
        "pages": len(store),
        "loaded_mb": loaded_mb,
        "visited_mb": _rss_mb() - before,
        "first_us": first,
        "again_us": again,
    }


def store_table(corpus: Path, cache: Path, n_visits: int = 1_000) -> str:
    """Build the SQLite store of the whole corpus; compare memory and Visit latency, each
    store measured in a process of its own (so freed memory of one does not hide the other)."""
    from webanchor_env.pagestore_db import build_from_corpus

    db = cache / f"{corpus.name}.pages.sqlite"
    start = time.perf_counter()
    db.unlink(missing_ok=True)
    build_from_corpus(corpus, db, show_progress=True)
    build_s = time.perf_counter() - start
    results = {}
    for kind in ("memory", "disk"):
        command = [sys.executable, "-m", "benchmarks.bench_large_index"]
        command += ["--corpus", str(corpus), "--store-child", kind]
        command += ["--cache", str(cache), "--visits", str(n_visits)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        results[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    mem, disk = results["memory"], results["disk"]
    return "\n".join(
        [
            "| page store | pages | build s | resident MB loaded | resident MB after the "
            "visits | Visit µs (first) | Visit µs (again) |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| in memory (PageStore) | {mem['pages']:,} | — | {mem['loaded_mb']:,.0f} "
            f"| {mem['visited_mb']:,.0f} | {mem['first_us']:,.0f} | {mem['again_us']:,.0f} |",
            f"| SQLite (DiskPageStore) | {disk['pages']:,} | {build_s:,.0f} "
            f"| {disk['loaded_mb']:,.0f} | {disk['visited_mb']:,.0f} | {disk['first_us']:,.0f} "
            f"| {disk['again_us']:,.0f} |",
            "",
            f"{n_visits:,} visits of random pages through `tools.visit_text`, then 256 of them "
            f"again; the SQLite file is {db.stat().st_size / 1e6:,.0f} MB on disk. The in-memory "
            "store parses a page on its first visit; the SQLite store holds parsed text and "
            "an LRU cache of 512 pages.",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus directory")
    parser.add_argument("--name", default=None, help="name in the results")
    parser.add_argument("--generate", type=int, default=0, help="generate N pages if missing")
    parser.add_argument("--max-passages", type=int, default=0, help="0: all (through the cache)")
    parser.add_argument("--queries", type=int, default=2_000, help="most task questions")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/webanchor_large/cache"))
    parser.add_argument("--store", action="store_true", help="also benchmark the page store")
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--visits", type=int, default=1_000, help="page visits timed")
    parser.add_argument("--store-child", choices=("memory", "disk"), help=argparse.SUPPRESS)
    parser.add_argument("--note", default="")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.store_child:
        db = args.cache / f"{args.corpus.name}.pages.sqlite"
        print(json.dumps(measure_store(args.store_child, args.corpus, db, args.visits)))
        return 0
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    if args.generate and not args.corpus.exists():
        command = [sys.executable, "-m", "wiki_corpus", "generate", "--pages", str(args.generate)]
        subprocess.run([*command, "--seed", "0", "--out", str(args.corpus)], check=True)
    start = time.perf_counter()
    vectors, how = passage_vectors(args.corpus, args.max_passages, args.cache)
    embed_s = time.perf_counter() - start
    queries = query_vectors(args.corpus, args.queries)
    rows = measure(vectors, queries)
    name = args.name or args.corpus.name
    text = index_table(rows)
    print(text)
    note = (
        f"{name}: {len(vectors):,} passage vectors ({how}; {embed_s:,.0f} s to embed or load), "
        f"{len(queries):,} task questions as queries, top-{K}. {args.note}"
    ).strip()
    sections = [("Large index: " + name, text, note)]
    if args.store:
        store = store_table(args.corpus, args.cache, args.visits)
        print(store)
        sections.append((f"Disk-backed page store: {name}", store, ""))
    if not args.no_append:
        for title, body, remark in sections:
            append_section(title, body, remark)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
