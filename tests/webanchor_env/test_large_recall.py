"""recall@k of approximate indexes against the exact one, computed on a small corpus."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from webanchor_env.passages import PassageSettings, split_pages
from webanchor_env.store import PageStore

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_large_index.py"


@pytest.fixture(scope="module")
def bench():
    """The benchmark script as a module (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("bench_large_index", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_recall_matches_hand_computed_values(bench):
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, -1, -1, -1]])
    approx = np.array([[4, 3, 0, 0], [5, 6, 7, 8], [-1, 9, -1, -1]])
    # per query: 2/4, 4/4, 1/1 (a -1 never counts) -> mean 5/6
    assert bench.recall_at_k(exact, approx, k=4) == pytest.approx(5 / 6)
    assert bench.recall_at_k(exact, approx, k=1) == pytest.approx((0 + 1 + 0) / 3)
    assert bench.recall_at_k(np.full((2, 3), -1), np.zeros((2, 3)), k=3) == 0.0
    with pytest.raises(ValueError, match="Expected as many rows, got 3 and 2"):
        bench.recall_at_k(exact, approx[:2])


def test_recall_on_the_tiny_corpus_passages(bench, tiny_pages, hashing_encoder):
    store = PageStore(tiny_pages)
    passages = split_pages(store.parse_all(), PassageSettings(max_chars=200))
    vectors = hashing_encoder.encode([p.text for p in passages])  # [P, 256]
    queries = hashing_encoder.encode(["Lumen Tower architect", "Varn Institute", "glass bridge"])
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    exact = flat.search(queries, 10)[1]
    assert bench.recall_at_k(exact, exact) == 1.0
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], 8, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(vectors)
    hnsw.hnsw.efSearch = 64  # wider than the corpus: only ties may be ordered otherwise
    assert bench.recall_at_k(exact, hnsw.search(queries, 10)[1]) >= 0.9
    shuffled = np.roll(exact, 1, axis=0)  # other queries' neighbours: a poor "index"
    assert bench.recall_at_k(exact, shuffled) < 1.0


def test_every_variant_builds_and_reports(bench):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1_000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = bench.measure(vectors, vectors[:20], bench.variants(pq_bits=4))  # quick PQ training
    assert rows[0].name == "flat (exact)" and rows[0].recall == 1.0
    assert [r.name.split()[0] for r in rows] == ["flat"] + ["IVF-Flat"] * 4 + ["HNSW32"] * 3 + [
        "IVF-PQ48"
    ] * 2
    ivf = [r.recall for r in rows if r.name.startswith("IVF-Flat")]
    assert ivf == sorted(ivf)  # probing more lists never loses neighbours
    assert all(0.0 <= r.recall <= 1.0 and r.memory_mb > 0 for r in rows)
    pq = next(r for r in rows if r.name.startswith("IVF-PQ"))
    assert pq.memory_mb < rows[0].memory_mb / 4  # product quantization compresses
    assert "| flat (exact) | 1.000 |" in bench.index_table(rows)
