"""Plan rubrics as data, and the rubric reward R = sum(phi_j) / sum(s_j^max).

A rubric is a named, versioned list of scoring dimensions. It lives in a JSON file
so that the Plan Rubrics Learner can write new versions and experiments can record
exactly which rubric they used::

    {"name": "webanchor-plan", "version": "1",
     "dimensions": [{"key": "goal_alignment", "name": "Goal Alignment",
                     "description": "...", "criteria": ["...", "..."],
                     "max_score": 5}, ...]}

Loading validates the file and names the file and the field in every error.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_RUBRIC_FILE = "default_rubric.json"

_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_RUBRIC_FIELDS = {"name": str, "version": str, "dimensions": list}
_DIMENSION_FIELDS = {
    "key": str,
    "name": str,
    "description": str,
    "criteria": list,
    "max_score": int,
}


class RubricValidationError(ValueError):
    """A rubric file or dict does not match the rubric schema."""


class RubricScoreError(ValueError):
    """Scores cannot be turned into a rubric reward; the caller should exclude them."""


class MissingScoreError(RubricScoreError):
    """A rubric dimension has no score."""


class UnknownDimensionError(RubricScoreError):
    """A score names a dimension the rubric does not have."""


class ScoreOutOfRangeError(RubricScoreError):
    """A score is not a finite number in [0, max_score]."""


def normalize_label(label: str) -> str:
    """Canonical form of a dimension key or name for lenient matching.

    ``"Clarity & Conciseness"``, ``"clarity_and_conciseness"`` and
    ``"CLARITY AND CONCISENESS"`` all become ``"clarity_and_conciseness"``.
    """
    label = label.casefold().replace("&", " and ")
    return re.sub(r"[^a-z0-9]+", "_", label).strip("_")


@dataclass(frozen=True)
class Dimension:
    """One scoring dimension of a rubric, scored from 0 to ``max_score``."""

    key: str
    """Identifier used in judge answers and logs, e.g. ``goal_alignment``."""
    name: str
    """Human-readable name, e.g. ``Goal Alignment``."""
    description: str
    """What the dimension measures."""
    criteria: tuple[str, ...]
    """Concrete things the judge should check."""
    max_score: int
    """Highest score; scores are in [0, max_score]."""


@dataclass(frozen=True)
class Rubric:
    """A named, versioned set of dimensions."""

    name: str
    version: str
    dimensions: tuple[Dimension, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Dimension keys, in order."""
        return tuple(d.key for d in self.dimensions)

    @property
    def max_total(self) -> int:
        """Sum of the dimensions' maximum scores: the reward's denominator."""
        return sum(d.max_score for d in self.dimensions)

    def dimension(self, key: str) -> Dimension:
        """The dimension with this key."""
        for d in self.dimensions:
            if d.key == key:
                return d
        raise KeyError(f"Rubric {self.name!r} has no dimension {key!r}; it has {list(self.keys)}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, the inverse of :meth:`from_dict`."""
        return {
            "name": self.name,
            "version": self.version,
            "dimensions": [
                {
                    "key": d.key,
                    "name": d.name,
                    "description": d.description,
                    "criteria": list(d.criteria),
                    "max_score": d.max_score,
                }
                for d in self.dimensions
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> Rubric:
        """Build a rubric from parsed JSON, validating it.

        ``source`` names where the data came from (a file name) in error messages.
        Dimensions are numbered from 1 in messages.
        """
        where = f"rubric {source!r}"
        if not isinstance(data, dict):
            raise RubricValidationError(
                f"{where} must be a JSON object, got {type(data).__name__}."
            )
        _check_fields(data, _RUBRIC_FIELDS, where)
        if not data["dimensions"]:
            raise RubricValidationError(f"{where} has no dimensions; expected at least one.")
        dims = []
        for i, raw in enumerate(data["dimensions"], start=1):
            at = f"{where} dimension {i}"
            if not isinstance(raw, dict):
                raise RubricValidationError(f"{at} must be an object, got {type(raw).__name__}.")
            _check_fields(raw, _DIMENSION_FIELDS, at)
            if not _KEY_RE.match(raw["key"]):
                raise RubricValidationError(
                    f"{at} has key {raw['key']!r}; expected lowercase letters, digits and "
                    "underscores, starting with a letter."
                )
            if raw["max_score"] < 1:
                raise RubricValidationError(
                    f"{at} has max_score {raw['max_score']}; expected an integer >= 1."
                )
            if not all(isinstance(c, str) and c.strip() for c in raw["criteria"]):
                raise RubricValidationError(f"{at} has criteria that are not non-empty strings.")
            dims.append(
                Dimension(
                    key=raw["key"],
                    name=raw["name"],
                    description=raw["description"],
                    criteria=tuple(raw["criteria"]),
                    max_score=raw["max_score"],
                )
            )
        seen: dict[str, int] = {}
        for i, d in enumerate(dims, start=1):
            for label in {normalize_label(d.key), normalize_label(d.name)}:
                if label in seen:
                    raise RubricValidationError(
                        f"{where} dimension {i} ({d.key!r}) clashes with dimension "
                        f"{seen[label]}: both are called {label!r}."
                    )
                seen[label] = i
        return cls(name=data["name"], version=data["version"], dimensions=tuple(dims))


def _check_fields(data: dict[str, Any], fields: dict[str, type], where: str) -> None:
    for field, kind in fields.items():
        if field not in data:
            raise RubricValidationError(f"{where} is missing {field!r}.")
        value = data[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise RubricValidationError(
                f"{where} has {field!r} of type {type(value).__name__}; expected {kind.__name__}."
            )
        if kind is str and not value.strip():
            raise RubricValidationError(f"{where} has an empty {field!r}.")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RubricValidationError(
            f"{where} has unknown field(s) {unknown}; expected only {sorted(fields)}."
        )


def load_rubric(path: str | Path) -> Rubric:
    """Read and validate a rubric JSON file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RubricValidationError(f"rubric {path.name!r} is not valid JSON: {err}.") from err
    return Rubric.from_dict(data, source=path.name)


def save_rubric(rubric: Rubric, path: str | Path) -> None:
    """Write a rubric as indented JSON (readable diffs between versions)."""
    text = json.dumps(rubric.to_dict(), indent=2, ensure_ascii=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def load_default_rubric() -> Rubric:
    """The bundled six-dimension plan rubric of the Anchor-GRPO paper."""
    data = resources.files("agents.rewards") / "data" / DEFAULT_RUBRIC_FILE
    text = data.read_text(encoding="utf-8")
    return Rubric.from_dict(json.loads(text), source=DEFAULT_RUBRIC_FILE)


def rubric_reward(scores: Mapping[str, float], rubric: Rubric) -> float:
    """R = sum_j phi_j / sum_j s_j^max, in [0, 1].

    ``scores`` maps every dimension key to a number in [0, max_score]. Anything
    else raises a :class:`RubricScoreError` subclass instead of guessing: a missing
    score is not a zero, and the caller should exclude that sample.
    """
    unknown = sorted(set(scores) - set(rubric.keys))
    if unknown:
        raise UnknownDimensionError(
            f"Scores name dimension(s) {unknown} not in rubric {rubric.name!r}; "
            f"expected {list(rubric.keys)}."
        )
    total = 0.0
    for d in rubric.dimensions:
        if d.key not in scores:
            raise MissingScoreError(f"No score for dimension {d.key!r} of rubric {rubric.name!r}.")
        value = scores[d.key]
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or not 0 <= value <= d.max_score
        ):
            raise ScoreOutOfRangeError(
                f"Score for {d.key!r} must be a number in [0, {d.max_score}], got {value!r}."
            )
        total += float(value)
    return total / rubric.max_total
