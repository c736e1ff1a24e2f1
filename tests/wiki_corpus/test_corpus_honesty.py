"""Causal honesty: the checker, the honest gold path builder and the generator's pass."""

from __future__ import annotations

import pytest
from fake_search import lexical_observer

from wiki_corpus.generate import FIXED, HONEST, REPLACED, generate, make_honest
from wiki_corpus.honesty import (
    PLAN_STEP,
    UNSEEN_ANSWER,
    UNSEEN_ENTITY,
    UNSEEN_URL,
    EntityNames,
    GoldPage,
    Violation,
    first_search_options,
    first_violation,
    honest_gold,
    search,
    title_name,
    visit,
)
from wiki_corpus.schema import title_to_url

QUESTION = "In which town was the architect of Lumen Tower born?"
TOWER, ARCHITECT, TOWN = (title_to_url(t) for t in ("Lumen Tower", "Orlan Vesk", "Tessary"))
NAMES = EntityNames(["Lumen Tower", "Orlan Vesk", "Tessary", "Cobalt Bay"])
WIKI = {
    "Lumen Tower": f"Lumen Tower was designed by Orlan Vesk. Links: [Orlan Vesk]({ARCHITECT})",
    "Orlan Vesk": "Orlan Vesk was an architect born in Tessary.",
    "Tessary": "Tessary is a market town.",
}


def observe(action) -> str:
    """A fake wiki: a search lists the pages whose title shares a word with a query."""
    arguments = action["arguments"]
    if action["name"] == "visit":
        return "\n".join(WIKI.get(t, "not found") for t in _titles(arguments["url"]))
    words = {w for q in arguments["query"] for w in q.split()}
    hits = [t for t in WIKI if words & set(t.split())]
    return "\n".join(f"[{t}]({title_to_url(t)})\n{WIKI[t][:30]}" for t in hits)


def _titles(urls: list[str]) -> list[str]:
    return [u.rsplit("/", 1)[1].replace("_", " ") for u in urls]


def _path(*actions):
    return list(actions), [observe(a) if a["name"] != "answer" else "" for a in actions]


ANSWER = {"name": "answer", "arguments": {"answer": "Tessary"}}


def test_title_name_drops_qualifiers() -> None:
    assert title_name("Orlan Vesk (architect)") == "Orlan Vesk"
    assert title_name("Tessary, Valdmark") == "Tessary"
    assert title_name("Lumen Tower") == "Lumen Tower"


def test_names_are_found_as_whole_words_longest_first() -> None:
    names = EntityNames(["Lumen", "Lumen Tower", "Vesk"])
    assert names.mentioned("Visit Lumen Tower, not Lumenary or Vesks.") == ["Lumen Tower", "Lumen"]
    assert names.mentioned("nothing here") == [] and len(names) == 3


def test_an_honest_path_has_no_violation() -> None:
    actions, responses = _path(
        search(["Lumen Tower"]),
        visit(TOWER, "Find the architect of Lumen Tower"),
        visit(ARCHITECT, "Find the birthplace of Orlan Vesk"),
        search(["Tessary"]),
        visit(TOWN, "Check Tessary"),
        ANSWER,
    )
    plan = "1. Search for Lumen Tower. 2. Read the page of the architect found in step 2."
    assert first_violation(QUESTION, actions, responses, NAMES, plan) is None


@pytest.mark.parametrize(
    ("actions", "plan", "expected"),
    [
        ([search(["Lumen Tower"])], "1. Read Orlan Vesk.", (PLAN_STEP, UNSEEN_ENTITY)),
        ([search(["Lumen Tower"]), search(["Tessary"])], None, (1, UNSEEN_ENTITY)),
        ([search(["Lumen Tower"]), visit(TOWN, "the town")], None, (1, UNSEEN_URL)),
        ([search(["Lumen Tower"]), ANSWER], None, (1, UNSEEN_ENTITY)),
        ([search(["Lumen Tower"]), {"name": "answer", "arguments": {"answer": "1902"}}], None,
         (1, UNSEEN_ANSWER)),
    ],
)  # fmt: skip
def test_the_first_dishonest_move_is_reported(actions, plan, expected) -> None:
    actions, responses = _path(*actions)
    violation = first_violation(QUESTION, actions, responses, NAMES, plan)
    assert isinstance(violation, Violation) and violation[:2] == expected


def test_a_page_the_question_names_may_be_visited_directly() -> None:
    actions, responses = _path(visit(TOWER, "Find the architect of Lumen Tower"))
    assert first_violation(QUESTION, actions, responses, NAMES) is None


