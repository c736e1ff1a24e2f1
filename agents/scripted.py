"""Scripted agents behind the policy interface: the gold-path oracle, a naive and a random agent.

They are :class:`agents.policy.Policy` objects, so the rollout engine and ``agents.evaluate``
run them exactly as they run an LLM. Each reads the conversation of a request (the
question, the turn index, the tool responses so far), picks one action, writes it in the
action grammar and, when it has a tokenizer, returns the canonical tokenization of that text
(no log-probabilities). That makes them the reference for the engine's token-exactness:
their trajectories must equal the chat template of the final conversation token for token.

* :class:`OraclePolicy` replays the gold actions of the task, one a turn; its first turn
  carries a short plan (:func:`honest_plan`: it names only the question's entities). The
  task is found from the question in the conversation among the tasks given to
  :meth:`OraclePolicy.bind_tasks` (an oracle is privileged by design; the bundled gold
  paths are causally honest, see :mod:`wiki_corpus.honesty`).
* :class:`RecoveryPolicy` is the oracle with one failed visit (``page_not_found``) and
  its recovery, a demonstration for supervised training.
* :class:`NaivePolicy` searches the question, reads the top result and answers with its
  title: a floor that any learning agent should beat.
* :class:`RandomPolicy` searches random words, visits random links and answers at random.
* :class:`ReplayPolicy` writes the turns of saved trajectories again (replaying a run).

A prefilled turn start (``PromptVariant.first_prefill``/``later_prefill``) is honoured: the
agent writes only what follows it, switching to the ``<tool_call>`` form of an action (an
answer becomes ``{"name": "answer", ...}``) when the prefill opens a tool call.
"""

from __future__ import annotations

import enum
import json
import random
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.policy import GenerationRequest, SampledTurn, SamplingParams
from agents.prompts import step_label
from wiki_corpus.honesty import Violation, first_violation, title_name
from wiki_corpus.schema import Task, title_to_url, url_to_title

_LINK = re.compile(r"\[([^\]\n]+)\]\((https://wiki\.local/wiki/\S+?)\)(?=\s|$)")
_BARE_URL = re.compile(r"https://wiki\.local/wiki/[^\s<>\"'\]]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}")


# --- Reading a conversation -------------------------------------------------------------------


def turn_index(messages: Sequence[Mapping[str, str]]) -> int:
    """The index of the assistant turn to write next (0 = the plan turn)."""
    return sum(1 for m in messages if m.get("role") == "assistant")


def question_message(messages: Sequence[Mapping[str, str]]) -> str:
    """The first user message (the question as the prompt worded it)."""
    return next((m["content"] for m in messages if m.get("role") == "user"), "")


def observations(messages: Sequence[Mapping[str, str]]) -> list[str]:
    """The tool-response messages so far, oldest first."""
    return [
        m["content"]
        for i, m in enumerate(messages)
        if m.get("role") in ("user", "tool")
        and any(p.get("role") == "assistant" for p in messages[:i])
    ]


def links(text: str) -> list[tuple[str, str]]:
    """``(title, url)`` of the search-result links in a tool response, in order."""
    found = [(m.group(1), m.group(2)) for m in _LINK.finditer(text)]
    if found:
        return found
    return [(url_to_title(u) or u, u) for u in _BARE_URL.findall(text)]


# --- Writing actions --------------------------------------------------------------------------


def tool_call_text(action: Mapping[str, Any]) -> str:
    """``<tool_call>{json}</tool_call>``; an answer too can be written this way."""
    body = {"name": action["name"], "arguments": action.get("arguments", {})}
    return f"<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>"


def action_text(action: Mapping[str, Any]) -> str:
    """An action in the grammar's preferred form: a tool call, or ``<answer>…</answer>``."""
    if action["name"] == "answer":
        return f"<answer>{action['arguments']['answer']}</answer>"
    return tool_call_text(action)


def answer_action(answer: str) -> dict[str, Any]:
    return {"name": "answer", "arguments": {"answer": answer}}


def gold_actions(task: Task) -> tuple[dict[str, Any], ...]:
    """The task's gold actions, ending with its answer (added when the path has none)."""
    actions = tuple(dict(a) for a in task.gold.actions)
    if not actions or actions[-1].get("name") != "answer":
        actions += (answer_action(task.answer),)
    return actions


