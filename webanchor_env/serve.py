"""The search index served over HTTP, so many environment workers share one index in memory.

Usage::

    python -m webanchor_env.serve --corpus default --port 8765
    python -m webanchor_env.serve --corpus /data/wiki100k --index-type hnsw --port 0

It binds loopback (``127.0.0.1``) unless told otherwise; ``--port 0`` picks a free port,
and the first line printed is ``Serving <corpus> on http://127.0.0.1:<port>``.
Environments take the address instead of loading their own index::

    from webanchor_env.remote import RemoteSearchBackend
    env = gym.make("WebAnchor-Wiki-v0", backend=RemoteSearchBackend("http://127.0.0.1:8765"))

Endpoints (JSON in and out):

* ``POST /search`` ``{"queries": [str], "top_k": int, "mode": "dense"|"bm25"|"hybrid"}`` →
  ``{"results": [[hit, ...], ...]}`` (``mode`` optional: ``"dense"``).
  Concurrent requests are **micro-batched**: a worker thread takes the first waiting request,
  gathers whatever else arrives within ``max_wait_ms`` (up to ``max_batch`` queries), and
  answers them all with one call of the backend's search (one encoder call, one FAISS call).
* ``POST /retrieve`` ``{"queries": [str], "topk": int, "return_scores": bool}`` →
  ``{"result": [[{"document": {"id", "contents", ...}, "score"}, ...], ...]}``: Search-R1's
  retrieval format (verl's ``SearchTool`` speaks it), batched like ``/search``.
* ``POST /embed`` ``{"texts": [str]}`` → ``{"dim", "vectors"}`` (base64 of float32 ``[N, D]``):
  the index's encoder, batched like searches, so workers need no model of their own.
* ``POST /visit`` ``{"urls", "goal", "offset", "max_chars", "goal_mode"}`` → ``{"text"}``: the
  Visit tool's response, read from the server's page store (so workers hold no pages).
* ``POST /lookup`` ``{"keys": [str]}`` → ``{"pages": [{"id", "url", "title"} | null]}``.
* ``GET /tasks`` → ``{"tasks": [task, ...]}``: the corpus's tasks (what the env draws from).
* ``GET /health`` → corpus, pages, passages, index type; ``GET /stats`` → requests, queries,
  batches, mean batch size, p50/p99 latency, errors.

No request waits behind more than one batch: a request larger than ``max_batch`` is answered
in pieces of at most ``max_batch``, one piece queued at a time, and searches go before
embeddings. So a search sent while a 256-text ``/embed`` runs waits for one encoder batch,
not for all 256 texts.

The HTTP side is uvicorn (h11) with a Starlette app. A body is refused before it is read
when its ``Content-Length`` is over the limit (413), when it is too slow to arrive (408),
or when it is not ``application/json`` (415); each of these closes the connection, so no
unread byte is ever taken for a request. Every other malformed request (bad JSON, nesting too
deep, bad header) gets 400, and every error is JSON: ``{"error": "Expected ..., got ..."}``.
Connections are bounded (``--max-connections``; beyond it uvicorn answers 503), idle
keep-alive connections close after ``--keep-alive-s``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from itertools import count
from typing import TYPE_CHECKING, Any

import h11
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from webanchor_env.actions import MAX_TOP_K
from webanchor_env.retrieval import BACKEND_SEARCH_MODE, SEARCH_MODES

if TYPE_CHECKING:
    from webanchor_env.backend import WikiBackend

MAX_BODY_BYTES = 1 << 20
"""Requests with a larger body are refused (413)."""
MAX_HEADER_BYTES = 16 << 10
"""Request line and headers larger than this are refused (400)."""
MAX_QUERIES_PER_REQUEST = 256
LATENCY_WINDOW = 10_000
"""The p50/p99 latencies are over this many most recent requests."""
JSON_TYPE = "application/json"


class RequestError(Exception):
    """A request the service refuses; ``status`` is the HTTP status, the message says why.

    ``close`` marks refusals made before the body was read: the connection is closed, so
    the body's bytes are never parsed as another request.
    """

    status = 400

    def __init__(self, message: str, *, status: int | None = None, close: bool = False) -> None:
        super().__init__(message)
        self.status = status or self.status
        self.close = close

    def response(self) -> JSONResponse:
        headers = {"Connection": "close"} if self.close else None
        return JSONResponse({"error": str(self)}, status_code=self.status, headers=headers)


class BadRequest(RequestError, ValueError):
    """A malformed request (400); the message says what was expected."""


@dataclass(frozen=True)
class BatchSettings:
    """How concurrent search requests are gathered into one backend call."""

    max_batch: int = 64
    """Most queries (or texts to embed) answered by one backend call; a larger request is
    answered in pieces of this size, so no request waits behind more than one batch."""
    max_wait_ms: float = 2.0
    """How long the worker waits for more requests after the first one arrives."""


@dataclass(frozen=True)
class ServiceLimits:
    """What the HTTP side accepts, and how long it waits."""

    max_body_bytes: int = MAX_BODY_BYTES
    """Larger bodies are refused from their ``Content-Length``, before a byte is read (413)."""
    body_timeout_s: float = 10.0
    """A body not fully received within this many seconds is refused (408)."""
    max_connections: int = 256
    """Open connections (and requests in flight) beyond this get 503 from uvicorn."""
    keep_alive_s: int = 60
    """An idle keep-alive connection is closed after this many seconds."""
    answer_timeout_s: float = 120.0
    """A request whose batch is not answered within this many seconds gets 503."""


@dataclass(order=True)
class _Pending:
    """One request (or piece of one) waiting for the batch worker: a search (``top_k`` >= 0)
    or an embedding (``top_k`` = :data:`EMBED`). Ordered by priority, then arrival."""

    priority: int
    seq: int
    queries: list[str] = field(compare=False)
    top_k: int = field(compare=False)
    """Results per query, or :data:`EMBED` for a request of embeddings."""
    mode: str = field(compare=False)
    """The search mode (see :mod:`webanchor_env.retrieval`)."""
    future: Future[Any] = field(compare=False)


EMBED = -1
"""The ``top_k`` of an embedding request: such requests are batched into one encoder call."""
_SEARCH_FIRST, _EMBED_NEXT, _STOP_LAST = 0, 1, 2
"""Queue priorities: searches (short, latency-bound) before embeddings, the stop mark last."""


class Stats:
    """Request counters and a window of latencies; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests: dict[str, int] = {}
        self.errors = 0
        self.queries = 0
        self.batches = 0
        self.batched_requests = 0
        self.embed_batches = 0
        self.embedded = 0
        self._latency: deque[float] = deque(maxlen=LATENCY_WINDOW)

    def request(self, endpoint: str, seconds: float, *, error: bool = False) -> None:
        with self._lock:
            self.requests[endpoint] = self.requests.get(endpoint, 0) + 1
            self.errors += int(error)
            if endpoint == "/search" and not error:
                self._latency.append(seconds)

    def batch(self, requests: int, queries: int, *, embed: bool = False) -> None:
        with self._lock:
            if embed:
                self.embed_batches += 1
                self.embedded += queries
                return
            self.batches += 1
            self.batched_requests += requests
            self.queries += queries

    def snapshot(self) -> dict[str, Any]:
        """The numbers ``GET /stats`` returns."""
        with self._lock:
            lat = np.asarray(self._latency, dtype=np.float64) * 1000.0
            batches = max(self.batches, 1)
            return {
                "uptime_s": round(time.time() - self.started, 3),
                "requests": dict(self.requests),
                "errors": self.errors,
                "search_requests": self.batched_requests,
                "queries": self.queries,
                "batches": self.batches,
                "mean_batch_requests": round(self.batched_requests / batches, 3),
                "mean_batch_queries": round(self.queries / batches, 3),
                "p50_ms": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
                "p99_ms": round(float(np.percentile(lat, 99)), 3) if lat.size else None,
                "embed_batches": self.embed_batches,
                "texts_embedded": self.embedded,
            }


