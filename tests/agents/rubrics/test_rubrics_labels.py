"""Plan labels: outcome labels from continuations (the plan follower, the rollout adapter)
and human labels exported to and imported from CSV / JSONL files."""

import csv
import json

import pytest

from agents.policy import GenerationRequest, SamplingParams
from agents.prompts import REACT_PREFILL
from agents.rubrics.labels import (
    LabelFormatError,
    PlanFollowerPolicy,
    PlanRecord,
    RolloutContinuations,
    evidence_seen,
    exchanges,
    export_for_labelling,
    import_labels,
    is_mixed,
    label_by_outcomes,
    load_plans,
    outcome_label,
    outcome_labels,
    plan_steps,
    save_human_labels,
    save_plans,
    steps_done,
)
from agents.scripted import OraclePolicy, PlanStyle, gold_plan
from wiki_corpus.schema import Gold, Task

PLANS = [
    PlanRecord("a", "t1", "Who built X?", "<plan>1. Search X.</plan>"),
    PlanRecord("b", "t1", "Who built X?", '<plan>Guess,\n"quickly".</plan>'),
    PlanRecord("c", "t2", "Where is Y?", "<plan>Read Y.</plan>"),
]

# ----------------------------------------------------------------------------- outcomes


def test_outcome_label_cutoff_and_mixed():
    assert outcome_label(0.5) == 1 and outcome_label(0.49) == 0
    assert outcome_label(0.5, cutoff=0.75) == 0
    assert is_mixed(0.25) and not is_mixed(0.0) and not is_mixed(1.0)
    plans = [PlanRecord("x", "t", "q", "p", 0.75), PlanRecord("y", "t", "q", "p")]
    assert outcome_labels(plans) == {"x": 1}


def test_label_by_outcomes_with_a_runner():
    calls = []

    def runner(plans, n):
        calls.append(([p.id for p in plans], n))
        return [{"a": 1.0, "b": 0.25, "c": 0.0}[p.id] for p in plans]

    labelled = label_by_outcomes(PLANS, runner, 4, batch_size=2, continuation="follower")
    assert calls == [(["a", "b"], 4), (["c"], 4)]
    assert [p.success_rate for p in labelled] == [1.0, 0.25, 0.0]
    assert all(p.n_continuations == 4 and p.continuation == "follower" for p in labelled)
    with pytest.raises(ValueError, match="success rate 2"):
        label_by_outcomes(PLANS, lambda plans, n: [2] * len(plans), 1)


def test_plans_file_round_trip(tmp_path):
    path = save_plans(tmp_path / "plans.jsonl", PLANS)
    assert load_plans(path) == PLANS
    path.write_text(path.read_text() + json.dumps({"id": "a", "task_id": "t"}) + "\n")
    with pytest.raises(ValueError, match=r"plans.jsonl:4: not a plan record"):
        load_plans(path)


TASK = Task(
    id="t1",
    question="In which city was the architect of Lumen Tower born?",
    answer="Szeged",
    gold=Gold(
        pages=("https://wiki.local/wiki/Lumen_Tower", "https://wiki.local/wiki/Ada_Varga"),
        actions=(
            {"name": "search", "arguments": {"query": ["Lumen Tower"]}},
            {
                "name": "visit",
                "arguments": {"url": ["https://wiki.local/wiki/Lumen_Tower"], "goal": "architect"},
            },
            {
                "name": "visit",
                "arguments": {"url": ["https://wiki.local/wiki/Ada_Varga"], "goal": "birthplace"},
            },
            {"name": "answer", "arguments": {"answer": "Szeged"}},
        ),
    ),
)


