"""The step loop GRPO and SFT share: resume, log, checkpoint, evaluate, save the model.

:func:`run_loop` runs a step function from the resumed step to the last one, logging each
record and checkpointing as configured; :func:`conclude` evaluates the finished model and
saves it with its tokenizer, format and curves (:func:`finish`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from agents.anticipatory import action_reader  # (importing it registers its prompts)
from agents.policy import SamplingParams
from agents.prompts import get_prompt
from agents.rollout import RolloutConfig, RolloutEngine
from agents.train.checkpoint import (
    TrainerState,
    load_checkpoint,
    resolve_resume,
    save_checkpoint,
)
from agents.train.logging import CURVES_FILE, plot_curves
from agents.train.memory import release_free_memory
from agents.train.run import Run, TrainResult, env_factory, env_settings, model_format

FINAL_DIR = "final"
ADAPTER_DIR = "adapter"
"""Inside the final directory: the LoRA adapter alone (PEFT format), for LoRA runs."""


StepFn = Callable[[int], dict[str, Any]]


def start_step(run: Run) -> int:
    """0, or the step of the checkpoint being resumed (its state restored)."""
    path = resolve_resume(run.config)
    if path is None:
        return 0
    state = load_checkpoint(run.accelerator, path, run.config)
    run.logger.truncate_from(state.step)
    return state.step


def run_loop(run: Run, total: int, step_fn: StepFn, stage_of: Callable[[int], int]) -> int:
    """Run steps from the resumed one to ``total``: log each, checkpoint as configured.

    Returns the number of completed steps (less than ``total`` if ``stop_after`` hit).
    """
    c = run.config
    first = start_step(run)
    bar = _progress(run, first, total)
    step = first
    for step in range(first, total):
        record = step_fn(step)
        release_free_memory()  # freed activations back to the OS, so the RSS stays bounded
        run.logger.log(record)
        bar.update(1)
        bar.set_postfix(_postfix(record), refresh=False)
        done = step + 1
        stop = c.stop_after > 0 and done - first >= c.stop_after
        if done == total or stop or (c.save_every and done % c.save_every == 0):
            stage = stage_of(min(done, total - 1))
            save_checkpoint(run.accelerator, TrainerState(done, stage, c), c.keep_checkpoints)
        if stop:
            break
    bar.close()
    return step + 1 if total > first else first


def _progress(run: Run, first: int, total: int) -> Any:
    from tqdm.auto import tqdm

    disable = not (run.config.progress and run.accelerator.is_main_process)
    return tqdm(total=total, initial=first, desc=run.config.algo.value, disable=disable)


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    keys = ("stage", "reward/mean", "loss/policy", "sft/loss")
    return {
        k.split("/")[-1]: f"{v:.3g}" if isinstance(v, float) else str(v)
        for k in keys
        if (v := record.get(k)) is not None
    }


def finish(run: Run) -> Path:
    """Save the final model and tokenizer, draw the curves, close the logs."""
    out = Path(run.config.output_dir) / FINAL_DIR
    run.accelerator.wait_for_everyone()
    if run.accelerator.is_main_process:
        model = run.unwrapped
        if run.config.lora_rank > 0:
            model.save_pretrained(out / ADAPTER_DIR)  # the adapter alone, before merging
            model = model.merge_and_unload()
        model.save_pretrained(out)
        run.tokenizer.save_pretrained(out)
        model_format(run.config).save(out)
        plot_curves(run.logger.path, Path(run.config.output_dir) / CURVES_FILE)
    run.logger.close()
    run.accelerator.wait_for_everyone()
    return out


def conclude(run: Run, done: int, total: int, before: float | None) -> TrainResult:
    """After the loop: evaluate, save the final model and curves (if the run finished)."""
    finished = done >= total
    after = None
    if finished:
        if run.config.eval_tasks:
            after = evaluate(run, run.config.eval_tasks)
            record = {"eval/pass@1_before": before, "eval/pass@1_after": after}
            run.logger.log({"step": done, "stage": "eval", **record})
        finish(run)
    else:
        run.logger.close()
    return TrainResult(Path(run.config.output_dir), done, finished, before, after)


def evaluate(run: Run, num_tasks: int, split: str = "dev") -> float:
    """Greedy pass@1 on the first ``num_tasks`` tasks of ``split``, shared over processes."""
    from agents.hf_policy import HFPolicy

    c = run.config
    make_env, backend = env_factory(c.corpus, split, **env_settings(c))
    ids = [t.id for t in backend.corpus.tasks_in(split)[:num_tasks]]
    mine = ids[run.rank :: run.world]
    params = SamplingParams(max_new_tokens=c.max_new_tokens, temperature=0.0, seed=0)
    config = RolloutConfig(
        prompt=get_prompt(c.prompt),
        params=params,
        max_turns=c.max_turns,
        split=split,
        reader=action_reader(c.agent, c.horizon),
    )
    solved = 0.0
    if mine:
        with RolloutEngine(HFPolicy(run.unwrapped, run.tokenizer), make_env, config) as engine:
            solved = sum(float(t.reward >= 1.0) for t in engine.run(mine))
    total = run.comm.all_sum(torch.tensor([solved, float(len(mine))]))
    return float(total[0] / total[1]) if float(total[1]) else 0.0