def after_prefill(prefill: str, text: str, action: Mapping[str, Any] | None = None) -> str:
    """What to write after ``prefill`` so that the turn reads as ``text``.

    When ``text`` does not start with the prefill but the tool-call form of ``action`` does,
    the tool-call form is used; otherwise the text is written as is after the prefill.
    """
    if text.startswith(prefill):
        return text[len(prefill) :]
    if action is not None:
        call = tool_call_text(action)
        if call.startswith(prefill):
            return call[len(prefill) :]
    return text


@dataclass(frozen=True)
class Move:
    """What a scripted agent does in one turn: an optional plan and one action, labelled
    with the plan step it carries out when ``step`` is set (:func:`agents.prompts.step_label`)."""

    action: dict[str, Any]
    plan: str | None = None
    step: int | None = None

    def text(self) -> str:
        plan = f"<plan>{self.plan}</plan>\n" if self.plan is not None else ""
        label = step_label(self.step) if self.step is not None else ""
        return plan + label + action_text(self.action)


# --- The base ---------------------------------------------------------------------------------


class ScriptedPolicy:
    """A policy whose turns are computed from the conversation; subclasses define :meth:`move`.

    With a tokenizer, ``token_ids`` is the canonical tokenization of the text (cut at
    ``max_new_tokens``, then ``finish_reason="length"``); ``end_with_eos`` appends the EOS
    token as a model would. Without one, turns are text only.
    """

    def __init__(self, tokenizer: Any = None, *, end_with_eos: bool = False) -> None:
        self.tokenizer = tokenizer
        self.end_with_eos = end_with_eos

    def move(self, request: GenerationRequest) -> Move:
        raise NotImplementedError

    def write(self, move: Move, request: GenerationRequest) -> str:
        """The text after the request's prefill that carries out ``move``."""
        return after_prefill(request.prefill, move.text(), move.action)

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]:
        return [self._turn(self.write(self.move(r), r), params) for r in requests]

    def _turn(self, text: str, params: SamplingParams) -> SampledTurn:
        if self.tokenizer is None:
            return SampledTurn((), None, text, "stop")
        ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        if len(ids) > params.max_new_tokens:
            ids = ids[: params.max_new_tokens]
            cut = self.tokenizer.decode(ids, skip_special_tokens=False)
            return SampledTurn(tuple(ids), None, cut, "length")
        if self.end_with_eos and len(ids) < params.max_new_tokens:
            ids.append(self.tokenizer.eos_token_id)
        return SampledTurn(tuple(ids), None, text, "stop")


