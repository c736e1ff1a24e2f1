"""OpenAIPolicy against a fake OpenAI-compatible server on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("openai")

from agents.openai_policy import (  # noqa: E402
    EndpointError,
    EndpointUnavailable,
    OpenAIPolicy,
)
from agents.policy import GenerationRequest, Policy, SamplingParams  # noqa: E402

MESSAGES = ({"role": "user", "content": "Who built the Lumen Tower?"},)

Reply = tuple[int, dict]
"""An HTTP status and a JSON body."""


def completion(content: str, finish: str = "stop", **choice_fields) -> dict:
    """A chat.completion body as a server would send it."""
    message = {"role": "assistant", "content": content}
    choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
    choice.update(choice_fields)
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [choice],
    }


class FakeServer:
    """A loopback HTTP server answering /v1/chat/completions with ``reply(body)``."""

    def __init__(self, reply: Callable[[dict], Reply]) -> None:
        self.reply = reply
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload = server.reply(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[dict], Reply]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(reply: Callable[[dict], Reply]) -> FakeServer:
        server = FakeServer(reply)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def free_port() -> int:
    """A loopback port with nothing listening on it (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_text_comes_back_with_the_stop_string_restored(serve):
    server = serve(lambda body: (200, completion('<tool_call>{"name": "search"}')))
    policy = OpenAIPolicy(server.url, "fake", max_retries=3)
    assert isinstance(policy, Policy)
    params = SamplingParams(max_new_tokens=32, temperature=0.5, seed=10)
    turns = policy.generate([GenerationRequest((), MESSAGES)] * 2, params)
    assert [t.text for t in turns] == ['<tool_call>{"name": "search"}</tool_call>'] * 2
    assert turns[0].finish_reason == "stop" and turns[0].token_ids == ()
    assert turns[0].logprobs is None
    body = server.bodies[0]
    assert body["messages"] == list(MESSAGES) and body["max_tokens"] == 32
    assert body["stop"] == ["</tool_call>", "</answer>"] and body["temperature"] == 0.5
    assert sorted(b["seed"] for b in server.bodies) == [10, 11]


def test_length_finish_and_stripped_prefill_without_vllm(serve):
    server = serve(lambda body: (200, completion("<plan>first search", finish="length")))
    turn = OpenAIPolicy(server.url, "fake", max_retries=3).generate(
        [GenerationRequest((), MESSAGES, prefill="<plan>")], SamplingParams()
    )[0]
    assert (turn.text, turn.finish_reason) == ("first search", "length")
    assert server.bodies[0]["messages"] == list(MESSAGES)


def test_vllm_token_ids_logprobs_and_prefill_continuation(serve):
    entries = [
        {"token": f"token_id:{i}", "logprob": -0.5 * i, "bytes": None, "top_logprobs": []}
        for i in (11, 12, 13)
    ]
    reply = completion(" Paris</answer>", logprobs={"content": entries}, stop_reason=None)
    server = serve(lambda body: (200, reply))
    policy = OpenAIPolicy(
        server.url, "fake", max_retries=3, request_logprobs=True, vllm_extensions=True
    )
    turn = policy.generate(
        [GenerationRequest((1, 2), MESSAGES, prefill="<answer>")], SamplingParams()
    )
    assert turn[0].token_ids == (11, 12, 13)
    assert turn[0].logprobs == (-5.5, -6.0, -6.5)
    assert turn[0].text == " Paris</answer>"
    body = server.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "<answer>"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["return_tokens_as_token_ids"] is True and body["logprobs"] is True


def test_vllm_stop_reason_names_the_stop_string(serve):
    server = serve(lambda body: (200, completion("Paris", stop_reason="</answer>")))
    turn = OpenAIPolicy(server.url, "fake", max_retries=3).generate(
        [GenerationRequest((), MESSAGES)], SamplingParams()
    )[0]
    assert turn.text == "Paris</answer>"


def test_server_errors_are_retried_until_success(serve):
    calls = []

    def flaky(body: dict) -> Reply:
        calls.append(body)
        if len(calls) <= 2:
            return 500, {"error": {"message": "overloaded"}}
        return 200, completion("<answer>Paris</answer>")

    server = serve(flaky)
    turn = OpenAIPolicy(server.url, "fake", max_retries=3).generate(
        [GenerationRequest((), MESSAGES)], SamplingParams()
    )[0]
    assert turn.text == "<answer>Paris</answer>"
    assert len(calls) == 3


def test_a_server_error_that_persists_makes_the_endpoint_unavailable(serve):
    calls = []

    def overloaded(body: dict) -> Reply:
        calls.append(body)
        return 503, {"error": {"message": "overloaded"}}

    server = serve(overloaded)
    policy = OpenAIPolicy(server.url, "fake", max_retries=1)
    with pytest.raises(EndpointUnavailable, match=r"after 2 attempts: .*503"):
        policy.generate([GenerationRequest((), MESSAGES)], SamplingParams())
    assert len(calls) == 2


def test_a_down_endpoint_raises_an_error_naming_it_after_bounded_retries():
    url = f"http://127.0.0.1:{free_port()}/v1"
    policy = OpenAIPolicy(url, "fake", max_retries=3, timeout_s=2.0)
    start = time.monotonic()
    message = f"Could not reach the policy endpoint {url} after 4 attempts: "
    with pytest.raises(EndpointUnavailable, match=message.replace(".", r"\.")):
        policy.generate([GenerationRequest((), MESSAGES)], SamplingParams())
    assert time.monotonic() - start < 10


def test_bad_requests_become_error_turns_and_auth_failures_raise(serve):
    def reply(body: dict) -> Reply:
        if body["messages"][0]["content"] == "too long":
            return 400, {"error": {"message": "context length exceeded"}}
        return 401, {"error": {"message": "bad key"}}

    policy = OpenAIPolicy(serve(reply).url, "fake", max_retries=3)
    turn = policy.generate(
        [GenerationRequest((), ({"role": "user", "content": "too long"},))], SamplingParams()
    )[0]
    assert turn.finish_reason == "error" and "context length" in turn.error
    with pytest.raises(EndpointError, match=r"refused the request \(401\)"):
        policy.generate([GenerationRequest((), MESSAGES)], SamplingParams())


def test_concurrency_is_limited_and_order_kept(serve):
    def slow(body: dict) -> Reply:
        time.sleep(0.05)
        return 200, completion(f"<answer>{body['messages'][0]['content']}</answer>")

    server = serve(slow)
    policy = OpenAIPolicy(server.url, "fake", max_retries=3, max_concurrency=2)
    requests = [GenerationRequest((), ({"role": "user", "content": str(i)},)) for i in range(6)]
    turns = policy.generate(requests, SamplingParams())
    assert [t.text for t in turns] == [f"<answer>{i}</answer>" for i in range(6)]
    assert server.max_in_flight <= 2


def test_requests_without_messages_are_refused():
    policy = OpenAIPolicy("http://127.0.0.1:9/v1", "fake")
    with pytest.raises(ValueError, match="needs GenerationRequest.messages"):
        policy.generate([GenerationRequest((1, 2, 3))], SamplingParams())
