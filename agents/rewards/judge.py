"""The plan-rubric judge: an LLM scores a plan on each rubric dimension.

Stage 1 of Anchor-GRPO rewards a plan with R = sum(phi_j) / sum(s_j^max), where
phi_j are a judge model's scores on the rubric's dimensions. This module has:

- :func:`build_judge_prompt`: the judge prompt (question, plan, rubric, and the
  JSON answer format).
- :func:`parse_judge_answer`: reads the judge's answer leniently (code fences,
  prose around the JSON, single quotes, trailing commas, scores written as
  strings, dimension names in any case) but never invents a score.
- :class:`RubricJudge`: batches prompts through any text-completion backend,
  judges each distinct (question, plan) once, caches results (in memory and
  optionally in a JSONL file) and counts parse failures.
- :class:`ExpectedScoreJudge`: reads the score from a local causal LM's next-token
  distribution over the digits instead of from generated text: always a valid
  number, and smoother than a sampled integer.

A plan whose judgment cannot be parsed gets reward ``None``. It must be excluded
from the update (and counted), never scored 0: a 0 would teach the policy that the
plan was bad when only the judge's output was.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch

from agents.rewards.rubric import (
    Dimension,
    Rubric,
    load_default_rubric,
    normalize_label,
    rubric_reward,
)
from webanchor_env.jsonish import balanced_objects, load_object

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CompleteFn = Callable[[list[str]], list[str]]
"""A batch text-completion backend: prompts in, one completion per prompt out."""

AGENT_DESCRIPTION = (
    "The agent answers questions by browsing a wiki with two tools: `search` (takes a "
    "list of queries and returns the titles, URLs and snippets of matching pages) and "
    "`visit` (takes a list of page URLs and a goal, and returns the relevant content of "
    "those pages). Before it acts, the agent writes a plan: its first turn."
)

_RATIONALE_KEYS = ("rationale", "reason", "reasoning", "explanation", "justification")


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class JudgeScores:
    """A successfully parsed judgment."""

    scores: Mapping[str, float]
    """Dimension key -> score in [0, max_score]."""
    rationale: str = ""


@dataclass(frozen=True)
class ParseFailure:
    """A judge answer that could not be read into valid scores."""

    reason: str
    """What was wrong, e.g. "missing score(s) for ['actionability']"."""
    raw: str
    """The judge's text, for inspection."""


@dataclass(frozen=True)
class JudgeResult:
    """The reward of one (question, plan), or why there is none."""

    reward: float | None
    """Reward in [0, 1], or None when the judgment failed (exclude the sample)."""
    scores: Mapping[str, float] | None = None
    """Per-dimension scores, None on failure."""
    rationale: str = ""
    failure: str | None = None
    """Why there is no reward, None on success."""
    raw: str = ""
    """The judge's text (empty for scores read from logits or from the cache)."""
    cached: bool = False
    """Whether the result came from the cache rather than a new judgment."""

    @property
    def ok(self) -> bool:
        return self.reward is not None


@dataclass
class JudgeStats:
    """Counters for logging; reset with :meth:`CachedJudge.reset_stats`."""

    requests: int = 0
    """(question, plan) pairs asked for, duplicates included."""
    cache_hits: int = 0
    """Pairs answered from the cache."""
    judged: int = 0
    """Prompts sent to the backend."""
    parse_failures: int = 0
    """Judged prompts whose answer could not be parsed."""

    @property
    def failure_rate(self) -> float:
        return self.parse_failures / self.judged if self.judged else 0.0


# ----------------------------------------------------------------------------- prompts


def _format_dimension(index: int, d: Dimension) -> str:
    lines = [f"{index}. {d.name} (key: {d.key}, score 0-{d.max_score}): {d.description}"]
    lines += [f"   - {c}" for c in d.criteria]
    return "\n".join(lines)