class TaskBook:
    """Finds the task of a conversation from its question among the bound tasks."""

    def __init__(self, tasks: Iterable[Task] = ()) -> None:
        self._by_question: dict[str, Task] = {}
        self._cache: dict[str, Task] = {}
        self.add(tasks)

    def add(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            self._by_question[task.question] = task
        self._cache.clear()

    def find(self, messages: Sequence[Mapping[str, str]]) -> Task:
        content = question_message(messages)
        task = self._cache.get(content) or self._by_question.get(content)
        if task is None:  # the prompt wraps the question ("Question: …"): longest contained
            inside = [t for q, t in self._by_question.items() if q and q in content]
            if not inside:
                raise LookupError(
                    f"Expected the question {content[:120]!r} among the "
                    f"{len(self._by_question)} bound tasks, found none (call bind_tasks())."
                )
            task = max(inside, key=lambda t: len(t.question))
        self._cache[content] = task
        return task


# --- The agents -------------------------------------------------------------------------------


def gold_plan(actions: Sequence[Mapping[str, Any]]) -> str:
    """A short numbered plan that describes the gold actions."""
    steps = []
    for action in actions:
        arguments = action.get("arguments", {})
        if action["name"] == "search":
            steps.append(f"Search for {', '.join(map(str, arguments.get('query', [])))}.")
        elif action["name"] == "visit":
            titles = [url_to_title(u) or u for u in arguments.get("url", [])]
            steps.append(f"Read {', '.join(titles)} to find {arguments.get('goal', 'the fact')}.")
        else:
            steps.append("Answer.")
    return " ".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


_FOUND = re.compile(
    r"^find (the [a-z][\w ]*?)(?= of | where | in which | whom | who | won by | that |$)"
)


def _found_noun(goal: str, subject: str) -> str:
    """What a visit goal looks for, as a noun: 'Find the first mayor of X' -> 'the first
    mayor'; 'page' when the goal does not say."""
    head = goal.strip().split(subject)[0].strip() if subject else goal.strip()
    match = _FOUND.match(head[:1].lower() + head[1:] + " ")
    return match.group(1).strip() if match else "the page"


def _hidden_names(question: str, actions: Sequence[Mapping[str, Any]]) -> set[str]:
    """Names of the pages a path visits that the question does not name."""
    names = set()
    for action in actions:
        if action.get("name") == "visit":
            for url in action.get("arguments", {}).get("url", []):
                title = url_to_title(url) or url
                names |= {title, title_name(title)}
    return {n for n in names if n and n not in question}


def honest_plan(question: str, actions: Sequence[Mapping[str, Any]]) -> str:
    """A numbered plan of ``actions`` that names only what the question names.

    An entity the agent meets on the way is called by where it will be found ("the
    birthplace found in step 2", "the best match of step 1"), never by its name, so
    the plan can be written before any search (the gold path's names are hindsight).
    """
    hidden = sorted(_hidden_names(question, actions), key=len, reverse=True)
    refs: dict[str, str] = {}
    last_visit: tuple[int, str, str] | None = None  # step, subject name, goal
    last_search = 1

    def ref(name: str) -> str:
        if name not in refs:
            if last_visit is None:
                refs[name] = f"the best match of step {last_search}"
            else:
                step, subject, goal = last_visit
                noun = _found_noun(goal, subject)
                named = "named" if noun == "the page" else "found"
                refs[name] = f"{noun} {named} in step {step}"
        return refs[name]

    def veil(text: str, subject: str = "") -> str:
        for name in hidden:
            if name in text:
                plain = _canonical(name, hidden)
                text = text.replace(name, "it" if plain == subject else ref(plain))
        return text

    steps = []
    for step, action in enumerate(actions, start=1):
        arguments = action.get("arguments", {})
        if action["name"] == "search":
            queries = [veil(str(q)) for q in arguments.get("query", [])]
            steps.append(f"Search for {' / '.join(queries)}.")
            last_search = step
        elif action["name"] == "visit":
            titles = [url_to_title(u) or u for u in arguments.get("url", [])]
            subject = title_name(titles[0]) if titles else ""
            goal = str(arguments.get("goal") or "find the facts")
            page = veil(subject) if subject else "the page"
            page = page if page.startswith("the page ") else f"the page of {page}"
            wanted = veil(_its(goal, subject), subject if subject in hidden else "")
            end = "" if wanted.endswith(("?", ".")) else "."
            steps.append(f"Read {page} and {wanted[:1].lower()}{wanted[1:]}{end}")
            last_visit = (step, subject, goal)
        else:
            steps.append("Answer.")
    return " ".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))


def _canonical(name: str, hidden: Sequence[str]) -> str:
    """A title's plain name, so that 'X (architect)' and 'X' share one reference."""
    plain = title_name(name)
    return plain if plain in hidden else name


def _its(goal: str, subject: str) -> str:
    """'Find the birthplace of X' about X -> 'Find its birthplace'."""
    if not subject:
        return goal
    pattern = re.compile(r"\bthe ([a-z][\w ]*?) of " + re.escape(subject) + r"\b")
    return pattern.sub(r"its \1", goal, count=1)


class PlanStyle(enum.Enum):
    """How the oracle words its plan."""

    HONEST = "honest"
    """:func:`honest_plan`: only the question's entities (demonstrations to learn from)."""
    GOLD = "gold"
    """:func:`gold_plan`: every gold page by name, with hindsight (a plan that a literal
    follower can carry out, e.g. :class:`agents.rubrics.labels.PlanFollowerPolicy`)."""


