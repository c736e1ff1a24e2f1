"""The Gymnasium environment: answer questions about a local wiki with search and visit tools."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, SupportsFloat

import gymnasium as gym
from gymnasium.error import ResetNeeded

from webanchor_env.actions import (
    DEFAULT_MAX_ACTION_CHARS,
    DEFAULT_MAX_ITEMS,
    MAX_TOP_K,
    MAX_URLS,
    SEARCH,
    VISIT,
    ActionError,
    ErrorCode,
    ParsedAction,
    ToolCall,
    VisitArgs,
    describe,
    parse_action,
)
from webanchor_env.retrieval import DEFAULT_SEARCH_MODE, check_search_mode
from webanchor_env.scoring import contains_answer, exact_match, f1_score
from webanchor_env.spaces import UnicodeText
from wiki_corpus.answers import weak_alias
from wiki_corpus.io import BUNDLED
from wiki_corpus.schema import SPLITS, WIKI_PREFIX, Task

if TYPE_CHECKING:
    from webanchor_env.backend import WikiBackend

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_BAD_URL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_WRAP_OPEN, _WRAP_CLOSE = "<tool_response>\n", "\n</tool_response>"
_TRANSCRIPT_ACTION_CHARS = 4_000
_OVER_LIMITS = (ErrorCode.ACTION_TOO_LONG, ErrorCode.ACTION_TOO_DEEP)
_DEFAULT_GETSTATE = (None, getattr(object, "__getstate__", None))  # no pickling of its own


def _show_action(action: Any, parsed: ParsedAction) -> str:
    """The action as the transcript shows it: text as it is, a mapping within the limits as
    JSON, anything else (a mapping over the limits too) described in a few words."""
    if isinstance(action, str):
        return action
    if isinstance(action, Mapping) and not (parsed.error and parsed.error.code in _OVER_LIMITS):
        try:
            return json.dumps(action, ensure_ascii=False, default=describe)
        except (TypeError, ValueError):  # keys that are not strings, integers too long to print
            pass
    return describe(action, 200)


def describe_splits(sizes: Mapping[str, int]) -> str:
    """Which splits hold tasks, for messages: "its tasks are in 'test' (500)"."""
    held = [f"{split!r} ({count:,})" for split, count in sizes.items() if count]
    return f"its tasks are in {', '.join(held)}" if held else "the corpus holds no tasks"


def _warn_weak_aliases(tasks: list[Task], split: str) -> None:
    """Warn when tasks accept answers that normalize to a stopword, one letter or nothing."""
    weak = [(task.id, alias) for task in tasks for alias in task.aliases if weak_alias(alias)]
    if weak:
        task_id, alias = weak[0]
        gym.logger.warn(
            f"{len(weak)} answer alias(es) in split {split!r} normalize to a stopword, a single "
            f"letter or nothing (such as {alias!r} of task {task_id!r}): answering them scores "
            "1.0 on those tasks. Expected aliases that name the answer; the importers drop "
            "such aliases (re-import the data, or remove them from tasks.jsonl)."
        )


@dataclass(frozen=True)
class WikiEnvConfig:
    """Split, search depth and budgets of one :class:`WikiEnv` (each is a keyword argument)."""

    split: str = "train"
    """Split the tasks are drawn from: 'train', 'dev' or 'test'."""
    top_k: int = 5
    """Results returned per search query."""
    search_mode: str = DEFAULT_SEARCH_MODE
    """How Search ranks pages: 'dense' (embeddings), 'bm25' (words) or 'hybrid' (both fused)."""
    max_search_calls: int = 20
    """Search calls per episode; one more truncates the episode ('search_budget')."""
    max_visit_calls: int = 20
    """Visit calls per episode; one more truncates the episode ('visit_budget')."""
    max_calls_per_turn: int = 5
    """Tool calls executed per turn; further calls in the same turn are skipped."""
    max_items_per_call: int = DEFAULT_MAX_ITEMS
    """Queries per search call, URLs per visit call."""
    visit_chars: int = 4_000
    """Characters of a page returned by one visit (read further with 'offset')."""
    goal_mode: bool = False
    """Visit returns the passages of a page most relevant to the goal, not a window of it."""
    max_observation_chars: int = 16_000
    """Longest observation; longer tool responses are clipped (the observation space bound)."""
    observation_budget_chars: int = 200_000
    """Characters of observations per episode; exceeding it truncates ('observation_budget')."""
    max_action_chars: int = DEFAULT_MAX_ACTION_CHARS
    """Longest action text read; longer ones get an 'action_too_long' error."""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"Expected a split among {SPLITS}, got {self.split!r}.")
        check_search_mode(self.search_mode)
        for name in (
            "top_k",
            "max_search_calls",
            "max_visit_calls",
            "max_calls_per_turn",
            "max_items_per_call",
            "visit_chars",
            "observation_budget_chars",
            "max_action_chars",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {name} to be a positive integer, got {value!r}.")
        for name, limit in (("top_k", MAX_TOP_K), ("max_items_per_call", MAX_URLS)):
            if getattr(self, name) > limit:
                raise ValueError(f"Expected {name} <= {limit}, got {getattr(self, name)!r}.")
        if self.max_observation_chars < 1_000:
            raise ValueError(
                f"Expected max_observation_chars >= 1000, got {self.max_observation_chars!r}."
            )


@dataclass
class _Episode:
    """Mutable state of the episode in progress."""

    task: Task
    split: str
    gold_urls: tuple[str, ...]
    step: int = 0
    search_calls: int = 0
    visit_calls: int = 0
    format_errors: int = 0
    observation_chars: int = 0
    visited: list[str] = field(default_factory=list)
    answer_seen: bool = False
    ended: str | None = None  # why the episode ended: "answered" or a truncation reason
    transcript: list[str] = field(default_factory=list)


class Truncation(str, Enum):
    """Why the environment truncated an episode (``info["truncation_reason"]``).

    The turn limit is not here: Gymnasium's ``TimeLimit`` wrapper truncates without a reason.
    """

    SEARCH_BUDGET = "search_budget"
    """The episode made more search calls than ``max_search_calls``."""
    VISIT_BUDGET = "visit_budget"
    """The episode made more visit calls than ``max_visit_calls``."""
    OBSERVATION_BUDGET = "observation_budget"
    """The observations passed ``observation_budget_chars`` characters."""

    def __str__(self) -> str:
        return self.value


_BUDGET_SPENT = {SEARCH: Truncation.SEARCH_BUDGET, VISIT: Truncation.VISIT_BUDGET}


@dataclass
class _Turn:
    """What one step did: tool-response bodies, executed calls, their latencies, errors."""

    bodies: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[ActionError] = field(default_factory=list)
    results: list[str] = field(default_factory=list)  # what the wiki returned, unclipped
    truncation: Truncation | None = None


class WikiEnv(gym.Env[str, str]):
    """
    Answer a question about a local wiki by searching it and reading its pages.

    ## Description
    Each episode poses one question from the tasks of a corpus (a generated multi-hop wiki,
    or one imported from HotpotQA-format data). The agent acts in turns, as an LLM web agent
    does: it searches the wiki (FAISS over passage embeddings), reads pages, and finally
    answers. Nothing is fetched from the network or read from disk at step time: a URL is only
    a key into the corpus. The environment is deterministic given the seed.

    ## Action Space
    `UnicodeText(max_action_chars)`: the text of one assistant turn, in this grammar:
    ```
    <think>free reasoning (optional)</think>
    <plan>a plan, usually in the first turn (optional)</plan>
    <tool_call>{"name": "search", "arguments": {"query": ["query 1", "query 2"]}}</tool_call>
    <tool_call>{"name": "visit", "arguments": {"url": ["https://wiki.local/wiki/Title"],
                                               "goal": "what to look for", "offset": 0}}</tool_call>
    <answer>the answer</answer>
    ```
    Several tool calls in one turn run in order, at most `max_calls_per_turn` of them. An
    answer ends the episode; tool calls written next to it are not run. `query` and `url` may
    be a string or a list of up to `max_items_per_call` strings; `url` may also be a page
    title. The parser tolerates code fences, single-quoted JSON, a missing closing tag and a
    bare JSON object. The same action can be passed as a dict (not part of the space, but
    accepted): `{"name": "search" | "visit", "arguments": {...}}`, or
    `{"name": "answer", "arguments": {"answer": "..."}}` to answer.
    `webanchor_env.actions.TOOL_SCHEMAS` holds the tools' JSON schemas.
    Limits (`webanchor_env.actions`): a text longer than `max_action_chars`, or a dict larger
    than that as compact JSON, is rejected unread (`action_too_long`), and so is a dict nested
    more than 16 levels deep (`action_too_deep`); queries have at most 512 characters, URLs
    2,048, goals 2,000, offsets are integers from 0 to 10^9. Parsing takes time linear in the
    size of the action, whatever it holds.

    ## Observation Space
    `UnicodeText(max_observation_chars)`. `reset` returns the question alone (the agent's
    prompt builder adds instructions). Each step returns one
    `<tool_response>…</tool_response>` block per tool call, in order: the search results
    (URL, title and snippet of the top pages per query) or the page text. A malformed action
    or tool call gets a block saying what was wrong and what is expected, and the episode
    goes on. Responses longer than the bound are clipped, saying so.

    ## Rewards
    1.0 when the answer exactly matches the gold answer or one of its aliases after
    SQuAD/HotpotQA normalization (lowercase, drop ASCII punctuation, drop the articles a/an/the
    as whole words, squeeze whitespace); 0.0 otherwise and on every other step. Token F1 is
    reported in `info["f1"]`, never as reward.

    ## Starting State
    A task drawn uniformly from the split with `self.np_random` (so the seed fixes the task
    sequence), or the one named by `reset(options={"task_id": ..., "split": ...})`.

    ## Episode End
    - Termination: the agent answers (one answer ends the episode).
    - Truncation:
        1. More than `max_search_calls` search calls or `max_visit_calls` visit calls.
        2. More than `observation_budget_chars` characters of observations.
        3. The turn limit: `max_episode_steps` of the registration (20), applied by
           Gymnasium's `TimeLimit` wrapper.
    `info["truncation_reason"]` (a :class:`Truncation`, a str enum: "search_budget",
    "visit_budget", "observation_budget") names the budget of cases 1 and 2; a truncation
    without it is the turn limit. Stepping after
    an answer or a budget truncation raises `gymnasium.error.ResetNeeded` (the turn limit
    lives in the wrapper, so there the caller resets as usual). A malformed action never
    raises: it gets an error observation and the episode goes on. A failing backend (a
    search service that cannot be reached) raises from `step`, and that turn is not taken:
    the step count, the tool-call counts and the transcript stay as they were (the
    transcript notes the failure), so the same step can be retried.

    ## Information
    `reset` and `step` return `task_id`, `split`, `step` (turns taken), `search_calls`,
    `visit_calls`, `format_errors` (errors so far) and `error` (the first error code of the
    turn, or None). `step` adds `errors` (all codes of the turn), `tool_calls` (the tools
    run) and `latency_s` (seconds per call run). Answering adds `answer`, `em` and `f1`.
    With `privileged_info=True`, also `gold_pages`, `gold_pages_visited`, `answer_seen`
    (whether the answer or an alias has appeared, as whole words after normalization, in a
    search or visit response) and `gold_answers`.
    Error codes: the values of `webanchor_env.actions.ErrorCode`.

    ## Arguments
    ```python
    import gymnasium as gym
    import webanchor_env

    gym.make("WebAnchor-Wiki-v0", corpus="default", split="train", top_k=5, search_mode="hybrid",
             max_search_calls=20, max_visit_calls=20, max_calls_per_turn=5,
             max_items_per_call=5, visit_chars=4000, goal_mode=False,
             max_observation_chars=16000, observation_budget_chars=200000,
             max_action_chars=32768, privileged_info=False, render_mode=None)
    ```
    * `corpus`: "default" (the bundled wiki) or the path of a corpus directory.
    * `split` ... `max_action_chars`: see :class:`WikiEnvConfig`.
    * `privileged_info`: add the gold pages and the answer-seen flag to `info`.
    * `render_mode`: None or "ansi" (`render()` returns the transcript so far).
    * `backend`: a ready `WikiBackend` to share (otherwise one is loaded, and memoized per
      process, with `embedding_model`, `index_type`, `cache_dir`, `show_progress`).
    * `search_url`: the address of a running `python -m webanchor_env.serve`; the env then
      searches and visits through that service and loads no index of its own.

    In `gym.vector.SyncVectorEnv` observations batch as a tuple of strings; in
    `AsyncVectorEnv` as a NumPy array of strings (shared memory) or, with
    `shared_memory=False`, a tuple.

    An env pickles (process pools, checkpoints) with its episode in progress and its random
    state: it pickles its configuration and loads its backend again when unpickled (cheap:
    `get_backend` is memoized per process, and reads the index cache otherwise). With
    `search_url` it pickles the address; a `WikiBackend` passed as `backend=` is refused
    with a `TypeError` (create the env with `corpus=` instead).

    ## Version History
    * v0: Initial version.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        corpus: str | os.PathLike[str] = "default",
        split: str = WikiEnvConfig.split,
        *,
        top_k: int = WikiEnvConfig.top_k,
        search_mode: str = WikiEnvConfig.search_mode,
        max_search_calls: int = WikiEnvConfig.max_search_calls,
        max_visit_calls: int = WikiEnvConfig.max_visit_calls,
        max_calls_per_turn: int = WikiEnvConfig.max_calls_per_turn,
        max_items_per_call: int = WikiEnvConfig.max_items_per_call,
        visit_chars: int = WikiEnvConfig.visit_chars,
        goal_mode: bool = WikiEnvConfig.goal_mode,
        max_observation_chars: int = WikiEnvConfig.max_observation_chars,
        observation_budget_chars: int = WikiEnvConfig.observation_budget_chars,
        max_action_chars: int = WikiEnvConfig.max_action_chars,
        privileged_info: bool = False,
        render_mode: str | None = None,
        backend: WikiBackend | None = None,
        embedding_model: str | None = None,
        index_type: str = "flat",
        cache_dir: str | os.PathLike[str] | None = None,
        show_progress: bool = True,
        search_url: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"Expected render_mode among {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}."
            )
        self.config = WikiEnvConfig(
            split=split,
            top_k=top_k,
            search_mode=search_mode,
            max_search_calls=max_search_calls,
            max_visit_calls=max_visit_calls,
            max_calls_per_turn=max_calls_per_turn,
            max_items_per_call=max_items_per_call,
            visit_chars=visit_chars,
            goal_mode=goal_mode,
            max_observation_chars=max_observation_chars,
            observation_budget_chars=observation_budget_chars,
            max_action_chars=max_action_chars,
        )
        self.render_mode = render_mode
        self.privileged_info = privileged_info
        if backend is None and search_url is not None:
            from webanchor_env.remote import RemoteSearchBackend  # no index in this process

            backend = RemoteSearchBackend(search_url)  # (it pickles as its address)
        self._reopen: dict[str, Any] | None = None
        """How to load the backend again after unpickling, when this env loaded it."""
        if backend is None:
            from webanchor_env.backend import get_backend  # loads torch, FAISS, the index

            self._reopen = {
                "corpus": corpus if corpus in BUNDLED else os.path.abspath(corpus),
                "model": embedding_model,
                "index_type": index_type,
                "cache_dir": None if cache_dir is None else os.path.abspath(cache_dir),
            }
            backend = get_backend(**self._reopen, show_progress=show_progress)
        self.backend = backend
        self.observation_space = UnicodeText(self.config.max_observation_chars)
        self.action_space = UnicodeText(self.config.max_action_chars)
        self._tasks: dict[str, list[Task]] = {}
        self._task_index: dict[str, dict[str, Task]] = {}
        self._episode: _Episode | None = None

    # --- Public accessors -----------------------------------------------------------------

    @property
    def task(self) -> Task | None:
        """The task of the current episode (privileged: it holds the answer and gold path)."""
        return self._episode.task if self._episode else None

    def tasks(self, split: str | None = None) -> list[Task]:
        """The tasks of a split (the configured one by default), in corpus order."""
        split = self.config.split if split is None else split
        if split not in self._tasks:
            if split not in SPLITS:
                raise ValueError(f"Expected a split among {SPLITS}, got {split!r}.")
            self._tasks[split] = self.backend.corpus.tasks_in(split)
            self._task_index[split] = {t.id: t for t in self._tasks[split]}
            _warn_weak_aliases(self._tasks[split], split)
        return self._tasks[split]

    def split_sizes(self) -> dict[str, int]:
        """How many tasks each split of the corpus holds."""
        return {split: len(self.tasks(split)) for split in SPLITS}

    def privileged_fields(self) -> dict[str, Any]:
        """Gold pages, which of them were visited, the answers, whether one was seen."""
        ep = self._require_episode("privileged_fields()")
        visited = set(ep.visited)
        return {
            "gold_pages": tuple(ep.task.gold.pages),
            "gold_pages_visited": tuple(
                page for page, url in zip(ep.task.gold.pages, ep.gold_urls) if url in visited
            ),
            "answer_seen": ep.answer_seen,
            "gold_answers": tuple(ep.task.answers),
        }

    # --- Gymnasium API --------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start an episode on a random task of the split, or on `options["task_id"]`."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"task_id", "split"})
        if unknown:
            raise ValueError(f"Expected reset options among 'task_id', 'split', got {unknown}.")
        split = options.get("split", self.config.split)
        tasks = self.tasks(split)
        task_id = options.get("task_id")
        if task_id is not None:
            task = self._task_index[split].get(task_id) if isinstance(task_id, str) else None
            if task is None:
                elsewhere = next(
                    (t.split for t in self.backend.corpus.tasks if t.id == task_id), None
                )
                hint = f" (it is in split {elsewhere!r})" if elsewhere else ""
                raise ValueError(f"Expected a task id from split {split!r}, got {task_id!r}.{hint}")
        elif not tasks:
            raise ValueError(
                f"Expected split {split!r} of the corpus to hold tasks, got none; "
                f"{describe_splits(self.split_sizes())} (choose another split with split=... "
                "or options={'split': ...})."
            )
        else:
            task = tasks[int(self.np_random.integers(len(tasks)))]
        self._episode = _Episode(task=task, split=split, gold_urls=self._gold_urls(task))
        observation = self._clip(task.question, self.config.max_observation_chars)
        self._episode.transcript.append(f"Task {task.id} ({split})\nQuestion: {task.question}")
        return observation, self._get_info()

    def step(
        self, action: str | dict[str, Any]
    ) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """Run the tool calls of one turn, or score its answer.

        Whatever the action, this returns: a malformed one gets an error observation. Only a
        failure of the backend (a search service that cannot be reached) raises, and then
        the turn is not taken: the episode is left as it was, so the step can be retried.
        """
        ep = self._require_episode("step()")
        if ep.ended is not None:
            raise ResetNeeded(f"Expected reset() after the episode ended ({ep.ended}), got step().")
        before = replace(ep, visited=list(ep.visited))
        try:
            return self._play(ep, action)
        except BaseException as err:
            before.transcript.append(
                f"\n--- Turn {before.step + 1} failed, not taken: {type(err).__name__}: "
                f"{str(err)[:300]} ---"
            )
            self._episode = before
            raise

    def _play(
        self, ep: _Episode, action: Any
    ) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        ep.step += 1
        parsed = parse_action(
            action,
            max_chars=self.config.max_action_chars,
            max_items=self.config.max_items_per_call,
        )
        turn = _Turn()
        reward, terminated, scores = 0.0, False, {}
        if parsed.answer is not None:
            scores = self._score(parsed, turn)
            reward, terminated = scores["em"], True
            ep.ended = "answered"
        elif parsed.error is not None:
            turn.errors.append(parsed.error)
            turn.bodies.append(self._error_text(parsed.error))
        else:
            self._run_tool_calls(parsed.tool_calls, turn)

        observation = self._observation(turn.bodies)
        ep.observation_chars += len(observation)
        ep.answer_seen = ep.answer_seen or any(
            contains_answer(text, ep.task.answers) for text in turn.results
        )
        if turn.truncation is None and ep.observation_chars > self.config.observation_budget_chars:
            turn.truncation = Truncation.OBSERVATION_BUDGET
        truncated = turn.truncation is not None and not terminated
        if truncated:
            ep.ended = turn.truncation
        ep.format_errors += len(turn.errors)
        self._record(_show_action(action, parsed), observation, reward, ep.ended)

        info = self._get_info(turn.errors)
        info["errors"] = tuple(e.code.value for e in turn.errors)
        info["tool_calls"] = tuple(turn.calls)
        info["latency_s"] = tuple(turn.latencies)
        info.update(scores)
        if truncated:
            info["truncation_reason"] = turn.truncation
        return observation, reward, terminated, truncated, info

    def render(self) -> str | None:
        """With render_mode="ansi", the transcript of the episode so far."""
        if self.render_mode is None:
            gym.logger.warn(
                "Calling render() without a render mode; create the environment with "
                'render_mode="ansi" to get the transcript.'
            )
            return None
        return "\n".join(self._episode.transcript) + "\n" if self._episode else ""

    # --- Pickling -------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The configuration, the episode in progress and the random state; not the backend.

        A backend this env loaded is loaded again on unpickling (``get_backend`` is memoized
        per process, and otherwise reads the index cache); a ``RemoteSearchBackend`` pickles
        as its address. A ``WikiBackend`` passed in (``backend=``) cannot be pickled.
        """
        state = {k: v for k, v in self.__dict__.items() if k not in ("_tasks", "_task_index")}
        if self._reopen is not None:
            del state["backend"]
        elif getattr(type(self.backend), "__getstate__", None) in _DEFAULT_GETSTATE:
            raise TypeError(
                f"Expected a WikiEnv that loaded its own backend (corpus=..., or search_url=...) "
                f"to pickle, got one given backend={type(self.backend).__name__}(...), which "
                "holds a search index and a model. Create the env with corpus=... instead "
                "(the backend is shared anyway: it is memoized per process)."
            )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _tasks={}, _task_index={})
        if self._reopen is not None:
            from webanchor_env.backend import get_backend

            self.backend = get_backend(**self._reopen, show_progress=False)

    # --- Turn handling --------------------------------------------------------------------

    def _score(self, parsed: ParsedAction, turn: _Turn) -> dict[str, Any]:
        ep = self._episode
        assert ep is not None and parsed.answer is not None
        em = exact_match(parsed.answer, ep.task.answers)
        f1 = f1_score(parsed.answer, ep.task.answers)
        turn.bodies.append(f"Answer submitted: {parsed.answer}\nThe episode is over.")
        if parsed.tool_calls:
            error = ActionError(
                ErrorCode.TOOL_CALLS_IGNORED,
                f"{len(parsed.tool_calls)} tool call(s) written next to the answer were not "
                "run. Expected either tool calls or an answer in one turn.",
            )
            turn.errors.append(error)
            turn.bodies.append(self._error_text(error))
        return {"answer": parsed.answer, "em": em, "f1": f1}

    def _run_tool_calls(self, calls: tuple[ToolCall, ...], turn: _Turn) -> None:
        limit = self.config.max_calls_per_turn
        for index, call in enumerate(calls):
            if index == limit:
                error = ActionError(
                    ErrorCode.TOO_MANY_TOOL_CALLS,
                    f"{len(calls) - limit} more tool call(s) not run: expected at most {limit} "
                    "tool calls per turn.",
                )
                turn.errors.append(error)
                turn.bodies.append(self._error_text(error))
                return
            if call.error is not None:
                turn.errors.append(call.error)
                turn.bodies.append(self._error_text(call.error))
            elif call.name == SEARCH:
                self._search(call, turn)
            else:
                self._visit(call, turn)
            if turn.truncation is not None:
                return

    @staticmethod
    def _budget_spent(name: str, used: int, budget: int, turn: _Turn) -> str | None:
        """None while calls of this tool remain; else truncate the turn and say why."""
        if used < budget:
            return None
        turn.truncation = _BUDGET_SPENT[name]
        return (
            f"The {name} budget is spent: this episode allows {budget} {name} calls. "
            "The episode is truncated."
        )

    def _search(self, call: ToolCall, turn: _Turn) -> None:
        ep = self._episode
        assert ep is not None
        spent = self._budget_spent(SEARCH, ep.search_calls, self.config.max_search_calls, turn)
        if spent is not None:
            turn.bodies.append(spent)
            return
        start = time.perf_counter()
        body = self.backend.search_call(
            call.args, top_k=self.config.top_k, mode=self.config.search_mode
        )
        turn.latencies.append(time.perf_counter() - start)
        turn.calls.append(SEARCH)
        turn.bodies.append(body)
        turn.results.append(body)
        ep.search_calls += 1

    def _visit(self, call: ToolCall, turn: _Turn) -> None:
        """Visit the pages that resolve; a line of error for each URL that does not."""
        ep = self._episode
        assert ep is not None
        args = call.args
        assert isinstance(args, VisitArgs)
        urls: list[str] = []
        parts: list[str] = []
        for raw in args.urls:
            resolved = self._resolve(raw)
            if isinstance(resolved, ActionError):
                turn.errors.append(resolved)
                parts.append(self._error_text(resolved))
            elif resolved not in urls:
                urls.append(resolved)
        spent = urls and self._budget_spent(
            VISIT, ep.visit_calls, self.config.max_visit_calls, turn
        )
        if spent:
            parts.append(spent)
        elif urls:
            start = time.perf_counter()
            text = self.backend.visit_call(
                replace(args, urls=tuple(urls)),
                max_chars=self.config.visit_chars,
                goal_mode=self.config.goal_mode,
            )
            turn.latencies.append(time.perf_counter() - start)
            turn.calls.append(VISIT)
            ep.visit_calls += 1
            ep.visited.extend(u for u in urls if u not in ep.visited)
            parts.append(text)
            turn.results.append(text)
        turn.bodies.append("\n\n".join(parts))

    def _resolve(self, url: str) -> str | ActionError:
        """The canonical URL of a page named by URL or title, or why there is none.

        Only the corpus is consulted: whatever the string (another host, a file path, a
        ``javascript:`` or ``file:`` URL), it is a key looked up in memory, never opened.
        """
        if _BAD_URL_CHARS.search(url):  # (the parser has bounded its length)
            return ActionError(
                ErrorCode.INVALID_URL,
                f"{url[:80]!r} is not a wiki URL. Expected {WIKI_PREFIX}<Title> or a page title.",
            )
        page = self.backend.store.get(url)
        if page is not None:
            return page.url
        foreign = (_SCHEME.match(url) and not url.startswith(WIKI_PREFIX)) or url.startswith(
            ("/", "\\", "~", ".")
        )
        if foreign:
            return ActionError(
                ErrorCode.INVALID_URL,
                f"{url[:200]!r} is outside this wiki; only its pages can be visited. Expected "
                f"{WIKI_PREFIX}<Title> (a URL from the search results) or a page title.",
            )
        return ActionError(
            ErrorCode.PAGE_NOT_FOUND,
            f"No page {url[:200]!r} in this wiki. Expected a URL from the search results.",
        )

    # --- Helpers --------------------------------------------------------------------------

    def _require_episode(self, what: str) -> _Episode:
        if self._episode is None:
            raise ResetNeeded(f"Expected reset() before {what}, got {what} first.")
        return self._episode

    def _gold_urls(self, task: Task) -> tuple[str, ...]:
        """The gold pages as canonical URLs, for comparing with visited pages."""
        pages = (self.backend.store.get(url) for url in task.gold.pages)
        return tuple(
            page.url if page is not None else url for url, page in zip(task.gold.pages, pages)
        )

    @staticmethod
    def _error_text(error: ActionError) -> str:
        return f"Error ({error.code.value}): {error.message}"

    @staticmethod
    def _clip(text: str, limit: int) -> str:
        if len(text) <= limit:
            return text
        marker = f"\n[… clipped {len(text)} characters to {limit}]"
        return text[: max(0, limit - len(marker))] + marker

    def _observation(self, bodies: list[str]) -> str:
        """One <tool_response> block per body, each clipped so the whole fits the space."""
        overhead = len(_WRAP_OPEN) + len(_WRAP_CLOSE) + 1
        share = self.config.max_observation_chars // max(1, len(bodies)) - overhead
        return "\n".join(_WRAP_OPEN + self._clip(b, share) + _WRAP_CLOSE for b in bodies)

    def _record(self, text: str, observation: str, reward: float, ended: str | None) -> None:
        ep = self._episode
        assert ep is not None
        ep.transcript.append(
            f"\n--- Turn {ep.step} ---\n[action]\n"
            f"{self._clip(text, _TRANSCRIPT_ACTION_CHARS)}\n[observation]\n{observation}"
        )
        if ended is not None:
            ep.transcript.append(f"\n=== Episode end: {ended}, reward {reward} ===")

    def _get_info(self, errors: list[ActionError] | None = None) -> dict[str, Any]:
        ep = self._episode
        assert ep is not None
        info: dict[str, Any] = {
            "task_id": ep.task.id,
            "split": ep.split,
            "step": ep.step,
            "search_calls": ep.search_calls,
            "visit_calls": ep.visit_calls,
            "format_errors": ep.format_errors,
            "error": errors[0].code.value if errors else None,
        }
        if self.privileged_info:
            info.update(self.privileged_fields())
        return info
