"""A policy served by an OpenAI-compatible chat endpoint (a vLLM server or an API).

Requests go out concurrently (a thread pool bounded by ``max_concurrency``), each with a
timeout, and are retried by the OpenAI SDK itself (``max_retries``, its exponential backoff
with jitter and its ``Retry-After`` handling) on connection errors, timeouts, 408, 409, 429
and 5xx answers. When an endpoint stays down, :class:`EndpointUnavailable` names it. A
request the server rejects as malformed (400, 413, 422, e.g. a prompt too long) becomes a
turn with ``finish_reason="error"`` so one bad conversation does not stop a whole
evaluation.

What comes back, compared with the contract of :mod:`agents.policy`:

* ``text`` always; a stop string that the server cut off is put back (from vLLM's
  ``stop_reason`` or, for ``</tag>`` stops, when the text opened ``<tag>`` last), so the
  text ends with the stop string as with a local policy.
* ``token_ids`` and ``logprobs`` only with ``vllm_extensions=True`` and
  ``request_logprobs=True`` (vLLM's ``return_tokens_as_token_ids``); otherwise ``()`` and
  ``None``, which evaluation does not need. The EOS token is never among them.
* ``prefill``: with ``vllm_extensions`` it is sent as a trailing partial assistant message
  that the model continues (``continue_final_message``). Plain APIs cannot continue a
  message: the conversation is sent without it, and the prefill is stripped from the
  start of the reply if the model wrote it, so ``text`` always means "what follows the
  prefill".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from agents.policy import GenerationRequest, SampledTurn, SamplingParams, row_seed

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TOKEN_ID_PREFIX = "token_id:"
"""How vLLM spells a token with ``return_tokens_as_token_ids``."""
REQUEST_ERRORS = frozenset({400, 413, 422})
"""Statuses that condemn one request (-> an "error" turn), not the endpoint."""
RETRY_STATUSES = frozenset({408, 409, 429})
"""Statuses the SDK retries besides 5xx: still failing after the retries, the endpoint is
unavailable."""


class EndpointError(RuntimeError):
    """The policy endpoint refused to serve (bad key, unknown model, wrong URL)."""


class EndpointUnavailable(EndpointError):
    """The policy endpoint could not be reached after all retries."""


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as error:
        raise ImportError(
            "OpenAIPolicy needs the 'openai' package. Install it with: pip install openai "
            "(or pip install 'webanchor[integrations]')."
        ) from error
    return openai


class OpenAIPolicy:
    """Samples assistant turns from an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        base_url: the API root, e.g. ``http://localhost:8000/v1``.
        model: the model name the server knows.
        api_key: default ``$OPENAI_API_KEY``, else a placeholder (vLLM needs none).
        tokenizer: the served model's tokenizer, if the caller has it (lets the rollout
            engine build token-exact trajectories from vLLM token ids).
        max_concurrency: requests in flight at once.
        timeout_s: per-request timeout.
        max_retries: retries per request after the first attempt (the SDK's, with its
            backoff) on connection errors, timeouts, 408, 409, 429 and 5xx.
        request_logprobs: ask for log-probabilities (and, with vLLM, token ids).
        vllm_extensions: send vLLM's extra parameters (token ids, stop strings kept in
            the output, continuing a prefilled assistant message).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        max_concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        request_logprobs: bool = False,
        vllm_extensions: bool = False,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"Expected max_concurrency >= 1, got {max_concurrency}.")
        self._openai = _import_openai()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.tokenizer = tokenizer
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.request_logprobs = request_logprobs
        self.vllm_extensions = vllm_extensions
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._client = self._openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=timeout_s, max_retries=max_retries
        )

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]:
        """Send every request (at most ``max_concurrency`` at once); results in order."""
        for request in requests:
            if not request.messages:
                raise ValueError("OpenAIPolicy needs GenerationRequest.messages; got none.")
        if not requests:
            return []
        workers = min(self.max_concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="policy") as pool:
            futures = [
                pool.submit(self._generate_one, request, params, row_seed(params, request, i))
                for i, request in enumerate(requests)
            ]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _generate_one(
        self, request: GenerationRequest, params: SamplingParams, seed: int | None
    ) -> SampledTurn:
        openai = self._openai
        body = self._request_body(request, params, seed)
        try:
            response = self._client.chat.completions.create(**body)
        except openai.APIConnectionError as error:  # includes timeouts, after the retries
            raise self._unavailable(error) from error
        except openai.APIStatusError as error:
            status = error.status_code
            if status in REQUEST_ERRORS:
                return SampledTurn((), None, "", "error", error=f"{status}: {error}")
            if status in RETRY_STATUSES or status >= 500:
                raise self._unavailable(error) from error
            raise EndpointError(
                f"The policy endpoint {self.base_url} refused the request ({status}): {error}"
            ) from error
        return self._to_turn(response.choices[0], request, params)

    def _unavailable(self, error: Exception) -> EndpointUnavailable:
        return EndpointUnavailable(
            f"Could not reach the policy endpoint {self.base_url} after "
            f"{self.max_retries + 1} attempts: {error}"
        )

    def _request_body(
        self, request: GenerationRequest, params: SamplingParams, seed: int | None
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one request."""
        messages = [dict(message) for message in request.messages]
        extra: dict[str, Any] = {}
        if self.vllm_extensions:
            extra["include_stop_str_in_output"] = True
            extra["skip_special_tokens"] = False
            if self.request_logprobs:
                extra["return_tokens_as_token_ids"] = True
            if request.prefill:
                messages.append({"role": "assistant", "content": request.prefill})
                extra.update(continue_final_message=True, add_generation_prompt=False)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if seed is not None:
            body["seed"] = seed
        if self.request_logprobs:
            body["logprobs"] = True
        if extra:
            body["extra_body"] = extra
        return body

    def _to_turn(
        self, choice: Any, request: GenerationRequest, params: SamplingParams
    ) -> SampledTurn:
        text = choice.message.content or ""
        if request.prefill and not self.vllm_extensions and text.startswith(request.prefill):
            text = text[len(request.prefill) :]
        finish = "length" if choice.finish_reason == "length" else "stop"
        if finish == "stop":
            text = _restore_stop(text, params.stop, getattr(choice, "stop_reason", None))
        token_ids, logprobs = _token_ids_and_logprobs(choice)
        return SampledTurn(token_ids, logprobs, text, finish)


def _restore_stop(text: str, stops: tuple[str, ...], stop_reason: Any) -> str:
    """Put back the stop string a server cut off, so ``text`` ends with it.

    vLLM says which stop matched (``stop_reason``); other servers do not, and a
    ``</tag>`` stop is inferred when ``<tag>`` was opened after the last ``</tag>``.
    """
    if any(text.endswith(stop) for stop in stops):
        return text
    if isinstance(stop_reason, str):
        return text + stop_reason if stop_reason in stops else text
    open_at = {}
    for stop in stops:
        if stop.startswith("</") and stop.endswith(">"):
            opening = "<" + stop[2:]
            position = text.rfind(opening)
            if position > text.rfind(stop):
                open_at[stop] = position
    return text + max(open_at, key=open_at.get) if open_at else text


def _token_ids_and_logprobs(choice: Any) -> tuple[tuple[int, ...], tuple[float, ...] | None]:
    """Token ids and log-probabilities when vLLM returned ids, else ``((), None)``."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return (), None
    ids, logps = [], []
    for entry in content:
        if not entry.token.startswith(TOKEN_ID_PREFIX):
            return (), None
        ids.append(int(entry.token[len(TOKEN_ID_PREFIX) :]))
        logps.append(float(entry.logprob))
    return tuple(ids), tuple(logps)
