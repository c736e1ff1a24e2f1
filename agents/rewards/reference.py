"""The privileged reference judge: the six rubric dimensions scored against the gold path.

It is *privileged*: it reads the task's gold decomposition (the pages and actions of the
gold path), which no agent and no LLM judge sees. Use it as a fast, deterministic,
offline stand-in for an LLM judge on corpora with gold paths, and label it privileged
wherever its numbers are reported.

The gold decomposition of a task:

- *question words*: the question's content words (stopwords removed);
- *hops*: the gold path's visits; the *relation words* of a hop are the content words of
  its goal, without generic goal words ("find", "check", "confirm", ...) and without the
  words of page titles (entities are judged by name, below). Hops whose goal has no
  relation word ("Confirm the facts about X") are left out;
- *tools*: whether the gold path searches and reads pages, which comes first, and its
  length (actions, the answer included).

Words are lowercased and a plural "s" is dropped ("1850s" and "1850" match). The plan is
split into steps at "1." / "2)" markers, else at line and sentence ends. Every score is in
[0, 5] (scaled to the rubric's max_score):

- **goal_alignment** = 5 * (share of the question words the plan uses)
  - 1 per invented name (a capitalized name, not sentence-initial, with a word the
  question lacks: hindsight or made up) - 2 when the plan states the answer
  - 1 per word it sets out to find ("find its author") that is neither a question word nor
  a relation word of the gold path (at most 2: a relation the question never asked for).
- **subgoal_coverage** = 5 * (share of hops whose relation words the plan covers at least
  half of) - 1 per page read the gold path makes and the plan does not (its steps that
  read pages, against the gold path's visits).
- **tool_appropriateness** = 2 if the plan searches when the gold path does (or does not
  search when it does not) + 2 likewise for reading pages + 1 if it ends by answering,
  - 1 per tool that does not exist (google, click, ...).
- **logical_ordering** = 3 * (longest chain of hops the plan follows in gold order /
  hops it mentions at all) + 1 if its first tool is the gold path's first (a search
  before any visit) + 1 if the last step answers.
- **actionability** = 4 * (share of steps that name a tool or the answer) + 1 if the plan
  has a fallback ("if", "otherwise", "rephrase", ...) - 1 when the turn's first action is
  a search whose query is mostly not question words (it does not carry out the plan's
  first step; only this reads the action, see below).
- **clarity_conciseness** = 5 - 1 if it has several sentences but no step markers
  - 1 if longer than 30 words a gold action (- 2 beyond 60) - 1 per repeated step (at most
  2) - 1 per step reading a page beyond the gold path's visits (at most 2: a superfluous
  hop) - 1 when the plan states the answer.

Scores are clamped to [0, 5]. An empty plan (no words) or a task without a gold path
gets no reward (``None``, with the reason), never 0. The judge scores the text inside
``<plan></plan>`` when the turn has one (:func:`plan_section`), not the turn's first action,
whose query usually repeats the question; of that action it checks only whether a search
queries the question's words (``query`` of :func:`reference_scores`).

The penalties for page reads missing or beyond the gold path, for sought relations the
question lacks and for an off-question first query were added after measuring which traits
of the warm start's plans went with failed episodes (``benchmarks/RESULTS.md``, "Privileged
reference judge, second version"); each is a rubric criterion in its own right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from agents.rewards.judge import JudgeResult
from agents.rewards.rubric import Rubric, load_default_rubric, rubric_reward
from webanchor_env.actions import parse_action
from wiki_corpus.honesty import title_name
from wiki_corpus.schema import Task, url_to_title

JUDGE_NAME = "privileged-reference"
"""How tables and logs name this judge: always with "privileged"."""
VERSION = 2
"""The rules' version, raised whenever a change moves any score: models trained with this
judge are stamped with it (``agents.train.rewards.reward_versions``), so a benchmark's
cache trains them again instead of reusing a model the old rules rewarded."""

DIMENSIONS = (
    "goal_alignment",
    "subgoal_coverage",
    "tool_appropriateness",
    "logical_ordering",
    "actionability",
    "clarity_conciseness",
)
TOP = 5.0
"""The scale the rules are written in; scores are rescaled to each dimension's max."""