class OraclePolicy(ScriptedPolicy):
    """Replays the gold path: gold action k at turn k, a plan in the first turn.

    With ``step_labels`` (for a prompt variant with ``step_labels``) each action is
    labelled with the plan step it carries out: gold action k is step k + 1.
    """

    def __init__(
        self,
        tasks: Iterable[Task] = (),
        tokenizer: Any = None,
        *,
        end_with_eos: bool = False,
        plan_style: PlanStyle = PlanStyle.HONEST,
        step_labels: bool = False,
    ) -> None:
        super().__init__(tokenizer, end_with_eos=end_with_eos)
        self.book = TaskBook(tasks)
        self.plan_style = plan_style
        self.step_labels = step_labels

    def plan(self, task: Task) -> str:
        """The first turn's plan for ``task``, in :attr:`plan_style`."""
        actions = self.gold_actions(task)
        if self.plan_style is PlanStyle.GOLD:
            return gold_plan(actions)
        return honest_plan(task.question, actions)

    def bind_tasks(self, tasks: Iterable[Task]) -> OraclePolicy:
        """Make these tasks known (the oracle reads their gold actions)."""
        self.book.add(tasks)
        return self

    def gold_actions(self, task: Task) -> tuple[dict[str, Any], ...]:
        """The task's gold actions, ending with its answer (:func:`gold_actions`)."""
        return gold_actions(task)

    def move(self, request: GenerationRequest) -> Move:
        task = self.book.find(request.messages)
        actions = self.gold_actions(task)
        turn = turn_index(request.messages)
        at = min(turn, len(actions) - 1)
        return Move(actions[at], self.plan(task) if turn == 0 else None, self._step(at + 1))

    def _step(self, step: int) -> int | None:
        return step if self.step_labels else None


class RecoveryPolicy(OraclePolicy):
    """The gold path with one mistake and its recovery: before the last gold visit that
    follows a tool response, it visits a page that does not exist (a URL made from the
    visit's goal, as an agent inventing a title would), gets ``page_not_found``, and then
    goes on with the gold visit to a URL it has seen, never repeating the failed visit.
    With step labels, the recovery carries the failed step's label again.

    :meth:`mistake_turn` gives the turn of the mistake of a task, so that training can
    leave that turn out of the loss and learn only the recovery.
    """

    def mistake_turn(self, task: Task) -> int | None:
        """The turn of the invented visit, or None when the path has no visit to precede."""
        actions = self.gold_actions(task)
        visits = [i for i, a in enumerate(actions) if a["name"] == "visit" and i > 0]
        return visits[-1] if visits else None

    def move(self, request: GenerationRequest) -> Move:
        task = self.book.find(request.messages)
        actions = list(self.gold_actions(task))
        turn = turn_index(request.messages)
        at = self.mistake_turn(task)
        if at is not None:
            actions.insert(at, invented_visit(actions[at]))
        index = min(turn, len(actions) - 1)
        step = index if at is not None and index > at else index + 1
        return Move(actions[index], self.plan(task) if turn == 0 else None, self._step(step))


def invented_visit(visit: Mapping[str, Any]) -> dict[str, Any]:
    """A visit to a page that is not in the wiki, named after what ``visit`` looks for."""
    goal = str(visit.get("arguments", {}).get("goal") or "the answer")
    words = re.findall(r"[A-Za-z]+", goal)[1:6] or ["Answer"]
    title = " ".join(words).title() + " (unknown)"
    return {"name": "visit", "arguments": {"url": [title_to_url(title)], "goal": goal}}


NAIVE_PLAN = "1. Search the question. 2. Read the top result. 3. Answer with its title."


class NaivePolicy(ScriptedPolicy):
    """Searches the question, reads the top result, answers with that page's title."""

    def move(self, request: GenerationRequest) -> Move:
        question = question_message(request.messages)
        seen = observations(request.messages)
        turn = turn_index(request.messages)
        if turn == 0:
            return Move({"name": "search", "arguments": {"query": [question]}}, NAIVE_PLAN)
        hits = links(seen[0]) if seen else []
        if turn == 1 and hits:
            arguments = {"url": [hits[0][1]], "goal": question}
            return Move({"name": "visit", "arguments": arguments})
        return Move(answer_action(hits[0][0] if hits else "unknown"))