def build_judge_prompt(
    question: str, plan: str, rubric: Rubric, agent_description: str = AGENT_DESCRIPTION
) -> str:
    """The judge prompt: task context, question, plan, rubric, JSON answer format."""
    dims = "\n".join(_format_dimension(i, d) for i, d in enumerate(rubric.dimensions, start=1))
    template = ", ".join(f'"{d.key}": <integer 0-{d.max_score}>' for d in rubric.dimensions)
    return (
        "You are an expert evaluator of plans written by a web research agent.\n"
        f"{agent_description}\n\n"
        "Evaluate only the plan below against the rubric. Do not answer the question "
        "yourself, and do not give credit for guessing the answer.\n\n"
        f"## Question\n{question.strip()}\n\n"
        f"## Plan\n{plan.strip()}\n\n"
        f"## Rubric ({rubric.name}, version {rubric.version})\n"
        "Score every dimension with an integer from 0 (worst) to its maximum (best).\n"
        f"{dims}\n\n"
        "## Answer format\n"
        "Reply with a single JSON object and nothing else:\n"
        f'{{"scores": {{{template}}}, "rationale": "<one or two sentences>"}}\n'
    )


def build_dimension_prompt(
    question: str, plan: str, dimension: Dimension, agent_description: str = AGENT_DESCRIPTION
) -> str:
    """A prompt about one dimension that ends in ``"<Name> score (0-<max>):"``."""
    criteria = "\n".join(f"- {c}" for c in dimension.criteria)
    return (
        "You are an expert evaluator of plans written by a web research agent.\n"
        f"{agent_description}\n\n"
        f"## Question\n{question.strip()}\n\n"
        f"## Plan\n{plan.strip()}\n\n"
        f"## Dimension: {dimension.name}\n{dimension.description}\n{criteria}\n\n"
        f"Rate the plan on {dimension.name} with an integer from 0 (worst) to "
        f"{dimension.max_score} (best).\n"
        f"{dimension.name} score (0-{dimension.max_score}):"
    )


# ----------------------------------------------------------------------------- parsing


def extract_json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON-like object in ``text`` that parses, in order of appearance.

    Handles objects inside code fences or prose. If no balanced object parses, the
    span from the first ``{`` to the last ``}`` is tried as a last resort.
    """
    objects = [obj for span in balanced_objects(text) if (obj := load_object(span)[0])]
    if not objects and "{" in text and "}" in text:
        obj = load_object(text[text.index("{") : text.rindex("}") + 1])[0]
        if obj is not None:
            objects.append(obj)
    return objects


_SCORE_TEXT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?\s*$")


def parse_score(value: Any, max_score: int) -> float | str:
    """A score in [0, max_score] from a number, ``"4"``, ``"4/5"`` or ``{"score": 4}``.

    Returns the score, or a string saying why ``value`` is not one.
    """
    if isinstance(value, dict):
        inner = {normalize_label(str(k)): v for k, v in value.items()}
        if "score" not in inner:
            return f"expected a number, got an object without 'score': {value!r}"
        value = inner["score"]
    if isinstance(value, str):
        m = _SCORE_TEXT.match(value)
        if not m:
            return f"expected a number, got {value!r}"
        if m.group(2) is not None and int(m.group(2)) != max_score:
            return f"score {value!r} is out of {m.group(2)}, expected out of {max_score}"
        value = float(m.group(1))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {value!r}"
    if not math.isfinite(value) or not 0 <= value <= max_score:
        return f"score {value!r} is outside 0-{max_score}"
    return float(value)


def find_rationale(obj: Mapping[str, Any]) -> str:
    """The judge's explanation under a key like "rationale" or "reason", else ""."""
    for k, v in obj.items():
        if normalize_label(str(k)) in _RATIONALE_KEYS and isinstance(v, str):
            return v.strip()
    return ""


def _rubric_scores_from_object(obj: Mapping[str, Any], rubric: Rubric) -> JudgeScores | str:
    container: Mapping[str, Any] = obj
    for k, v in obj.items():
        if normalize_label(str(k)) == "scores" and isinstance(v, dict):
            container = v
    labels = {}
    for d in rubric.dimensions:
        labels[normalize_label(d.key)] = d
        labels[normalize_label(d.name)] = d
    scores: dict[str, float] = {}
    for k, v in container.items():
        d = labels.get(normalize_label(str(k)))
        if d is None:
            continue  # e.g. "total" or "overall": not ours to check
        score = parse_score(v, d.max_score)
        if isinstance(score, str):
            return f"{d.key}: {score}"
        if d.key in scores and scores[d.key] != score:
            return f"{d.key}: conflicting scores {scores[d.key]} and {score}"
        scores[d.key] = score
    missing = [key for key in rubric.keys if key not in scores]
    if missing:
        return f"missing score(s) for {missing}"
    return JudgeScores({key: scores[key] for key in rubric.keys}, find_rationale(obj))


