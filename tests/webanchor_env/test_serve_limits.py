"""The search service under malformed, oversized, slow and greedy requests.

Each test sends raw bytes over a socket where the client library would not send them, and
checks that the service answers one clear JSON error (or answers on time), never hangs,
never takes body bytes for a request, and never answers 500 for a client's mistake.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlsplit

import numpy as np
import pytest

from webanchor_env.index import Hit
from webanchor_env.remote import (
    RemoteEncoder,
    RemoteSearchBackend,
    RetryPolicy,
    SearchServiceError,
    SearchServiceUnavailable,
    ServiceClient,
)
from webanchor_env.serve import BatchSettings, ServiceLimits, serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WORDS = ("the", "harbour", "tower", "rose", "over", "the", "bay", "in", "amber", "glass")
STRICT = ServiceLimits(max_body_bytes=64 << 10, body_timeout_s=1.0, max_connections=4)


@pytest.fixture(scope="module")
def server(tiny_backend):
    srv = serve(tiny_backend)  # the default limits
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def strict(tiny_backend):
    srv = serve(tiny_backend, limits=STRICT)
    yield srv
    srv.stop()


def exchange(url: str, data: bytes, *, wait_s: float = 10.0) -> tuple[list[tuple[int, dict]], bool]:
    """Send raw bytes; read until the service closes the connection or ``wait_s`` passes.

    Returns the responses read, as (status, JSON body), and whether the service closed.
    """
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait_s) as sock:
        sock.sendall(data)
        received = b""
        closed = False
        try:
            while chunk := sock.recv(1 << 16):
                received += chunk
            closed = True
        except TimeoutError:
            pass
    return parse_responses(received), closed


def parse_responses(data: bytes) -> list[tuple[int, dict]]:
    """The (status, JSON body) of each HTTP/1.1 response in ``data`` (Content-Length framed)."""
    responses = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        assert headers["content-type"].startswith("application/json"), headers
        length = int(headers["content-length"])
        responses.append((int(lines[0].split()[1]), json.loads(rest[:length])))
        data = rest[length:]
    return responses


def post(path: str, body: bytes, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


GET_STATS = b"GET /stats HTTP/1.1\r\nHost: test\r\n\r\n"
GET_HEALTH_THEN_CLOSE = b"GET /health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


def test_an_over_limit_body_is_refused_before_it_is_read_and_never_taken_for_a_request(strict):
    """Content-Length over the limit: 413 at once (only a prefix of the body is ever sent),
    and the request hidden in that prefix is not answered."""
    prefix = b'{"queries": ["x"], "pad": "' + GET_STATS
    request = post("/search", prefix, "Content-Type: application/json", "Content-Length: 100000")
    responses, closed = exchange(strict.url, request)
    assert closed and len(responses) == 1
    status, body = responses[0]
    assert status == 413
    assert body["error"] == ("Expected a body of at most 65536 bytes, got Content-Length 100000.")


def test_a_chunked_body_growing_over_the_limit_is_refused(strict):
    chunk = b"x" * (65 << 10)
    request = post("/search", b"", "Content-Type: application/json", "Transfer-Encoding: chunked")
    responses, closed = exchange(strict.url, request + f"{len(chunk):x}\r\n".encode() + chunk)
    assert closed and [s for s, _ in responses] == [413]
    assert responses[0][1]["error"] == "Expected a body of at most 65536 bytes, got more."


def test_a_refused_body_that_was_read_keeps_the_connection_in_step(server):
    """A 400 for a body read whole: the body's bytes (a request inside invalid JSON) are
    skipped, and the next real request on the same connection is answered."""
    bad = b"not json " + GET_STATS
    request = post("/search", bad, "Content-Type: application/json", f"Content-Length: {len(bad)}")
    responses, closed = exchange(server.url, request + GET_HEALTH_THEN_CLOSE)
    assert closed and [s for s, _ in responses] == [400, 200]
    assert responses[0][1]["error"].startswith("Expected a JSON object body, got invalid JSON")
    assert responses[1][1]["status"] == "ok" and "uptime_s" not in responses[1][1]


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", ""])
def test_a_malformed_content_length_gets_400_and_a_closed_connection(server, length):
    request = post("/search", b'{"queries": ["x"]}', f"Content-Length: {length}")
    responses, closed = exchange(server.url, request + GET_STATS)
    assert closed and len(responses) == 1
    status, body = responses[0]
    assert status == 400
    assert body["error"].startswith("Expected an HTTP/1.1 request with well-formed headers")


def test_a_body_shorter_than_announced_times_out_with_408(strict):
    request = post(
        "/search", b'{"queries": ["x"', "Content-Type: application/json", "Content-Length: 100"
    )
    started = time.perf_counter()
    responses, closed = exchange(strict.url, request, wait_s=30)
    waited = time.perf_counter() - started
    assert closed and [s for s, _ in responses] == [408]
    assert responses[0][1]["error"] == (
        "Expected the whole body within 1 s, got 100 bytes announced and fewer sent."
    )
    assert waited < 25  # the 1 s body timeout, not the client's 30 s


def test_deeply_nested_json_gets_400_not_500(server):
    body = b"[" * 500_000  # 500 KB: within the body limit
    request = post(
        "/search", body, "Content-Type: application/json", f"Content-Length: {len(body)}"
    )
    responses, _ = exchange(server.url, request + GET_HEALTH_THEN_CLOSE)
    assert responses[0] == (
        400,
        {"error": "Expected a JSON object body, got JSON nested too deeply."},
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_declared_json_gets_415(server, content_type):
    body = b'{"queries": ["x"]}'
    headers = [f"Content-Length: {len(body)}"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    responses, closed = exchange(server.url, post("/search", body, *headers) + GET_STATS)
    assert closed and len(responses) == 1
    shown = content_type or "none"
    assert responses[0] == (
        415,
        {"error": f"Expected Content-Type: application/json, got {shown}."},
    )


def test_json_with_a_charset_and_an_empty_body_are_accepted(server):
    body = b'{"queries": ["Lumen Tower"], "top_k": 1}'
    first = post(
        "/search",
        body,
        "Content-Type: Application/JSON; charset=utf-8",
        f"Content-Length: {len(body)}",
    )
    empty = post("/search", b"", "Content-Length: 0", "Connection: close")
    responses, _ = exchange(server.url, first + empty)
    assert responses[0][0] == 200 and responses[0][1]["results"][0][0]["title"] == "Lumen Tower"
    assert responses[1][0] == 400 and "queries" in responses[1][1]["error"]


def test_unknown_paths_and_methods_get_json_errors(server):
    client = ServiceClient(server.url)
    with pytest.raises(SearchServiceError, match=r"-> 405: Expected one of .*, got GET /search\."):
        client.request("GET", "/search")
    with pytest.raises(SearchServiceError, match=r"-> 404: Expected one of .*, got POST /x\."):
        client.request("POST", "/x", {"a": 1})
    assert client.health()["status"] == "ok"  # the client reconnects after the closed one


def test_connections_are_bounded_and_the_overflow_is_told_to_retry(strict):
    """Beyond ``max_connections`` a request gets 503 (retried by the client, then a clear
    error); once connections close, requests are answered again."""
    parts = urlsplit(strict.url)
    idle = [
        socket.create_connection((parts.hostname, parts.port))
        for _ in range(STRICT.max_connections)
    ]
    try:
        client = ServiceClient(strict.url, RetryPolicy(attempts=2, backoff_s=0.05))
        with pytest.raises(SearchServiceUnavailable, match=r"after 2 attempts: .*-> 503"):
            client.health()
    finally:
        for sock in idle:
            sock.close()
    deadline = time.perf_counter() + 20
    while True:  # the service notices the closed connections soon, not at once
        try:
            assert ServiceClient(strict.url, RetryPolicy(attempts=1)).health()["status"] == "ok"
            break
        except SearchServiceUnavailable:
            assert time.perf_counter() < deadline
            time.sleep(0.05)


def test_an_idle_connection_closed_by_the_service_is_replaced_without_an_attempt(tiny_backend):
    limits = ServiceLimits(keep_alive_s=1)
    with serve(tiny_backend, limits=limits) as srv:
        remote = RemoteSearchBackend(srv.url, retry=RetryPolicy(attempts=1))
        assert remote.search("Lumen Tower", 1)[0][0].title == "Lumen Tower"
        time.sleep(1.5)  # the service closes the idle keep-alive connection
        assert remote.search("Lumen Tower", 1)[0][0].title == "Lumen Tower"


# --- Head-of-line blocking ----------------------------------------------------------------------


class _TimedEncoder:
    """Takes a fixed time per text (like a real encoder, whose time grows with the batch) and
    records the size and duration of each call."""

    dim = 4

    def __init__(self, seconds_per_text: float) -> None:
        self.seconds_per_text = seconds_per_text
        self.calls: list[tuple[int, float]] = []
        self.busy = threading.Event()
        """Set when a call of more than one text (an embedding batch) starts."""

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) > 1:
            self.busy.set()
        start = time.perf_counter()
        time.sleep(self.seconds_per_text * len(texts))
        self.calls.append((len(texts), time.perf_counter() - start))
        return np.full((len(texts), self.dim), len(texts), dtype=np.float32)


class _TimedBackend:
    def __init__(self, seconds_per_text: float) -> None:
        self.index = SimpleNamespace(encoder=_TimedEncoder(seconds_per_text))

    def search(self, queries: list[str], top_k: int, mode: str = "dense") -> list[list[Hit]]:
        self.index.encoder.encode(queries)
        return [[Hit(1, 0, "p", q, "https://wiki.local/wiki/P", "", 1.0, 0)] for q in queries]


def _search_during_embed(
    url: str, texts: list[str], busy: threading.Event
) -> tuple[float, np.ndarray]:
    """Send ``texts`` to ``/embed``; once the encoder is ``busy`` with them, one search.
    Returns the search's latency and the embeddings."""
    embedded: list[np.ndarray] = []
    embed = threading.Thread(target=lambda: embedded.append(RemoteEncoder(url).encode(texts)))
    embed.start()
    assert busy.wait(timeout=60)
    started = time.perf_counter()
    RemoteSearchBackend(url).search("a search", 1)
    latency = time.perf_counter() - started
    embed.join(timeout=120)
    return latency, embedded[0]


