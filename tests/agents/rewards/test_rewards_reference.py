import pytest

from agents.rewards import load_default_rubric, naive_rubric
from agents.rewards.reference import (
    GoldDecomposition,
    PrivilegedReferenceJudge,
    plan_section,
    reference_scores,
    split_steps,
)
from wiki_corpus.schema import Gold, Task, title_to_url

CHESS = Task(
    id="t-chess",
    question=(
        "In which city was the first mayor of the birthplace of the chess player "
        "Leikine Gleiskdoulovic born?"
    ),
    answer="Wythmeburg",
    hops=3,
    gold=Gold(
        pages=tuple(
            title_to_url(t) for t in ("Leikine Gleiskdoulovic", "Drelliadale", "Cogeth Ceskfias")
        ),
        actions=(
            {"name": "search", "arguments": {"query": ["Leikine Gleiskdoulovic chess player"]}},
            {
                "name": "visit",
                "arguments": {
                    "url": [title_to_url("Leikine Gleiskdoulovic")],
                    "goal": "Find the birthplace of Leikine Gleiskdoulovic",
                },
            },
            {
                "name": "visit",
                "arguments": {
                    "url": [title_to_url("Drelliadale")],
                    "goal": "Find the first mayor of Drelliadale",
                },
            },
            {
                "name": "visit",
                "arguments": {
                    "url": [title_to_url("Cogeth Ceskfias")],
                    "goal": "Find the birthplace of Cogeth Ceskfias",
                },
            },
            {"name": "answer", "arguments": {"answer": "Wythmeburg"}},
        ),
    ),
)

# Every question word (9 of 9), every hop in order, all three tools, a fallback, numbered.
PLAN_A = (
    "1. Search for the chess player Leikine Gleiskdoulovic.\n"
    "2. Read his page and find his birthplace.\n"
    "3. Read the page of that birthplace and find its first mayor.\n"
    "4. Read the mayor's page and find the city where he was born; if a page is missing, "
    "search for the name instead.\n"
    "5. Answer with that city."
)
# 6 of 9 question words and the hindsight name Drelliadale (goal 5 * 6/9 - 1 = 7/3); all
# hop words present but none of the gold path's 3 pages read (coverage 5 - 3 = 2); never
# reads a page (tools 2 + 0 + 1 = 3); the mayor
# before the birthplace: a chain of 2 of 3 hops (ordering 3 * 2/3 + 1 + 1 = 4); every
# sentence a tool step, no fallback (actionability 4); three sentences, no step markers
# (clarity 5 - 1 = 4).
PLAN_B = (
    "Search for the first mayor of Drelliadale. Then search for the birthplace of "
    "Leikine Gleiskdoulovic. Answer with the city."
)


def test_gold_decomposition_of_the_chess_task():
    gold = GoldDecomposition.of(CHESS)
    assert gold.question_words == {
        "city", "first", "mayor", "birthplace", "chess", "player", "leikine",
        "gleiskdoulovic", "born",
    }  # fmt: skip
    assert gold.hops == ({"birthplace"}, {"first", "mayor"}, {"birthplace"})
    assert (gold.searches, gold.visits, gold.first_tool, gold.length) == (True, True, "search", 5)


def test_six_scores_of_two_hand_written_plans():
    assert reference_scores(PLAN_A, CHESS) == {
        "goal_alignment": 5.0,
        "subgoal_coverage": 5.0,
        "tool_appropriateness": 5.0,
        "logical_ordering": 5.0,
        "actionability": 5.0,
        "clarity_conciseness": 5.0,
    }
    assert reference_scores(PLAN_B, CHESS) == pytest.approx(
        {
            "goal_alignment": 7 / 3,
            "subgoal_coverage": 2.0,
            "tool_appropriateness": 3.0,
            "logical_ordering": 4.0,
            "actionability": 4.0,
            "clarity_conciseness": 4.0,
        },
        abs=1e-4,
    )


def test_stating_the_answer_costs_goal_alignment_and_clarity():
    scores = reference_scores(PLAN_A + " The answer is probably Wythmeburg.", CHESS)
    # one invented name (-1) and the stated answer (-2); clarity loses 1 for the answer
    assert scores["goal_alignment"] == 2.0
    assert scores["clarity_conciseness"] == 4.0


def test_a_step_number_is_not_a_stated_answer():
    one = Task(id="t-one", question="How many moons has Vell?", answer="1", gold=CHESS.gold)
    assert (
        reference_scores("1. Search Vell. 2. Read it. 3. Answer.", one)["clarity_conciseness"] == 5
    )


