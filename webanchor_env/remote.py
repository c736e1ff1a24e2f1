"""A backend that asks a search service (``python -m webanchor_env.serve``) instead of loading one.

:class:`RemoteSearchBackend` has the interface the environment uses of a
:class:`~webanchor_env.backend.WikiBackend` — ``search``, ``search_text``, ``visit_text``,
``store.get``, ``corpus.tasks_in`` — so ``WikiEnv(backend=RemoteSearchBackend(url))`` plays
exactly as with a local backend, and N environment workers share the service's one index::

    from webanchor_env.remote import RemoteSearchBackend, remote_env_fns
    envs = gym.vector.AsyncVectorEnv(remote_env_fns("http://127.0.0.1:8765", 8, split="train"))

Visits are served too (``/visit``): the server holds the page store and the index (which goal
mode reads), so a worker holds neither, only the tasks. Response bodies are formatted here,
by the same functions as in process (:mod:`webanchor_env.tools`), from the hits the service
returns, so the text is identical to a local backend's.

Every request is retried with exponential backoff when the service does not answer
(connection refused or reset, timeout) or answers that it is overloaded (503); after the
last attempt it raises :class:`SearchServiceUnavailable` naming the address. A keep-alive
connection that the service closed while idle is replaced at once, without counting as an
attempt. Requests the service refuses (other HTTP 4xx/5xx) raise :class:`SearchServiceError`
at once: retrying would not help.
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gymnasium as gym
import numpy as np

from webanchor_env import tools
from webanchor_env.actions import SearchArgs, VisitArgs
from webanchor_env.index import Hit
from webanchor_env.retrieval import BACKEND_SEARCH_MODE, check_search_mode
from wiki_corpus.io import task_from_json
from wiki_corpus.schema import SPLITS, Task

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF_S = 0.2
_RETRYABLE = (OSError, http.client.HTTPException)  # refused, reset, timed out, cut off
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
"""How a keep-alive connection that the service closed while idle fails on its next use."""
OVERLOADED = 503


class SearchServiceUnavailable(ConnectionError):
    """The search service did not answer after the allowed attempts."""


class SearchServiceError(RuntimeError):
    """The search service answered with an error status; the message is the service's."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried when the service does not answer."""

    attempts: int = DEFAULT_ATTEMPTS
    """Tries in all (the first one included)."""
    backoff_s: float = DEFAULT_BACKOFF_S
    """Wait before the second try; doubled before each further one."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    """Socket timeout of one try."""


class ServiceClient:
    """JSON over HTTP/1.1 to one service, one keep-alive connection per thread."""

    def __init__(self, url: str, retry: RetryPolicy | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"Expected a service address like http://127.0.0.1:8765, got {url!r}.")
        self.url = f"http://{parts.hostname}:{parts.port}"
        self.host, self.port = parts.hostname, parts.port
        self.retry = retry or RetryPolicy()
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.retry.timeout_s)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _once(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        conn = self._connection()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """One attempt; a reused connection found closed is replaced and tried again at once."""
        reused = getattr(self._local, "conn", None) is not None
        try:
            return self._once(method, path, body)
        except _STALE:
            self._drop_connection()
            if not reused:
                raise
        return self._once(method, path, body)

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer; retries a silent service, then raises (see the module)."""
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        last: BaseException | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.backoff_s * 2 ** (attempt - 1))
            try:
                status, raw = self._send(method, path, body)
            except _RETRYABLE as err:
                self._drop_connection()  # reconnect next time
                last = err
                continue
            try:
                answer = json.loads(raw) if raw else {}
            except ValueError:  # not JSON: an error page from something in between
                answer = None
            if status == 200 and answer is not None:
                return answer
            message = (
                answer["error"]
                if isinstance(answer, dict) and "error" in answer
                else raw[:200].decode("utf-8", "replace")
            )
            error = SearchServiceError(f"{method} {self.url}{path} -> {status}: {message}")
            if status != OVERLOADED:
                raise error
            self._drop_connection()
            last = error
        raise SearchServiceUnavailable(
            f"Search service at {self.url} did not answer after {self.retry.attempts} attempts: "
            f"{type(last).__name__}: {last}"
        )

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/health")

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/stats")


@dataclass(frozen=True)
class PageRef:
    """A page as the service names it: id, canonical URL and title (no text)."""

    id: str
    url: str
    title: str


class RemoteIndex:
    """The index side: ``search`` returns :class:`Hit` lists fetched from ``/search``, ranked
    in one search mode (see :mod:`webanchor_env.retrieval`)."""

    def __init__(self, client: ServiceClient, mode: str = BACKEND_SEARCH_MODE) -> None:
        self.client = client
        self.mode = check_search_mode(mode)

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[list[Hit]]:
        if isinstance(queries, str):
            queries = [queries]
        if not queries:
            return []
        payload = {"queries": list(queries), "top_k": int(top_k), "mode": self.mode}
        answer = self.client.request("POST", "/search", payload)
        return [[Hit(**hit) for hit in row] for row in answer["results"]]


class RemoteStore:
    """The page-store side the environment uses: ``get`` and ``lookup``, cached per client."""

    def __init__(self, client: ServiceClient, cache_size: int = 4096) -> None:
        self.client = client
        self.cache_size = cache_size
        self._lookup = functools.lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def get(self, key: object) -> PageRef | None:
        """The page a URL, id or title names (as the server's store resolves it), or None."""
        if not isinstance(key, str):
            return None
        return self._lookup(key)

    def _lookup_uncached(self, key: str) -> PageRef | None:
        found = self.client.request("POST", "/lookup", {"keys": [key]})["pages"][0]
        return None if found is None else PageRef(found["id"], found["url"], found["title"])


