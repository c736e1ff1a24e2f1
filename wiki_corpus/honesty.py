"""Causal honesty of a trajectory, and honest gold paths built with the real tools.

A trajectory is *honest* when every action uses only what the agent knows at that turn:
the question and the observations of earlier actions. Concretely,

* a visit goes to a URL that appeared in an earlier observation, or to a page whose title
  the question names;
* no plan, query, goal or answer names an entity (one of ``names``) that neither the
  question nor an earlier observation mentions; the plan, written before any observation,
  may name only the question's entities;
* an answer states something the question or an earlier observation contains.

:func:`first_violation` checks this and is the single definition: the corpus generator
uses it to validate every task's gold path (with the environment's search and visit
responses), and the tests use it on the supervised demonstrations.

:func:`honest_gold` builds a gold path by playing the tools: it searches the question's
queries, visits a gold page only once its URL has been observed, searches an observed name
when the page is not linked where the agent reads, and tries other queries taken from the
question when the first search misses. A task without an honest path gets ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from wiki_corpus.schema import url_to_title
from wiki_corpus.validate import normalize

UNSEEN_URL = "unseen_url"
UNSEEN_ENTITY = "unseen_entity"
UNSEEN_ANSWER = "unseen_answer"
PLAN_STEP = -1
"""The step index of the plan in a :class:`Violation`."""

Action = Mapping[str, Any]
Observe = Callable[[Action], str]
"""Runs one search or visit action and returns the tool's response text."""

_WORD = re.compile(r"[^\W_][\w'’\-]*")
_QUALIFIER = re.compile(r"\s*\([^()]*\)$|,\s[^,]+$")


MACHINE_TOLERANCE = 0.005
"""Share of bundled gold paths that may break honesty on a machine other than the one that
validated them. Honesty is checked against the search's rankings, and rankings near a tie
(BM25 scores that are equal, dense scores 1e-5 apart) can order differently on another CPU:
the bundled corpus, validated on an Intel host, has 4 of 1,500 gold paths that an AMD EPYC
host's search breaks (a page validated in the top 5 falls to 6th)."""


class Violation(NamedTuple):
    """The first dishonest move: its action index (``PLAN_STEP`` for the plan), why, what."""

    step: int
    kind: str
    detail: str


def title_name(title: str) -> str:
    """A page title without its qualifier: 'Orlan Vesk (architect)' -> 'Orlan Vesk',
    'Tessary, Valdmark' -> 'Tessary'."""
    return _QUALIFIER.sub("", title).strip()


