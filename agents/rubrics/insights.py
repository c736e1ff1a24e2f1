"""Insight extraction: what an LLM learns about plans from saved trajectories.

Three extractions over the rollout engine's trajectories (:mod:`agents.trajectory`):

* from a **successful** trajectory, what in its plan made it succeed;
* from a **failed** one, the critical flaws of its plan;
* from a **pair** (same question, one success, one failure, different plans), the
  differences that decided the outcome.

Each gives an :class:`Insight` (question, plan, insights). The prompts are objects
(:class:`agents.rubrics.prompts.InsightPrompts`); pass a
:class:`agents.rubrics.prompts.CachedComplete` as the backend to cache and log every
call. An answer without a readable list of insights is not guessed at: it becomes a
:class:`Rejected` record with the raw text, counted and saved for inspection.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from agents.rewards.judge import CompleteFn, extract_json_objects
from agents.rewards.rubric import normalize_label
from agents.rubrics.prompts import InsightPrompts, PromptTemplate

Kind = Literal["success", "failure", "pair"]
KINDS: tuple[Kind, ...] = ("success", "failure", "pair")

_QUESTION_PREFIX = re.compile(r"^\s*question\s*:\s*", re.IGNORECASE)
_INSIGHT_KEYS = ("insights", "insight", "lessons", "strengths", "flaws", "differences")
_OPEN_LIST = re.compile(
    r'"(?:insights|lessons|strengths|flaws|differences)"\s*:\s*\[', re.IGNORECASE
)
_PLACEHOLDER_ITEM = re.compile(r"^(?:<[^<>]*>|\.{3}|\u2026)$")
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*\u2022]|\d{1,2}[.)])[ \t]+(.+?)[ \t]*$", re.MULTILINE)


# ----------------------------------------------------------------------------- episodes


@dataclass(frozen=True)
class Episode:
    """What insight extraction needs from one trajectory."""

    id: str
    task_id: str
    question: str
    plan: str
    """The first assistant turn (the Anchor Plan)."""
    transcript: str
    """The rest of the episode, abbreviated, ending with its outcome."""
    success: bool


def question_of(messages: Sequence[Mapping[str, str]]) -> str:
    """The question: the first user message without a leading ``Question:``."""
    first = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    return _QUESTION_PREFIX.sub("", first).strip()


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def transcript_of(trajectory: Any, max_chars_per_item: int = 300) -> str:
    """The turns after the plan and the tool responses, clipped, then the outcome."""
    lines = []
    for i, turn in enumerate(trajectory.turns):
        if i > 0:
            lines.append(f"Turn {i}: {_clip(turn.text, max_chars_per_item)}")
        if turn.observation:
            lines.append(f"  -> {_clip(turn.observation, max_chars_per_item)}")
    if trajectory.truncated_reason is not None:
        outcome = f"stopped without an answer ({trajectory.end_text})"
    else:
        outcome = "correct answer" if trajectory.reward > 0 else "wrong answer"
    lines.append(f"Outcome: {outcome} (reward {trajectory.reward:g}).")
    return "\n".join(lines)


def episodes_from_trajectories(
    trajectories: Iterable[Any], *, prefix: str = "", success_threshold: float = 0.5
) -> list[Episode]:
    """One :class:`Episode` per trajectory that has a plan; ids are unique.

    A trajectory succeeded when its reward is at least ``success_threshold`` (the
    exact-match reward is 0 or 1).
    """
    out: list[Episode] = []
    seen: set[str] = set()
    for traj in trajectories:
        if not traj.plan.strip():
            continue
        base = f"{prefix}{traj.task_id}/g{traj.group_id}/s{traj.sample}"
        uid, k = base, 1
        while uid in seen:
            uid, k = f"{base}#{k}", k + 1
        seen.add(uid)
        out.append(
            Episode(
                id=uid,
                task_id=traj.task_id,
                question=question_of(traj.messages),
                plan=traj.plan,
                transcript=transcript_of(traj),
                success=traj.reward >= success_threshold,
            )
        )
    return out


def load_episodes(paths: Sequence[str | Path], success_threshold: float = 0.5) -> list[Episode]:
    """Episodes of trajectory JSONL files (as saved by :func:`agents.trajectory.save_jsonl`).

    With several files, episode ids start with the file's stem (and its index when two
    files share a stem).
    """
    from agents.trajectory import load_jsonl

    stems = [Path(p).stem for p in paths]
    episodes: list[Episode] = []
    for index, path in enumerate(paths):
        prefix = ""
        if len(paths) > 1:
            prefix = f"{stems[index]}:" if stems.count(stems[index]) == 1 else f"{index}:"
        trajs = load_jsonl(path, allow_partial_tail=True)
        episodes += episodes_from_trajectories(
            trajs, prefix=prefix, success_threshold=success_threshold
        )
    return episodes


def pair_episodes(
    episodes: Sequence[Episode], max_pairs_per_task: int = 1
) -> list[tuple[Episode, Episode]]:
    """(success, failure) pairs of the same task with different plans, in input order.

    Pairs with identical plans are skipped: they say nothing about what in a plan matters.
    """
    by_task: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_task[e.task_id].append(e)
    pairs: list[tuple[Episode, Episode]] = []
    for group in by_task.values():
        wins = [e for e in group if e.success]
        losses = [e for e in group if not e.success]
        used: set[str] = set()
        count = 0
        for win in wins:
            for loss in losses:
                if count >= max_pairs_per_task:
                    break
                if loss.id in used or loss.plan.strip() == win.plan.strip():
                    continue
                pairs.append((win, loss))
                used.add(loss.id)
                count += 1
                break
    return pairs


# ----------------------------------------------------------------------------- insights


@dataclass(frozen=True)
class Insight:
    """What the LLM learned from one episode or pair."""

    id: str
    kind: Kind
    task_id: str
    question: str
    plan: str
    """The plan the insights are about (for a pair: the successful one)."""
    insights: tuple[str, ...]
    contrast_plan: str = ""
    """For a pair: the failed plan."""
    prompt: str = ""
    """``name@version`` of the prompt that produced it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "task_id": self.task_id,
            "question": self.question,
            "plan": self.plan,
            "insights": list(self.insights),
            "contrast_plan": self.contrast_plan,
            "prompt": self.prompt,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Insight:
        kind = obj["kind"]
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        insights = obj["insights"]
        if not isinstance(insights, list) or not all(isinstance(s, str) for s in insights):
            raise ValueError("insights must be a list of strings")
        return cls(
            id=str(obj["id"]),
            kind=kind,
            task_id=str(obj["task_id"]),
            question=str(obj["question"]),
            plan=str(obj["plan"]),
            insights=tuple(insights),
            contrast_plan=str(obj.get("contrast_plan", "")),
            prompt=str(obj.get("prompt", "")),
        )