# fmt: off
_STOP = frozenset({
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "from", "by", "with", "and",
    "or", "but", "is", "are", "was", "were", "be", "been", "has", "have", "had", "does",
    "do", "did", "that", "this", "these", "those", "it", "its", "which", "what", "who",
    "whom", "whose", "when", "where", "how", "many", "much", "as", "into", "than",
    "then", "there", "their", "they", "he", "she", "his", "her", "also", "not", "no",
    "one", "any",
})
_GOAL_GENERIC = frozenset({
    "find", "check", "confirm", "fact", "fits", "fit", "out", "about", "page", "read",
    "visit", "search", "answer", "verify", "identify", "look",
})
# fmt: on
_SEARCH = frozenset({"search", "query", "queries", "lookup"})
_VISIT = frozenset({"read", "visit", "open", "browse"})
_ANSWER = frozenset({"answer", "report", "reply", "respond"})
_TOOLS = (("search", _SEARCH), ("visit", _VISIT))
_FAKE_TOOLS = frozenset({"google", "bing", "click", "scroll", "calculator", "python", "api"})
_FALLBACK = frozenset({"if", "otherwise", "else", "instead", "fail", "fails", "rephrase", "retry"})

_WORD = re.compile(r"[a-z0-9]+")
_MARKER = re.compile(r"(?:^|(?<=\s))\d{1,2}[.)](?=\s)")
_SENTENCE = re.compile(r"(?<=[.;!?])\s+|\n+")
_NAME = re.compile(r"[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_SOUGHT = re.compile(r"\bfind(?:\s+out)?\b([^.;:?!\n]*)", re.IGNORECASE)
"""What a step sets out to find: the words after "find" up to the end of the clause."""


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> list[str]:
    """Lowercased, plural-stripped word tokens of ``text``."""
    return [_stem(w) for w in _WORD.findall(text.casefold())]


def content_words(text: str) -> set[str]:
    """The words of ``text`` that are not stopwords (checked before the plural is dropped)."""
    return {_stem(w) for w in _WORD.findall(text.casefold()) if w not in _STOP}


def split_steps(plan: str) -> tuple[list[str], bool]:
    """(the plan's steps, whether they were marked "1." / "2)")."""
    parts = _MARKER.split(plan)
    if len(parts) > 2 or (len(parts) == 2 and not parts[0].strip()):
        return [p.strip() for p in parts if p.strip()], True
    return [p.strip() for p in _SENTENCE.split(plan) if p.strip()], False


@dataclass(frozen=True)
class GoldDecomposition:
    """What the reference judge compares a plan with (read from the task's gold path)."""

    question_words: frozenset[str]
    hops: tuple[frozenset[str], ...]
    """Relation words of each visit (in gold order), hops without any left out."""
    searches: bool
    reads: int
    """Number of the gold path's visits."""
    first_tool: str
    """'search' or 'visit': the gold path's first tool."""
    length: int
    """Number of gold actions, the answer included."""

    @property
    def visits(self) -> bool:
        """Whether the gold path reads pages."""
        return self.reads > 0

    @classmethod
    def of(cls, task: Task) -> GoldDecomposition:
        titles = [url_to_title(p) or p for p in task.gold.pages]
        for action in task.gold.actions:
            if action.get("name") == "visit":
                titles += [url_to_title(u) or u for u in action.get("arguments", {}).get("url", [])]
        names = {n for t in titles for n in (t, title_name(t))}
        title_words = {w for n in names for w in words(n)}
        hops = []
        for action in task.gold.actions:
            if action.get("name") == "visit":
                goal = str(action.get("arguments", {}).get("goal", ""))
                rel = content_words(goal) - title_words - _GOAL_GENERIC
                if rel:
                    hops.append(frozenset(rel))
        kinds = [a.get("name") for a in task.gold.actions]
        tools = [k for k in kinds if k in ("search", "visit")]
        return cls(
            question_words=frozenset(content_words(task.question)),
            hops=tuple(hops),
            searches="search" in kinds,
            reads=kinds.count("visit"),
            first_tool=tools[0] if tools else "",
            length=len(kinds),
        )


def _invented_names(steps: Sequence[str], question: str) -> set[str]:
    """Capitalized names in the plan with a word the question lacks (sentence-initial
    words and tool words are not names)."""
    known = set(words(question)) | _SEARCH | _VISIT | _ANSWER
    found = set()
    for step in steps:
        for sentence in _SENTENCE.split(step):
            for m in _NAME.finditer(sentence):
                name = m.group()
                if m.start() == len(sentence) - len(sentence.lstrip()):
                    name = name.partition(" ")[2]  # the sentence's first word is not a name
                if name and any(w not in known for w in words(name)):
                    found.add(name)
    return found


def _states(plan: str, text: str) -> bool:
    """Whether ``text`` occurs in ``plan`` as whole words (case-insensitive)."""
    pattern = r"(?<![\w])" + re.escape(text.casefold()) + r"(?![\w])"
    return bool(text.strip()) and re.search(pattern, plan.casefold()) is not None


def _covers(step_words: set[str], hop: frozenset[str]) -> bool:
    return 2 * len(hop & step_words) >= len(hop)


def _ordered_chain(step_words: Sequence[set[str]], hops: Sequence[frozenset[str]]) -> int:
    """The most hops, in gold order, placeable on covering steps in non-decreasing order."""
    best: dict[int, int] = {}  # step index -> longest chain whose last hop is placed there
    for hop in hops:
        steps = [i for i, w in enumerate(step_words) if _covers(w, hop)]
        new = {i: 1 + max((n for j, n in best.items() if j <= i), default=0) for i in steps}
        for i, n in new.items():
            best[i] = max(best.get(i, 0), n)
    return max(best.values(), default=0)


def _clamp(x: float) -> float:
    return min(max(x, 0.0), TOP)


def plan_section(turn: str) -> str:
    """The plan of a first turn: the text inside ``<plan></plan>`` when it has one, else the
    whole turn. The turn's first action is not part of the plan: its search query usually
    repeats the question, whose words would otherwise count as covered by the plan."""
    plan = parse_action(turn).plan
    return plan if plan and plan.strip() else turn


def first_query(turn: str) -> str | None:
    """The query words of a turn's first action when it is a valid search, else None."""
    calls = parse_action(turn).tool_calls
    if not calls or calls[0].error is not None or calls[0].name != "search":
        return None
    return " ".join(calls[0].args.queries)


def reference_scores(plan: str, task: Task, query: str | None = None) -> dict[str, float] | None:
    """The six rubric scores (0-5) of ``plan`` against ``task``'s gold path, or None for
    an empty plan or a task without a gold path; ``query``: the search that follows the
    plan, if any (:func:`first_query`). See the module docstring for the rules."""
    if not words(plan) or not task.gold.has_path:
        return None
    gold = GoldDecomposition.of(task)
    steps, numbered = split_steps(plan)
    step_words = [set(words(s)) for s in steps]
    plan_words = set().union(*step_words)
    answered = task.answer not in task.question and _states(" ".join(steps), task.answer)
    invented = _invented_names(steps, task.question)
    relations = frozenset().union(*gold.hops)
    sought = {w for m in _SOUGHT.finditer(plan) for w in content_words(m.group(1))}
    unasked = len(sought - gold.question_words - relations - _GOAL_GENERIC)
    reads = sum(bool(w & _VISIT) for w in step_words)
    missing, extra = max(gold.reads - reads, 0), max(reads - gold.reads, 0)
    query_words = content_words(query or "")
    off_query = 2 * len(query_words & gold.question_words) < len(query_words)

    share = len(gold.question_words & plan_words) / max(len(gold.question_words), 1)
    goal = TOP * share - len(invented) - 2 * answered - min(unasked, 2)

    covered = [_covers(plan_words, hop) for hop in gold.hops]
    coverage = TOP * sum(covered) / len(gold.hops) if gold.hops else TOP * share
    coverage -= missing

    searches, visits = bool(plan_words & _SEARCH), bool(plan_words & _VISIT)
    ends_answering = bool(step_words[-1] & _ANSWER)
    fake = len(plan_words & _FAKE_TOOLS)
    tools = 2 * (searches == gold.searches) + 2 * (visits == gold.visits) + ends_answering - fake

    mentioned = sum(any(_covers(w, hop) for w in step_words) for hop in gold.hops)
    chain = _ordered_chain(step_words, gold.hops) / mentioned if mentioned else 0.0
    first = next((k for w in step_words for k, s in _TOOLS if w & s), "")
    order = 3 * chain + (first == gold.first_tool) + ends_answering

    acting = sum(bool(w & (_SEARCH | _VISIT | _ANSWER)) for w in step_words) / len(steps)
    action = 4 * acting + bool(plan_words & _FALLBACK) - off_query

    sentences = len([s for s in _SENTENCE.split(plan) if s.strip()])
    n_words = len(words(plan))
    verbose = (n_words > 30 * gold.length) + (n_words > 60 * gold.length)
    keys = [frozenset(w) for w in step_words]
    repeats = len(keys) - len(set(keys))
    clarity = TOP - (not numbered and sentences > 1) - verbose - min(repeats, 2) - answered
    clarity -= min(extra, 2)

    raw = (goal, coverage, tools, order, action, clarity)
    return {k: round(_clamp(float(v)), 4) for k, v in zip(DIMENSIONS, raw)}


class PrivilegedReferenceJudge:
    """Rubric scores from the gold path (privileged: reads the gold path).

    Plugs in where the LLM judges do: ``score(questions, plans)`` returns one
    :class:`JudgeResult` per plan; each question is looked up among ``tasks``. The rubric
    must have the six default dimensions (any max_score; scores are rescaled).
    """

    name = JUDGE_NAME

    def __init__(self, tasks: Iterable[Task], rubric: Rubric | None = None) -> None:
        self.rubric = rubric or load_default_rubric()
        if set(self.rubric.keys) != set(DIMENSIONS):
            raise ValueError(
                f"Expected a rubric with the dimensions {list(DIMENSIONS)}, got "
                f"{list(self.rubric.keys)} (rubric {self.rubric.name!r})."
            )
        self.tasks: dict[str, Task] = {}
        for task in tasks:
            other = self.tasks.setdefault(task.question, task)
            if other.gold != task.gold:
                raise ValueError(
                    f"Expected one gold path per question, got two: tasks {other.id!r} "
                    f"and {task.id!r} ask {task.question!r}."
                )

    def score(self, questions: Sequence[str], plans: Sequence[str]) -> list[JudgeResult]:
        """One :class:`JudgeResult` per (question, plan), in order."""
        if len(questions) != len(plans):
            raise ValueError(
                f"Expected as many plans as questions, got {len(plans)} plans "
                f"for {len(questions)} questions."
            )
        missing = next((q for q in questions if q not in self.tasks), None)
        if missing is not None:
            raise ValueError(
                f"Expected a question of one of the {len(self.tasks)} tasks given to the "
                f"privileged reference judge, got {missing!r}."
            )
        return self.score_tasks([self.tasks[q] for q in questions], plans)

    def score_tasks(self, tasks: Sequence[Task], plans: Sequence[str]) -> list[JudgeResult]:
        """One :class:`JudgeResult` per (task, plan), in order."""
        return [self._judge(task, plan) for task, plan in zip(tasks, plans, strict=True)]

    def _judge(self, task: Task, plan: str) -> JudgeResult:
        raw = reference_scores(plan_section(plan), task, first_query(plan))
        if raw is None:
            why = "empty plan" if not words(plan) else f"task {task.id!r} has no gold path"
            return JudgeResult(reward=None, failure=why, raw=plan)
        scores = {d.key: raw[d.key] * d.max_score / TOP for d in self.rubric.dimensions}
        return JudgeResult(reward=rubric_reward(scores, self.rubric), scores=scores)
