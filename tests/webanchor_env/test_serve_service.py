"""The search service: started on a free loopback port, queried concurrently, stopped.

Checks that served results equal in-process ones, that concurrent requests are micro-batched,
that an environment on the service plays exactly as one on a local backend, and that a
client whose service is gone gets a clear error after a bounded retry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gymnasium as gym
import pytest

import webanchor_env
from webanchor_env.index import Hit
from webanchor_env.remote import (
    RemoteSearchBackend,
    RetryPolicy,
    SearchServiceError,
    SearchServiceUnavailable,
    ServiceClient,
)
from webanchor_env.serve import BatchSettings, serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUERIES = ["Lumen Tower architect", "Orlan Vesk", "Varn Institute founded", "Glasswing Bridge"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tiny_backend):
    srv = serve(tiny_backend, settings=BatchSettings(max_batch=32, max_wait_ms=5))
    yield srv
    srv.stop()


def test_health_and_stats(server, tiny_backend):
    client = ServiceClient(server.url)
    health = client.health()
    assert health["status"] == "ok" and health["pages"] == len(tiny_backend.store)
    assert health["index_type"] == "flat"
    stats = client.stats()
    assert {"requests", "batches", "mean_batch_queries", "p50_ms", "p99_ms"} <= set(stats)


def test_concurrent_queries_match_in_process_search(server, tiny_backend):
    def ask(i: int) -> list[list[Hit]]:
        return RemoteSearchBackend(server.url).search(QUERIES[i % 4 :] + QUERIES[: i % 4], 3)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(48)))
    for i, hits in enumerate(answers):
        assert hits == tiny_backend.search(QUERIES[i % 4 :] + QUERIES[: i % 4], 3)
    assert server.stats.snapshot()["errors"] == 0


def test_search_and_visit_text_are_identical_to_the_local_backend(server, tiny_backend):
    remote = RemoteSearchBackend(server.url)
    assert remote.search_text(QUERIES, 4) == tiny_backend.search_text(QUERIES, 4)
    assert remote.search_text("", 4) == tiny_backend.search_text("", 4)
    for goal_mode in (False, True):
        args = (["Lumen Tower", "No Such Page"], "who designed it")
        local = tiny_backend.visit_text(*args, offset=0, max_chars=300, goal_mode=goal_mode)
        assert remote.visit_text(*args, offset=0, max_chars=300, goal_mode=goal_mode) == local
    assert remote.store.get("lumen tower").url == tiny_backend.store.get("Lumen Tower").url
    assert remote.store.get("No Such Page") is None
    assert [t.id for t in remote.corpus.tasks_in("dev")] == ["t-2"]


def test_an_env_on_the_service_plays_like_a_local_one(server, tiny_backend):
    actions = [
        {"name": "search", "arguments": {"query": ["Lumen Tower architect"]}},
        {"name": "visit", "arguments": {"url": ["Lumen Tower"], "goal": "architect"}},
        {"name": "visit", "arguments": {"url": ["https://elsewhere.example/x"], "goal": "g"}},
        "<answer>Orlan Vesk</answer>",
    ]
    runs = []
    for backend in (tiny_backend, RemoteSearchBackend(server.url)):
        env = gym.make(webanchor_env.ENV_ID, backend=backend, split="train")
        steps = [env.reset(seed=3)[0]]
        for action in actions:
            obs, reward, terminated, truncated, info = env.step(action)
            steps.append((obs, reward, terminated, truncated, info["errors"]))
        runs.append(steps)
    assert runs[0] == runs[1]
    assert runs[1][-1][1:3] == (1.0, True)


class _SlowBackend:
    """Answers every search after a pause and records each call's batch size."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def search(self, queries: list[str], top_k: int, mode: str = "dense") -> list[list[Hit]]:
        self.calls.append(len(queries))
        time.sleep(0.05)
        return [[Hit(1, 0, "p", q, "https://wiki.local/wiki/P", "", 1.0, 0)] for q in queries]


def test_concurrent_requests_are_micro_batched():
    backend = _SlowBackend()
    with serve(backend, settings=BatchSettings(max_batch=64, max_wait_ms=20)) as srv:  # type: ignore[arg-type]
        start = threading.Barrier(24)

        def ask(i: int) -> str:
            client = RemoteSearchBackend(srv.url)
            start.wait()
            return client.search([f"q{i}"], 1)[0][0].title

        with ThreadPoolExecutor(24) as pool:
            titles = list(pool.map(ask, range(24)))
        stats = srv.stats.snapshot()
    assert titles == [f"q{i}" for i in range(24)]  # each request got its own answer
    assert sum(backend.calls) == 24 and len(backend.calls) < 24
    assert stats["batches"] == len(backend.calls) and stats["mean_batch_queries"] > 1


def test_bad_requests_get_a_clear_error(server):
    client = ServiceClient(server.url)
    with pytest.raises(SearchServiceError, match=r'-> 400: Expected "top_k" to be an integer'):
        client.request("POST", "/search", {"queries": ["x"], "top_k": "five"})
    with pytest.raises(SearchServiceError, match=r"-> 400: Expected \"queries\" to be a string"):
        client.request("POST", "/search", {"queries": [1, 2]})
    with pytest.raises(SearchServiceError, match=r"-> 404: Expected one of GET /health"):
        client.request("GET", "/nowhere")


def test_a_client_whose_service_is_gone_gets_a_clear_error_after_bounded_retry(tiny_backend):
    srv = serve(tiny_backend)
    url = srv.url
    remote = RemoteSearchBackend(url, retry=RetryPolicy(attempts=3, backoff_s=0.05, timeout_s=30))
    assert remote.search("Lumen Tower", 1)  # leaves a keep-alive connection open
    srv.stop()  # closes it: the next request fails at once, not after the 30 s timeout
    started = time.perf_counter()
    message = rf"Search service at {url} did not answer after 3 attempts: ConnectionRefusedError"
    with pytest.raises(SearchServiceUnavailable, match=message):
        remote.search("Lumen Tower", 1)
    assert time.perf_counter() - started < 5  # backoff 0.05 s + 0.1 s, not a hang


def _pages(rows: list[list[Hit]]) -> list[list[str]]:
    """The URLs of the hits (scores differ in the last bits with the encoder's batch size)."""
    return [[h.url for h in row] for row in rows]


@pytest.mark.slow
def test_command_line_service_starts_answers_concurrently_and_stops(
    tiny_backend, tiny_corpus_dir, tiny_cache_dir
):
    """``python -m webanchor_env.serve`` on a free port (the index comes from the cache)."""
    command = [sys.executable, "-m", "webanchor_env.serve", "--corpus", str(tiny_corpus_dir)]
    command += ["--cache-dir", str(tiny_cache_dir), "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, cwd=REPO)  # fmt: skip
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("Serving ") and "http://127.0.0.1:" in line, proc.stderr.read()  # type: ignore[union-attr]
        url = line.split()[-1]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda q: RemoteSearchBackend(url).search(q, 2), QUERIES * 4))
        local = [tiny_backend.search(q, 2) for q in QUERIES]
        assert [_pages(a) for a in answers[:4]] == [_pages(a) for a in local]
        assert ServiceClient(url).stats()["errors"] == 0
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == 0