def test_plan_steps_read_the_oracle_plan_and_free_text():
    first = OraclePolicy([TASK], plan_style=PlanStyle.GOLD).move(request([]))
    steps = plan_steps(first.text())
    assert [s["name"] for s in steps] == ["search", "visit", "visit"]
    assert steps[1]["arguments"]["url"] == ["https://wiki.local/wiki/Lumen_Tower"]
    free = plan_steps(
        "<plan>First, search for the tower.\nThen visit https://wiki.local/wiki/Ada_Varga\n"
        "Think hard.\nAnswer.\nSearch for nothing after the answer.</plan>"
    )
    assert [s["name"] for s in free] == ["search", "visit"]
    assert free[0]["arguments"] == {"query": ["the tower"]}
    assert free[1]["arguments"]["url"] == ["https://wiki.local/wiki/Ada_Varga"]
    assert plan_steps("<plan>1. Search for A. 2. Answer. 3. Read B.</plan>") == [
        {"name": "search", "arguments": {"query": ["A"]}}
    ]


def test_steps_done_follows_what_was_executed():
    plan = f"<plan>{gold_plan(TASK.gold.actions)}</plan>"
    steps = plan_steps(plan)
    search = '<tool_call>{"name": "search", "arguments": {"query": ["Lumen Tower"]}}</tool_call>'
    visit_b = (
        '<tool_call>{"name": "visit", "arguments": {"url": ["Ada Varga"], "goal": "x"}}</tool_call>'
    )
    assert steps_done(steps, [plan + search]) == 1
    assert steps_done(steps, [plan + search, visit_b]) == 3  # a slip skipped step 2
    assert steps_done(steps, ["<plan>nothing</plan>"]) == 0


def test_evidence_seen_counts_pages_read_not_snippets():
    visit = '<tool_call>{"name": "visit", "arguments": {"url": ["Ada Varga"]}}</tool_call>'
    search = '<tool_call>{"name": "search", "arguments": {"query": ["Ada"]}}</tool_call>'
    assert evidence_seen(TASK, [(visit, "She was born in Szeged, Hungary.")])
    assert not evidence_seen(TASK, [(search, "Ada Varga: born in Szeged")])
    assert not evidence_seen(TASK, [(visit, "Lumen Tower is tall.")])
    yes_no = Task(id="y", question="Q?", answer="no", gold=TASK.gold)
    assert not evidence_seen(yes_no, [(visit, "no")])  # any text says "no"
    both = (
        '<tool_call>{"name": "visit", "arguments": {"url": ["Lumen Tower", "Ada Varga"]}}'
        "</tool_call>"
    )
    assert evidence_seen(yes_no, [(both, "")])


def test_exchanges_pair_turns_with_responses():
    messages = request(["a", "b"], ["ra", "rb"]).messages + ({"role": "assistant", "content": "c"},)
    assert exchanges(messages) == [("a", "ra"), ("b", "rb"), ("c", "")]


def request(turns, observations=(), seed=None):
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": TASK.question}]
    for i, text in enumerate(turns):
        messages.append({"role": "assistant", "content": text})
        messages.append({"role": "user", "content": observations[i] if observations else "obs"})
    return GenerationRequest(prompt_ids=(1,), messages=tuple(messages), seed=seed)


def test_follower_does_what_the_plan_says_and_answers_only_with_evidence():
    follower = PlanFollowerPolicy([TASK])
    first = OraclePolicy([TASK], plan_style=PlanStyle.GOLD).move(request([])).text()
    move = follower.move(request([first]))
    assert move.action["name"] == "visit" and move.action["arguments"]["url"] == [
        "https://wiki.local/wiki/Lumen_Tower"
    ]
    visit_a = '<tool_call>{"name": "visit", "arguments": {"url": ["Lumen Tower"]}}</tool_call>'
    visit_b = '<tool_call>{"name": "visit", "arguments": {"url": ["Ada Varga"]}}</tool_call>'
    done = [first, visit_a, visit_b]
    found = follower.move(request(done, ["r", "by Ada Varga", "born in Szeged"]))
    assert found.action == {"name": "answer", "arguments": {"answer": "Szeged"}}
    missed = follower.move(request(done, ["r", "by Ada Varga", "born somewhere"]))
    assert missed.action == {"name": "answer", "arguments": {"answer": "unknown"}}
    # a plan that only searches never gets to the page with the answer
    lazy = "<plan>1. Search Lumen Tower. 2. Answer.</plan>" + first.split("</plan>")[1]
    assert follower.move(request([lazy], ["Lumen Tower is a tower"])).action["arguments"] == {
        "answer": "unknown"
    }