class RemoteCorpus:
    """The tasks of the served corpus, fetched once (pages stay on the server)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client
        self.path = None
        self._tasks: list[Task] | None = None

    @property
    def tasks(self) -> list[Task]:
        if self._tasks is None:
            raw = self.client.request("GET", "/tasks")["tasks"]
            self._tasks = [task_from_json(obj, self.client.url, i) for i, obj in enumerate(raw)]
        return self._tasks

    def tasks_in(self, split: str) -> list[Task]:
        """The tasks of one split, in corpus order."""
        if split not in SPLITS:
            raise ValueError(f"Expected a split among {SPLITS}, got {split!r}.")
        return [t for t in self.tasks if t.split == split]


class RemoteEncoder:
    """The service's sentence encoder (``/embed``): the :class:`~webanchor_env.embedding.Encoder`
    interface (``encode``, ``dim``, ``name``) without a model in this process."""

    def __init__(self, client: ServiceClient | str) -> None:
        self.client = client if isinstance(client, ServiceClient) else ServiceClient(client)
        self.name = f"remote:{self.client.url}"
        self.calls = 0
        self.texts_encoded = 0
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.client.request("POST", "/embed", {"texts": []})["dim"])
        return self._dim

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Normalized embeddings ``[N, D]`` float32, computed by the service."""
        self.calls += 1
        self.texts_encoded += len(texts)
        answer = self.client.request("POST", "/embed", {"texts": list(texts)})
        self._dim = int(answer["dim"])
        raw = base64.b64decode(answer["vectors"])
        return np.frombuffer(raw, dtype=np.float32).reshape(len(texts), self._dim).copy()


class RemoteSearchBackend:
    """A :class:`~webanchor_env.backend.WikiBackend` look-alike over a search service."""

    def __init__(self, url: str, *, retry: RetryPolicy | None = None) -> None:
        self.client = ServiceClient(url, retry)
        self.url = self.client.url
        self.index = RemoteIndex(self.client)
        self.store = RemoteStore(self.client)
        self.corpus = RemoteCorpus(self.client)
        self.encoder = RemoteEncoder(self.client)

    def __repr__(self) -> str:
        return f"RemoteSearchBackend({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as its address alone (for subprocess vector envs)."""
        return {"url": self.url, "retry": self.client.retry}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], retry=state["retry"])  # type: ignore[misc]

    def health(self) -> dict[str, Any]:
        return self.client.health()

    def search(
        self, queries: str | Sequence[str], top_k: int = 5, *, mode: str = BACKEND_SEARCH_MODE
    ) -> list[list[Hit]]:
        """Top-k distinct pages per query, searched by the service (micro-batched there)."""
        return RemoteIndex(self.client, mode).search(queries, top_k)

    def search_call(self, args: SearchArgs, *, top_k: int, mode: str = BACKEND_SEARCH_MODE) -> str:
        """The Search tool's response body for a checked call, formatted here."""
        return tools.search(RemoteIndex(self.client, mode), args, top_k)  # type: ignore[arg-type]

    def visit_call(self, args: VisitArgs, *, max_chars: int, goal_mode: bool = False) -> str:
        """The Visit tool's response body for a checked call, read by the service."""
        return self.visit_text(
            list(args.urls),
            args.goal,
            offset=args.offset,
            max_chars=max_chars,
            goal_mode=goal_mode,
        )

    def search_text(
        self, queries: object, top_k: object = 5, *, mode: str = BACKEND_SEARCH_MODE
    ) -> str:
        """The Search tool's response body, formatted here from the service's hits."""
        return tools.search_text(RemoteIndex(self.client, mode), queries, top_k)  # type: ignore[arg-type]

    def visit_text(
        self,
        urls: object,
        goal: object = None,
        *,
        offset: object = 0,
        max_chars: object = 4000,
        goal_mode: bool = False,
    ) -> str:
        """The Visit tool's response body, read by the service from its page store."""
        payload = {
            "urls": urls,
            "goal": goal,
            "offset": offset,
            "max_chars": max_chars,
            "goal_mode": goal_mode,
        }
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as err:  # an agent's arguments come from JSON
            return f"Visit expects JSON values as arguments ({err})."
        return self.client.request("POST", "/visit", payload)["text"]


def make_remote_env(url: str, **env_kwargs: Any) -> gym.Env:
    """``gym.make("WebAnchor-Wiki-v0", backend=RemoteSearchBackend(url), **env_kwargs)``."""
    import webanchor_env

    return gym.make(webanchor_env.ENV_ID, backend=RemoteSearchBackend(url), **env_kwargs)


def remote_env_fns(url: str, n: int, **env_kwargs: Any) -> list[Callable[[], gym.Env]]:
    """``n`` picklable environment factories for ``AsyncVectorEnv``, all on one service."""
    return [_RemoteEnvFactory(url, env_kwargs) for _ in range(n)]


@dataclass(frozen=True)
class _RemoteEnvFactory:
    """A picklable ``() -> env`` (a lambda would pickle only with cloudpickle)."""

    url: str
    env_kwargs: dict[str, Any]

    def __call__(self) -> gym.Env:
        return make_remote_env(self.url, **self.env_kwargs)
