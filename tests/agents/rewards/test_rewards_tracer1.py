import pytest

from agents.rewards import (
    TraceR1RewardConfig,
    action_similarity,
    repeats_earlier_action,
    token_jaccard,
    tracer1_reward,
)

URL = "https://wiki.local/wiki/Lumen_Tower"


def search(*queries):
    return {"name": "search", "arguments": {"query": list(queries)}}


def visit(url, goal=None):
    args = {"url": [url]} if goal is None else {"url": [url], "goal": goal}
    return {"name": "visit", "arguments": args}


GOLD = [search("Lumen Tower architect"), visit(URL), search("Ada Brook birthplace")]
PREDICTED = [
    search("lumen  tower ARCHITECT"),  # same tool, same tokens: sim 1
    search("Lumen Tower"),  # gold is a visit: sim 0
    search("Ada Brook born"),  # J({ada,brook,born},{ada,brook,birthplace}) = 2/4: sim 0.75
    search("Lumen Tower architect"),  # past the gold: sim 0; repeats step 1: rep 1
]


def test_similarity_by_hand():
    assert action_similarity(PREDICTED[0], GOLD[0]) == 1.0
    assert action_similarity(PREDICTED[1], GOLD[1]) == 0.0
    assert action_similarity(PREDICTED[2], GOLD[2]) == pytest.approx(0.75)
    # url tokens {https, wiki, local, lumen_tower} + goal {find, the, architect}: J = 4/7
    with_goal = visit(URL, goal="find the architect")
    assert action_similarity(with_goal, GOLD[1]) == pytest.approx(0.5 + 0.5 * 4 / 7)


def test_repetition_by_hand():
    assert [repeats_earlier_action(PREDICTED[: t + 1]) for t in range(4)] == [0, 0, 0, 1]
    # query order and case do not make a new action
    assert repeats_earlier_action([search("a", "B"), search("b", "A")]) == 1.0
    assert repeats_earlier_action([search("a"), visit("a")]) == 0.0


def test_reward_by_hand():
    # 1.0 + 0.9 * 0 + 0.81 * 0.75 + 0.729 * (0 - 0.5 * 1) = 1 + 0.6075 - 0.3645
    assert tracer1_reward(PREDICTED, GOLD) == pytest.approx(1.243)
    # gamma 0.5, lambda_rep 1: 1 + 0.25 * 0.75 - 0.125 * 1
    config = TraceR1RewardConfig(gamma=0.5, lambda_align=1.0, lambda_rep=1.0)
    assert tracer1_reward(PREDICTED, GOLD, config) == pytest.approx(1.0625)
    assert tracer1_reward(GOLD, GOLD) == pytest.approx(1 + 0.9 + 0.81)
    assert tracer1_reward([], GOLD) == 0.0


def test_custom_similarity_and_repetition():
    def exact(p, g):
        return float(p == g)

    def never(prefix):
        return 0.0

    # exact matches only at step 2 (the visit): 0.9
    predicted = [search("x"), visit(URL), search("x")]
    assert tracer1_reward(predicted, GOLD, sim=exact, rep=never) == pytest.approx(0.9)


def test_token_jaccard():
    assert token_jaccard(["a b"], ["b c"]) == pytest.approx(1 / 3)
    assert token_jaccard([], []) == 1.0
    assert token_jaccard(["a"], []) == 0.0


def test_malformed_actions_raise():
    with pytest.raises(ValueError, match="Expected an action"):
        tracer1_reward([{"arguments": {}}], GOLD)
    with pytest.raises(ValueError, match="arguments of 'search' to be a dict"):
        action_similarity({"name": "search", "arguments": "q"}, GOLD[0])