def test_follower_slips_reproducibly():
    follower = PlanFollowerPolicy([TASK], slip=0.5)
    first = OraclePolicy([TASK], plan_style=PlanStyle.GOLD).move(request([])).text()
    targets = {
        seed: follower.move(request([first], seed=seed)).action["arguments"]["url"][0]
        for seed in range(20)
    }
    assert set(targets.values()) == {
        "https://wiki.local/wiki/Lumen_Tower",  # step 2
        "https://wiki.local/wiki/Ada_Varga",  # step 2 skipped
    }
    assert targets == {
        s: follower.move(request([first], seed=s)).action["arguments"]["url"][0] for s in range(20)
    }


class GoodPlanEnv:
    """Rewards an answer with 1 when the episode's first turn said GOOD."""

    def reset(self, *, seed=None, options=None):
        self.first = None
        return f"question of {options['task_id']}", {"task_id": options["task_id"]}

    def step(self, action):
        if self.first is None:
            self.first = action
        if "<answer>" in action:
            reward = 1.0 if "GOOD" in self.first else 0.0
            return "done", reward, True, False, {"tool_calls": []}
        return "<tool_response>ok</tool_response>", 0.0, False, False, {"tool_calls": ["search"]}

    def close(self):
        pass


class Answerer:
    tokenizer = None

    def generate(self, requests, params):
        from agents.policy import SampledTurn

        return [SampledTurn((), None, "<answer>x</answer>", "stop") for _ in requests]


def test_rollout_continuations_force_the_plan_and_count_successes():
    runner = RolloutContinuations(
        Answerer(), GoodPlanEnv, prompt=REACT_PREFILL, params=SamplingParams(), seed=3
    )
    plans = [
        PlanRecord("g", "t1", "q", "<plan>GOOD</plan><tool_call>{}</tool_call>"),
        PlanRecord("b", "t2", "q", "<plan>bad</plan><tool_call>{}</tool_call>"),
    ]
    labelled = label_by_outcomes(plans, runner, 3, continuation="answerer")
    assert [p.success_rate for p in labelled] == [1.0, 0.0]
    assert len(runner.trajectories) == 6
    first = runner.trajectories[0]
    assert first.plan_forced and first.task_id == "t1" and first.reward == 1.0
    # the stored plan starts with the prefill; the engine adds it back exactly once
    assert first.turns[0].text == "<plan>GOOD</plan><tool_call>{}</tool_call>"
    assert {t.group_id for t in runner.trajectories} == {0, 1}
    runner.close()


# ----------------------------------------------------------------------------- human labels


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_then_import(tmp_path, suffix):
    path = export_for_labelling(tmp_path / f"labels{suffix}", PLANS)
    if suffix == ".csv":
        rows = list(csv.DictReader(path.open(newline="")))
        assert list(rows[0]) == ["id", "question", "plan", "label", "note"]
        assert rows[1]["plan"] == PLANS[1].plan  # newlines and quotes survive
        rows[0]["label"], rows[1]["label"], rows[1]["note"] = "1", " 0 ", "vague"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        rows[0]["label"], rows[1]["label"], rows[1]["note"] = 1, "0", "vague"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = import_labels(path, known_ids={p.id for p in PLANS})
    assert got.as_dict() == {"a": 1, "b": 0} and got.unlabeled == 1 and not got.bad
    assert got.labels[1].note == "vague"
    out = save_human_labels(tmp_path / "clean.jsonl", got.labels)
    assert import_labels(out).labels == got.labels


def test_export_limit_samples_reproducibly(tmp_path):
    a = export_for_labelling(tmp_path / "a.jsonl", PLANS, limit=2, seed=1).read_text()
    b = export_for_labelling(tmp_path / "b.jsonl", PLANS, limit=2, seed=1).read_text()
    assert a == b and len(a.splitlines()) == 2


