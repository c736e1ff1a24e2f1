"""The format a model was trained in, saved beside its weights so that it travels with them.

A model fine-tuned on one prompt variant and one observation size is easily evaluated off
its own format (another prompt, a shorter token limit that cuts its plans). Training writes
:data:`FORMAT_FILE` into the model directory it saves; evaluation, further training and the
demo read it and use it unless a setting is given explicitly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

FORMAT_FILE = "webanchor_format.json"


@dataclass(frozen=True)
class AgentFormat:
    """Prompt variant, observation sizes and turn limits of a trained model."""

    prompt: str
    """Prompt variant (agents.prompts)."""
    top_k: int
    """Search results per query."""
    visit_chars: int
    """Characters of a page one visit returns."""
    max_turns: int
    """Assistant turns per episode."""
    max_new_tokens: int
    """Token limit of one assistant turn (above the longest demonstrated turn)."""

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / FORMAT_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path | None) -> AgentFormat | None:
        """The format saved in ``directory``; None when there is none (any other model)."""
        if not directory:
            return None
        path = Path(directory) / FORMAT_FILE
        if not path.is_file():
            return None
        try:
            data: Any = json.loads(path.read_text())
            return cls(**{f.name: data[f.name] for f in fields(cls)})
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"Expected a model format in {path}, got an unreadable file: {err}"
            ) from err