@dataclass(frozen=True)
class Rejected:
    """An LLM answer that could not be used, kept for inspection."""

    id: str
    kind: str
    reason: str
    raw: str


@dataclass(frozen=True)
class Extraction:
    """The insights extracted, and the answers rejected."""

    insights: tuple[Insight, ...] = ()
    rejected: tuple[Rejected, ...] = ()

    def __add__(self, other: Extraction) -> Extraction:
        return Extraction(self.insights + other.insights, self.rejected + other.rejected)

    def count(self, kind: str) -> int:
        return sum(i.kind == kind for i in self.insights)


def parse_insights(text: str, max_insights: int = 8) -> tuple[str, ...] | str:
    """The insights in an answer, or the reason there are none.

    In order of preference: the last JSON object whose ``insights`` (or ``lessons``,
    ``flaws``, ...) is a list (its non-empty strings, or the ``text`` of objects); the
    complete strings of such a list cut off by the token limit; the items of a bulleted
    or numbered list. Duplicates are dropped. Anything else is rejected with the reason.
    """
    found = _from_json(text)
    if isinstance(found, str):
        found = _from_cut_json(text) or _from_list(text) or found
    return tuple(list(dict.fromkeys(found))[:max_insights]) if isinstance(found, list) else found


def _from_json(text: str) -> list[str] | str:
    objects = extract_json_objects(text)
    if not objects:
        return "no JSON object found"
    for obj in reversed(objects):
        for key, value in obj.items():
            if normalize_label(str(key)) in _INSIGHT_KEYS and isinstance(value, list):
                kept = [s for s in (_insight_text(v) for v in value) if s]
                empty = f"the {key!r} list holds no insights (only blanks or placeholders)"
                return kept or empty
    return "no 'insights' list in the JSON answer"


def _from_cut_json(text: str) -> list[str]:
    """The complete strings of an ``"insights": [...`` list that was never closed."""
    match = _OPEN_LIST.search(text)
    if match is None or "]" in text[match.end() :]:
        return []
    strings = _JSON_STRING.findall(text[match.end() :])
    return [s for s in (_insight_text(_unescape(x)) for x in strings) if s]


def _from_list(text: str) -> list[str]:
    items = [m.group(1) for m in _LIST_ITEM.finditer(text)]
    return [s for s in (re.sub(r"\*\*|__", "", i).strip() for i in items) if s]


