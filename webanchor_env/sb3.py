"""The text environment as one Stable-Baselines3 can train: discrete actions, fixed-size vectors.

:class:`WikiDiscreteEnv` wraps a ``WebAnchor-Wiki-v0`` environment. Its actions are slots
over candidate actions that it derives from the text alone, as an agent reading the
observations could:

* **search** slots: queries drawn from the question (the question itself, then its
  capitalized spans such as "The Last Dancer of Wouloton");
* **visit** slots: the results of the last search, in rank order;
* **answer** slots: candidate spans of what was read — ``Key: Value`` lines of the last page
  (infobox rows), titles of the results and the page, capitalized spans and numbers of its
  sentences — ranked by how similar their context is to the question.

A slot with no candidate is a wasted turn (the wrapped env gets an empty action and
answers with an error). The observation is a float vector in ``[-1, 1]``: the embedding of
the question, the embedding of the last observation, counters (turn, searches, visits,
results shown, page read), and per slot whether it holds a candidate and its similarity to
the question. The reward is the wrapped env's exact-match reward.

Vector environments share one search backend: in one process, every env built by
:func:`make_discrete_env` uses the memoized backend (``get_backend``), so N envs hold one
index; across processes (``SubprocVecEnv``) each worker talks to the search service
(``search_url=``), which also embeds for it, so a worker holds neither index nor model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from cachetools import LRUCache
from gymnasium import spaces

from webanchor_env.scoring import normalize_answer

OBS_CLIP_CHARS = 2_000
"""Characters of the last observation that are embedded (the encoder reads ~256 tokens)."""
MAX_ANSWER_POOL = 32
"""Answer candidates scored per observation (the best ones fill the answer slots)."""
IN_QUESTION_PENALTY = 0.5
"""Subtracted from the score of a candidate the question already contains."""

_RESULT = re.compile(r"^\d+\. \[([^\]\n]+)\]\((\S+)\)\n?(.*)$", re.MULTILINE)
_PAGE = re.compile(r"^Page: \[([^\]\n]+)\]\((\S+)\)$", re.MULTILINE)
_FIELD = re.compile(r"^([A-Z][A-Za-z ]{0,30}): ([^\n]{1,120})$", re.MULTILINE)
_SKIP_FIELDS = frozenset({"Page", "Categories", "Characters", "Links", "Infobox", "Question"})
_CONNECTOR = r"(?:of|the|de|la|le|and|van|von|du|del|da|on|upon)"
_CAPS = re.compile(rf"\b[A-Z][\w'’\-]*(?:\s+(?:{_CONNECTOR}\s+)*[A-Z0-9][\w'’\-]*)*", re.UNICODE)
_NUMBER = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_QUESTION_WORDS = frozenset(
    {"Who", "What", "When", "Where", "Which", "How", "Why", "Name", "In", "On", "The", "A"}
)


class TextEncoder(Protocol):
    """What the wrapper needs of an encoder (a local model or the service's ``/embed``)."""

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class SlotConfig:
    """How many slots of each kind the discrete action space has."""

    search: int = 3
    """Search queries from the question."""
    visit: int = 5
    """Results of the last search (match the env's ``top_k``)."""
    answer: int = 8
    """Candidate answers from what was read."""

    @property
    def total(self) -> int:
        return self.search + self.visit + self.answer


@dataclass(frozen=True)
class Candidate:
    """One action a slot offers: what it sends, and the text its score is computed from."""

    value: str
    context: str
    url: str = ""


@dataclass
class _State:
    """What the wrapper has read so far in the episode."""

    question: str = ""
    queries: list[Candidate] = field(default_factory=list)
    results: list[Candidate] = field(default_factory=list)
    answers: list[Candidate] = field(default_factory=list)
    result_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    answer_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    question_vec: np.ndarray | None = None
    obs_vec: np.ndarray | None = None
    page_read: bool = False


# --- Candidates (pure functions of text) -------------------------------------------------


def _dedup(cands: Sequence[Candidate]) -> list[Candidate]:
    seen: set[str] = set()
    out = []
    for c in cands:
        key = normalize_answer(c.value)
        if key and key not in seen:
            seen.add(key)
            out.append(c)
    return out


def capitalized_spans(text: str) -> list[str]:
    """Runs of capitalized words (with connectors such as "of the"), longest first.

    At the start of the text (a sentence), question words ("Who", "Name", "The") are cut off
    and a lone capitalized word is dropped: it is capitalized for being first, not a name.
    """
    spans = []
    opening = len(text) - len(text.lstrip())
    for match in _CAPS.finditer(text):
        words = match.group(0).split()
        if match.start() == opening:
            while words and words[0] in _QUESTION_WORDS:
                words = words[1:]
            if len(words) == 1 and len(match.group(0).split()) == 1:
                words = []
        while words and re.fullmatch(_CONNECTOR, words[-1]):
            words = words[:-1]
        if words:
            spans.append(" ".join(words))
    unique = list(dict.fromkeys(spans))
    return sorted(unique, key=lambda s: (-len(s.split()), unique.index(s)))


def search_candidates(question: str) -> list[Candidate]:
    """The question itself, then its capitalized spans (named entities, titles)."""
    cands = [Candidate(question.strip(), question.strip())]
    cands += [Candidate(span, span) for span in capitalized_spans(question)]
    return _dedup(cands)


def result_candidates(observation: str) -> list[Candidate]:
    """The pages a search response lists, in rank order, with their snippets as context."""
    return _dedup(
        [
            Candidate(title, f"{title}. {snippet}", url)
            for title, url, snippet in _RESULT.findall(observation)
        ]
    )


def answer_candidates(observation: str, results: Sequence[Candidate] = ()) -> list[Candidate]:
    """Spans of what was read that could answer: field values, titles, spans, numbers.

    A field's context is the page title and the field's name ("Lumen Tower Architect"): the
    question names the relation, not the value, so that is what its score should compare.
    """
    page = _PAGE.search(observation)
    title = page.group(1) if page else ""
    cands = [
        Candidate(value.strip(), f"{title} {key}".strip())
        for key, value in _FIELD.findall(observation)
        if key not in _SKIP_FIELDS and ";" not in value
    ]
    cands += [Candidate(title, f"{title}") for title, _ in _PAGE.findall(observation)]
    cands += [Candidate(r.value, r.context) for r in results]
    body = _RESULT.sub("", _PAGE.sub("", observation))
    for sentence in _SENTENCE.split(body):
        sentence = sentence.strip()
        skip = sentence.endswith(":") or sentence.startswith(("- [", "#", "<", "Error ("))
        if not sentence or skip or _FIELD.fullmatch(sentence):
            continue
        spans = capitalized_spans(sentence) + _NUMBER.findall(sentence)
        cands += [Candidate(span, sentence[:300]) for span in spans]
    return _dedup(cands)[:MAX_ANSWER_POOL]


class CachedEncoder:
    """An encoder with a memory: texts seen before are not encoded again.

    Episodes over the same tasks read the same questions, results and pages, so after a few
    episodes most steps encode nothing. One instance is shared by the envs of a process.
    """

    def __init__(self, inner: TextEncoder, max_items: int = 200_000) -> None:
        self.inner = inner
        self.max_items = max_items
        self._vectors: LRUCache[str, np.ndarray] = LRUCache(max(max_items, 1))
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Embeddings ``[N, D]``; only texts not seen before reach the inner encoder."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            fresh = self.inner.encode(missing)  # [M, D]
            with self._lock:
                self._vectors.update(zip(missing, fresh))  # (the least recently used go)
        with self._lock:
            rows = [self._vectors.get(t) for t in texts]
        if any(r is None for r in rows):  # evicted meanwhile (a tiny cache): encode again
            return self.inner.encode(list(texts))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


_SHARED_CACHES: dict[int, CachedEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_cached_encoder(inner: TextEncoder) -> CachedEncoder:
    """The process's one :class:`CachedEncoder` around ``inner``."""
    if isinstance(inner, CachedEncoder):
        return inner
    with _SHARED_LOCK:
        if id(inner) not in _SHARED_CACHES:
            _SHARED_CACHES[id(inner)] = CachedEncoder(inner)
        return _SHARED_CACHES[id(inner)]


# --- The wrapper -------------------------------------------------------------------------


class WikiDiscreteEnv(gym.Wrapper):
    """
    A ``WebAnchor-Wiki-v0`` environment with a discrete action space and vector observations.

    ## Description
    Each action is a slot holding a candidate action derived from the text the agent has
    seen (see the module docstring); the wrapper turns it into the wrapped env's action
    dict and the wrapped env's text observation into a vector. Stable-Baselines3's
    ``check_env`` passes on it, so PPO, A2C or DQN train on it unchanged.

    ## Action Space
    `Discrete(slots.search + slots.visit + slots.answer)`: search slots first, then visit
    slots, then answer slots (see the module docstring). An empty slot wastes a turn.

    ## Observation Space
    `Box(-1, 1, (2 * D + 5 + 2 * N,), float32)` with D the embedding size and N the number
    of slots: question embedding, last-observation embedding, the counters turn / max turns,
    searches / max, visits / max, results shown, page read; then for each slot a 0/1 "holds
    a candidate" flag, then each slot's cosine similarity to the question.

    ## Rewards
    The wrapped env's: 1.0 for an exact-match answer, else 0.0.

    ## Episode End
    As the wrapped env: an answer terminates; its turn limit (``max_episode_steps``) or a
    budget truncates.

    ## Arguments
    * `env`: a ``WebAnchor-Wiki-v0`` environment (with its ``TimeLimit``).
    * `encoder`: embeds the texts (default: the backend's encoder, local or remote, behind
      the process's shared :class:`CachedEncoder`).
    * `slots`: a :class:`SlotConfig`.
    * `task_ids`: restrict episodes to these tasks (drawn with ``self.np_random``).
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        env: gym.Env,
        *,
        encoder: TextEncoder | None = None,
        slots: SlotConfig = SlotConfig(),
        task_ids: Sequence[str] | None = None,
    ) -> None:
        super().__init__(env)
        backend = env.unwrapped.backend
        if encoder is None:
            encoder = getattr(backend, "encoder", None) or backend.index.encoder
            encoder = shared_cached_encoder(encoder)
        self.encoder: TextEncoder = encoder
        self.slots = slots
        self.task_ids = list(task_ids) if task_ids is not None else None
        self.max_turns = _turn_limit(env)
        config = env.unwrapped.config
        self._budgets = (config.max_search_calls, config.max_visit_calls)
        dim = int(self.encoder.dim)
        size = 2 * dim + 5 + 2 * slots.total
        self.action_space = spaces.Discrete(slots.total)
        self.observation_space = spaces.Box(-1.0, 1.0, (size,), np.float32)
        self._dim = dim
        self._state = _State()
        self._question_cache: LRUCache[str, np.ndarray] = LRUCache(10_000)
        self._info: dict[str, Any] = {}
        self._task_rng = np.random.default_rng()
        """Draws tasks from ``task_ids`` (a wrapper cannot own ``np_random``); seeded by reset."""

    # --- Gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode, on a task of ``task_ids`` when they were given."""
        if seed is not None:
            self._task_rng = np.random.default_rng(seed)
        options = dict(options or {})
        if self.task_ids is not None and "task_id" not in options:
            options["task_id"] = self.task_ids[int(self._task_rng.integers(len(self.task_ids)))]
        question, info = self.env.reset(seed=seed, options=options)
        self._state = _State(question=question, queries=search_candidates(question))
        self._state.question_vec = self._question_vec(question)
        self._read(question, is_search=False, is_visit=False)
        self._info = info
        return self._vector(), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Run the slot's action in the wrapped env (an empty slot sends an empty action)."""
        kind, cand = self.candidate(int(action))
        text_action: Any = "" if cand is None else self._action(kind, cand)
        obs, reward, terminated, truncated, info = self.env.step(text_action)
        self._info = info
        calls = info.get("tool_calls", ())
        self._read(obs, is_search="search" in calls, is_visit="visit" in calls)
        info = {**info, "slot": kind, "action": text_action}
        return self._vector(), float(reward), bool(terminated), bool(truncated), info

    @property
    def last_info(self) -> dict[str, Any]:
        """The wrapped env's info of the last reset or step (its counters)."""
        return self._info

    # --- Slots

    def candidate(self, action: int) -> tuple[str, Candidate | None]:
        """``(kind, candidate)`` of an action index; the candidate is None for an empty slot."""
        s = self._state
        if not 0 <= action < self.slots.total:
            raise ValueError(f"Expected an action in 0..{self.slots.total - 1}, got {action}.")
        for kind, pool, size in (
            ("search", s.queries, self.slots.search),
            ("visit", s.results, self.slots.visit),
            ("answer", s.answers, self.slots.answer),
        ):
            if action < size:
                return kind, pool[action] if action < len(pool) else None
            action -= size
        raise AssertionError("unreachable")

    def _action(self, kind: str, cand: Candidate) -> dict[str, Any]:
        if kind == "search":
            return {"name": "search", "arguments": {"query": [cand.value]}}
        if kind == "visit":
            goal = self._state.question
            return {"name": "visit", "arguments": {"url": [cand.url], "goal": goal}}
        return {"name": "answer", "arguments": {"answer": cand.value}}

    # --- Reading observations

    def _question_vec(self, question: str) -> np.ndarray:
        vector = self._question_cache.get(question)
        if vector is None:
            vector = self._question_cache[question] = self.encoder.encode([question])[0]
        return vector

    def _read(self, observation: str, *, is_search: bool, is_visit: bool) -> None:
        """Update the candidates from a new observation and embed what the vector needs."""
        s = self._state
        if is_search:
            s.results = result_candidates(observation)[: self.slots.visit]
        if is_search or is_visit:
            s.page_read = s.page_read or is_visit
            pool = answer_candidates(observation, s.results if is_search else ())
            if is_search and s.page_read:  # keep what the last page offered as well
                pool = _dedup(pool + s.answers)
            s.answers = pool
        q = s.question_vec
        assert q is not None
        if observation == s.question:  # the reset observation: its embedding is known
            s.obs_vec = q
            return
        texts = [observation[:OBS_CLIP_CHARS]]
        texts += [c.context for c in s.results] if is_search else []
        texts += [c.context for c in s.answers] if (is_search or is_visit) else []
        vectors = self.encoder.encode(texts)  # [1 (+ R) (+ A), D]
        s.obs_vec = vectors[0]
        start = 1
        if is_search:
            s.result_scores = vectors[1 : 1 + len(s.results)] @ q  # [R]
            start += len(s.results)
        if is_search or is_visit:
            scores = vectors[start:] @ q  # [A]
            scores -= IN_QUESTION_PENALTY * np.array(
                [_in_question(c.value, s.question) for c in s.answers], np.float32
            )
            order = np.argsort(-scores, kind="stable")[: self.slots.answer]
            s.answers = [s.answers[i] for i in order]
            s.answer_scores = scores[order]

    def _vector(self) -> np.ndarray:
        """The observation vector (see the class docstring for its layout)."""
        s, info = self._state, self._info
        q = s.question_vec if s.question_vec is not None else np.zeros(self._dim, np.float32)
        o = s.obs_vec if s.obs_vec is not None else np.zeros(self._dim, np.float32)
        counters = [
            info.get("step", 0) / self.max_turns,
            info.get("search_calls", 0) / max(1, self._budgets[0]),
            info.get("visit_calls", 0) / max(1, self._budgets[1]),
            float(bool(s.results)),
            float(s.page_read),
        ]
        valid, sims = [], []
        query_scores = np.ones(len(s.queries), np.float32)  # queries come from the question
        for pool, scores, size in (
            (s.queries, query_scores, self.slots.search),
            (s.results, s.result_scores, self.slots.visit),
            (s.answers, s.answer_scores, self.slots.answer),
        ):
            for i in range(size):
                valid.append(float(i < len(pool)))
                sims.append(float(scores[i]) if i < len(pool) and i < len(scores) else 0.0)
        vec = np.concatenate([q, o, np.asarray(counters + valid + sims, np.float32)])
        return np.clip(vec, -1.0, 1.0).astype(np.float32)


def _turn_limit(env: gym.Env, default: int = 20) -> int:
    """The ``TimeLimit`` of the wrapped env (read from the wrapper, not from ``env.spec``,
    which gym's checker deep-copies, backend and all)."""
    try:
        limit = env.get_wrapper_attr("_max_episode_steps")
    except AttributeError:
        return default
    return int(limit) if limit else default


def _in_question(value: str, question: str) -> float:
    """1.0 when the candidate's words all appear in the question (rarely the answer)."""
    norm = normalize_answer(value)
    return float(bool(norm) and f" {norm} " in f" {normalize_answer(question)} ")


# --- Building environments ----------------------------------------------------------------


def make_discrete_env(
    *,
    search_url: str | None = None,
    backend: Any = None,
    slots: SlotConfig = SlotConfig(),
    task_ids: Sequence[str] | None = None,
    max_episode_steps: int = 8,
    encoder: TextEncoder | None = None,
    **env_kwargs: Any,
) -> WikiDiscreteEnv:
    """A :class:`WikiDiscreteEnv` over ``WebAnchor-Wiki-v0``.

    The search backend is, in order: ``backend``; the service at ``search_url`` (a
    :class:`~webanchor_env.remote.RemoteSearchBackend`, which also embeds); else the
    process's shared ``get_backend(corpus, ...)``. ``env_kwargs`` go to ``gym.make``.
    """
    import webanchor_env

    if backend is None and search_url is not None:
        from webanchor_env.remote import RemoteSearchBackend

        backend = RemoteSearchBackend(search_url)
    if backend is not None:
        env_kwargs["backend"] = backend
    env_kwargs.setdefault("top_k", slots.visit)
    env = gym.make(webanchor_env.ENV_ID, max_episode_steps=max_episode_steps, **env_kwargs)
    return WikiDiscreteEnv(env, encoder=encoder, slots=slots, task_ids=task_ids)


@dataclass(frozen=True)
class DiscreteEnvFactory:
    """A picklable ``() -> WikiDiscreteEnv`` (for ``SubprocVecEnv`` / ``AsyncVectorEnv``)."""

    kwargs: dict[str, Any]
    monitor: bool = True
    """Wrap in SB3's ``Monitor`` (episode returns and lengths in ``info["episode"]``)."""

    def __call__(self) -> gym.Env:
        env: gym.Env = make_discrete_env(**self.kwargs)
        if self.monitor:
            from stable_baselines3.common.monitor import Monitor

            env = Monitor(env)
        return env


def make_vec_env(
    n_envs: int,
    *,
    subprocess: bool = False,
    seed: int | None = None,
    **kwargs: Any,
) -> Any:
    """An SB3 ``VecEnv`` of ``n_envs`` discrete wiki envs that share one search index.

    In process (``DummyVecEnv``) the envs share the memoized backend (or ``backend=``).
    With ``subprocess=True`` (``SubprocVecEnv``) each worker is a separate process, so a
    ``search_url`` is required: the workers search and embed through the service instead
    of each loading the index and the model.
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    if subprocess and kwargs.get("search_url") is None:
        raise ValueError(
            "Expected search_url= with subprocess=True: start `python -m webanchor_env.serve` "
            "and pass its address, so the workers share its index instead of loading one each."
        )
    fns: list[Callable[[], gym.Env]] = [DiscreteEnvFactory(kwargs) for _ in range(n_envs)]
    vec = SubprocVecEnv(fns, start_method="spawn") if subprocess else DummyVecEnv(fns)
    if seed is not None:
        vec.seed(seed)
    return vec
