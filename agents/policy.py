"""The policy protocol: what the rollout engine asks of an LLM, and what it gets back.

A policy samples one assistant turn for each of a batch of conversations. The rollout
engine owns the conversation (token ids, masks, tool responses); the policy only extends
it by one turn. Two implementations exist: :class:`agents.hf_policy.HFPolicy` (a local
transformers model, exact token ids and log-probabilities) and
:class:`agents.openai_policy.OpenAIPolicy` (an OpenAI-compatible endpoint; token ids and
log-probabilities only where the server returns them).

The contract every policy keeps:

* **Prompt.** ``GenerationRequest.prompt_ids`` is the whole conversation so far, ending
  with the assistant header and any prefill tokens. Endpoint policies read ``messages``
  and ``prefill`` instead.
* **Sampled tokens.** ``SampledTurn.token_ids`` holds only what the policy sampled in this
  turn: never the prompt, never the prefill.
* **Stop strings.** A row stops right after the token that completes one of
  ``SamplingParams.stop``; that token stays in ``token_ids`` (so the stop string is in
  ``text``, possibly followed by the rest of that token's text). Stop strings are matched
  in the sampled text only, not across the prefill boundary. ``finish_reason="stop"``.
* **EOS.** An end-of-sequence token (e.g. ``<|im_end|>``) ends the turn and IS kept as the
  last element of ``token_ids`` so the rollout engine can tell the turn closed naturally;
  ``text`` leaves a trailing EOS out. ``finish_reason="stop"``. (Endpoint policies cannot
  return the EOS token: servers drop it. The rollout engine closes a turn with the chat
  template's end-of-turn tokens when ``token_ids`` does not already end with EOS.)
* **Length.** ``max_new_tokens`` sampled tokens without a stop: ``finish_reason="length"``.
* **Log-probabilities.** ``logprobs[i]`` is ``log_softmax(logits / temperature)`` of the
  model at the position that sampled ``token_ids[i]``, evaluated at ``token_ids[i]``:
  temperature applied, top-p truncation NOT applied (the convention of TRL and verl). The
  trainer recomputes log-probabilities of the same tokens with the same temperature, so
  at ``temperature=1`` these are exactly the raw model log-probabilities that GRPO's
  "old_logp" needs. With ``temperature == 0`` (greedy) they are taken at temperature 1.
  ``None`` when a backend cannot say.
* **Seeds.** With ``SamplingParams.seed = s``, row ``i`` of a call samples from its own
  random stream seeded with ``s + i`` (or with ``GenerationRequest.seed`` when set), so a
  row's random numbers do not depend on the other rows of the batch: ``generate([r_i],
  SamplingParams(seed=s + i))`` gives what row ``i`` of ``generate(rows, seed=s)`` gave,
  except where floating-point differences in the logits (padding changes matrix shapes)
  move a token boundary of the inverse CDF across the row's random number. That is
  exact in practice for tiny float32 test models; a real model at temperature 1 diverges
  now and then after a draw from the far tail (about one row in eight over 32 tokens
  with SmolLM2), and bf16 on a GPU diverges more often. The same requests with the same
  seed always give the same result. ``seed=None`` is not reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

FinishReason = Literal["stop", "length", "error"]

DEFAULT_STOP: tuple[str, ...] = ("</tool_call>", "</answer>")
"""Stop at the end of a tool call or of an answer: one action per turn."""


@dataclass(frozen=True)
class GenerationRequest:
    """One conversation to extend by one assistant turn."""

    prompt_ids: tuple[int, ...]
    """The whole conversation so far as token ids, ending with the assistant header and
    any prefill tokens."""
    messages: tuple[dict, ...] = ()
    """The same conversation as chat messages, for endpoints that only take messages."""
    prefill: str = ""
    """Text already placed at the start of this assistant turn. It is in ``prompt_ids``
    (prompt, action mask 0) and is not returned in ``SampledTurn``."""
    seed: int | None = None
    """Seed of this row's random stream; overrides ``SamplingParams.seed + row index``."""


@dataclass(frozen=True)
class SampledTurn:
    """What the policy wrote in one assistant turn (see the module docstring)."""

    token_ids: tuple[int, ...]
    """Sampled tokens, not the prefill; a completing stop token or EOS included."""
    logprobs: tuple[float, ...] | None
    """``log_softmax(logits / T)`` at each sampled token (no top-p); None if unknown."""
    text: str
    """``token_ids`` decoded, without a trailing EOS token."""
    finish_reason: FinishReason
    """"stop" (stop string or EOS), "length" (per-turn token limit) or "error"."""
    error: str = ""
    """Why the turn failed when ``finish_reason == "error"`` (e.g. the endpoint said 400)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one turn."""

    max_new_tokens: int = 256
    """Per-turn token limit; reaching it gives ``finish_reason="length"``."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy (argmax)."""
    top_p: float = 1.0
    """Nucleus sampling: sample from the smallest set of tokens with mass >= top_p."""
    stop: tuple[str, ...] = DEFAULT_STOP
    """Stop strings; the token completing one is kept and ends the row."""
    seed: int | None = None
    """Base seed; row i uses ``seed + i`` unless its request carries a seed."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"Expected max_new_tokens >= 1, got {self.max_new_tokens}.")
        if self.temperature < 0:
            raise ValueError(f"Expected temperature >= 0, got {self.temperature}.")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"Expected 0 < top_p <= 1, got {self.top_p}.")
        if isinstance(self.stop, str):
            raise TypeError(
                f"Expected stop to be a tuple of strings, got the string {self.stop!r}."
            )


def row_seed(params: SamplingParams, request: GenerationRequest, row: int) -> int | None:
    """The seed of row ``row``'s random stream (None: not reproducible)."""
    if request.seed is not None:
        return request.seed
    if params.seed is None:
        return None
    return params.seed + row


@runtime_checkable
class Policy(Protocol):
    """Anything that samples one assistant turn for each of a batch of conversations.

    ``tokenizer`` is the tokenizer whose ids ``prompt_ids`` and ``token_ids`` use; None for
    an endpoint without a local tokenizer (then only ``messages`` and ``text`` are used).
    ``generate`` returns one ``SampledTurn`` per request, in order.
    """

    tokenizer: PreTrainedTokenizerBase | None

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]: ...