class RandomPolicy(ScriptedPolicy):
    """Random valid actions: searches random words, visits random links, answers at random.

    Reproducible: the stream of a turn is seeded by the request's seed when it has one, else
    by ``seed``, the question and the turn index.
    """

    def __init__(
        self,
        tokenizer: Any = None,
        *,
        seed: int = 0,
        answer_prob: float = 0.25,
        end_with_eos: bool = False,
    ) -> None:
        super().__init__(tokenizer, end_with_eos=end_with_eos)
        self.seed = seed
        self.answer_prob = answer_prob

    def move(self, request: GenerationRequest) -> Move:
        question = question_message(request.messages)
        turn = turn_index(request.messages)
        seen = observations(request.messages)
        key = request.seed
        if key is None:
            key = zlib.crc32(f"{self.seed}|{turn}|{question}".encode())
        rng = random.Random(key)
        words = _WORD.findall(" ".join([question, *seen])) or ["wiki"]
        urls = [url for text in seen for _, url in links(text)]
        plan = "1. Look around. 2. Answer." if turn == 0 else None
        roll = rng.random()
        if turn > 0 and roll < self.answer_prob:
            return Move(answer_action(rng.choice(words)), plan)
        if urls and roll < 0.6:
            return Move(
                {"name": "visit", "arguments": {"url": [rng.choice(urls)], "goal": "facts"}}
            )
        query = " ".join(rng.sample(words, k=min(len(words), rng.randint(1, 3))))
        return Move({"name": "search", "arguments": {"query": [query]}}, plan)


class ReplayPolicy(ScriptedPolicy):
    """Replays recorded trajectories: turn k of an episode writes the recorded turn k again.

    Episodes are matched by their question (the first user message); the ``sample``-th
    request of a question in a turn replays the ``sample``-th recorded trajectory of it, in
    the order given. Past the recorded turns it answers "unknown". Useful to re-run a saved
    run against a changed environment, or to check that a run reproduces.
    """

    def __init__(self, trajectories: Iterable[Any], tokenizer: Any = None) -> None:
        super().__init__(tokenizer)
        self._turns: dict[str, list[list[str]]] = {}
        for t in trajectories:
            question = question_message(t.messages)
            self._turns.setdefault(question, []).append(
                [turn.text[len(turn.prefill) :] for turn in t.turns]
            )

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]:
        seen: dict[tuple[str, int], int] = {}
        out = []
        for request in requests:
            question, turn = question_message(request.messages), turn_index(request.messages)
            sample = seen[question, turn] = seen.get((question, turn), -1) + 1
            episodes = self._turns.get(question, [])
            recorded = episodes[sample % len(episodes)] if episodes else []
            text = recorded[turn] if turn < len(recorded) else "<answer>unknown</answer>"
            out.append(self._turn(text, params))
        return out


# --- Checking demonstrations ------------------------------------------------------------------

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_PLAN = re.compile(r"<plan>(.*?)</plan>", re.DOTALL)


def turn_actions(text: str) -> list[dict[str, Any]]:
    """The actions a turn's text writes (tool calls, then an ``<answer>``), as dicts."""
    actions = []
    for body in _TOOL_CALL.findall(text):
        try:
            call = json.loads(body)
        except json.JSONDecodeError:
            continue
        if isinstance(call, dict) and "name" in call:
            actions.append({"name": call["name"], "arguments": call.get("arguments") or {}})
    actions += [answer_action(a.strip()) for a in _ANSWER.findall(text)]
    return actions


def demonstration_violation(
    trajectory: Any, question: str, names: Any, skip_turns: Iterable[int] = ()
) -> Violation | None:
    """The first dishonest move of a demonstration (:func:`wiki_corpus.honesty.first_violation`).

    The plan is the ``<plan>`` of the first turn; each later observation is the turn's tool
    response. Turns in ``skip_turns`` (left out of the loss) are not checked, but what they
    observed counts as seen.
    """
    skip = set(skip_turns)
    turns = list(trajectory.turns)
    plan = _PLAN.search(turns[0].text) if turns else None
    actions: list[dict[str, Any]] = []
    observed: list[str] = []
    for i, turn in enumerate(turns):
        written = [{"name": "skipped"}] if i in skip else turn_actions(turn.text)
        for action in written or [{"name": "none"}]:
            actions.append(action)
            observed.append("")
        observed[-1] = turn.observation or ""
    return first_violation(question, actions, observed, names, plan.group(1) if plan else None)
