"""A policy over a local transformers causal LM, with exact token ids and log-probabilities.

``HFPolicy.generate`` samples one assistant turn for every request at once: it left-pads
the prompts, runs one prefill forward pass (attention mask + position ids, so padding
does not change a row), then decodes token by token with the KV cache. When the rows
share a long common prefix (episodes of one task: same system prompt and question), the
prefix is prefilled once at batch size 1, its cache is repeated for every row, and only
each row's own suffix is prefilled (see :func:`shared_prefix_length`). With
``reuse_cache`` (the default) the policy also keeps the key/value states of what it ran
(:class:`agents.kv_cache.PrefixStore`): a row whose prompt extends a sequence run before
(the same episode's previous turn, or an earlier row of its group) prefills only the new
tokens, one row at a time with no padding, and the rows are then decoded together from
one left-padded cache that grows in place. Each row samples
from its own seeded random stream, stops on its own (EOS, a stop string, or the per-turn
limit) and is dropped from the batch and the cache when it does. The loop is written
here rather than with ``model.generate`` because the rollout engine needs the exact
log-probability of every sampled token and per-row stop strings. Semantics of stops, EOS
and log-probabilities: see :mod:`agents.policy`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

from agents.kv_cache import (
    PrefixStore,
    States,
    cache_keyword,
    cropped,
    growing_cache,
    left_padded,
    length_buckets,
    output_cache,
    states_of,
)
from agents.policy import (
    FinishReason,
    GenerationRequest,
    SampledTurn,
    SamplingParams,
    row_seed,
)


@dataclass
class _Row:
    """The growing output of one request during decoding."""

    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    finish_reason: FinishReason | None = None


def left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad prompts into ``(input_ids, attention_mask, position_ids)``, each [B, T].

    Position ids count real tokens only, so a padded row sees the same positions as the
    same prompt alone.
    """
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]
    return ids.to(device), mask.to(device), positions.to(device)


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Length of the common prefix of ``prompts``, leaving every prompt a non-empty suffix.

    Each row needs at least one token of its own in the suffix prefill, whose logits give
    its first sampled token, so the result is at most ``min(len(p)) - 1``.
    """
    first = prompts[0]
    length = min(len(p) for p in prompts) - 1
    for prompt in prompts[1:]:
        length = next((i for i in range(length) if prompt[i] != first[i]), length)
    return max(length, 0)


def left_pad_after_prefix(
    suffixes: Sequence[Sequence[int]], prefix_length: int, pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-pad suffixes that follow a cached prefix of ``prefix_length`` tokens.

    Returns ``(input_ids [B, S], attention_mask [B, P + S], position_ids [B, S])``: the
    mask is ``[1] * P + [0] * pad + [1] * len`` and a row's suffix positions continue
    its prefix (``P + arange(len)``), so each row sees what it would see unpadded.
    """
    ids, mask, positions = left_pad(suffixes, pad_id, device)
    prefix_mask = mask.new_ones((len(suffixes), prefix_length))
    return ids, torch.cat([prefix_mask, mask], dim=-1), positions + prefix_length


CDF_BLOCK = 256
"""Tokens per block in two-level inverse-CDF sampling (see :func:`invert_cdf`)."""


