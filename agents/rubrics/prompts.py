"""Prompts of the Plan Rubrics Learner, and the cached, logged LLM calls that use them.

Prompts are values: a :class:`PromptTemplate` has a name, a version and a template with
``{field}`` placeholders. Replace one by passing another object (or a JSON file to
:func:`load_prompt_set`); the name and version travel into logs and cache files so every
answer can be traced to the exact prompt that produced it.

:class:`CachedComplete` wraps any batch completion backend (``list[str] -> list[str]``,
the ``CompleteFn`` of :mod:`agents.rewards.judge`): each distinct prompt is sent once,
answers are cached in a JSONL file that later runs read back, and every call, cached or
not, is appended to a JSONL log. :func:`hf_complete` makes such a backend from a local
transformers model (greedy decoding through :class:`agents.hf_policy.HFPolicy`).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.rewards.judge import AGENT_DESCRIPTION, CompleteFn

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class PromptTemplate:
    """A named, versioned prompt with ``{field}`` placeholders.

    Only the placeholders listed in ``fields`` are substituted, in one pass, so the
    template may show JSON (braces) and the values may contain anything.
    """

    name: str
    version: str
    template: str
    fields: tuple[str, ...]

    def __post_init__(self) -> None:
        missing = [f for f in self.fields if "{" + f + "}" not in self.template]
        if missing:
            raise ValueError(
                f"Prompt {self.name!r} must contain the placeholder(s) "
                f"{', '.join('{' + f + '}' for f in missing)}; its template does not."
            )

    @property
    def tag(self) -> str:
        """``name@version``, recorded with every answer."""
        return f"{self.name}@{self.version}"

    def render(self, **values: str) -> str:
        """The prompt with each field's value in place of its placeholder."""
        missing = sorted(set(self.fields) - set(values))
        if missing:
            raise ValueError(f"Prompt {self.name!r} needs values for {missing}.")

        def substitute(match: re.Match[str]) -> str:
            key = match.group(1)
            return values[key] if key in self.fields else match.group(0)

        return _PLACEHOLDER.sub(substitute, self.template)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "template": self.template,
            "fields": list(self.fields),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "<dict>") -> PromptTemplate:
        try:
            return cls(
                name=str(obj["name"]),
                version=str(obj["version"]),
                template=str(obj["template"]),
                fields=tuple(str(f) for f in obj["fields"]),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"Prompt in {source} must have name, version, template and fields: {err!r}."
            ) from err


_INSIGHT_FORMAT = (
    "Write insights that would help judge *other* plans for *other* questions: "
    "general properties of plans, not facts about this question.\n"
    'Reply with a single JSON object and nothing else: one key, "insights", whose value '
    "is a list of strings, one insight per string, one sentence each.\n"
)

SUCCESS_PROMPT = PromptTemplate(
    name="insight-success",
    version="2",
    fields=("agent", "question", "plan", "trajectory"),
    template=(
        "You study plans written by a web research agent.\n{agent}\n\n"
        "The agent below answered the question correctly.\n\n"
        "## Question\n{question}\n\n## Plan (its first turn)\n{plan}\n\n"
        "## What happened next\n{trajectory}\n\n"
        "## Task\nWhat in the plan made the agent succeed? Name its decisive strengths "
        "(how it split the question, which tools it chose, the order of the steps).\n"
        + _INSIGHT_FORMAT
    ),
)

FAILURE_PROMPT = PromptTemplate(
    name="insight-failure",
    version="2",
    fields=("agent", "question", "plan", "trajectory"),
    template=(
        "You study plans written by a web research agent.\n{agent}\n\n"
        "The agent below did NOT answer the question correctly.\n\n"
        "## Question\n{question}\n\n## Plan (its first turn)\n{plan}\n\n"
        "## What happened next\n{trajectory}\n\n"
        "## Task\nWhat were the critical flaws of the plan that led to the failure "
        "(missing steps, wrong entity, wrong tool, bad order, vague steps)?\n" + _INSIGHT_FORMAT
    ),
)

