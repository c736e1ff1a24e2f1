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

* ``POST /search`` ``{"queries": [str], "top_k": int}`` → ``{"results": [[hit, ...], ...]}``.
  Concurrent requests are **micro-batched**: a worker thread takes the first waiting request,
  gathers whatever else arrives within ``max_wait_ms`` (up to ``max_batch`` queries), and
  answers them all with one call of the backend's search (one encoder call, one FAISS call).
* ``POST /embed`` ``{"texts": [str]}`` → ``{"dim", "vectors"}`` (base64 of float32 ``[N, D]``):
  the index's encoder, batched like searches, so workers need no model of their own.
* ``POST /visit`` ``{"urls", "goal", "offset", "max_chars", "goal_mode"}`` → ``{"text"}``: the
  Visit tool's response, read from the server's page store (so workers hold no pages).
* ``POST /lookup`` ``{"keys": [str]}`` → ``{"pages": [{"id", "url", "title"} | null]}``.
* ``GET /tasks`` → ``{"tasks": [task, ...]}``: the corpus's tasks (what the env draws from).
* ``GET /health`` → corpus, pages, passages, index type; ``GET /stats`` → requests, queries,
  batches, mean batch size, p50/p99 latency, errors.

Only the standard library serves (``http.server.ThreadingHTTPServer``, HTTP/1.1 keep-alive):
no web framework to install.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from webanchor_env.backend import WikiBackend

MAX_BODY_BYTES = 1 << 20
"""Requests with a larger body are refused (413)."""
MAX_QUERIES_PER_REQUEST = 256
MAX_TOP_K = 50
LATENCY_WINDOW = 10_000
"""The p50/p99 latencies are over this many most recent requests."""


class BadRequest(ValueError):
    """A request the service cannot answer; the message says what was expected."""


@dataclass(frozen=True)
class BatchSettings:
    """How concurrent search requests are gathered into one backend call."""

    max_batch: int = 64
    """Most queries answered by one backend call (a single larger request is not split)."""
    max_wait_ms: float = 2.0
    """How long the worker waits for more requests after the first one arrives."""


@dataclass
class _Pending:
    """One request waiting for the batch worker: a search (``top_k`` >= 0) or an embedding."""

    queries: list[str]
    top_k: int
    """Results per query, or :data:`EMBED` for a request of embeddings."""
    future: Future[Any]


EMBED = -1
"""The ``top_k`` of an embedding request: such requests are batched into one encoder call."""


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
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="search-batcher", daemon=True)
        self._thread.start()

    def submit(self, queries: list[str], top_k: int) -> Future[Any]:
        """Queue a request; the future resolves to one list of hit dicts per query, or (for
        ``top_k=EMBED``) to the embeddings ``[Q, D]`` of the texts."""
        if self._closed:
            raise RuntimeError("The search service is stopping; no request is accepted.")
        pending = _Pending(queries, top_k, Future())
        self._queue.put(pending)
        return pending.future

    def close(self) -> None:
        """Stop the worker after the requests already queued."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _gather(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The first request plus what arrives within the wait, up to the batch size."""
        batch, size = [first], len(first.queries)
        deadline = time.perf_counter() + self.settings.max_wait_ms / 1000.0
        while size < self.settings.max_batch:
            left = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.queries)
        return batch, False

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            batch, stopping = self._gather(first)
            self._answer(batch)

    def _answer(self, batch: list[_Pending]) -> None:
        """One backend call per distinct ``top_k`` in the batch (usually exactly one)."""
        for top_k in sorted({p.top_k for p in batch}):
            group = [p for p in batch if p.top_k == top_k]
            queries = [q for p in group for q in p.queries]
            try:
                if top_k == EMBED:
                    rows: Any = self.backend.index.encoder.encode(queries)  # [Q, D]
                else:
                    hits = self.backend.search(queries, top_k)
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


def parse_search(body: dict[str, Any]) -> tuple[list[str], int]:
    """``(queries, top_k)`` of a ``/search`` body; raises :class:`BadRequest`."""
    queries = _string_list(body.get("queries"), "queries", MAX_QUERIES_PER_REQUEST)
    top_k = body.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 0 <= top_k <= MAX_TOP_K:
        raise BadRequest(f'Expected "top_k" to be an integer in 0..{MAX_TOP_K}, got {top_k!r}.')
    return queries, top_k


# --- HTTP -------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client reuses its connection
    server: SearchServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise BadRequest(f"Expected a body of at most {MAX_BODY_BYTES} bytes, got {length}.")
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BadRequest(f"Expected a JSON object body, got invalid JSON ({err}).") from None
        if not isinstance(body, dict):
            raise BadRequest(f"Expected a JSON object body, got {type(body).__name__}.")
        return body

    def _handle(self, method: str) -> None:
        start = time.perf_counter()
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get((method, path))
        error = True
        try:
            if route is None:
                known = ", ".join(f"{m} {p}" for m, p in sorted(self.server.routes))
                self._reply(HTTPStatus.NOT_FOUND, {"error": f"Expected one of {known}."})
                return
            payload = route(self._body() if method == "POST" else {})
            self._reply(HTTPStatus.OK, payload)
            error = False
        except BadRequest as err:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(err)})
        except Exception as err:  # noqa: BLE001 - reported to the client, never kills the server
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(err).__name__}: {err}"})
        finally:
            self.server.stats.request(path, time.perf_counter() - start, error=error)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle("POST")


class SearchServer(ThreadingHTTPServer):
    """An HTTP server over one backend: one thread per connection, one batching worker."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        backend: WikiBackend,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        settings: BatchSettings | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self.verbose = verbose
        self.stats = Stats()
        self.batcher = MicroBatcher(backend, settings or BatchSettings(), self.stats)
        self.routes = {
            ("POST", "/search"): self._search,
            ("POST", "/embed"): self._embed,
            ("POST", "/visit"): self._visit,
            ("POST", "/lookup"): self._lookup,
            ("GET", "/tasks"): self._tasks,
            ("GET", "/health"): self._health,
            ("GET", "/stats"): lambda _: self.stats.snapshot(),
        }
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # --- endpoints

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        queries, top_k = parse_search(body)
        if not queries:
            return {"results": []}
        return {"results": self.batcher.submit(queries, top_k).result(timeout=120)}

    def _embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = _string_list(body.get("texts"), "texts", MAX_QUERIES_PER_REQUEST)
        dim = self.backend.index.encoder.dim
        if not texts:
            return {"dim": dim, "vectors": ""}
        vectors = np.asarray(self.batcher.submit(texts, EMBED).result(timeout=120), np.float32)
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

    # --- lifecycle

    def start(self) -> SearchServer:
        """Serve in a background thread (for tests and benchmarks); returns ``self``."""
        self._thread = threading.Thread(target=self.serve_forever, name="search-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (when started with :meth:`start`), then :meth:`close`."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.close()

    def close(self) -> None:
        """Close the listening socket and every open connection, and stop the batcher.

        Clients holding a keep-alive connection see it closed at once (and their retry is
        refused), instead of waiting on a server that no longer answers.
        """
        self.server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.batcher.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def __enter__(self) -> SearchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(
    backend: WikiBackend,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    settings: BatchSettings | None = None,
    verbose: bool = False,
) -> SearchServer:
    """A started :class:`SearchServer` over ``backend`` (``port=0``: a free port)."""
    return SearchServer(backend, (host, port), settings=settings, verbose=verbose).start()


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
    server = SearchServer(backend, (args.host, args.port), settings=settings, verbose=args.verbose)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"Serving {args.corpus} on {server.url}", flush=True)
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