BAD_CSV = (
    "id,question,plan,label,note\n"
    'a,Q,"two\nlines",1,\n'  # lines 2-3
    ",Q,P,1,\n"  # line 4: missing id
    "b,Q,P,maybe,\n"  # line 5: bad label
    "zz,Q,P,0,\n"  # line 6: unknown id
    "a,Q,P,0,\n"  # line 7: repeated id
    "c,Q,P,,\n"  # line 8: unlabeled
)


def test_bad_rows_name_file_and_row(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(BAD_CSV)
    with pytest.raises(LabelFormatError, match=r"labels.csv:4: missing id .*--skip-bad"):
        import_labels(path, known_ids={"a", "b", "c"})
    got = import_labels(path, known_ids={"a", "b", "c"}, skip_bad=True)
    assert got.as_dict() == {"a": 1} and got.unlabeled == 1
    assert [str(b) for b in got.bad] == [
        f"{path}:4: missing id",
        f"{path}:5: label must be 0 or 1, got 'maybe'",
        f"{path}:6: unknown plan id 'zz'",
        f"{path}:7: repeated plan id 'a'",
    ]


def test_bad_jsonl_rows(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "a", "label": 1}\nnot json\n[1]\n{"id": "b", "label": true}\n')
    got = import_labels(path, skip_bad=True)
    assert got.as_dict() == {"a": 1}
    assert [b.row for b in got.bad] == [2, 3, 4]
    assert "not valid JSON" in got.bad[0].reason and "got True" in got.bad[2].reason


def test_csv_without_label_column_is_an_error(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,question\na,Q\n")
    with pytest.raises(LabelFormatError, match=r"labels.csv:1: expected a header"):
        import_labels(path, skip_bad=True)


def test_plan_steps_split_titles_only_when_known_titles_say_so():
    turn = "<plan>1. Read Drorkygora, Droulnigand. 2. Read Ada, Bo.</plan>"
    assert [s["arguments"]["url"] for s in plan_steps(turn)] == [
        ["https://wiki.local/wiki/Drorkygora,_Droulnigand"],
        ["https://wiki.local/wiki/Ada,_Bo"],
    ]
    known = {"Drorkygora, Droulnigand", "Ada", "Bo"}
    assert [s["arguments"]["url"] for s in plan_steps(turn, known)] == [
        ["https://wiki.local/wiki/Drorkygora,_Droulnigand"],
        ["https://wiki.local/wiki/Ada", "https://wiki.local/wiki/Bo"],
    ]


def test_follower_outcomes_on_a_real_environment(make_env, tasks):
    """Fixed plans on the small wiki of tests/agents/conftest.py: the gold plan reaches the
    answer, a plan about the wrong entity does not."""
    task = next(t for t in tasks if t.id == "q-1")
    gold = OraclePolicy(tasks, plan_style=PlanStyle.GOLD).move(request_for(task)).text()
    wrong = (
        "<plan>1. Search for Glasswing Bridge. 2. Read Glasswing Bridge. 3. Answer.</plan>\n"
        '<tool_call>{"name": "search", "arguments": {"query": ["Glasswing Bridge"]}}</tool_call>'
    )
    plans = [
        PlanRecord("gold", task.id, task.question, gold),
        PlanRecord("wrong", task.id, task.question, wrong),
    ]
    runner = RolloutContinuations(PlanFollowerPolicy(tasks, slip=0.0), make_env, max_turns=6)
    try:
        labelled = label_by_outcomes(plans, runner, 2)
    finally:
        runner.close()
    assert [p.success_rate for p in labelled] == [1.0, 0.0]
    visits = [t for t in runner.trajectories[0].turns if "visit" in t.tool_calls]
    assert visits and "Lumen_Tower" in visits[0].text


def request_for(task):
    messages = ({"role": "system", "content": "s"}, {"role": "user", "content": task.question})
    return GenerationRequest(prompt_ids=(1,), messages=messages)