def test_splits_numbered_steps_else_sentences():
    assert split_steps("1. Search X. 2) Read Y.") == (["Search X.", "Read Y."], True)
    assert split_steps("Search X. Read Y.\nAnswer.") == (["Search X.", "Read Y.", "Answer."], False)


def test_judge_plugs_in_like_the_llm_judges():
    judge = PrivilegedReferenceJudge([CHESS])
    a, b, empty = judge.score([CHESS.question] * 3, [PLAN_A, PLAN_B, "  \n"])
    assert a.reward == 1.0 and a.scores["actionability"] == 5.0
    assert b.reward == pytest.approx((7 / 3 + 2 + 3 + 4 + 4 + 4) / 30, abs=1e-4)
    assert empty.reward is None and empty.scores is None and empty.failure == "empty plan"


def test_task_without_a_gold_path_gets_no_reward():
    bare = Task(id="t-bare", question="Who?", answer="X")
    (result,) = PrivilegedReferenceJudge([bare]).score(["Who?"], ["1. Search. 2. Answer."])
    assert result.reward is None and result.failure == "task 't-bare' has no gold path"


def test_unknown_question_and_foreign_rubric_are_errors():
    judge = PrivilegedReferenceJudge([CHESS])
    with pytest.raises(ValueError, match="Expected a question of one of the 1 tasks"):
        judge.score(["Who?"], ["1. Search."])
    with pytest.raises(ValueError, match="Expected a rubric with the dimensions"):
        PrivilegedReferenceJudge([CHESS], naive_rubric())


def test_scores_are_rescaled_to_the_rubric_maxima():
    data = load_default_rubric().to_dict()
    for d in data["dimensions"]:
        d["max_score"] = 10
    from agents.rewards import Rubric

    judge = PrivilegedReferenceJudge([CHESS], Rubric.from_dict(data))
    (result,) = judge.score([CHESS.question], [PLAN_B])
    assert result.scores["tool_appropriateness"] == 6.0


def test_the_judge_scores_the_plan_not_the_first_action_that_follows_it():
    bare = "1. Search the question. 2. Read the top result. 3. Answer with its title."
    call = '<tool_call>{"name": "search", "arguments": {"query": ["%s"]}}</tool_call>'
    turn = f"<plan>{bare}</plan>\n" + call % CHESS.question  # the query repeats the question
    judge = PrivilegedReferenceJudge([CHESS])
    [scored] = judge.score([CHESS.question], [turn])
    assert plan_section(turn) == bare
    assert scored.scores == reference_scores(bare, CHESS)
    assert scored.scores["goal_alignment"] == 0.0 and scored.scores["subgoal_coverage"] == 0.0
    assert reference_scores(turn, CHESS)["subgoal_coverage"] > 0  # what the query leaked
    assert plan_section("1. Search X. 2. Answer.") == "1. Search X. 2. Answer."  # no tags
    [tagged] = judge.score([CHESS.question], [f"<plan>{PLAN_A}</plan>"])
    assert tagged.reward == 1.0


def test_a_superfluous_hop_an_unasked_relation_and_an_off_question_query_cost_points():
    call = '<tool_call>{"name": "search", "arguments": {"query": ["%s"]}}</tool_call>'
    # four reads for the gold path's three (clarity -1) and a sought "author" and
    # "publisher" that neither the question nor the gold path names (goal -2)
    wandering = PLAN_A.replace(
        "5. Answer", "5. Read the page of that city and find its author and publisher.\n6. Answer"
    )
    scores = reference_scores(wandering, CHESS)
    assert scores["clarity_conciseness"] == 4.0 and scores["goal_alignment"] == 3.0
    assert {
        k: v for k, v in scores.items() if k not in ("clarity_conciseness", "goal_alignment")
    } == {
        k: 5.0
        for k in ("subgoal_coverage", "tool_appropriateness", "logical_ordering", "actionability")
    }
    # two reads for three: coverage -1
    short = "1. Search for the chess player Leikine Gleiskdoulovic. 2. Read his page and find his birthplace. 3. Read the page of the first mayor of that birthplace and find where he was born. 4. Answer with the city."
    assert reference_scores(short, CHESS)["subgoal_coverage"] == 4.0
    # the first action: a query of the question's words is carrying out step 1, one off it is not
    judge = PrivilegedReferenceJudge([CHESS])
    on, off = judge.score(
        [CHESS.question] * 2,
        [f"<plan>{PLAN_A}</plan>\n" + call % "chess player Leikine Gleiskdoulovic",
         f"<plan>{PLAN_A}</plan>\n" + call % "sports team stadium"],
    )  # fmt: skip
    assert on.scores["actionability"] == 5.0 and off.scores["actionability"] == 4.0
    assert on.reward == 1.0 and off.reward < 1.0
