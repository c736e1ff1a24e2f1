"""The rubric update loop of the Plan Rubrics Learner.

Starting from a rubric (by default the six-dimension one), each round

1. samples a balanced batch of insights: up to ``per_kind`` each from successes,
   failures and pairs (:func:`sample_balanced`);
2. asks an LLM updater for a revised rubric (:class:`RubricUpdater`); the answer must be
   a rubric that passes the schema (:meth:`agents.rewards.rubric.Rubric.from_dict`),
   keeps every dimension and scores up to ``max_score_cap``. Otherwise the raw answer is
   saved to ``run_dir/rejected/round_K.txt``, counted, and the round keeps the current
   rubric;
3. evaluates the candidate (any ``rubric -> ValidationReport`` function, e.g.
   :func:`agents.rubrics.validation.outcome_evaluator`) and keeps it when its objective
   (AUC + kappa of the total score; nan counts as -inf) is at least the current one's;
4. saves the round atomically under ``run_dir/rounds/round_KKK.json`` (candidate,
   report, current rubric, sampled insight ids, RNG state).

It stops when the current rubric meets the thresholds (round 0 evaluates the start) or
after ``rounds`` rounds. Rerunning with the same ``run_dir`` resumes after the last saved
round. The result is ``run_dir/rubric.json`` with its validation record
``run_dir/rubric.validation.json`` (loadable with
:func:`agents.rubrics.validation.load_validated_rubric`) and ``run_dir/history.json``,
every version with its scores.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from agents.rewards.judge import AGENT_DESCRIPTION, CompleteFn, extract_json_objects
from agents.rewards.rubric import Rubric, RubricValidationError, save_rubric
from agents.rubrics.insights import KINDS, Insight
from agents.rubrics.prompts import UPDATER_PROMPT, PromptTemplate
from agents.rubrics.validation import (
    Thresholds,
    ValidationReport,
    rubric_fingerprint,
    write_text_atomic,
    write_validation,
)

Evaluate = Callable[[Rubric], ValidationReport]


@dataclass(frozen=True)
class LearnerConfig:
    """How the update loop runs."""

    rounds: int = 5
    """Update rounds at most (round 0 only evaluates the starting rubric)."""
    per_kind: int = 4
    """Insights of each kind (success, failure, pair) in one round's batch."""
    seed: int = 0
    """Seeds the batch sampling."""
    thresholds: Thresholds = field(default_factory=Thresholds)
    """The loop stops once the current rubric meets these."""

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.per_kind < 1:
            raise ValueError(
                f"Expected rounds >= 0 and per_kind >= 1, got {self.rounds} and {self.per_kind}."
            )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- the updater


@dataclass(frozen=True)
class UpdateFailure:
    """An updater answer that is not a usable rubric."""

    reason: str
    raw: str


def parse_rubric_answer(
    text: str, current: Rubric, *, keep_dimensions: bool = True, max_score_cap: int = 9
) -> Rubric | str:
    """The revised rubric in an updater's answer, or why there is none.

    The last JSON object with ``dimensions`` that passes the schema wins; a missing
    ``name`` or ``version`` is taken from ``current`` (the learner sets the version).
    With ``keep_dimensions`` the dimension keys must be exactly those of ``current``.
    """
    objects = [o for o in extract_json_objects(text) if "dimensions" in o]
    if not objects:
        return "no JSON object with 'dimensions' found"
    reasons = []
    for obj in reversed(objects):
        data = {
            "name": current.name,
            "version": str(obj.get("version") or current.version),
            "dimensions": obj["dimensions"],
        }
        try:
            rubric = Rubric.from_dict(data, source="updater answer")
        except RubricValidationError as err:
            reasons.append(str(err))
            continue
        problem = _shape_problem(rubric, current, keep_dimensions, max_score_cap)
        if problem:
            reasons.append(problem)
            continue
        return rubric
    return reasons[0]


def _shape_problem(rubric: Rubric, current: Rubric, keep: bool, cap: int) -> str:
    if keep:
        missing = [k for k in current.keys if k not in rubric.keys]
        extra = [k for k in rubric.keys if k not in current.keys]
        if missing:
            return f"the revised rubric is missing dimension(s) {missing}"
        if extra:
            return f"the revised rubric adds dimension(s) {extra}; expected {list(current.keys)}"
    high = [d.key for d in rubric.dimensions if d.max_score > cap]
    if high:
        return f"dimension(s) {high} have max_score above {cap}"
    return ""