def sample_tokens(
    logits: torch.Tensor, params: SamplingParams, generators: Sequence[torch.Generator | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row of ``logits`` [B, V]; return ``(tokens [B], logprobs [B])``.

    Rows draw one uniform number each from their own generator and invert the CDF of
    their (temperature-scaled, top-p truncated) distribution, so a row's token does not
    depend on the other rows. Log-probabilities are ``log_softmax(logits / T)`` at the
    token, without top-p truncation (temperature 0: greedy, log-probs at T = 1).
    """
    logits = logits.float()
    if params.temperature == 0:
        tokens = logits.argmax(dim=-1)  # [B]
        return tokens, torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits if params.temperature == 1 else logits / params.temperature
    probs = torch.softmax(scaled, dim=-1)  # [B, V]
    uniform = torch.stack([torch.rand((), generator=g) for g in generators]).to(probs.device)
    if params.top_p < 1:
        ranked, order = probs.sort(dim=-1, descending=True)  # [B, V]
        mass_before = ranked.cumsum(dim=-1) - ranked
        ranked = ranked.masked_fill(mass_before >= params.top_p, 0.0)
        tokens = order.gather(-1, invert_cdf(ranked, uniform)[:, None]).squeeze(-1)
    else:
        tokens = invert_cdf(probs, uniform)
    return tokens, probs.gather(-1, tokens[:, None]).squeeze(-1).log()


def invert_cdf(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """The index ``i`` of each row of ``weights`` [B, V] with CDF(i-1) <= u * total < CDF(i).

    Two levels (block sums, then one block's cumulative sum) instead of a cumulative sum
    over the whole vocabulary, which costs as much as the rest of a tiny model's step.
    Never returns an index of zero weight.
    """
    rows, width = weights.shape
    padding = (-width) % CDF_BLOCK
    padded = torch.nn.functional.pad(weights, (0, padding)) if padding else weights
    blocks = padded.view(rows, -1, CDF_BLOCK)  # [B, NB, K]
    block_mass = blocks.sum(dim=-1)  # [B, NB]
    block_cdf = block_mass.cumsum(dim=-1)
    target = uniform * block_cdf[:, -1]  # [B]
    block = _search(block_cdf, target)  # [B]
    before = (block_cdf - block_mass).gather(-1, block[:, None]).squeeze(-1)
    inner_cdf = blocks[torch.arange(rows, device=weights.device), block].cumsum(dim=-1)  # [B, K]
    return block * CDF_BLOCK + _search(inner_cdf, target - before)


def _search(cdf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """First index of each row of ``cdf`` [B, N] above ``target`` [B], among positive steps.

    Clamping to the first and last positive step keeps rounding from landing on a
    zero-weight entry.
    """
    index = torch.searchsorted(cdf, target[:, None], right=True).squeeze(-1)  # [B]
    first_positive = (cdf <= 0).sum(dim=-1)
    last_positive = (cdf < cdf[:, -1:]).sum(dim=-1)
    return torch.maximum(torch.minimum(index, last_positive), first_positive)


def _generators(
    requests: Sequence[GenerationRequest], params: SamplingParams, first_row: int
) -> list[torch.Generator | None]:
    """One CPU generator per row, seeded as :func:`agents.policy.row_seed` says."""
    generators: list[torch.Generator | None] = []
    for offset, request in enumerate(requests):
        seed = row_seed(params, request, first_row + offset)
        generators.append(None if seed is None else torch.Generator().manual_seed(seed))
    return generators


class HFPolicy:
    """Samples assistant turns from a transformers causal LM (see :mod:`agents.policy`).

    Args:
        model: a causal LM (any ``AutoModelForCausalLM``, a PEFT wrapper of one). It is put
            in eval mode while sampling and returned to its previous mode afterwards.
        tokenizer: the model's tokenizer; ``prompt_ids`` and ``token_ids`` are its ids.
        eos_token_ids: tokens that end a turn; default: the tokenizer's EOS plus the
            model's ``generation_config.eos_token_id`` (e.g. ``<|im_end|>``).
        max_batch_size: at most this many rows per forward pass (None: all requests).
        share_prefix: prefill the common prefix of a batch's prompts once and repeat its
            KV cache for every row, when it is at least ``min_shared_prefix`` tokens long
            (False: prefill every full prompt, as a batch).
        min_shared_prefix: the shortest common prefix worth an extra forward pass.
        reuse_cache: keep the key/value states of the sequences run, so that a prompt
            extending one of them prefills only its new tokens (models whose cache layers
            are all plain ``DynamicLayer``; others prefill in full). States are kept within
            a call (the rows of a group) and, inside :meth:`keeping_states`, across calls;
            they are forgotten when the model's parameters change.
        cache_bytes: the most memory the kept states may take (least recently used go).
        max_padding: rows that extend kept states are prefilled in batches of similar
            length, padded by at most this share of their positions.

    ``prefilled_positions`` counts the prompt positions run through the model so far.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        eos_token_ids: Sequence[int] | None = None,
        max_batch_size: int | None = None,
        share_prefix: bool = True,
        min_shared_prefix: int = 32,
        reuse_cache: bool = True,
        cache_bytes: int = 1 << 30,
        max_padding: float = 0.1,
    ) -> None:
        self.model = model
        self._cache_keyword = cache_keyword(model)
        self.reuse_cache = reuse_cache and _plain_cache_layers(model)
        self.store = PrefixStore(cache_bytes)
        self.max_padding = max_padding
        self.prefilled_positions = 0
        self._keeping = 0
        self.share_prefix = share_prefix
        self.min_shared_prefix = min_shared_prefix
        self.tokenizer = tokenizer
        self.eos_token_ids = frozenset(eos_token_ids or _default_eos_ids(model, tokenizer))
        self.max_batch_size = max_batch_size
        pad = tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else min(self.eos_token_ids, default=0)

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | None = None,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        max_batch_size: int | None = None,
        share_prefix: bool = True,
    ) -> HFPolicy:
        """Load a model with :func:`agents.models.load_model_and_tokenizer` (None: SmolLM2)."""
        from agents.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(name_or_path, device=device, dtype=dtype)
        return cls(model, tokenizer, max_batch_size=max_batch_size, share_prefix=share_prefix)

    @contextlib.contextmanager
    def keeping_states(self) -> Iterator[None]:
        """Within the block, calls keep the key/value states of what they ran for the calls
        after them (the rollout engine opens one per run: an episode's turns extend each
        other). Outside, a call starts from nothing: the same call gives the same result."""
        self._keeping += 1
        try:
            yield
        finally:
            self._keeping -= 1
            if not self._keeping:
                self.store.clear()  # their memory goes back

    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[SampledTurn]:
        """Sample one turn per request, batched; results are in request order."""
        for request in requests:
            if not request.prompt_ids:
                raise ValueError("Expected a non-empty prompt_ids in every request, got ().")
        chunk = self.max_batch_size or max(len(requests), 1)
        turns: list[SampledTurn] = []
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(requests), chunk):
                    part = requests[start : start + chunk]
                    turns.extend(
                        self._generate_batch(part, params, _generators(part, params, start))
                    )
        finally:
            self.model.train(was_training)
            if not self._keeping:
                self.store.clear()
        return turns

    def _generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        params: SamplingParams,
        generators: list[torch.Generator | None],
    ) -> list[SampledTurn]:
        """Prefill all rows, then decode step by step, dropping rows as they finish."""
        device = self.model.device
        prompts = [r.prompt_ids for r in requests]
        if self.reuse_cache:
            cache, logits, mask, next_pos = self._prefill_reusing(prompts, params.max_new_tokens)
        else:
            cache, logits, mask, next_pos = self._prefill(prompts)
        rows = [_Row() for _ in requests]
        active = list(range(len(requests)))  # active[k]: request of cache row k
        for step in range(params.max_new_tokens):
            tokens, logps = sample_tokens(logits, params, [generators[i] for i in active])
            last = step == params.max_new_tokens - 1
            keep = self._record(rows, active, tokens.tolist(), logps.tolist(), params, last)
            if self.reuse_cache:
                self._keep_finished(cache, mask, prompts, rows, active, keep)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, tokens, next_pos = mask[index], tokens[index], next_pos[index]
                active = [active[k] for k in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=-1)  # [B', T+1]
            cache, logits = self._forward(
                cache,
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=next_pos[:, None],
            )
            next_pos = next_pos + 1
        return [self._to_turn(row) for row in rows]

    def _forward(
        self, cache: Cache | None, **inputs: torch.Tensor | int
    ) -> tuple[Cache, torch.Tensor]:
        """One forward with a cache (``None``: a new one); returns the grown cache and the
        logits at each row's last kept position [B, V]."""
        if cache is not None:
            inputs[self._cache_keyword] = cache
        out = self.model(**inputs, use_cache=True)
        return output_cache(out), out.logits[:, -1, :]

    def _prefill(
        self, prompts: list[tuple[int, ...]]
    ) -> tuple[Cache, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the prompts through the model; return ``(cache, logits, mask, next_pos)``.

        ``logits`` [B, V] predict each row's first new token, ``mask`` [B, T] is the
        attention mask over the cache and ``next_pos`` [B] the position of that token.
        """
        device = self.model.device
        shared = shared_prefix_length(prompts) if self.share_prefix and len(prompts) > 1 else 0
        if shared >= max(self.min_shared_prefix, 1):
            prefix = torch.tensor([prompts[0][:shared]], dtype=torch.long, device=device)
            cache, _ = self._forward(None, input_ids=prefix, logits_to_keep=1)
            self.prefilled_positions += shared
            if all(type(layer) is DynamicLayer for layer in getattr(cache, "layers", ())):
                cache.batch_repeat_interleave(len(prompts))  # [1, ...] -> [B, ...]
                suffixes = [p[shared:] for p in prompts]
                ids, mask, positions = left_pad_after_prefix(
                    suffixes, shared, self.pad_token_id, device
                )
                self.prefilled_positions += ids.numel()  # padding runs too
                cache, logits = self._forward(
                    cache,
                    input_ids=ids,
                    attention_mask=mask,
                    position_ids=positions,
                    logits_to_keep=1,
                )
                return cache, logits, mask, positions[:, -1] + 1
            # Other cache layouts (sliding windows, ...): fall back to full prompts.
        ids, mask, positions = left_pad(prompts, self.pad_token_id, device)
        self.prefilled_positions += ids.numel()
        cache, logits = self._forward(
            None, input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1
        )
        return cache, logits, mask, positions[:, -1] + 1

    def _prefill_reusing(
        self, prompts: list[tuple[int, ...]], spare: int
    ) -> tuple[Cache, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`_prefill` from the kept states: a row that extends a stored sequence
        prefills only the rest (:meth:`_prefill_rest`); a row that extends none is prefilled
        whole, alone, and kept for the rows after it (the rest of its group). The rows'
        states are then stacked, left-padded, with ``spare`` free positions."""
        device = self.model.device
        self.store.check_model(self.model)
        states: list = [None] * len(prompts)
        logits: list = [None] * len(prompts)
        rest: list[tuple[int, int, States]] = []  # (row, stored length, its states)
        for i, prompt in enumerate(prompts):
            length, past = self.store.longest_prefix(prompt, limit=len(prompt) - 1)
            if past is not None:
                rest.append((i, length, cropped(past, length)))
                continue
            cache, logits[i] = self._forward(
                growing_cache(),
                input_ids=torch.tensor([prompt], dtype=torch.long, device=device),
                logits_to_keep=1,
            )
            self.prefilled_positions += len(prompt)
            states[i] = states_of(cache)
            self.store.put(prompt, states[i])
        lengths = [len(prompts[i]) - length for i, length, _ in rest]
        for bucket in length_buckets(lengths, self.max_padding):
            self._prefill_rest([rest[j] for j in bucket], prompts, states, logits)
        cache, mask = left_padded(states, spare)
        # The batch's cache now holds all of it: the prompts' states (kept for the rest of
        # each group) and those they extended (superseded when the rows finish) go.
        self.store.drop_prefixes_of(prompts)
        next_pos = torch.tensor([len(p) for p in prompts], dtype=torch.long, device=device)
        return cache, torch.cat(logits), mask, next_pos

    def _prefill_rest(
        self,
        rows: list[tuple[int, int, States]],
        prompts: list[tuple[int, ...]],
        states: list,
        logits: list,
    ) -> None:
        """Prefill, as one batch, what each row's prompt adds to its stored states: the
        stored states left-padded, then the new tokens left-padded (a row's padding sits
        between the two, masked); fills in ``states`` and ``logits`` and keeps the rows."""
        device = self.model.device
        suffixes = [prompts[i][length:] for i, length, _ in rows]
        cache, past_mask = left_padded([past for _, _, past in rows], max(map(len, suffixes)))
        ids, mask, positions = left_pad(suffixes, self.pad_token_id, device)
        starts = torch.tensor([length for _, length, _ in rows], device=device)
        mask = torch.cat([past_mask, mask], dim=-1)  # [B, P + S]
        cache, last = self._forward(
            cache,
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions + starts[:, None],
            logits_to_keep=1,
        )
        self.prefilled_positions += ids.numel()  # padding runs too
        for k, (i, _, _) in enumerate(rows):
            states[i] = states_of(cache, k, columns=mask[k].bool())
            logits[i] = last[k : k + 1]
            self.store.put(prompts[i], states[i])

    def _keep_finished(
        self,
        cache: DynamicCache,
        mask: torch.Tensor,
        prompts: list[tuple[int, ...]],
        rows: list[_Row],
        active: list[int],
        keep: list[int],
    ) -> None:
        """Store the states of the rows that just finished: their prompt and every sampled
        token but the last (which was never run through the model)."""
        kept = set(keep)
        for k, request_index in enumerate(active):
            if k not in kept:
                ids = prompts[request_index] + tuple(rows[request_index].token_ids[:-1])
                self.store.put(ids, states_of(cache, k, columns=mask[k].bool()))

    def _record(
        self,
        rows: list[_Row],
        active: list[int],
        tokens: list[int],
        logps: list[float],
        params: SamplingParams,
        last: bool,
    ) -> list[int]:
        """Append each active row's new token, mark finished rows; return cache rows to keep."""
        keep = []
        window = max((len(s.encode()) for s in params.stop), default=0) + 1
        for k, (request_index, token, logp) in enumerate(zip(active, tokens, logps)):
            row = rows[request_index]
            row.token_ids.append(token)
            row.logprobs.append(logp)
            if token in self.eos_token_ids or self._hit_stop(row.token_ids, params.stop, window):
                row.finish_reason = "stop"
            elif last:
                row.finish_reason = "length"
            else:
                keep.append(k)
        return keep

    def _hit_stop(self, token_ids: list[int], stops: tuple[str, ...], window: int) -> bool:
        """Whether the newest token completed a stop string (decodes only a short tail).

        A stop string of n bytes spans at most n tokens, so the tail of n + 1 tokens holds
        any occurrence completed by the newest token; an older one would have stopped the
        row already.
        """
        if not stops:
            return False
        tail = self.tokenizer.decode(token_ids[-window:], skip_special_tokens=False)
        return any(stop in tail for stop in stops)

    def _to_turn(self, row: _Row) -> SampledTurn:
        ids = row.token_ids
        body = ids[:-1] if ids and ids[-1] in self.eos_token_ids else ids
        return SampledTurn(
            token_ids=tuple(ids),
            logprobs=tuple(row.logprobs),
            text=self.tokenizer.decode(body, skip_special_tokens=False),
            finish_reason=row.finish_reason or "length",
        )


def _plain_cache_layers(model: PreTrainedModel) -> bool:
    """Whether ``model``'s cache is made of plain full-attention layers only (no sliding
    windows, no recurrent state): the layout :mod:`agents.kv_cache` keeps and restores."""
    config = getattr(model, "config", None)
    if config is None:
        return False
    try:
        layers = DynamicCache(config=config).layers
    except (AttributeError, TypeError, ValueError):
        return False
    return all(type(layer) is DynamicLayer for layer in layers)


def _default_eos_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> set[int]:
    """The tokenizer's EOS plus the generation config's (an int or a list of ints)."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    config = getattr(model, "generation_config", None)
    configured = getattr(config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured is not None:
        ids.update(int(i) for i in configured)
    return ids