def parse_objects(
    text: str, read: Callable[[Mapping[str, Any]], JudgeScores | str]
) -> JudgeScores | ParseFailure:
    """Apply ``read`` to the JSON objects in ``text``, last first; the first object
    that reads successfully wins (a model's final answer comes last).

    ``read`` returns :class:`JudgeScores` or the reason the object is unusable.
    """
    objects = extract_json_objects(text)
    if not objects:
        return ParseFailure("no JSON object found", text)
    reasons = []
    for obj in reversed(objects):
        result = read(obj)
        if isinstance(result, JudgeScores):
            return result
        reasons.append(result)
    return ParseFailure(reasons[0], text)


def parse_judge_answer(text: str, rubric: Rubric) -> JudgeScores | ParseFailure:
    """Read the judge's scores for every rubric dimension from its answer.

    Accepts ``{"scores": {...}, "rationale": ...}`` or a flat object of scores, keyed
    by dimension key or name in any case/spacing. Scores may be numbers, ``"4"``,
    ``"4/5"`` or ``{"score": 4}``; a non-integer number is kept as written, never
    rounded. A missing, non-numeric or out-of-range score makes the whole answer a
    :class:`ParseFailure`; keys that are not dimensions (e.g. "total") are ignored.
    """
    return parse_objects(text, lambda obj: _rubric_scores_from_object(obj, rubric))


# ----------------------------------------------------------------------------- judges


class JudgeFormat(Protocol):
    """What differs between judges that read text answers: prompt, parser, reward."""

    cache_tag: str
    """Identifies the format (and rubric name/version) in cache keys."""

    def prompt(self, question: str, plan: str) -> str: ...

    def parse(self, text: str) -> JudgeScores | ParseFailure: ...

    def reward(self, scores: JudgeScores) -> float: ...


@dataclass(frozen=True)
class RubricFormat:
    """The paper's judge: six (or any number of) rubric dimensions, R in [0, 1]."""

    rubric: Rubric

    @property
    def cache_tag(self) -> str:
        return f"rubric:{self.rubric.name}@{self.rubric.version}"

    def prompt(self, question: str, plan: str) -> str:
        return build_judge_prompt(question, plan, self.rubric)

    def parse(self, text: str) -> JudgeScores | ParseFailure:
        return parse_judge_answer(text, self.rubric)

    def reward(self, scores: JudgeScores) -> float:
        return rubric_reward(scores.scores, self.rubric)


CacheKey = tuple[str, str, str]