def format_insights(insights: Sequence[Insight], per_insight: int = 4) -> str:
    """The sampled insights as bullet lists, grouped by kind."""
    titles = {
        "success": "From plans that succeeded",
        "failure": "From plans that failed",
        "pair": "From pairs (one success, one failure, same question)",
    }
    blocks = []
    for kind in KINDS:
        items = [s for i in insights if i.kind == kind for s in i.insights[:per_insight]]
        if items:
            blocks.append(f"### {titles[kind]}\n" + "\n".join(f"- {s}" for s in items))
    return "\n\n".join(blocks) or "(none)"


class RubricUpdater:
    """Asks an LLM for a revised rubric and validates its answer."""

    def __init__(
        self,
        complete: CompleteFn,
        prompt: PromptTemplate = UPDATER_PROMPT,
        *,
        agent: str = AGENT_DESCRIPTION,
        keep_dimensions: bool = True,
        max_score_cap: int = 9,
    ) -> None:
        self.complete = complete
        self.prompt = prompt
        self.agent = agent
        self.keep_dimensions = keep_dimensions
        self.max_score_cap = max_score_cap

    def render(self, rubric: Rubric, insights: Sequence[Insight], history: Sequence[str]) -> str:
        return self.prompt.render(
            agent=self.agent,
            rubric=json.dumps(rubric.to_dict(), indent=2, ensure_ascii=False),
            insights=format_insights(insights),
            history="\n".join(history) or "(no earlier versions)",
        )

    def propose(
        self, rubric: Rubric, insights: Sequence[Insight], history: Sequence[str] = ()
    ) -> Rubric | UpdateFailure:
        """A revised rubric, or an :class:`UpdateFailure` with the raw answer."""
        (raw,) = self.complete([self.render(rubric, insights, history)])
        parsed = parse_rubric_answer(
            raw,
            rubric,
            keep_dimensions=self.keep_dimensions,
            max_score_cap=self.max_score_cap,
        )
        return UpdateFailure(parsed, raw) if isinstance(parsed, str) else parsed


# ----------------------------------------------------------------------------- the loop


def sample_balanced(
    insights: Sequence[Insight], per_kind: int, rng: random.Random
) -> list[Insight]:
    """Up to ``per_kind`` insights of each kind, drawn without replacement."""
    batch: list[Insight] = []
    for kind in KINDS:
        pool = sorted((i for i in insights if i.kind == kind), key=lambda i: i.id)
        batch += rng.sample(pool, min(per_kind, len(pool)))
    return batch


def objective(report: ValidationReport) -> float:
    """What the loop maximizes: AUC + kappa of the total score (nan -> -inf)."""
    value = report.total.auc + report.total.kappa
    return -math.inf if math.isnan(value) else value


def versioned(rubric: Rubric, base: str, round_index: int) -> Rubric:
    """The rubric with a version naming its round and content (judge caches key on it)."""
    digest = hashlib.sha256(
        json.dumps(replace(rubric, version="").to_dict(), sort_keys=True).encode("utf-8")
    ).hexdigest()
    return replace(rubric, version=f"{base}.r{round_index}-{digest[:8]}")


@dataclass(frozen=True)
class RoundRecord:
    """One round: what was proposed, how it scored, what was kept."""

    round: int
    candidate: Rubric | None
    """None when the updater's answer was rejected."""
    candidate_report: ValidationReport | None
    accepted: bool
    rejected_reason: str | None
    insight_ids: tuple[str, ...]
    current: Rubric
    """The rubric kept after this round."""
    current_report: ValidationReport
    rng_state: Any
    stopped: str | None = None
    """"thresholds_met" when the loop stopped after this round."""

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "candidate": None if self.candidate is None else self.candidate.to_dict(),
            "candidate_report": None
            if self.candidate_report is None
            else self.candidate_report.to_json(),
            "accepted": self.accepted,
            "rejected_reason": self.rejected_reason,
            "insight_ids": list(self.insight_ids),
            "current": self.current.to_dict(),
            "current_report": self.current_report.to_json(),
            "rng_state": [self.rng_state[0], list(self.rng_state[1]), self.rng_state[2]],
            "stopped": self.stopped,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], source: str) -> RoundRecord:
        cand, cand_rep = obj["candidate"], obj["candidate_report"]
        state = obj["rng_state"]
        return cls(
            round=obj["round"],
            candidate=None if cand is None else Rubric.from_dict(cand, source),
            candidate_report=None if cand_rep is None else ValidationReport.from_json(cand_rep),
            accepted=obj["accepted"],
            rejected_reason=obj["rejected_reason"],
            insight_ids=tuple(obj["insight_ids"]),
            current=Rubric.from_dict(obj["current"], source),
            current_report=ValidationReport.from_json(obj["current_report"]),
            rng_state=(state[0], tuple(state[1]), state[2]),
            stopped=obj.get("stopped"),
        )


