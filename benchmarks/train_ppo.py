"""Train PPO on the easy tasks of the wiki and compare its pass rate with a random agent.

    python -m benchmarks.train_ppo --minutes 8

The text environment goes through :class:`webanchor_env.sb3.WikiDiscreteEnv` (discrete slots
over candidate searches, visits and answers; fixed-size embedding observations), so
Stable-Baselines3's PPO trains on it unchanged. Training uses the train-split tasks of
difficulty 1, in ``--n-envs`` environments that share one search index, for at most
``--minutes`` (and ``--timesteps``). Then each task is played once by:

* **PPO** (deterministic actions),
* **random**: a uniformly random slot each turn (the same action space, the same tasks),
* **first slots**: search with the question, visit the first result, give the best-scored
  answer candidate — a fixed script that shows what the observation's ranking allows,

on the training tasks and on the held-out test-split tasks of difficulty 1. Prints a
markdown table and appends it to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from benchmarks._results import append_section


@dataclass(frozen=True)
class Config:
    """One training run; every field is a command-line option."""

    corpus: str = "default"
    """Bundled name or corpus directory."""
    difficulty: int = 1
    """Task difficulty to train and test on."""
    minutes: float = 8.0
    """Longest training time."""
    timesteps: int = 200_000
    """Most training steps."""
    n_envs: int = 4
    """Environments (one shared index)."""
    max_turns: int = 6
    """Turns per episode."""
    n_steps: int = 64
    """PPO rollout steps per env."""
    batch_size: int = 64
    """PPO minibatch size."""
    n_epochs: int = 10
    """PPO epochs per rollout."""
    ent_coef: float = 0.01
    """PPO entropy bonus."""
    seed: int = 0
    """Seed of PPO and the environments."""
    torch_threads: int = 1
    """Torch intra-op threads."""
    note: str = ""
    """Remark recorded with the figures."""
    append: bool = True
    """Append to RESULTS.md."""


def task_ids(corpus: str, split: str, difficulty: int) -> list[str]:
    """The ids of a split's tasks of one difficulty."""
    from wiki_corpus.io import TASKS_FILE, read_tasks, resolve

    tasks = read_tasks(resolve(corpus) / TASKS_FILE)
    return [t.id for t in tasks if t.split == split and t.difficulty == difficulty]


class TimeBudget(BaseCallback):
    """Stops training once the wall-clock budget is spent."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.perf_counter() + seconds

    def _on_step(self) -> bool:
        return time.perf_counter() < self.deadline


Policy = Callable[[np.ndarray, object], int]


def play(env, ids: Sequence[str], policy: Policy) -> tuple[float, float]:  # noqa: ANN001
    """``(pass rate, mean turns)`` of a policy that plays each task once (NaN: no tasks)."""
    if not ids:
        return float("nan"), float("nan")
    rewards, turns = [], []
    for i, task_id in enumerate(ids):
        obs, _ = env.reset(seed=i, options={"task_id": task_id})
        done, total, steps = False, 0.0, 0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs, env))
            total, steps, done = total + reward, steps + 1, terminated or truncated
        rewards.append(total)
        turns.append(steps)
    return float(np.mean(rewards)), float(np.mean(turns))


def first_slots(obs: np.ndarray, env) -> int:  # noqa: ANN001
    """Search with the question, visit the first result, answer with the best candidate."""
    info, slots = env.last_info, env.slots
    if not info.get("search_calls"):
        return 0
    if not info.get("visit_calls"):
        return slots.search
    return slots.search + slots.visit


def main(argv: Sequence[str] | None = None) -> int:
    config = _parse(argv)
    import torch
    from stable_baselines3 import PPO

    from webanchor_env.backend import get_backend
    from webanchor_env.sb3 import make_discrete_env, make_vec_env

    torch.set_num_threads(config.torch_threads)
    train_ids = task_ids(config.corpus, "train", config.difficulty)
    test_ids = task_ids(config.corpus, "test", config.difficulty)
    backend = get_backend(config.corpus)  # built (or loaded) once, shared by every env
    common = {"backend": backend, "max_episode_steps": config.max_turns}
    vec = make_vec_env(config.n_envs, split="train", task_ids=train_ids, seed=config.seed, **common)
    model = PPO(
        "MlpPolicy", vec, n_steps=config.n_steps, batch_size=config.batch_size,
        n_epochs=config.n_epochs, ent_coef=config.ent_coef, seed=config.seed, device="cpu",
        verbose=0,
    )  # fmt: skip
    start = time.perf_counter()
    model.learn(config.timesteps, callback=TimeBudget(config.minutes * 60), progress_bar=False)
    train_s = time.perf_counter() - start
    episodes = sum(len(e.get_episode_rewards()) for e in vec.envs)
    vec.close()

    rng = np.random.default_rng(config.seed)
    agents: dict[str, Policy] = {
        "PPO": lambda obs, env: int(model.predict(obs, deterministic=True)[0]),
        "random": lambda obs, env: int(rng.integers(env.action_space.n)),
        "first slots (script)": first_slots,
    }
    rows = []
    for name, policy in agents.items():
        scores = []
        for split, ids in (("train", train_ids), ("test", test_ids)):
            env = make_discrete_env(split=split, task_ids=ids, **common)
            scores.append(play(env, ids, policy))
        rows.append((name, scores))
        print(f"{name}: {scores}", file=sys.stderr)
    text = _table(rows, len(train_ids), len(test_ids))
    print(text)
    if config.append:
        note = (
            f"corpus {config.corpus}, difficulty {config.difficulty}; PPO trained "
            f"{model.num_timesteps:,} steps ({episodes:,} episodes) in {train_s / 60:.1f} min on "
            f"{config.n_envs} envs sharing one index, {config.max_turns} turns per episode; "
            f"torch threads {config.torch_threads}. {config.note}"
        )
        append_section("PPO on the easy split vs a random agent", text, note.strip())
    return 0


def _table(rows, n_train: int, n_test: int) -> str:  # noqa: ANN001
    lines = [
        f"| agent | pass rate, train tasks ({n_train}) | turns | pass rate, held-out test "
        f"tasks ({n_test}) | turns |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, ((tr, tr_turns), (te, te_turns)) in rows:
        lines.append(f"| {name} | {tr:.3f} | {tr_turns:.1f} | {te:.3f} | {te_turns:.1f} |")
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> Config:
    from agents import cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_arguments(parser, Config)
    return Config(**vars(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