class EntityNames:
    """A fixed set of entity names, found in text as whole words (case-sensitive)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._by_first: dict[str, list[str]] = {}
        for name in sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True):
            first = _WORD.match(name)
            if first is not None and first.start() == 0:
                self._by_first.setdefault(first.group(), []).append(name)

    def __len__(self) -> int:
        return sum(map(len, self._by_first.values()))

    def mentioned(self, text: str) -> list[str]:
        """The names that occur in ``text`` as whole words, in order of first occurrence."""
        found: dict[str, None] = {}
        for word in _WORD.finditer(text):
            for name in self._by_first.get(word.group(), ()):
                end = word.start() + len(name)
                if text.startswith(name, word.start()) and not _is_word_char(text, end):
                    found[name] = None
        return list(found)


def _is_word_char(text: str, at: int) -> bool:
    return at < len(text) and (text[at].isalnum() or text[at] in "_'’-")


def _texts(action: Action) -> list[str]:
    """The agent-written strings of an action that may name entities."""
    arguments = action.get("arguments") or {}
    out: list[str] = []
    for key in ("query", "goal", "answer"):
        value = arguments.get(key)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, str))
    return out


def _urls(action: Action) -> list[str]:
    value = (action.get("arguments") or {}).get("url")
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, str)]
    return []


def _unseen(names: EntityNames, text: str, known: str) -> str | None:
    return next((n for n in names.mentioned(text) if n not in known), None)


def _visit_known(url: str, question: str, seen: str) -> bool:
    if url in seen:
        return True
    title = url_to_title(url) or url
    return title in question or title_name(title) in question


def first_violation(
    question: str,
    actions: Sequence[Action],
    observations: Sequence[str],
    names: EntityNames | Iterable[str] = (),
    plan: str | None = None,
) -> Violation | None:
    """The first move that uses knowledge the agent could not have had, or None.

    ``observations[i]`` is the response to ``actions[i]`` (an answer needs none);
    ``names`` are the entity names that count as knowledge (a corpus's page names).
    """
    names = names if isinstance(names, EntityNames) else EntityNames(names)
    if plan is not None:
        name = _unseen(names, plan, question)
        if name is not None:
            return Violation(PLAN_STEP, UNSEEN_ENTITY, f"the plan names {name!r}")
    seen = ""
    for step, action in enumerate(actions):
        known = question + "\n" + seen
        for text in _texts(action):
            name = _unseen(names, text, known)
            if name is not None:
                return Violation(step, UNSEEN_ENTITY, f"{action.get('name')} names {name!r}")
        if action.get("name") == "visit":
            for url in _urls(action):
                if not _visit_known(url, question, seen):
                    return Violation(step, UNSEEN_URL, f"visits {url!r}")
        if action.get("name") == "answer":
            answer = str((action.get("arguments") or {}).get("answer", ""))
            if normalize(answer) not in normalize(known):
                return Violation(step, UNSEEN_ANSWER, f"answers {answer!r}")
        if step < len(observations):
            seen += "\n" + observations[step]
    return None


def replay(actions: Sequence[Action], observe: Observe) -> list[str]:
    """The response to each action (an answer gets none: "")."""
    return [observe(a) if a.get("name") in ("search", "visit") else "" for a in actions]


def search(queries: Sequence[str]) -> dict[str, Any]:
    return {"name": "search", "arguments": {"query": list(queries)}}


def visit(url: str, goal: str) -> dict[str, Any]:
    return {"name": "visit", "arguments": {"url": [url], "goal": goal}}


class GoldPage(NamedTuple):
    """One page of a gold path: its URL, the entity's plain name and the visit goal."""

    url: str
    name: str
    goal: str


def honest_gold(
    question: str,
    answer: str,
    pages: Sequence[GoldPage],
    first_queries: Sequence[Sequence[str]],
    observe: Observe,
    names: EntityNames,
) -> tuple[dict[str, Any], ...] | None:
    """An honest path (search, visits, answer) through ``pages`` in order, or None.

    ``first_queries`` are the query lists to try for the first search, best first; the
    first that leads to a path is used. Later pages are visited once their URL has been
    observed; otherwise their name, once observed, is searched.
    """
    for queries in first_queries:
        played = _play(question, answer, pages, queries, observe)
        if played is None:
            continue
        actions, responses = played
        actions.append({"name": "answer", "arguments": {"answer": answer}})
        if first_violation(question, actions, responses, names) is None:
            return tuple(actions)
    return None


def _play(
    question: str,
    answer: str,
    pages: Sequence[GoldPage],
    queries: Sequence[str],
    observe: Observe,
) -> tuple[list[dict[str, Any]], list[str]] | None:
    """Actions and their responses along ``pages``; None where the path breaks."""
    actions: list[dict[str, Any]] = []
    responses: list[str] = []

    def act(action: dict[str, Any]) -> str:
        actions.append(action)
        responses.append(observe(action))
        return "\n".join(responses)

    seen = act(search(queries))
    for page in pages:
        if page.url not in seen:
            if page.name not in question + seen:
                return None
            seen = act(search([page.name]))
            if page.url not in seen:
                return None
        seen = act(visit(page.url, page.goal))
    if normalize(answer) not in normalize(question + seen):
        return None
    return actions, responses


MAX_QUERIES = 5
"""Queries in one search call (the environment's default ``max_items_per_call``)."""
_CLAUSE = re.compile(r",? and (?!\d)|,? (?:that|which|who) |, ")
_LEAD = re.compile(
    r"^(?:what is the name of|which|what|who|name|when|where|in which|how many)\s+(?:the\s+)?",
    re.IGNORECASE,
)


def first_search_options(question: str, queries: Sequence[str]) -> list[list[str]]:
    """Query lists for a first search, best first: the given queries, then with the question
    and its clauses added (every added query is worded by the question itself)."""
    options = [list(queries)]
    extra = [question.rstrip("?.")] + [
        c.strip() for c in _CLAUSE.split(_LEAD.sub("", question.rstrip("?."))) if len(c) > 12
    ]
    for query in dict.fromkeys(extra):
        grown = [*options[-1], query][:MAX_QUERIES]
        if grown != options[-1] and query not in options[-1]:
            options.append(grown)
    return options


def gold_pages(
    actions: Sequence[Action], urls: Sequence[str], name_of: Callable[[str], str]
) -> list[GoldPage]:
    """The gold pages of a path, each with its entity name and the goal of its first visit."""
    goals: dict[str, str] = {}
    for action in actions:
        if action.get("name") == "visit":
            for url in _urls(action):
                goals.setdefault(url, str(action["arguments"].get("goal") or ""))
    return [GoldPage(url, name_of(url), goals.get(url, "")) for url in urls]


def first_queries(actions: Sequence[Action]) -> list[str]:
    """The queries of a path's first search (empty when it starts otherwise)."""
    first = actions[0] if actions else {}
    query = (first.get("arguments") or {}).get("query") if first.get("name") == "search" else []
    return [query] if isinstance(query, str) else list(query or [])


def env_observer(corpus: Any = "default", **settings: Any) -> Observe:
    """Search and Visit responses of the environment's backend over ``corpus``, with the
    environment's default settings (``settings`` overrides them: ``top_k``,
    ``search_mode``, ``visit_chars``, ``goal_mode``); responses are cached per action."""
    from webanchor_env.backend import WikiBackend, get_backend
    from webanchor_env.env import WikiEnvConfig

    config = WikiEnvConfig(**settings)
    backend = corpus if isinstance(corpus, WikiBackend) else get_backend(corpus)
    cache: dict[str, str] = {}

    def observe(action: Action) -> str:
        arguments = action.get("arguments") or {}
        key = repr((action.get("name"), sorted(arguments.items(), key=lambda kv: kv[0])))
        if key not in cache:
            if action.get("name") == "search":
                cache[key] = backend.search_text(
                    arguments.get("query"), top_k=config.top_k, mode=config.search_mode
                )
            elif action.get("name") == "visit":
                cache[key] = backend.visit_text(
                    arguments.get("url"),
                    arguments.get("goal"),
                    offset=arguments.get("offset", 0),
                    max_chars=config.visit_chars,
                    goal_mode=config.goal_mode,
                )
            else:
                cache[key] = ""
        return cache[key]

    return observe