def test_a_search_never_waits_behind_a_large_embed():
    """The issue's case: a 256-text ``/embed`` and a search sent while it runs. The embed is
    answered in pieces of ``max_batch``, so the search waits for at most one batch."""
    backend = _TimedBackend(seconds_per_text=0.004)  # ~0.26 s a batch of 64, ~1 s for 256
    texts = [f"text {i}" for i in range(256)]
    with serve(backend, settings=BatchSettings(max_batch=64, max_wait_ms=2)) as srv:  # type: ignore[arg-type]
        latency, vectors = _search_during_embed(srv.url, texts, backend.index.encoder.busy)
    embed_calls = [(n, s) for n, s in backend.index.encoder.calls if n > 1]
    batch_s = max(s for _, s in embed_calls)
    assert sorted(n for n, _ in embed_calls) == [64, 64, 64, 64]
    assert vectors.shape == (256, 4) and (vectors == 64).all()  # every text, in order
    assert latency < 2 * batch_s, (latency, batch_s)


@pytest.mark.slow
def test_a_search_never_waits_behind_a_large_embed_with_the_real_encoder(tiny_backend):
    """The same with MiniLM: the pieces' embeddings equal one whole encoding."""
    encoder = tiny_backend.index.encoder
    timed = SimpleNamespace(calls=[], dim=encoder.dim, busy=threading.Event())

    def encode(texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        if len(texts) > 1:
            timed.busy.set()
        start = time.perf_counter()
        out = encoder.encode(texts)
        timed.calls.append((len(texts), time.perf_counter() - start))
        return out

    timed.encode = encode
    backend = SimpleNamespace(index=SimpleNamespace(encoder=timed), search=tiny_backend.search)
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(60)) + f" {i}" for i in range(256)]
    with serve(backend) as srv:  # type: ignore[arg-type]
        latency, vectors = _search_during_embed(srv.url, texts, timed.busy)
    batch_s = max(s for n, s in timed.calls if n > 1)
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)
    assert latency < 2 * batch_s, (latency, batch_s)
