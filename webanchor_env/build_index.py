"""Build the prebuilt search indexes a corpus directory ships (``<corpus>/index/``): dense
and, in ``index/bm25/``, BM25 (the hybrid mode reads both).

    python -m webanchor_env.build_index default            # the bundled corpus, 8-bit vectors
    python -m webanchor_env.build_index DIR --vectors float16

The index is built exactly as an environment would build it (same embedder, passages and
parser), then its vectors are stored quantized to keep the shipped files small. Before
writing, the quantized index is measured against the exact float32 one: recall@10 of the
pages each of the corpus's test questions retrieves (all tasks when there is no test
split). The figure goes into the manifest's ``notes`` and is printed; the command refuses
to write an index whose recall falls below ``--min-recall``.

The bundled tasks' gold paths are checked to be causally honest against the results of
these exact indexes (``wiki_corpus.honesty``): after rebuilding, run
``pytest tests/wiki_corpus/test_corpus_honesty.py`` (or regenerate the tasks, which reruns
the check) since a few top-5 results may move.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import wiki_corpus
from webanchor_env.backend import (
    SHIPPED_LEXICAL_DIR,
    WikiBackend,
    shipped_index_dir,
    write_cache,
)
from webanchor_env.embedding import Encoder
from webanchor_env.index import VECTOR_CODES, IndexManifest, SearchIndex, build_faiss


def page_recall(exact: SearchIndex, approx: SearchIndex, queries: list[str], k: int) -> float:
    """Mean share of the exact index's top-``k`` pages that ``approx`` also returns."""
    vectors = exact.encoder.encode(queries)  # [Q, D]
    want = exact.search_vectors(vectors, k)
    got = approx.search_vectors(vectors, k)
    shares = [
        len({h.page for h in g} & {h.page for h in w}) / len(w) for g, w in zip(got, want) if w
    ]
    return float(np.mean(shares)) if shares else 1.0


def build_shipped(
    corpus_name: str | Path,
    vectors: str,
    *,
    k: int = 10,
    min_recall: float = 0.99,
    cache_dir: Path | None = None,
    encoder: Encoder | None = None,
) -> tuple[Path, IndexManifest]:
    """Write ``<corpus>/index/`` and return its directory and manifest.

    The exact index comes from the cache (``cache_dir``, default the user's) or is built
    there; ``encoder`` replaces the default embedder (tests use an instant one).
    """
    corpus = wiki_corpus.load(corpus_name)
    assert corpus.path is not None
    started = time.perf_counter()
    backend = WikiBackend.open(corpus, use_shipped=False, cache_dir=cache_dir, encoder=encoder)
    exact = backend.index
    flat = exact.faiss_index.reconstruct_n(0, exact.faiss_index.ntotal)  # [P, D]
    quantized = SearchIndex(
        build_faiss(flat, "flat", vectors), exact.passages, exact.pages, exact.encoder
    )
    tasks = corpus.tasks_in("test") or corpus.tasks
    recall = page_recall(exact, quantized, [t.question for t in tasks], k)
    print(f"recall@{k} of {len(tasks)} questions' pages, {vectors} vs float32: {recall:.4f}")
    if recall < min_recall:
        raise SystemExit(f"Expected recall@{k} >= {min_recall}, got {recall:.4f}: not written.")
    assert backend.manifest is not None
    manifest = IndexManifest(
        **{
            **backend.manifest.to_json(),
            "vectors": vectors,
            "notes": {
                f"recall_at_{k}_vs_float32": round(recall, 4),
                "recall_queries": f"{len(tasks)} task questions",
                "command": " ".join(["python -m webanchor_env.build_index", *sys.argv[1:]]),
            },
        }
    )
    directory = shipped_index_dir(corpus.path)
    parsed = [backend.store.parsed(i) for i in range(len(backend.store))]
    manifest = write_cache(
        directory, manifest, parsed, exact.passages, quantized.faiss_index, compresslevel=9
    )
    from webanchor_env.lexical import LexicalIndex, LexicalSettings, lexical_manifest

    settings = LexicalSettings()
    lexical = LexicalIndex.build(exact.passages, exact.pages, settings)
    lexical.save(directory / SHIPPED_LEXICAL_DIR, lexical_manifest(manifest, settings))
    print(f"wrote {directory} (dense and BM25) in {time.perf_counter() - started:.1f} s")
    return directory, manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", default="default", help="bundled name or directory")
    parser.add_argument("--vectors", choices=VECTOR_CODES, default="sq8")
    parser.add_argument("--k", type=int, default=10, help="depth of the recall check")
    parser.add_argument("--min-recall", type=float, default=0.99)
    args = parser.parse_args(argv)
    directory, manifest = build_shipped(
        args.corpus, args.vectors, k=args.k, min_recall=args.min_recall
    )
    sizes = {
        str(p.relative_to(directory)): p.stat().st_size
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
    for name, size in sizes.items():
        print(f"  {name:28s} {size / 1e6:7.2f} MB")


if __name__ == "__main__":
    main()