@dataclass(frozen=True)
class LearnResult:
    """The outcome of a learning run."""

    rubric: Rubric
    report: ValidationReport
    history: tuple[RoundRecord, ...]
    stopped: str
    """"thresholds_met" or "max_rounds"."""
    rubric_path: Path
    rejected: int
    """Updater answers rejected, over all rounds."""
    resumed_from: int | None
    """The last round found on disk when the run started, or None for a fresh run."""


class RunMismatchError(ValueError):
    """A run directory holds rounds of a different configuration or input."""


class _Run:
    """The files of one learning run under ``run_dir``."""

    def __init__(self, run_dir: str | Path) -> None:
        self.dir = Path(run_dir)
        self.rounds = self.dir / "rounds"
        self.rejected = self.dir / "rejected"

    def round_path(self, k: int) -> Path:
        return self.rounds / f"round_{k:03d}.json"

    def save_round(self, record: RoundRecord) -> None:
        text = json.dumps(record.to_json(), indent=1, ensure_ascii=False) + "\n"
        write_text_atomic(self.round_path(record.round), text)

    def load_rounds(self) -> list[RoundRecord]:
        paths = sorted(self.rounds.glob("round_*.json")) if self.rounds.exists() else []
        records = [
            RoundRecord.from_json(json.loads(p.read_text(encoding="utf-8")), p.name) for p in paths
        ]
        for expected, record in enumerate(records):
            if record.round != expected:
                raise RunMismatchError(f"{self.rounds}: expected round {expected}, found a gap.")
        return records

    def check_manifest(self, manifest: dict[str, Any]) -> None:
        path = self.dir / "run.json"
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old != manifest:
                changed = sorted(k for k in manifest if old.get(k) != manifest[k])
                raise RunMismatchError(
                    f"{self.dir} holds a run with different {changed}; use a new run directory "
                    "or the same settings to resume."
                )
        else:
            write_text_atomic(path, json.dumps(manifest, indent=2) + "\n")

    def save_rejected(self, k: int, failure: UpdateFailure) -> Path:
        path = self.rejected / f"round_{k}.txt"
        write_text_atomic(path, f"reason: {failure.reason}\n---\n{failure.raw}")
        return path


def _history_lines(records: Sequence[RoundRecord], last: int = 5) -> list[str]:
    lines = []
    for r in records[-last:]:
        if r.candidate_report is None:
            lines.append(f"round {r.round}: the revision was rejected ({r.rejected_reason})")
            continue
        rep = r.candidate_report
        verdict = "kept" if r.accepted else "discarded (worse than the current rubric)"
        lines.append(
            f"round {r.round}: version {rep.rubric_version}: AUC {rep.total.auc:.3f}, "
            f"kappa {rep.total.kappa:.3f}; {verdict}"
        )
    return lines


def _manifest(start: Rubric, insights: Sequence[Insight], config: LearnerConfig) -> dict:
    ids = sorted(i.id for i in insights)
    return {
        "config": config.to_json(),
        "start_rubric_sha256": rubric_fingerprint(start),
        "insights_sha256": hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest(),
        "n_insights": len(ids),
    }


def _first_round(start: Rubric, evaluate: Evaluate, config: LearnerConfig) -> RoundRecord:
    report = evaluate(start)
    rng = random.Random(config.seed)
    return RoundRecord(
        round=0,
        candidate=start,
        candidate_report=report,
        accepted=True,
        rejected_reason=None,
        insight_ids=(),
        current=start,
        current_report=report,
        rng_state=rng.getstate(),
        stopped="thresholds_met" if report.met else None,
    )


