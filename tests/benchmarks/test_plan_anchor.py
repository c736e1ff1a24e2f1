"""The plan-anchor experiment: its math by hand, a scripted policy whose first step decides
the outcome (numbers computed by hand), resuming, and the smoke run with a tiny model."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from types import SimpleNamespace

import pytest
from bench_util import experiment, smoke_args

from agents.policy import GenerationRequest, SampledTurn, SamplingParams
from agents.scripted import (
    Move,
    ScriptedPolicy,
    TaskBook,
    answer_action,
    turn_index,
)
from agents.trajectory import Trajectory, Turn, load_jsonl

pa = experiment("plan_anchor")
harness = experiment("harness")


def traj(sample: int, reward: float, plan: str | None, prefill: str = "<plan>") -> Trajectory:
    turns = () if plan is None else (Turn(text=prefill + plan, prefill=prefill),)
    return Trajectory(
        task_id="q", group_id=0, sample=sample, token_ids=(), logprobs=None,
        action_mask=(), step_ids=(), reward=reward, turns=turns,
    )  # fmt: skip


# --- The math, by hand ---------------------------------------------------------------------


def test_outcomes_mixed_pass_at_n_and_success_rate():
    assert pa.solved(1.0) and not pa.solved(0.0) and not pa.solved(0.5)
    assert pa.is_mixed([1.0, 0.0, 0.0])
    assert not pa.is_mixed([1.0, 1.0]) and not pa.is_mixed([0.0, 0.0]) and not pa.is_mixed([])
    assert pa.pass_at_n([0.0, 0.0, 1.0, 0.0]) == 1.0
    assert pa.pass_at_n([0.0, 0.0]) == 0.0
    assert pa.success_rate([1.0, 0.0, 0.0, 1.0]) == 0.5
    assert pa.success_rate([1.0, 0.0, 0.0]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        pa.pass_at_n([])
    assert pa.drop_points(1.0, 0.25) == 75.0
    assert pa.drop_points(0.5, None) is None


def test_first_steps_are_the_lowest_sample_of_each_outcome_without_the_prefill():
    group = [
        traj(3, 1.0, "C3"),
        traj(2, 0.0, "W2"),
        traj(0, 0.0, None),  # no turn (stopped before its plan): never a first step
        traj(1, 1.0, "C1"),
        traj(4, 0.0, "W4"),
    ]
    assert pa.choose_first_steps(group) == ("C1", "W2")
    assert pa.first_step(traj(0, 0.0, "<plan>x", prefill="")) == "<plan>x"
    assert pa.choose_first_steps([traj(0, 1.0, "a"), traj(1, 1.0, "b")]) is None
    assert pa.choose_first_steps([traj(0, 1.0, "a"), traj(1, 0.0, None)]) is None


def test_round_robin_visits_every_level():
    tasks = [SimpleNamespace(id=f"t{i}", difficulty=d) for i, d in enumerate([3, 1, 1, 2, 1, 3])]
    picked = [t.id for t in pa.round_robin(tasks, 5)]
    assert picked == ["t1", "t3", "t0", "t2", "t5"]  # levels 1, 2, 3, 1, 3
    assert [t.id for t in pa.round_robin(tasks, 20)] == ["t1", "t3", "t0", "t2", "t5", "t4"]
    assert pa.round_robin(tasks, 0) == []


def test_rows_by_hand():
    q = pa.Question
    questions = [
        q("a", 1, (1.0, 0.0), "s", "s", correct=(1.0, 1.0, 0.0, 0.0), incorrect=(0.0,) * 4),
        q("b", 1, (1.0, 1.0)),  # all right: not mixed
        q("c", 2, (0.0, 1.0), "s", "s", correct=(1.0, 0.0, 0.0, 0.0), incorrect=(0, 0, 0, 1.0)),
    ]
    rows = dict(pa.breakdown(questions))
    assert list(rows) == ["1", "2", "all"]
    assert rows["1"] == {
        "probed": 2, "mixed": 1, "pass@n correct": 1.0, "pass@n incorrect": 0.0,
        "drop": 100.0, "drop_ci95": None, "pass@1 correct": 0.5, "pass@1 incorrect": 0.0,
        "probe pass@1": 0.75,
    }  # fmt: skip
    assert rows["2"]["drop"] == 0.0 and rows["2"]["pass@1 incorrect"] == 0.25
    everything = rows["all"]
    assert (everything["probed"], everything["mixed"]) == (3, 2)
    assert everything["pass@n correct"] == 1.0 and everything["pass@n incorrect"] == 0.5
    assert everything["drop"] == 50.0
    assert everything["drop_ci95"] == (0.0, 100.0)  # differences 100 and 0: means 0, 50, 100
    assert everything["pass@1 correct"] == pytest.approx((0.5 + 0.25) / 2)
    assert everything["pass@1 incorrect"] == pytest.approx(0.125)
    assert everything["probe pass@1"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # one level only (HotpotQA): just "all"; no mixed question: dashes, not numbers
    only = pa.breakdown([q("b", 1, (1.0, 1.0))])
    assert [name for name, _ in only] == ["all"]
    table = pa.table_markdown(
        [{"policy": "p", "corpus": "c", "difficulty": "all", **only[0][1]}], 4
    )
    assert "| p | c | all | 1 | 0 | - | - | - | - | - | 1.000 |" in table
    assert "pass@4 correct" in table


def test_reading_claims_no_more_than_the_interval():
    row = {"policy": "start", "corpus": "world", "mixed": 20, "difficulty": "all"}
    assert "the first step matters" in pa.reading(row | {"drop": 30.0, "drop_ci95": (10.0, 50.0)})
    tie = pa.reading(row | {"drop": 10.0, "drop_ci95": (-5.0, 25.0)})
    assert "includes 0, a tie" in tie and "matters" not in tie
    assert "opposite" in pa.reading(row | {"drop": -30.0, "drop_ci95": (-50.0, -10.0)})
    assert "no interval" in pa.reading(row | {"mixed": 1, "drop": 100.0, "drop_ci95": None})
    assert pa.reading(row | {"mixed": 0, "drop": None, "drop_ci95": None}) == ""


# --- A policy whose first step decides -----------------------------------------------------


class AnchorPolicy(ScriptedPolicy):
    """First turn: a plan marked GOOD on even samples, BAD on odd ones, and a visit of the
    first gold page. Second turn: the answer, right after a GOOD plan; after a BAD plan
    right only at difficulty 1 (always) and, at difficulty 2, for the first BAD episode of
    the question in the batch. Text only, as an endpoint policy; counts its calls."""

    def __init__(self) -> None:
        super().__init__(None)
        self.book = TaskBook()
        self.calls = 0

    def bind_tasks(self, tasks):
        self.book.add(tasks)
        return self

    def generate(
        self, requests: list[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]:
        self.calls += 1
        seen: Counter = Counter()
        out = []
        for request in requests:
            task = self.book.find(request.messages)
            if turn_index(request.messages) == 0:
                kind = "GOOD" if seen[task.id, "plan"] % 2 == 0 else "BAD"
                seen[task.id, "plan"] += 1
                visit = {"name": "visit", "arguments": {"url": [task.gold.pages[0]], "goal": "x"}}
                move = Move(visit, plan=f"{kind} plan")
            else:
                plan = next(m["content"] for m in request.messages if m["role"] == "assistant")
                kind = "GOOD" if "GOOD" in plan else "BAD"
                index = seen[task.id, kind]
                seen[task.id, kind] += 1
                right = self.right(kind, task.difficulty, index, request.seed)
                move = Move(answer_action(task.answer if right else "surely not this"))
            out.append(self._turn(self.write(move, request), params))
        return out

    def right(self, kind: str, difficulty: int, index: int, seed: int | None) -> bool:
        """Whether the answer after a ``kind`` plan is right (``index``: the episode's place
        among the question's ``kind`` episodes of the batch)."""
        return kind == "GOOD" or difficulty == 1 or (difficulty == 2 and index == 0)


SCALE = dataclasses.replace(
    harness.SCALES["smoke"], anchor_tasks=5, anchor_samples=4, anchor_continuations=4
)
WORLD = harness.CorpusSpec("world", "default", "test")

# Per level (one question each): 1 never fails (not mixed); 2 fails only on its second
# BAD probe, and its BAD continuations win once in 4; 3-5 win exactly after GOOD plans.
EXPECTED = {
    "1": (1, 0, None, None, None, None, None, 1.0),
    "2": (1, 1, 1.0, 1.0, 0.0, 1.0, 0.25, 0.75),
    "3": (1, 1, 1.0, 0.0, 100.0, 1.0, 0.0, 0.5),
    "all": (5, 4, 1.0, 0.25, 75.0, 1.0, 0.0625, 0.65),
}
KEYS = (
    "probed", "mixed", "pass@n correct", "pass@n incorrect", "drop", "pass@1 correct",
    "pass@1 incorrect", "probe pass@1",
)  # fmt: skip


def test_scripted_policy_first_step_decides_and_a_rerun_resumes(tmp_path):
    out = tmp_path / "anchor"
    policy = AnchorPolicy()
    questions = pa.probe_corpus(policy, WORLD, SCALE, out, model="anchor-test")
    assert [q.difficulty for q in questions] == [1, 2, 3, 4, 5]
    assert policy.calls == 2 + 1  # lockstep: two turns of the probe, one of the continuations
    assert [q.mixed for q in questions] == [False, True, True, True, True]
    assert questions[1].probe == (1.0, 1.0, 1.0, 0.0)
    assert questions[1].correct_step.startswith("GOOD plan</plan>")
    assert questions[1].incorrect_step.startswith("BAD plan</plan>")
    assert questions[1].incorrect == (1.0, 0.0, 0.0, 0.0)
    rows = dict(pa.breakdown(questions))
    for level, values in EXPECTED.items():
        assert tuple(rows[level][k] for k in KEYS) == pytest.approx(values), level
    assert rows["4"] == rows["5"] == rows["3"]

    saved = load_jsonl(out / "continuations.jsonl")
    assert len(saved) == 4 * 2 * 4 and all(t.plan_forced for t in saved)
    assert all(t.turns[0].forced for t in saved)
    assert len(load_jsonl(out / "probe.jsonl")) == 5 * 4

    again = AnchorPolicy()
    assert pa.probe_corpus(again, WORLD, SCALE, out, model="anchor-test") == questions
    assert again.calls == 0  # everything came from the saved trajectories


class CountingPolicy(AnchorPolicy):
    """Counts the turns it generates and keeps the largest batch."""

    def __init__(self):
        super().__init__()
        self.turns = self.widest = 0

    def generate(self, requests, params):
        self.turns += len(requests)
        self.widest = max(self.widest, len(requests))
        return super().generate(requests, params)


def test_the_lockstep_batch_holds_at_most_the_scales_episodes(tmp_path):
    wide, narrow = CountingPolicy(), CountingPolicy()
    whole = pa.probe_corpus(wide, WORLD, SCALE, tmp_path / "wide", model="m")
    eight = dataclasses.replace(SCALE, anchor_batch_episodes=8)
    assert pa.probe_corpus(narrow, WORLD, eight, tmp_path / "narrow", model="m") == whole
    assert wide.widest == 32 and narrow.widest == 8  # 8 fixed steps x 4 vs two groups of 4
    assert narrow.turns == wide.turns and narrow.calls > wide.calls
    one = dataclasses.replace(SCALE, anchor_batch_episodes=1)  # still one question at a time
    single = CountingPolicy()
    assert pa.probe_corpus(single, WORLD, one, tmp_path / "one", model="m") == whole
    assert single.widest == 4
    # a rerun with another batch reuses what was played
    again = CountingPolicy()
    assert pa.probe_corpus(again, WORLD, SCALE, tmp_path / "narrow", model="m") == whole
    assert again.turns == 0


def test_a_rerun_with_more_questions_plays_only_the_new_ones(tmp_path):
    fewer = dataclasses.replace(SCALE, anchor_tasks=3)
    first = pa.probe_corpus(CountingPolicy(), WORLD, fewer, tmp_path / "grown", model="m")
    fresh = CountingPolicy()
    whole = pa.probe_corpus(fresh, WORLD, SCALE, tmp_path / "fresh", model="m")
    grown = CountingPolicy()
    again = pa.probe_corpus(grown, WORLD, SCALE, tmp_path / "grown", model="m")
    assert again[:3] == first and again == whole
    assert 0 < grown.turns < fresh.turns
    # and one with fewer reads the first of them, keeping the rest for a later rerun
    shrunk = CountingPolicy()
    assert pa.probe_corpus(shrunk, WORLD, fewer, tmp_path / "grown", model="m") == first
    regrown = CountingPolicy()
    assert pa.probe_corpus(regrown, WORLD, SCALE, tmp_path / "grown", model="m") == whole
    assert shrunk.turns == regrown.turns == 0

    # other settings (here the probe's samples) replay everything
    other = dataclasses.replace(SCALE, anchor_samples=2)
    replayed = CountingPolicy()
    pa.probe_corpus(replayed, WORLD, other, tmp_path / "grown", model="m")
    assert replayed.turns > grown.turns  # the probes too, not only the continuations
    assert not pa.reusable(tmp_path / "missing.json", {"tasks": []})
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    assert not pa.reusable(tmp_path / "broken.json", {"tasks": []})


def test_main_table_note_and_plot_with_mixed_questions(bench_work, results_file, monkeypatch):
    monkeypatch.setitem(harness.SCALES, "smoke", SCALE)
    monkeypatch.setattr(pa, "open_policy", lambda model, scale: AnchorPolicy())
    work = bench_work / "anchor-scripted"
    argv = ["--scale", "smoke", "--work-dir", str(work), "--corpus", "world"]
    assert pa.main([*argv, "--policy", "anchor-test"]) == 0
    text = results_file.read_text(encoding="utf-8")
    assert pa.TITLE in text
    assert (
        "| anchor-test | world | all | 5 | 4 | 1.000 | 0.250 | 75.0 [25.0, 100.0] | 1.000 | 0.062 |"
        in text
    )
    assert "an incorrect first step costs 75.0 points (95% CI 25.0 to 100.0)" in text
    assert "| anchor-test | world | 1 | 1 | 0 | - | - | - | - | - | 1.000 |" in text
    assert "anchor-test on world: 4 of 5 questions mixed" in text
    assert "probed policy anchor-test (anchor-test)" in text
    assert (work / "plan_anchor" / "plan_anchor.png").stat().st_size > 0
    assert (work / "plan_anchor" / "anchor-test" / "world" / "questions.json").exists()


# --- The smoke run ----------------------------------------------------------------------------


def test_smoke_run_reports_no_mixed_question_and_the_missing_corpus(bench_work, results_file):
    argv = smoke_args(bench_work, "--corpus", "missing=/nonexistent")
    assert experiment("plan_anchor").main(argv) == 0
    text = results_file.read_text(encoding="utf-8")
    assert pa.TITLE in text
    assert re.search(r"^- corpus missing=/nonexistent: FileNotFoundError", text, re.M)
    # a tiny random model does not answer right: 0 mixed questions, dashes, no invented numbers
    assert re.search(
        r"^\| start \| world \| all \| 2 \| 0 \| - \| - \| - \| - \| - \| ", text, re.M
    )
    assert "start on world: 0 of 2 questions mixed" in text
    assert "No probed question had mixed outcomes" in text
    assert (bench_work / "plan_anchor" / "plan_anchor.png").stat().st_size > 0
    assert (bench_work / "plan_anchor" / "start" / "world" / "probe.jsonl").exists()


def test_a_missing_checkpoint_is_reported(bench_work, results_file):
    argv = smoke_args(bench_work / "missing-ckpt", "--policy", "/nonexistent/checkpoint")
    assert pa.main(argv) == 0
    text = results_file.read_text(encoding="utf-8")
    assert "Checkpoint '/nonexistent/checkpoint' does not exist" in text


class SeededPolicy(CountingPolicy):
    """After a BAD plan, right or wrong by the request's seed alone (so by the episode's
    group and sample index, whichever batch it is played in)."""

    def right(self, kind, difficulty, index, seed):
        return kind == "GOOD" or seed % 3 == 0


def test_a_rerun_with_more_continuations_plays_only_the_new_ones(tmp_path):
    two = dataclasses.replace(SCALE, anchor_continuations=2)
    fresh = SeededPolicy()
    whole = pa.probe_corpus(fresh, WORLD, SCALE, tmp_path / "fresh", model="m")
    first = pa.probe_corpus(SeededPolicy(), WORLD, two, tmp_path / "grown", model="m")
    grown = SeededPolicy()
    again = pa.probe_corpus(grown, WORLD, SCALE, tmp_path / "grown", model="m")
    mixed = sum(q.mixed for q in again)
    assert again == whole and mixed == 5
    assert any(0.0 < sum(q.incorrect) < 4 for q in again)  # the seeds decide, not all alike
    assert [q.incorrect[:2] for q in again] == [q.incorrect for q in first]
    assert grown.turns == mixed * 2 * 2  # two more answers after each fixed step
    saved = load_jsonl(tmp_path / "grown" / "continuations.jsonl")
    assert sorted(t.sample for t in saved) == sorted([0, 1, 2, 3] * mixed * 2)

    fewer = SeededPolicy()
    assert pa.probe_corpus(fewer, WORLD, two, tmp_path / "grown", model="m") == first
    assert fewer.turns == 0  # the first two of the saved four

    # an interrupted write: the last group's last three episodes lost, half a line left
    path = tmp_path / "grown" / "continuations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-3]) + lines[-1][:40], encoding="utf-8")
    resumed = SeededPolicy()
    assert pa.probe_corpus(resumed, WORLD, SCALE, tmp_path / "grown", model="m") == whole
    assert resumed.turns == 3