class MicroBatcher:
    """Gathers concurrent search requests and answers each gathering with one backend call."""

    def __init__(self, backend: WikiBackend, settings: BatchSettings, stats: Stats) -> None:
        self.backend = backend
        self.settings = settings
        self.stats = stats
        self._queue: queue.PriorityQueue[_Pending] = queue.PriorityQueue()
        self._arrivals = count()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="search-batcher", daemon=True)
        self._thread.start()

    def submit(
        self, queries: list[str], top_k: int, mode: str = BACKEND_SEARCH_MODE
    ) -> Future[Any]:
        """Queue one piece of at most ``max_batch`` queries; the future resolves to one list of
        hit dicts per query, or (for ``top_k=EMBED``) to the embeddings ``[Q, D]`` of the texts.
        """
        if self._closed:
            raise RuntimeError("The search service is stopping; no request is accepted.")
        if len(queries) > self.settings.max_batch:
            raise ValueError(
                f"Expected at most max_batch={self.settings.max_batch} queries in one piece, "
                f"got {len(queries)}; use answer() for larger requests."
            )
        priority = _EMBED_NEXT if top_k == EMBED else _SEARCH_FIRST
        pending = _Pending(priority, next(self._arrivals), queries, top_k, mode, Future())
        self._queue.put(pending)
        return pending.future

    async def answer(
        self, queries: list[str], top_k: int, timeout_s: float, mode: str = BACKEND_SEARCH_MODE
    ) -> list[Any]:
        """Every row of one request, asked in pieces of ``max_batch``; a piece is queued only
        once the one before it is answered, so other requests get in between.

        Raises :class:`TimeoutError` when a piece is not answered within ``timeout_s``.
        """
        rows: list[Any] = []
        step = self.settings.max_batch
        for start in range(0, len(queries), step):
            future = self.submit(queries[start : start + step], top_k, mode)
            try:
                rows.extend(await asyncio.wait_for(asyncio.wrap_future(future), timeout_s))
            except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                raise TimeoutError(f"no answer within {timeout_s:g} s") from None
        return rows

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._closed = True
        self._queue.put(_Pending(_STOP_LAST, next(self._arrivals), [], 0, "", Future()))
        self._thread.join(timeout=10)

    def _gather(self, first: _Pending) -> list[_Pending]:
        """The first request plus what arrives within the wait and fits in the batch; what
        does not fit goes back to the queue, where it keeps its place."""
        batch, size = [first], len(first.queries)
        deadline = time.perf_counter() + self.settings.max_wait_ms / 1000.0
        while size < self.settings.max_batch:
            left = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item.priority == _STOP_LAST or size + len(item.queries) > self.settings.max_batch:
                self._queue.put(item)
                break
            batch.append(item)
            size += len(item.queries)
        return batch

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first.priority == _STOP_LAST:
                return
            self._answer(self._gather(first))

    def _answer(self, batch: list[_Pending]) -> None:
        """One backend call per distinct ``(top_k, mode)`` in the batch (usually exactly one);
        searches first, embeddings last."""
        for top_k, mode in sorted({(p.top_k, p.mode) for p in batch}, reverse=True):
            group = [p for p in batch if (p.top_k, p.mode) == (top_k, mode)]
            queries = [q for p in group for q in p.queries]
            try:
                if top_k == EMBED:
                    rows: Any = self.backend.index.encoder.encode(queries)  # [Q, D]
                else:
                    hits = self.backend.search(queries, top_k, mode=mode)
                    rows = [[asdict(h) for h in row] for row in hits]
            except Exception as err:  # noqa: BLE001 - handed to every waiting request
                for p in group:
                    p.future.set_exception(err)
                continue
            self.stats.batch(len(group), len(queries), embed=top_k == EMBED)
            start = 0
            for p in group:
                p.future.set_result(rows[start : start + len(p.queries)])
                start += len(p.queries)