@dataclass
class CachedJudge:
    """Judges (question, plan) pairs through a text backend, with caching and stats.

    Each distinct pair in a call is judged once; successful results are kept in
    memory keyed by (format tag, question, plan) and, with ``cache_path``, appended
    to a JSONL file that is read back on construction. Failures are not cached, so
    a later call retries them.
    """

    complete: CompleteFn
    format: JudgeFormat
    cache_path: Path | str | None = None
    stats: JudgeStats = field(default_factory=JudgeStats)
    _cache: dict[CacheKey, JudgeResult] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cache_path is not None:
            self.cache_path = Path(self.cache_path)
            if self.cache_path.exists():
                self._load_cache(self.cache_path)

    def score(self, questions: Sequence[str], plans: Sequence[str]) -> list[JudgeResult]:
        """One :class:`JudgeResult` per (question, plan), in order."""
        if len(questions) != len(plans):
            raise ValueError(
                f"Expected as many plans as questions, got {len(plans)} plans "
                f"for {len(questions)} questions."
            )
        tag = self.format.cache_tag
        keys = [(tag, q, p) for q, p in zip(questions, plans)]
        self.stats.requests += len(keys)
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        self.stats.cache_hits += sum(k in self._cache for k in keys)
        fresh: dict[CacheKey, JudgeResult] = {}
        if todo:
            answers = self.complete([self.format.prompt(q, p) for _, q, p in todo])
            if len(answers) != len(todo):
                raise ValueError(
                    f"The completion backend returned {len(answers)} answers for "
                    f"{len(todo)} prompts."
                )
            self.stats.judged += len(todo)
            for key, text in zip(todo, answers):
                fresh[key] = self._judge_one(key, text)
        return [fresh[k] if k in fresh else replace(self._cache[k], cached=True) for k in keys]

    def reset_stats(self) -> JudgeStats:
        """Return the current counters and start new ones."""
        stats, self.stats = self.stats, JudgeStats()
        return stats

    def _judge_one(self, key: CacheKey, text: str) -> JudgeResult:
        parsed = self.format.parse(text)
        if isinstance(parsed, ParseFailure):
            self.stats.parse_failures += 1
            return JudgeResult(reward=None, failure=parsed.reason, raw=text)
        result = JudgeResult(
            reward=self.format.reward(parsed),
            scores=dict(parsed.scores),
            rationale=parsed.rationale,
            raw=text,
        )
        self._cache[key] = result
        if self.cache_path is not None:
            self._append_cache(key, result)
        return result

    def _append_cache(self, key: CacheKey, result: JudgeResult) -> None:
        tag, question, plan = key
        record = {
            "judge": tag,
            "question": question,
            "plan": plan,
            "reward": result.reward,
            "scores": result.scores,
            "rationale": result.rationale,
        }
        with Path(self.cache_path).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _load_cache(self, path: Path) -> None:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                key = (rec["judge"], rec["question"], rec["plan"])
                result = JudgeResult(
                    reward=float(rec["reward"]),
                    scores=dict(rec["scores"]),
                    rationale=rec.get("rationale", ""),
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                # e.g. a line cut short when a run was killed mid-write
                warnings.warn(f"Skipping judge cache line {path}:{lineno}: {err!r}", stacklevel=2)
                continue
            self._cache[key] = result


class RubricJudge(CachedJudge):
    """The Anchor-GRPO plan judge: rubric scores from a text backend, R in [0, 1].

    ``complete`` is any batch completion function (a local policy, a vLLM server,
    an API client); ``rubric`` defaults to the bundled six-dimension rubric.
    """

    def __init__(
        self,
        complete: CompleteFn,
        rubric: Rubric | None = None,
        cache_path: Path | str | None = None,
    ) -> None:
        super().__init__(complete, RubricFormat(rubric or load_default_rubric()), cache_path)

    @property
    def rubric(self) -> Rubric:
        return self.format.rubric


# ----------------------------------------------------------------------------- expected score


def _digit_continuation(
    tokenizer: PreTrainedTokenizerBase, max_digit: int
) -> tuple[list[int], list[int]]:
    """(prefix ids, one token id per digit 0..max_digit) such that prefix + [id_d]
    encodes the text after the prompt's colon: " d" if possible, else "d".

    With tokenizers that give the space its own token (" 4" -> [" ", "4"]) the
    prefix is that space token, so the model is asked for the digit right after it.
    """
    for template in (" {}", "{}"):
        encoded = [
            tokenizer.encode(template.format(d), add_special_tokens=False)
            for d in range(max_digit + 1)
        ]
        if not all(encoded):
            continue
        prefix = encoded[0][:-1]
        last = [ids[-1] for ids in encoded]
        if all(ids[:-1] == prefix for ids in encoded) and len(set(last)) == len(last):
            return prefix, last
    raise ValueError(
        f"Expected the tokenizer to encode each digit 0-{max_digit} as one token "
        "(after a common prefix); it does not, so scores cannot be read from logits."
    )


def last_token_logits(
    model: PreTrainedModel, ids: torch.Tensor, attention: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Next-token logits ``[b, V]`` at each row's last real token (``lengths - 1``).

    Runs the decoder, then the output layer on those positions only, instead of
    materializing ``[b, T, V]`` logits (most of the judge's time on a small model). Models
    whose head does more than a projection (logit soft-capping) take the full forward.
    """
    rows = torch.arange(ids.shape[0], device=ids.device)
    base, head = getattr(model, "base_model", None), model.get_output_embeddings()
    plain = getattr(model.config, "final_logit_softcapping", None) is None
    if base is None or base is model or head is None or not plain:
        logits = model(input_ids=ids, attention_mask=attention).logits  # [b, T, V]
        return logits[rows, lengths - 1]
    hidden = base(input_ids=ids, attention_mask=attention).last_hidden_state  # [b, T, H]
    return head(hidden[rows, lengths - 1])  # [b, V]


class ExpectedScoreJudge:
    """Rubric scores as expectations under a causal LM's next-token distribution.

    For each dimension the prompt ends in ``"<Name> score (0-<max>):"``; the logits
    of the next token, restricted to the digit tokens 0..max and renormalized, give
    p(d), and the score is sum_d p(d) * d. One forward pass per dimension, batched
    over plans, so every plan always gets a valid score in [0, max].

    Prompts are right-padded and read at each sequence's last real token, so a
    batch gives the same scores as one-by-one calls. The full logits of a batch are
    materialized; lower ``batch_size`` if memory is tight.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        rubric: Rubric | None = None,
        batch_size: int = 8,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.rubric = rubric or load_default_rubric()
        self.batch_size = batch_size
        max_digit = max(d.max_score for d in self.rubric.dimensions)
        if max_digit > 9:
            raise ValueError(
                f"Expected max_score <= 9 for expected-score judging, rubric "
                f"{self.rubric.name!r} has {max_digit}."
            )
        self.prefix_ids, self.digit_ids = _digit_continuation(tokenizer, max_digit)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)

    @torch.inference_mode()
    def digit_probs(self, prompts: Sequence[str], max_score: int) -> torch.Tensor:
        """[N, max_score + 1]: p(next token = digit d | prompt), renormalized."""
        was_training = self.model.training
        self.model.eval()  # no dropout; restored below, the model may be the policy
        try:
            return self._digit_probs(prompts, max_score)
        finally:
            self.model.train(was_training)

    def _digit_probs(self, prompts: Sequence[str], max_score: int) -> torch.Tensor:
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = [
                self.tokenizer(p)["input_ids"] + self.prefix_ids
                for p in prompts[start : start + self.batch_size]
            ]
            lengths = torch.tensor([len(ids) for ids in chunk], device=device)  # [b]
            width = int(lengths.max())
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long, device=device)
            for i, seq in enumerate(chunk):
                ids[i, : len(seq)] = torch.tensor(seq, device=device)
            attention = (torch.arange(width, device=device) < lengths[:, None]).long()  # [b, T]
            last = last_token_logits(self.model, ids, attention, lengths)  # [b, V]
            digits = last[:, self.digit_ids[: max_score + 1]].float()  # [b, D]
            out.append(torch.softmax(digits, dim=-1).cpu())
        return torch.cat(out) if out else torch.zeros(0, max_score + 1)

    def expected_scores(self, questions: Sequence[str], plans: Sequence[str]) -> torch.Tensor:
        """[N, num_dimensions]: expected score of each plan on each dimension."""
        if len(questions) != len(plans):
            raise ValueError(
                f"Expected as many plans as questions, got {len(plans)} plans "
                f"for {len(questions)} questions."
            )
        columns = []
        for d in self.rubric.dimensions:
            prompts = [build_dimension_prompt(q, p, d) for q, p in zip(questions, plans)]
            probs = self.digit_probs(prompts, d.max_score)  # [N, max + 1]
            columns.append(probs @ torch.arange(d.max_score + 1, dtype=probs.dtype))  # [N]
        return torch.stack(columns, dim=-1)  # [N, D]

    def score(self, questions: Sequence[str], plans: Sequence[str]) -> list[JudgeResult]:
        """One :class:`JudgeResult` per plan; the reward is always a number."""
        table = self.expected_scores(questions, plans)  # [N, D]
        results = []
        for row in table.tolist():
            # rounding can put a score a hair outside [0, max]: clamp before the reward
            scores = {
                d.key: min(max(s, 0.0), float(d.max_score))
                for d, s in zip(self.rubric.dimensions, row)
            }
            results.append(JudgeResult(reward=rubric_reward(scores, self.rubric), scores=scores))
        return results