PAIR_PROMPT = PromptTemplate(
    name="insight-pair",
    version="2",
    fields=("agent", "question", "success_plan", "success_trajectory", "failure_plan"),
    template=(
        "You study plans written by a web research agent.\n{agent}\n\n"
        "Two plans for the same question: plan A led to the correct answer, plan B did not.\n\n"
        "## Question\n{question}\n\n"
        "## Plan A (succeeded)\n{success_plan}\n\n"
        "## What happened after plan A\n{success_trajectory}\n\n"
        "## Plan B (failed)\n{failure_plan}\n\n"
        "## Task\nWhich differences between the two plans decided the outcome?\n" + _INSIGHT_FORMAT
    ),
)

UPDATER_PROMPT = PromptTemplate(
    name="rubric-updater",
    version="1",
    fields=("agent", "rubric", "insights", "history"),
    template=(
        "You maintain the rubric that a judge uses to score plans written by a web "
        "research agent.\n{agent}\n\n"
        "A good rubric gives high scores to plans that lead to correct answers and low "
        "scores to plans that do not.\n\n"
        "## Current rubric (JSON)\n{rubric}\n\n"
        "## Insights from recent trajectories\n{insights}\n\n"
        "## How earlier versions scored against outcomes\n{history}\n\n"
        "## Task\nRevise the rubric so that it rewards what the insights show leads to "
        "success and penalizes what leads to failure. Keep every dimension (same keys); "
        "you may rewrite names, descriptions and criteria. Every dimension needs a key "
        "(lowercase letters, digits, underscores), a name, a description, a list of "
        "criteria (non-empty strings) and an integer max_score from 1 to 9.\n"
        "Reply with the complete revised rubric as a single JSON object of the same form "
        '({"name": ..., "version": ..., "dimensions": [...]}) and nothing else.\n'
    ),
)


@dataclass(frozen=True)
class InsightPrompts:
    """The three insight-extraction prompts; replace any of them with another object."""

    success: PromptTemplate = SUCCESS_PROMPT
    failure: PromptTemplate = FAILURE_PROMPT
    pair: PromptTemplate = PAIR_PROMPT
    agent: str = AGENT_DESCRIPTION
    """The description of the agent shown in every prompt."""


def load_prompt_set(path: str | Path) -> tuple[InsightPrompts, PromptTemplate]:
    """Read replacement prompts from JSON: ``{"success": {...}, "failure": {...},
    "pair": {...}, "updater": {...}}`` (each optional; defaults fill the rest)."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"Expected a JSON object in {path}, got {type(data).__name__}.")
    unknown = sorted(set(data) - {"success", "failure", "pair", "updater"})
    if unknown:
        raise ValueError(f"Unknown prompt name(s) {unknown} in {path}.")
    read = {k: PromptTemplate.from_json(v, f"{path}[{k}]") for k, v in data.items()}
    insight = InsightPrompts(
        success=read.get("success", SUCCESS_PROMPT),
        failure=read.get("failure", FAILURE_PROMPT),
        pair=read.get("pair", PAIR_PROMPT),
    )
    return insight, read.get("updater", UPDATER_PROMPT)


# ----------------------------------------------------------------------------- calling an LLM


def prompt_key(prompt: str) -> str:
    """The cache key of a prompt: its SHA-256."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass
class CallStats:
    """Counters of a :class:`CachedComplete`."""

    requests: int = 0
    """Prompts asked for, duplicates included."""
    cache_hits: int = 0
    """Prompts answered from the cache."""
    sent: int = 0
    """Prompts sent to the backend."""