# --- Request parsing --------------------------------------------------------------------------


def _string_list(value: object, name: str, limit: int) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f'Expected "{name}" to be a string or a list of strings.')
    if len(value) > limit:
        raise BadRequest(f'Expected at most {limit} items in "{name}", got {len(value)}.')
    return value


def parse_search(body: dict[str, Any]) -> tuple[list[str], int, str]:
    """``(queries, top_k, mode)`` of a ``/search`` body; raises :class:`BadRequest`."""
    queries = _string_list(body.get("queries"), "queries", MAX_QUERIES_PER_REQUEST)
    top_k = body.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= MAX_TOP_K:
        raise BadRequest(f'Expected "top_k" to be an integer in 0..{MAX_TOP_K}, got {top_k!r}.')
    mode = body.get("mode", BACKEND_SEARCH_MODE)
    if mode not in SEARCH_MODES:
        raise BadRequest(f'Expected "mode" among {SEARCH_MODES}, got {mode!r}.')
    return queries, top_k, mode


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object a body holds (``{}`` for an empty body); raises :class:`BadRequest`."""
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequest("Expected a JSON object body, got JSON nested too deeply.") from None
    except ValueError as err:  # invalid JSON or invalid UTF-8
        raise BadRequest(f"Expected a JSON object body, got invalid JSON ({err}).") from None
    if not isinstance(body, dict):
        raise BadRequest(f"Expected a JSON object body, got {type(body).__name__}.")
    return body


async def read_json_body(request: Request, limits: ServiceLimits) -> dict[str, Any]:
    """The request's JSON object body, checked before and while it is read.

    Refused before a byte of the body is read: a ``Content-Length`` over the limit (413), a
    content type other than JSON (415). Refused while reading: a chunked body that grows
    over the limit (413), a body that does not arrive in time (408).
    """
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limits.max_body_bytes:  # h11 checked: digits
        raise RequestError(
            f"Expected a body of at most {limits.max_body_bytes} bytes, got Content-Length "
            f"{declared}.",
            status=413,
            close=True,
        )
    if declared != "0" and (declared or "transfer-encoding" in request.headers):
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != JSON_TYPE:
            raise RequestError(
                f"Expected Content-Type: {JSON_TYPE}, got {media_type or 'none'}.",
                status=415,
                close=True,
            )
    return parse_json_object(await _receive(request, limits))


async def _receive(request: Request, limits: ServiceLimits) -> bytes:
    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise RequestError(
                    f"Expected a body of at most {limits.max_body_bytes} bytes, got more.",
                    status=413,
                    close=True,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), limits.body_timeout_s)
    except asyncio.TimeoutError:
        raise RequestError(
            f"Expected the whole body within {limits.body_timeout_s:g} s, got "
            f"{request.headers.get('content-length', 'an unknown number of')} bytes announced "
            "and fewer sent.",
            status=408,
            close=True,
        ) from None
    except ClientDisconnect:
        raise BadRequest("The client closed the connection before the whole body.") from None


# --- HTTP -------------------------------------------------------------------------------------


class _JsonErrorProtocol(H11Protocol):
    """uvicorn's h11 protocol, whose 400 for a request it cannot parse (a bad request line or
    header, a ``Content-Length`` that is not digits) is JSON like every other error."""

    def send_400_response(self, msg: str) -> None:
        error = (
            "Expected an HTTP/1.1 request with well-formed headers (a Content-Length of "
            f"digits, at most {MAX_HEADER_BYTES} bytes of headers); got one that could not be "
            f"parsed ({msg})"
        )
        body = json.dumps({"error": error}).encode("utf-8")
        headers = [
            (b"content-type", JSON_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        events = (h11.Response(status_code=400, headers=headers), h11.Data(data=body))
        for event in (*events, h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class SearchServer:
    """An HTTP service over one backend: uvicorn serves, one batching worker answers searches.

    Use as ``with SearchServer(backend) as srv: ...`` (served in a background thread), or
    call :meth:`serve_forever` in the main thread (the command line does).
    """

    def __init__(
        self,
        backend: WikiBackend,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        settings: BatchSettings | None = None,
        limits: ServiceLimits | None = None,
        verbose: bool = False,
    ) -> None:
        self.backend = backend
        self.verbose = verbose
        self.limits = limits or ServiceLimits()
        self.stats = Stats()
        self.batcher = MicroBatcher(backend, settings or BatchSettings(), self.stats)
        self.endpoints: dict[tuple[str, str], Handler] = {
            ("POST", "/search"): self._search,
            ("POST", "/retrieve"): self._retrieve,
            ("POST", "/embed"): self._embed,
            ("POST", "/visit"): _in_thread(self._visit),
            ("POST", "/lookup"): _in_thread(self._lookup),
            ("GET", "/tasks"): _in_thread(self._tasks),
            ("GET", "/health"): _in_thread(self._health),
            ("GET", "/stats"): self._stats,
        }
        routes = [
            Route(path, self._endpoint(method, path, handler), methods=[method])
            for (method, path), handler in self.endpoints.items()
        ]
        self.app = Starlette(routes=routes, exception_handlers={HTTPException: self._unrouted})
        self.socket = socket.create_server(address)  # bound now, so the port is known at once
        config = uvicorn.Config(
            self.app,
            http=_JsonErrorProtocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            log_level="info" if verbose else "warning",
            access_log=verbose,
            limit_concurrency=self.limits.max_connections,
            timeout_keep_alive=self.limits.keep_alive_s,
            timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    # --- endpoints

    def _endpoint(
        self, method: str, path: str, handler: Handler
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        """The route's handler with its body read, its errors answered in JSON, its time
        counted."""

        async def endpoint(request: Request) -> JSONResponse:
            start, error = time.perf_counter(), True
            try:
                body = await read_json_body(request, self.limits) if method == "POST" else {}
                response = JSONResponse(await handler(body))
                error = False
                return response
            except RequestError as err:
                return err.response()
            except Exception as err:  # noqa: BLE001 - reported to the client, never kills the server
                return JSONResponse({"error": f"{type(err).__name__}: {err}"}, status_code=500)
            finally:
                self.stats.request(path, time.perf_counter() - start, error=error)

        return endpoint

    async def _unrouted(self, request: Request, exc: Exception) -> JSONResponse:
        """404 (no such path) or 405 (wrong method), in JSON; the connection is closed since
        the body, if any, is not read."""
        assert isinstance(exc, HTTPException)
        known = ", ".join(f"{m} {p}" for m, p in sorted(self.endpoints))
        self.stats.request("(unrouted)", 0.0, error=True)
        return JSONResponse(
            {"error": f"Expected one of {known}, got {request.method} {request.url.path}."},
            status_code=exc.status_code,
            headers={**(exc.headers or {}), "Connection": "close"},
        )

    async def _batched(
        self, queries: list[str], top_k: int, mode: str = BACKEND_SEARCH_MODE
    ) -> list[Any]:
        try:
            return await self.batcher.answer(queries, top_k, self.limits.answer_timeout_s, mode)
        except TimeoutError as err:
            raise RequestError(f"The search backend is overloaded: {err}.", status=503) from None

    async def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        queries, top_k, mode = parse_search(body)
        return {"results": await self._batched(queries, top_k, mode)}

    async def _retrieve(self, body: dict[str, Any]) -> dict[str, Any]:
        """Search-R1's ``/retrieve`` (see :mod:`webanchor_env.integrations.search_r1`)."""
        from webanchor_env.integrations import search_r1

        try:
            queries, topk, scores = search_r1.parse_retrieve(
                body, max_queries=MAX_QUERIES_PER_REQUEST, max_topk=MAX_TOP_K
            )
        except search_r1.RetrieveRequestError as err:
            raise BadRequest(str(err)) from None
        rows = await self._batched(queries, topk)
        return search_r1.retrieve_response(rows, self.backend.index.passages, scores)

    async def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = _string_list(body.get("texts"), "texts", MAX_QUERIES_PER_REQUEST)
        dim = self.backend.index.encoder.dim
        if not texts:
            return {"dim": dim, "vectors": ""}
        vectors = np.asarray(await self._batched(texts, EMBED), np.float32)  # [N, D]
        return {
            "dim": dim,
            "vectors": base64.b64encode(np.ascontiguousarray(vectors).tobytes()).decode("ascii"),
        }

    def _visit(self, body: dict[str, Any]) -> dict[str, Any]:
        goal_mode = body.get("goal_mode", False)
        text = self.backend.visit_text(
            body.get("urls"),
            body.get("goal"),
            offset=body.get("offset", 0),
            max_chars=body.get("max_chars", 4000),
            goal_mode=goal_mode is True,
        )
        return {"text": text}

    def _lookup(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = _string_list(body.get("keys"), "keys", MAX_QUERIES_PER_REQUEST)
        store = self.backend.store
        pages = [store.get(k) for k in keys]
        return {
            "pages": [
                None if p is None else {"id": p.id, "url": p.url, "title": p.title} for p in pages
            ]
        }

    def _tasks(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"tasks": [t.to_json() for t in self.backend.corpus.tasks]}

    def _health(self, _: dict[str, Any]) -> dict[str, Any]:
        backend = self.backend
        path = backend.corpus.path
        return {
            "status": "ok",
            "corpus": str(path) if path is not None else None,
            "pages": len(backend.store),
            "passages": len(backend.index.passages),
            "index_type": backend.index.index_type,
            "max_batch": self.batcher.settings.max_batch,
            "max_wait_ms": self.batcher.settings.max_wait_ms,
        }

    async def _stats(self, _: dict[str, Any]) -> dict[str, Any]:
        return self.stats.snapshot()

    # --- lifecycle

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or, in the main thread, SIGINT/SIGTERM)."""
        self._uvicorn.run(sockets=[self.socket])

    def shutdown(self) -> None:
        """Ask :meth:`serve_forever` to return: it stops accepting, closes idle keep-alive
        connections at once and lets requests in flight finish (up to 5 s)."""
        self._uvicorn.should_exit = True

    def start(self, timeout_s: float = 30.0) -> SearchServer:
        """Serve in a background thread (for tests and benchmarks); returns ``self`` once up."""
        self._thread = threading.Thread(target=self.serve_forever, name="search-http", daemon=True)
        self._thread.start()
        deadline = time.perf_counter() + timeout_s
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.perf_counter() > deadline:
                self.stop()
                raise RuntimeError(f"The search service at {self.url} did not start.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving (when started with :meth:`start`), then :meth:`close`."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=30)
            self._thread = None
        self.close()

    def close(self) -> None:
        """Close the listening socket and stop the batcher."""
        self.socket.close()
        self.batcher.close()

    def __enter__(self) -> SearchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _in_thread(handler: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
    """An async handler that runs a blocking one in Starlette's bounded thread pool."""

    async def run(body: dict[str, Any]) -> dict[str, Any]:
        return await run_in_threadpool(handler, body)

    return run