def test_what_an_action_observes_counts_only_after_it() -> None:
    actions = [search(["Lumen Tower"]), visit(ARCHITECT, "x")]
    responses = ["", f"[Orlan Vesk]({ARCHITECT})"]  # the URL is seen in the visit's own answer
    assert first_violation(QUESTION, actions, responses, NAMES) == Violation(
        1, UNSEEN_URL, f"visits {ARCHITECT!r}"
    )


PAGES = [
    GoldPage(TOWER, "Lumen Tower", "Find the architect of Lumen Tower"),
    GoldPage(ARCHITECT, "Orlan Vesk", "Find the birthplace of Orlan Vesk"),
    GoldPage(TOWN, "Tessary", "Check Tessary"),
]


def test_honest_gold_searches_a_name_that_is_read_but_not_linked() -> None:
    path = honest_gold(QUESTION, "Tessary", PAGES, [["Lumen Tower"]], observe, NAMES)
    assert path is not None and [a["name"] for a in path] == [
        "search", "visit", "visit", "search", "visit", "answer",
    ]  # fmt: skip
    assert path[3] == search(["Tessary"])


def test_honest_gold_searches_the_question_s_name_when_the_first_search_misses() -> None:
    path = honest_gold(QUESTION, "Tessary", PAGES, [["architect"]], observe, NAMES)
    assert path is not None and path[:2] == (search(["architect"]), search(["Lumen Tower"]))


def test_honest_gold_tries_the_next_queries_when_nothing_is_named() -> None:
    question = "Where was the architect of the tallest Tower born?"
    options = [["architect birthplace"], ["architect birthplace", "tallest Tower"]]
    path = honest_gold(question, "Tessary", PAGES, options, observe, NAMES)
    assert path is not None and path[0] == search(options[1])
    assert honest_gold(question, "Tessary", PAGES, options[:1], observe, NAMES) is None


def test_first_search_options_add_the_question_and_its_clauses() -> None:
    question = "Which stadium was completed in 1887 and has between 10 and 20 seats?"
    options = first_search_options(question, ["stadium completed in 1887"])
    assert options[0] == ["stadium completed in 1887"]
    assert options[1] == ["stadium completed in 1887", question.rstrip("?")]
    assert options[-1][-1] == "has between 10 and 20 seats" and len(options[-1]) <= 5


@pytest.fixture(scope="module")
def small_world():
    return generate(300, seed=3, n_tasks={"train": 24, "dev": 6, "test": 6})


def test_make_honest_keeps_fixes_or_replaces_every_task(small_world) -> None:
    honest = make_honest(small_world, lexical_observer(small_world.pages))
    record = honest.meta["validation"]["honesty"]
    assert [t.id for t in honest.tasks] == [t.id for t in small_world.tasks]
    assert [t.split for t in honest.tasks] == [t.split for t in small_world.tasks]
    counts = {
        s: sum(record["splits"][s][k] for k in (HONEST, FIXED, REPLACED)) for s in record["splits"]
    }
    assert counts == {"train": 24, "dev": 6, "test": 6}
    assert sum(v[REPLACED] for v in record["by_hops"].values()) > 0  # a lexical search misses
    names = EntityNames(small_world.world.names)
    observe = lexical_observer(small_world.pages)
    for task in honest.tasks:
        actions = list(task.gold.actions)
        responses = [observe(a) if a["name"] != "answer" else "" for a in actions]
        assert first_violation(task.question, actions, responses, names) is None, task.id
    assert make_honest(small_world, observe).tasks == honest.tasks  # deterministic


@pytest.mark.slow
def test_every_bundled_gold_path_is_honest_with_the_environment_s_search() -> None:
    """All splits of the bundled corpus, replayed with the default environment settings;
    the honesty pass that made them is recorded in meta.json."""
    import webanchor_env
    from wiki_corpus.honesty import MACHINE_TOLERANCE, env_observer, replay

    backend = webanchor_env.get_backend("default", show_progress=False)
    observe = env_observer(backend)
    names = EntityNames(title_name(p.title) for p in backend.corpus.pages)
    broken = []
    for task in backend.corpus.tasks:
        actions = list(task.gold.actions)
        if first_violation(task.question, actions, replay(actions, observe), names) is not None:
            broken.append(task.id)
    # exact on the validating machine; a few near-tied rankings differ on another CPU
    assert len(broken) <= MACHINE_TOLERANCE * len(backend.corpus.tasks), broken
    record = backend.corpus.meta["validation"]["honesty"]
    sizes = {
        s: sum(record["splits"][s][k] for k in (HONEST, FIXED, REPLACED)) for s in record["splits"]
    }
    assert sizes == backend.corpus.meta["counts"]["tasks"]