@dataclass
class CachedComplete:
    """A completion backend with a persistent cache and a call log.

    Each distinct prompt is sent to ``complete`` once; its answer is kept in memory
    and, with ``cache_path``, appended to a JSONL file read back on construction (keyed
    by ``tag`` and the prompt's SHA-256, so two backends can share a file). With
    ``log_path`` every request, answered from the cache or not, is appended to a JSONL
    log with the prompt, the answer and the time.
    """

    complete: CompleteFn
    tag: str = "llm"
    """Names the backend (model, decoding) in cache keys and logs."""
    cache_path: Path | str | None = None
    log_path: Path | str | None = None
    stats: CallStats = field(default_factory=CallStats)
    _cache: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.cache_path is not None:
            self.cache_path = Path(self.cache_path)
            if self.cache_path.exists():
                self._load(self.cache_path)

    def __call__(self, prompts: list[str]) -> list[str]:
        keys = [prompt_key(p) for p in prompts]
        self.stats.requests += len(prompts)
        todo = list(dict.fromkeys(k for k in keys if k not in self._cache))
        hits = {i for i, k in enumerate(keys) if k not in todo}
        by_key = dict(zip(keys, prompts))
        if todo:
            answers = self.complete([by_key[k] for k in todo])
            if len(answers) != len(todo):
                raise ValueError(
                    f"The completion backend returned {len(answers)} answers for "
                    f"{len(todo)} prompts."
                )
            self.stats.sent += len(todo)
            for key, answer in zip(todo, answers):
                self._store(key, by_key[key], answer)
        self.stats.cache_hits += len(hits)
        out = [self._cache[k] for k in keys]
        self._log(prompts, out, hits)
        return out

    def _store(self, key: str, prompt: str, answer: str) -> None:
        self._cache[key] = answer
        if self.cache_path is not None:
            record = {"tag": self.tag, "key": key, "answer": answer}
            _append_jsonl(Path(self.cache_path), [record])

    def _log(self, prompts: Sequence[str], answers: Sequence[str], hits: set[int]) -> None:
        if self.log_path is None:
            return
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        records = [
            {"time": now, "backend": self.tag, "cached": i in hits, "prompt": p, "answer": a}
            for i, (p, a) in enumerate(zip(prompts, answers))
        ]
        _append_jsonl(Path(self.log_path), records)

    def _load(self, path: Path) -> None:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                tag, key, answer = record["tag"], record["key"], record["answer"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                # a line cut short when a run was killed mid-write
                warnings.warn(f"Skipping LLM cache line {path}:{lineno}: {err!r}", stacklevel=2)
                continue
            if tag == self.tag and isinstance(answer, str):
                self._cache[key] = answer


def _append_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)


INSIGHT_PREFILL = '{"insights": ["'
"""A start for the insight answers of small local models, which otherwise write prose."""

JUDGE_PREFILL = '{"scores": {"'
"""A start for the judgments of small local models (the text judge of ``validate``)."""

UPDATER_PREFILL = '{"dimensions": [{"key": "'
"""A start for the updater answers of small local models (name and version are filled in
from the current rubric when the answer leaves them out)."""


def hf_complete(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    max_new_tokens: int = 512,
    batch_size: int = 4,
    prefill: str = "",
) -> CompleteFn:
    """A greedy completion backend over a local chat model.

    Each prompt becomes one user message in the model's chat template; the answer is
    the assistant's reply (up to ``max_new_tokens`` tokens, no stop strings). With
    ``prefill`` the reply is started with that text (e.g. :data:`INSIGHT_PREFILL`), and
    the answer returned begins with it.
    """
    from agents.hf_policy import HFPolicy
    from agents.policy import GenerationRequest, SamplingParams

    policy = HFPolicy(model, tokenizer, max_batch_size=batch_size)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, stop=())
    start = tokenizer.encode(prefill, add_special_tokens=False) if prefill else []

    def prompt_ids(prompt: str) -> tuple[int, ...]:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            tokenize=True,
            add_generation_prompt=True,
            return_dict=False,
        )
        return (*ids, *start)

    def complete(prompts: list[str]) -> list[str]:
        requests = [GenerationRequest(prompt_ids=prompt_ids(p), prefill=prefill) for p in prompts]
        return [prefill + turn.text for turn in policy.generate(requests, params)]

    return complete