def serve(
    backend: WikiBackend,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    settings: BatchSettings | None = None,
    limits: ServiceLimits | None = None,
    verbose: bool = False,
) -> SearchServer:
    """A started :class:`SearchServer` over ``backend`` (``port=0``: a free port)."""
    server = SearchServer(backend, (host, port), settings=settings, limits=limits, verbose=verbose)
    return server.start()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m webanchor_env.serve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--corpus", default="default", help="bundled corpus name or directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: a free one)")
    parser.add_argument("--index-type", default="flat", help="flat, ivf or hnsw")
    parser.add_argument("--model", default=None, help="embedding model (default all-MiniLM-L6-v2)")
    parser.add_argument("--cache-dir", default=None, help="index cache directory")
    parser.add_argument("--max-batch", type=int, default=BatchSettings.max_batch)
    parser.add_argument("--max-wait-ms", type=float, default=BatchSettings.max_wait_ms)
    limits = ServiceLimits()
    parser.add_argument("--max-connections", type=int, default=limits.max_connections)
    parser.add_argument("--body-timeout-s", type=float, default=limits.body_timeout_s)
    parser.add_argument("--keep-alive-s", type=int, default=limits.keep_alive_s)
    parser.add_argument(
        "--torch-threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    from webanchor_env.backend import get_backend

    backend = get_backend(
        args.corpus,
        model=args.model,
        index_type=args.index_type,
        cache_dir=args.cache_dir,
        show_progress=True,
    )
    backend.search(["warm up"], 1)  # load the encoder before the first client waits on it
    settings = BatchSettings(max_batch=args.max_batch, max_wait_ms=args.max_wait_ms)
    limits = ServiceLimits(
        max_connections=args.max_connections,
        body_timeout_s=args.body_timeout_s,
        keep_alive_s=args.keep_alive_s,
    )
    server = SearchServer(
        backend, (args.host, args.port), settings=settings, limits=limits, verbose=args.verbose
    )
    print(f"Serving {args.corpus} on {server.url}", flush=True)
    # uvicorn stops gracefully on SIGTERM, then raises it again: let that end in exit code 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    print("Stopped.", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