@dataclass(frozen=True)
class _Loop:
    """What every round uses."""

    insights: Sequence[Insight]
    updater: RubricUpdater
    evaluate: Evaluate
    config: LearnerConfig
    run: _Run
    base_version: str

    def next_round(self, records: Sequence[RoundRecord]) -> RoundRecord:
        """Round ``len(records)``: sample, propose, evaluate, keep the better rubric."""
        prev, k = records[-1], len(records)
        rng = random.Random()
        rng.setstate(prev.rng_state)
        batch = sample_balanced(self.insights, self.config.per_kind, rng)
        ids = tuple(i.id for i in batch)
        proposal = self.updater.propose(prev.current, batch, _history_lines(records))
        if isinstance(proposal, UpdateFailure):
            self.run.save_rejected(k, proposal)
            return replace(
                prev,
                round=k,
                candidate=None,
                candidate_report=None,
                accepted=False,
                rejected_reason=proposal.reason,
                insight_ids=ids,
                rng_state=rng.getstate(),
            )
        candidate = versioned(proposal, self.base_version, k)
        report = self.evaluate(candidate)
        accepted = objective(report) >= objective(prev.current_report)
        current, current_report = (
            (candidate, report) if accepted else (prev.current, prev.current_report)
        )
        return RoundRecord(
            round=k,
            candidate=candidate,
            candidate_report=report,
            accepted=accepted,
            rejected_reason=None,
            insight_ids=ids,
            current=current,
            current_report=current_report,
            rng_state=rng.getstate(),
            stopped="thresholds_met" if current_report.met else None,
        )


def learn_rubric(
    start: Rubric,
    insights: Sequence[Insight],
    updater: RubricUpdater,
    evaluate: Evaluate,
    run_dir: str | Path,
    config: LearnerConfig | None = None,
    *,
    progress: bool = False,
) -> LearnResult:
    """Run (or resume) the update loop; see the module docstring."""
    config = config or LearnerConfig()
    if not insights:
        raise ValueError("Expected some insights to learn from, got none (run `extract` first).")
    run = _Run(run_dir)
    run.dir.mkdir(parents=True, exist_ok=True)
    run.check_manifest(_manifest(start, insights, config))
    records = run.load_rounds()
    resumed_from = records[-1].round if records else None
    if not records:
        records.append(_first_round(start, evaluate, config))
        run.save_round(records[0])
    loop = _Loop(insights, updater, evaluate, config, run, start.version)
    bar = tqdm(
        total=config.rounds, initial=len(records) - 1, desc="rubric rounds", disable=not progress
    )
    while len(records) <= config.rounds and not records[-1].stopped:
        record = loop.next_round(records)
        run.save_round(record)
        records.append(record)
        rep = record.current_report
        bar.set_postfix(auc=f"{rep.total.auc:.3f}", kappa=f"{rep.total.kappa:.3f}")
        bar.update(1)
    bar.close()
    return _finish(run, records, resumed_from)


def _finish(run: _Run, records: Sequence[RoundRecord], resumed_from: int | None) -> LearnResult:
    last = records[-1]
    rubric_path = run.dir / "rubric.json"
    save_rubric(last.current, rubric_path)
    write_validation(rubric_path, last.current, [last.current_report])
    history = [
        {
            "round": r.round,
            "version": None if r.candidate is None else r.candidate.version,
            "auc": None if r.candidate_report is None else _nan_none(r.candidate_report.total.auc),
            "kappa": None
            if r.candidate_report is None
            else _nan_none(r.candidate_report.total.kappa),
            "thresholds_met": None if r.candidate_report is None else r.candidate_report.met,
            "accepted": r.accepted,
            "rejected_reason": r.rejected_reason,
            "insight_ids": list(r.insight_ids),
            "rubric": None if r.candidate is None else r.candidate.to_dict(),
        }
        for r in records
    ]
    write_text_atomic(run.dir / "history.json", json.dumps(history, indent=1) + "\n")
    return LearnResult(
        rubric=last.current,
        report=last.current_report,
        history=tuple(records),
        stopped=last.stopped or "max_rounds",
        rubric_path=rubric_path,
        rejected=sum(r.rejected_reason is not None for r in records),
        resumed_from=resumed_from,
    )


def _nan_none(value: float) -> float | None:
    return None if math.isnan(value) else value