def _unescape(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return raw


def _insight_text(value: Any) -> str:
    """The text of one list item; "" for non-text and for placeholders such as
    ``<insight 1>`` or ``...`` copied from a prompt."""
    if isinstance(value, str):
        text = value.strip()
        return "" if _PLACEHOLDER_ITEM.match(text) else text
    if isinstance(value, dict):
        for k, v in value.items():
            if normalize_label(str(k)) in ("insight", "text", "description") and isinstance(v, str):
                return v.strip()
    return ""


@dataclass(frozen=True)
class _Job:
    """One prompt to send and how to build the insight from its answer."""

    id: str
    kind: Kind
    prompt: str
    make: Callable[[tuple[str, ...]], Insight]


class InsightExtractor:
    """Runs the three extractions through a completion backend, in batches.

    ``complete`` is any ``list[str] -> list[str]`` backend; wrap it in
    :class:`agents.rubrics.prompts.CachedComplete` to cache and log the calls.
    """

    def __init__(
        self,
        complete: CompleteFn,
        prompts: InsightPrompts | None = None,
        *,
        batch_size: int = 8,
        max_insights: int = 8,
        max_chars: int = 2_000,
        progress: bool = False,
    ) -> None:
        self.complete = complete
        self.prompts = prompts or InsightPrompts()
        self.batch_size = batch_size
        self.max_insights = max_insights
        self.max_chars = max_chars
        self.progress = progress

    def from_successes(self, episodes: Sequence[Episode]) -> Extraction:
        """What made each successful plan succeed."""
        return self._run([self._single("success", e, self.prompts.success) for e in episodes])

    def from_failures(self, episodes: Sequence[Episode]) -> Extraction:
        """The critical flaws of each failed plan."""
        return self._run([self._single("failure", e, self.prompts.failure) for e in episodes])

    def from_pairs(self, pairs: Sequence[tuple[Episode, Episode]]) -> Extraction:
        """The differences that decided each (success, failure) pair."""
        return self._run([self._pair(win, loss) for win, loss in pairs])

    def extract(self, episodes: Sequence[Episode], max_pairs_per_task: int = 1) -> Extraction:
        """All three: successes, failures, then pairs of the same task."""
        successes = [e for e in episodes if e.success]
        failures = [e for e in episodes if not e.success]
        pairs = pair_episodes(episodes, max_pairs_per_task)
        return (
            self.from_successes(successes) + self.from_failures(failures) + self.from_pairs(pairs)
        )

    def _single(self, kind: Kind, e: Episode, template: PromptTemplate) -> _Job:
        prompt = template.render(
            agent=self.prompts.agent,
            question=e.question,
            plan=_clip(e.plan, self.max_chars),
            trajectory=_clip(e.transcript, self.max_chars),
        )

        def make(found: tuple[str, ...]) -> Insight:
            return Insight(
                f"{kind}:{e.id}", kind, e.task_id, e.question, e.plan, found, "", template.tag
            )

        return _Job(f"{kind}:{e.id}", kind, prompt, make)

    def _pair(self, win: Episode, loss: Episode) -> _Job:
        template = self.prompts.pair
        prompt = template.render(
            agent=self.prompts.agent,
            question=win.question,
            success_plan=_clip(win.plan, self.max_chars),
            success_trajectory=_clip(win.transcript, self.max_chars),
            failure_plan=_clip(loss.plan, self.max_chars),
        )
        uid = f"pair:{win.id}|{loss.id}"

        def make(found: tuple[str, ...]) -> Insight:
            return Insight(
                uid, "pair", win.task_id, win.question, win.plan, found, loss.plan, template.tag
            )

        return _Job(uid, "pair", prompt, make)

    def _run(self, jobs: Sequence[_Job]) -> Extraction:
        insights: list[Insight] = []
        rejected: list[Rejected] = []
        kind = jobs[0].kind if jobs else ""
        bar = tqdm(total=len(jobs), desc=f"insights ({kind})", disable=not self.progress)
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            answers = self.complete([job.prompt for job in batch])
            for job, text in zip(batch, answers):
                found = parse_insights(text, self.max_insights)
                if isinstance(found, str):
                    rejected.append(Rejected(job.id, job.kind, found, text))
                else:
                    insights.append(job.make(found))
            bar.update(len(batch))
        bar.close()
        return Extraction(tuple(insights), tuple(rejected))


# ----------------------------------------------------------------------------- files


def save_insights(path: str | Path, insights: Iterable[Insight]) -> Path:
    """Write insights as JSONL, one object a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in insights)
    path.write_text(text, encoding="utf-8")
    return path


class InsightFormatError(ValueError):
    """A line of an insights file that is not an insight; names the file and line."""


def load_insights(path: str | Path) -> list[Insight]:
    """Read an insights JSONL file; a bad line raises :class:`InsightFormatError`."""
    path = Path(path)
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(Insight.from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise InsightFormatError(f"{path}:{lineno}: not an insight ({err})") from None
    return out


def save_rejected(directory: str | Path, rejected: Iterable[Rejected]) -> list[Path]:
    """Save each rejected answer as ``<directory>/<kind>_<n>.txt`` (reason, id, raw text)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, r in enumerate(rejected, start=1):
        path = directory / f"{r.kind}_{n:04d}.txt"
        path.write_text(f"id: {r.id}\nreason: {r.reason}\n---\n{r.raw}", encoding="utf-8")
        paths.append(path)
    return paths
