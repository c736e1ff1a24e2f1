"""benchmarks/bench_fuzz.py: the fuzz corpus is fixed by its seed and parses without raising;
the table and the verdict read the timings."""

from __future__ import annotations

from benchmarks import bench_fuzz
from webanchor_env.actions import DEFAULT_MAX_ACTION_CHARS, parse_action


def test_the_fuzz_corpus_is_fixed_by_its_seed_and_covers_every_kind() -> None:
    first = bench_fuzz.fuzz_corpus(seed=1, near=20, random_n=5)
    again = bench_fuzz.fuzz_corpus(seed=1, near=20, random_n=5)
    assert [c.kind for c in first] == [c.kind for c in again]
    texts = [(a.action, b.action) for a, b in zip(first, again) if isinstance(a.action, str)]
    assert all(x == y for x, y in texts)
    kinds = {c.kind for c in first}
    assert {"adversarial run at the cap", "nested mapping", "random near miss"} <= kinds
    at_cap = [c.action for c in first if c.kind == "adversarial run at the cap"]
    assert {len(text) for text in at_cap} == {DEFAULT_MAX_ACTION_CHARS}
    for case in first:
        parse_action(case.action)  # never raises


def test_the_table_and_the_verdict_read_the_timings() -> None:
    case = bench_fuzz.Case
    rows = [
        bench_fuzz.Timed(case("adversarial run at the cap", "<" * 10), 12.0, 11.0, 30.0, 9.0, "x"),
        bench_fuzz.Timed(case("random near miss", "oops"), 0.5, 0.4, 0.9, 0.1, "no_action"),
        bench_fuzz.Timed(
            case("largest valid turn", "<answer>a</answer>"), 150.0, 90, 160, 0.1, None
        ),
    ]
    table = bench_fuzz.table(rows)
    assert table.count("\n") == 1 + 4  # header, rule, three kinds and all
    assert "| **all** | 3 | 2 | 12.00 |" in table
    verdict = bench_fuzz.verdict(rows, repeat=3)
    assert verdict.startswith("Worst step of the 2 fuzz actions: 12.0 ms (CPU 11.0 ms;")
    assert "target ≤ 100 ms: met" in verdict and "up to 150.0 ms" in verdict
