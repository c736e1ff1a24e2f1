"""Validation of a rubric: does its judge's score tell correct plans from incorrect ones?

:func:`validate_rubric` judges labelled plans with a rubric and reports, for the total
score and for each dimension, the ROC-AUC against the labels and Cohen's kappa between
the thresholded score and the labels (threshold chosen on one half, measured on the
other: :func:`agents.rubrics.metrics.held_out_kappa`). The labels are outcome labels
(:mod:`agents.rubrics.labels`, continuations after the fixed plan) or human labels.
The paper's acceptance thresholds (AUC >= 0.8, kappa >= 0.75) are shown as met or not.

Plans whose judgment failed (unparseable judge answer) are excluded and counted, never
scored 0.

The verdict is kept next to the rubric: ``rubric.json`` -> ``rubric.validation.json``
(:func:`write_validation`), fingerprinted with the rubric's content.
:func:`load_validated_rubric` is how a trainer should load a rubric: it warns (or, with
``require_thresholds=True``, raises) when the rubric was never validated, changed since,
or did not meet the thresholds. A rubric that failed is never silently used as if it
had passed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from agents.rewards.judge import JudgeResult
from agents.rewards.rubric import Rubric, load_rubric
from agents.rubrics.labels import PlanRecord, is_mixed, outcome_labels
from agents.rubrics.metrics import best_threshold, held_out_kappa, meets, roc_auc


class Judge(Protocol):
    """Anything that scores (question, plan) pairs with a rubric (see agents.rewards.judge)."""

    def score(self, questions: Sequence[str], plans: Sequence[str]) -> list[JudgeResult]: ...


@dataclass(frozen=True)
class Thresholds:
    """Acceptance thresholds of a rubric (the paper's: AUC >= 0.8 and kappa >= 0.75)."""

    auc: float = 0.8
    kappa: float = 0.75


@dataclass(frozen=True)
class MetricRow:
    """Agreement of one score (the total or one dimension) with the labels."""

    name: str
    auc: float
    kappa: float
    """Held-out kappa: mean of the two folds."""
    kappa_folds: tuple[float, float]
    fold_thresholds: tuple[float, float]

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> MetricRow:
        folds, cuts = obj["kappa_folds"], obj["fold_thresholds"]
        return cls(
            name=obj["name"],
            auc=_num(obj["auc"]),
            kappa=_num(obj["kappa"]),
            kappa_folds=(_num(folds[0]), _num(folds[1])),
            fold_thresholds=(_num(cuts[0]), _num(cuts[1])),
        )


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _json_num(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one rubric against one set of labels."""

    rubric_name: str
    rubric_version: str
    rubric_sha256: str
    label_source: str
    """"outcomes" or "human"."""
    judge: str
    """Which judge scored the plans (e.g. "expected-score:SmolLM2-135M-Instruct")."""
    n_plans: int
    """Labelled plans given."""
    n_scored: int
    n_positive: int
    """Scored plans labelled correct."""
    n_negative: int
    n_mixed: int
    """Scored plans with a success rate strictly between 0 and 1 (outcome labels)."""
    excluded: tuple[tuple[str, str], ...]
    """(plan id, reason) of the plans whose judgment failed."""
    total: MetricRow
    dimensions: tuple[MetricRow, ...]
    unanimous: MetricRow | None
    """The total score on the plans whose continuations all agreed (outcome labels)."""
    decision_threshold: float
    """Total-score threshold chosen on all scored plans (for users of the rubric)."""
    thresholds: Thresholds
    label_cutoff: float | None = None
    """Success rate at or above which a plan is labelled correct (outcome labels)."""
    continuation: str = ""
    """The policy whose continuations gave the outcome labels."""
    dataset: str = ""
    """Which plans were judged (a file, a split): a rubric chosen on some plans should be
    validated on others."""
    seed: int = 0

    @property
    def n_excluded(self) -> int:
        return len(self.excluded)

    @property
    def auc_met(self) -> bool:
        return meets(self.total.auc, self.thresholds.auc)

    @property
    def kappa_met(self) -> bool:
        return meets(self.total.kappa, self.thresholds.kappa)

    @property
    def met(self) -> bool:
        """Both acceptance thresholds are met (nan never meets one)."""
        return self.auc_met and self.kappa_met

    def to_json(self) -> dict[str, Any]:
        def row(r: MetricRow) -> dict[str, Any]:
            return {
                "name": r.name,
                "auc": _json_num(r.auc),
                "kappa": _json_num(r.kappa),
                "kappa_folds": [_json_num(x) for x in r.kappa_folds],
                "fold_thresholds": [_json_num(x) for x in r.fold_thresholds],
            }

        return {
            "rubric": {
                "name": self.rubric_name,
                "version": self.rubric_version,
                "sha256": self.rubric_sha256,
            },
            "label_source": self.label_source,
            "judge": self.judge,
            "n_plans": self.n_plans,
            "n_scored": self.n_scored,
            "n_excluded": self.n_excluded,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "n_mixed": self.n_mixed,
            "excluded": [list(x) for x in self.excluded],
            "total": row(self.total),
            "dimensions": [row(d) for d in self.dimensions],
            "unanimous": None if self.unanimous is None else row(self.unanimous),
            "decision_threshold": _json_num(self.decision_threshold),
            "thresholds": asdict(self.thresholds),
            "auc_met": self.auc_met,
            "kappa_met": self.kappa_met,
            "thresholds_met": self.met,
            "label_cutoff": self.label_cutoff,
            "continuation": self.continuation,
            "dataset": self.dataset,
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ValidationReport:
        unanimous = obj.get("unanimous")
        return cls(
            rubric_name=obj["rubric"]["name"],
            rubric_version=obj["rubric"]["version"],
            rubric_sha256=obj["rubric"]["sha256"],
            label_source=obj["label_source"],
            judge=obj["judge"],
            n_plans=obj["n_plans"],
            n_scored=obj["n_scored"],
            n_positive=obj["n_positive"],
            n_negative=obj["n_negative"],
            n_mixed=obj["n_mixed"],
            excluded=tuple((a, b) for a, b in obj["excluded"]),
            total=MetricRow.from_json(obj["total"]),
            dimensions=tuple(MetricRow.from_json(d) for d in obj["dimensions"]),
            unanimous=None if unanimous is None else MetricRow.from_json(unanimous),
            decision_threshold=_num(obj["decision_threshold"]),
            thresholds=Thresholds(**obj["thresholds"]),
            label_cutoff=obj.get("label_cutoff"),
            continuation=obj.get("continuation", ""),
            dataset=obj.get("dataset", ""),
            seed=obj.get("seed", 0),
        )


def rubric_fingerprint(rubric: Rubric) -> str:
    """SHA-256 of the rubric's canonical JSON: changes whenever any word of it does."""
    text = json.dumps(rubric.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def judge_plans(
    judge: Judge, plans: Sequence[PlanRecord], *, batch_size: int = 16, progress: bool = False
) -> list[JudgeResult]:
    """The judge's result for each plan, in order, in batches."""
    results: list[JudgeResult] = []
    bar = tqdm(total=len(plans), desc="judging plans", disable=not progress)
    for start in range(0, len(plans), batch_size):
        batch = plans[start : start + batch_size]
        results += judge.score([p.question for p in batch], [p.plan for p in batch])
        bar.update(len(batch))
    bar.close()
    return results


def metric_row(name: str, labels: Sequence[int], scores: Sequence[float], seed: int) -> MetricRow:
    """AUC and held-out kappa of one score against the labels."""
    held = held_out_kappa(labels, scores, seed)
    return MetricRow(name, roc_auc(labels, scores), held.kappa, held.folds, held.thresholds)


def _check_judge(judge: Judge, rubric: Rubric) -> None:
    used = getattr(judge, "rubric", None)
    if used is not None and rubric_fingerprint(used) != rubric_fingerprint(rubric):
        raise ValueError(
            f"Expected a judge of rubric {rubric.name!r} version {rubric.version!r}, got one "
            f"of version {used.version!r}: build the judge with the rubric to validate."
        )


def validate_rubric(
    rubric: Rubric,
    judge: Judge,
    plans: Sequence[PlanRecord],
    labels: Mapping[str, int],
    *,
    label_source: str,
    judge_name: str,
    thresholds: Thresholds | None = None,
    label_cutoff: float | None = None,
    continuation: str = "",
    dataset: str = "",
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
    rejected_dir: str | Path | None = None,
) -> ValidationReport:
    """Judge the labelled plans with ``rubric`` and measure agreement with ``labels``.

    ``labels`` maps plan ids to 0/1; plans without a label are left out. ``judge`` must
    score with ``rubric`` (checked when it exposes ``.rubric``). Failed judgments are
    excluded and listed in the report; with ``rejected_dir`` their raw answers are saved
    there for inspection.
    """
    _check_judge(judge, rubric)
    labelled = [p for p in plans if p.id in labels]
    results = judge_plans(judge, labelled, batch_size=batch_size, progress=progress)
    kept = [(p, r) for p, r in zip(labelled, results) if r.ok]
    failed = [(p, r) for p, r in zip(labelled, results) if not r.ok]
    if failed and rejected_dir is not None:
        save_judge_failures(rejected_dir, failed)
    excluded = tuple((p.id, r.failure or "no score") for p, r in failed)
    ys = [labels[p.id] for p, _ in kept]
    totals = [float(r.reward) for _, r in kept]
    dims = tuple(
        metric_row(d.key, ys, [float(r.scores[d.key]) for _, r in kept], seed)
        for d in rubric.dimensions
    )
    unanimous = None
    if label_source == "outcomes":
        sure = [i for i, (p, _) in enumerate(kept) if p.success_rate in (0.0, 1.0)]
        if sure:
            unanimous = metric_row(
                "total (unanimous plans)", [ys[i] for i in sure], [totals[i] for i in sure], seed
            )
    return ValidationReport(
        rubric_name=rubric.name,
        rubric_version=rubric.version,
        rubric_sha256=rubric_fingerprint(rubric),
        label_source=label_source,
        judge=judge_name,
        n_plans=len(labelled),
        n_scored=len(kept),
        n_positive=sum(ys),
        n_negative=len(ys) - sum(ys),
        n_mixed=sum(p.success_rate is not None and is_mixed(p.success_rate) for p, _ in kept),
        excluded=excluded,
        total=metric_row("total", ys, totals, seed),
        dimensions=dims,
        unanimous=unanimous,
        decision_threshold=best_threshold(ys, totals) if ys else math.nan,
        thresholds=thresholds or Thresholds(),
        label_cutoff=label_cutoff,
        continuation=continuation,
        dataset=dataset,
        seed=seed,
    )


def save_judge_failures(
    directory: str | Path, failed: Sequence[tuple[PlanRecord, JudgeResult]]
) -> list[Path]:
    """Write each failed judgment's reason and raw answer to ``<directory>/<plan id>.txt``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for plan, result in failed:
        path = directory / (re.sub(r"[^A-Za-z0-9._-]+", "_", plan.id) + ".txt")
        path.write_text(
            f"plan: {plan.id}\nreason: {result.failure}\n---\n{result.raw}", encoding="utf-8"
        )
        paths.append(path)
    return paths


def outcome_evaluator(
    plans: Sequence[PlanRecord],
    make_judge: Callable[[Rubric], Judge],
    *,
    judge_name: str,
    cutoff: float = 0.5,
    thresholds: Thresholds | None = None,
    seed: int = 0,
    progress: bool = False,
    rejected_dir: str | Path | None = None,
    dataset: str = "",
) -> Callable[[Rubric], ValidationReport]:
    """``rubric -> report`` against the plans' outcome labels (what the learner calls).

    With ``rejected_dir``, failed judgments are saved under ``<rejected_dir>/<version>/``.
    """
    labels = outcome_labels(plans, cutoff)
    continuation = next((p.continuation for p in plans if p.continuation), "")

    def evaluate(rubric: Rubric) -> ValidationReport:
        where = None if rejected_dir is None else Path(rejected_dir) / rubric.version
        return validate_rubric(
            rubric,
            make_judge(rubric),
            plans,
            labels,
            label_source="outcomes",
            judge_name=judge_name,
            thresholds=thresholds,
            label_cutoff=cutoff,
            continuation=continuation,
            seed=seed,
            progress=progress,
            rejected_dir=where,
            dataset=dataset,
        )

    return evaluate


# ----------------------------------------------------------------------------- printing


def _fmt(value: float, threshold: float | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    text = f"{value:.3f}"
    if threshold is not None:
        text += " (met)" if value >= threshold else " (not met)"
    return text


def format_report(report: ValidationReport) -> str:
    """A markdown table of the report, with the verdict on the thresholds."""
    t = report.thresholds
    source = report.label_source
    if source == "outcomes":
        source += f", correct = success rate >= {report.label_cutoff}"
        if report.continuation:
            source += f" over continuations by {report.continuation}"
    on = f" ({report.dataset})" if report.dataset else ""
    lines = [
        f"Rubric {report.rubric_name!r} version {report.rubric_version!r}; "
        f"labels: {source}; judge: {report.judge}",
        f"Plans{on}: {report.n_plans} labelled, {report.n_scored} scored, "
        f"{report.n_excluded} excluded (judge failures); {report.n_positive} correct, "
        f"{report.n_negative} incorrect, {report.n_mixed} mixed outcomes",
        "",
        "| score | ROC-AUC | Cohen's kappa (held-out) | kappa folds |",
        "|---|---|---|---|",
        f"| **total** | {_fmt(report.total.auc, t.auc)} | "
        f"{_fmt(report.total.kappa, t.kappa)} | "
        f"{', '.join(_fmt(k) for k in report.total.kappa_folds)} |",
    ]
    rows = list(report.dimensions)
    if report.unanimous is not None:
        rows.append(report.unanimous)
    for r in rows:
        folds = ", ".join(_fmt(k) for k in r.kappa_folds)
        lines.append(f"| {r.name} | {_fmt(r.auc)} | {_fmt(r.kappa)} | {folds} |")
    verdict = "MET" if report.met else "NOT MET"
    lines += [
        "",
        f"Acceptance thresholds (AUC >= {t.auc}, kappa >= {t.kappa}): {verdict}.",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the record


class UnvalidatedRubricWarning(UserWarning):
    """A rubric is used without a validation that met the thresholds."""


class UnvalidatedRubricError(RuntimeError):
    """A rubric that must be validated was not, or did not meet the thresholds."""


def validation_path(rubric_path: str | Path) -> Path:
    """Where a rubric's validation record lives: ``x.json`` -> ``x.validation.json``."""
    path = Path(rubric_path)
    return path.with_name(f"{path.stem}.validation.json")


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that it is either the old or the whole new text, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_validation(rubric_path: str | Path) -> dict[str, Any] | None:
    """The validation record next to a rubric file, or None when there is none."""
    path = validation_path(rubric_path)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_validation(
    rubric_path: str | Path, rubric: Rubric, reports: Sequence[ValidationReport]
) -> Path:
    """Record the reports next to the rubric file, one per label source.

    Reports of other label sources already recorded for the same rubric content are
    kept; a record of different content is replaced. ``thresholds_met`` holds only when
    every recorded report met its thresholds.
    """
    sha = rubric_fingerprint(rubric)
    for r in reports:
        if r.rubric_sha256 != sha:
            raise ValueError(
                f"Expected reports on rubric {rubric.name!r} version {rubric.version!r}, got "
                f"one on version {r.rubric_version!r} (different content)."
            )
    old = read_validation(rubric_path)
    kept = dict(old["reports"]) if old and old["rubric"]["sha256"] == sha else {}
    kept.update({r.label_source: r.to_json() for r in reports})
    record = {
        "rubric": {"name": rubric.name, "version": rubric.version, "sha256": sha},
        "validated_against": sorted(kept),
        "thresholds_met": bool(kept) and all(r["thresholds_met"] for r in kept.values()),
        "reports": kept,
    }
    path = validation_path(rubric_path)
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def validation_problems(rubric_path: str | Path, rubric: Rubric) -> list[str]:
    """Why a rubric cannot be trusted as validated (empty when it can)."""
    record = read_validation(rubric_path)
    where = validation_path(rubric_path)
    if record is None:
        return [f"it has no validation record ({where.name} is missing)"]
    if record["rubric"]["sha256"] != rubric_fingerprint(rubric):
        return [f"it changed since it was validated ({where.name} is about other content)"]
    problems = []
    for source, rep in sorted(record["reports"].items()):
        if not rep["thresholds_met"]:
            t = rep["thresholds"]
            problems.append(
                f"against {source} labels AUC = {_fmt(_num(rep['total']['auc']))} "
                f"(needs >= {t['auc']}) and kappa = {_fmt(_num(rep['total']['kappa']))} "
                f"(needs >= {t['kappa']})"
            )
    if not record["reports"]:
        problems.append("its validation record holds no report")
    return problems


def load_validated_rubric(path: str | Path, *, require_thresholds: bool = False) -> Rubric:
    """Load a rubric and check its validation record.

    When the rubric has no record, changed since, or missed a threshold: warn with
    :class:`UnvalidatedRubricWarning`, or raise :class:`UnvalidatedRubricError` when
    ``require_thresholds`` is set.
    """
    rubric = load_rubric(path)
    problems = validation_problems(path, rubric)
    if problems:
        message = (
            f"Rubric {Path(path).name!r} ({rubric.name} version {rubric.version}) is not "
            f"validated: {'; '.join(problems)}."
        )
        if require_thresholds:
            raise UnvalidatedRubricError(message)
        warnings.warn(message, UnvalidatedRubricWarning, stacklevel=2)
    return rubric
