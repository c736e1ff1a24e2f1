"""Retrieval quality of the three search modes (dense, BM25, hybrid) on two corpora.

    python -m benchmarks.bench_retrieval --hotpotqa ../shared/data/hotpotqa_dev500.jsonl
    python -m benchmarks.bench_retrieval --no-append          # the bundled world only

Each test question is the query, as is (no rewriting). For every mode it reports the recall
of the gold pages at 1, 3, 5 and 10 (per question, the share of its gold pages among the
first k distinct pages; then the mean over questions), the share of questions whose answer
(or an alias) occurs, as whole words after answer normalization, in the best passages of
the first 5 hits, and the search time per query (batches of 64, warm caches excluded).

Corpora: (a) the bundled world's ``test`` split; (b) with ``--hotpotqa``, the HotpotQA file
imported by the project's importer (``python -m wiki_corpus import hotpotqa``) into
``--work-dir``: its questions' context paragraphs are the pages, its two supporting
paragraphs the gold pages. Indexes come from the cache (``--cache-dir``), built when
missing. The table is printed and appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._results import add_no_append, append_section

REPO = Path(__file__).resolve().parents[1]
MODES = ("dense", "bm25", "hybrid")
KS = (1, 3, 5, 10)
ANSWER_K = 5
BATCH = 64


@dataclass(frozen=True)
class ModeResult:
    """What one mode scored on one corpus."""

    recall: dict[int, float]
    """k -> mean recall of the gold pages in the first k pages."""
    answer_in_top: float
    """Share of questions whose answer is in the best passages of the first ``ANSWER_K``."""
    ms_per_query: float


def import_hotpotqa(source: Path, work_dir: Path) -> Path:
    """The HotpotQA file as a corpus directory (imported once, by the project's importer)."""
    out = work_dir / f"{source.stem}-corpus"
    if not (out / "tasks.jsonl").exists():
        command = [sys.executable, "-m", "wiki_corpus", "import", "hotpotqa", str(source)]
        subprocess.run([*command, "--out", str(out), "--split", "test"], check=True, cwd=REPO)
    return out


def evaluate(backend, tasks, mode: str) -> ModeResult:  # noqa: ANN001
    """Recall of gold pages at each k, answer-in-top-5, time per query, for one mode."""
    from webanchor_env.scoring import contains_answer

    backend.search(["warm up"], max(KS), mode=mode)  # opens the lexical index if needed
    backend.index.clear_cache()
    questions = [t.question for t in tasks]
    start = time.perf_counter()
    rows = []
    for i in range(0, len(questions), BATCH):
        rows += backend.search(questions[i : i + BATCH], max(KS), mode=mode)
    seconds = time.perf_counter() - start
    passages = backend.index.passages
    recall = {k: 0.0 for k in KS}
    answered = 0
    for task, hits in zip(tasks, rows):
        gold = set(task.gold.pages)
        for k in KS:
            recall[k] += len(gold & {h.url for h in hits[:k]}) / len(gold)
        text = "\n".join(passages[h.passage].text for h in hits[:ANSWER_K])
        answered += contains_answer(text, (task.answer, *task.aliases))
    n = len(tasks)
    return ModeResult({k: r / n for k, r in recall.items()}, answered / n, 1000 * seconds / n)


def run_corpus(corpus: str, split: str, cache_dir: str | None) -> tuple[int, dict[str, ModeResult]]:
    from webanchor_env.backend import get_backend

    backend = get_backend(corpus, cache_dir=cache_dir, show_progress=True)
    tasks = [t for t in backend.corpus.tasks_in(split) if t.gold.pages]
    return len(tasks), {mode: evaluate(backend, tasks, mode) for mode in MODES}


def table(results: dict[str, tuple[int, dict[str, ModeResult]]]) -> str:
    head = " | ".join(f"R@{k}" for k in KS)
    rows = [
        f"| corpus | questions | mode | {head} | answer in top {ANSWER_K} | ms / query |",
        "|---|---:|---|" + "---:|" * (len(KS) + 2),
    ]
    for name, (n, by_mode) in results.items():
        for mode, r in by_mode.items():
            best = {k: max(m.recall[k] for m in by_mode.values()) for k in KS}
            cells = " | ".join(
                (f"**{r.recall[k]:.3f}**" if r.recall[k] == best[k] else f"{r.recall[k]:.3f}")
                for k in KS
            )
            rows.append(
                f"| {name} | {n} | {mode} | {cells} | {r.answer_in_top:.3f} | {r.ms_per_query:.1f} |"
            )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hotpotqa", type=Path, default=None, help="HotpotQA-format .jsonl")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/webanchor_retrieval"))
    parser.add_argument("--cache-dir", default=None, help="index cache (default: the user's)")
    parser.add_argument("--torch-threads", type=int, default=None)
    parser.add_argument("--note", default="")
    add_no_append(parser)
    args = parser.parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    from webanchor_env.retrieval import FUSION_POOL, LEXICAL_WEIGHT, RRF_K

    load_at_start = os.getloadavg()
    corpora = [("bundled world (test)", "default")]
    if args.hotpotqa is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        directory = import_hotpotqa(args.hotpotqa, args.work_dir)
        corpora.append((f"HotpotQA {args.hotpotqa.stem} (test)", str(directory)))
    results = {name: run_corpus(corpus, "test", args.cache_dir) for name, corpus in corpora}
    text = table(results)
    print(text)
    if not args.no_append:
        note = (
            "Query = the question text. R@k: mean share of a question's gold pages among the "
            f"first k distinct pages. Answer in top {ANSWER_K}: the answer (or an alias), "
            f"normalized, occurs in the best passages of the first {ANSWER_K} hits. Dense = "
            "all-MiniLM-L6-v2 + FAISS (the bundled corpus: its shipped index); BM25 = bm25s "
            "(Lucene BM25, k1 1.5, b 0.75, English stopwords and Snowball stems); hybrid = "
            f"weighted reciprocal rank fusion (k = {RRF_K:g}, BM25 weight {LEXICAL_WEIGHT:g}, "
            f"dense 1) of the two top-{FUSION_POOL} page rankings. Bold: best of the three "
            f"modes on that corpus. {args.note}"
        )
        append_section(
            "Retrieval: dense, BM25 and hybrid search",
            text,
            note.strip(),
            load_at_start=load_at_start,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
