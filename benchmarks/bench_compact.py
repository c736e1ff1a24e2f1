"""Compact prompt and short observations: token counts and answer visibility on gold paths.

A 135M model needs the whole conversation in about 2k tokens. This measures, on the bundled
corpus:

* the prompt: tokens of system + question for each prompt variant (SmolLM2 tokenizer), as
  message contents and as the chat-templated prompt with the first prefill;
* the observations: for each environment setting (search results per query ``top_k``, visit
  window ``visit_chars``, goal mode) the gold actions of the train tasks are replayed in the
  environment with ``privileged_info=True``, and it counts how often the answer string was
  in an observation (``info["answer_seen"]``) and how often every gold page visited after
  the first was linked (URL or title) from an earlier observation, i.e. the path can be
  followed from what the agent saw. Observation size is the mean tool-response tokens per
  trajectory;
* the demonstrations as SFT sees them (:func:`agents.train.sft.gold_trajectories`,
  token-exact) with the compact prompt and observation settings, against
  ``react-plan-prefill`` with the environment's defaults: total and trained tokens.

Prints markdown tables and appends them to benchmarks/RESULTS.md (``--no-append``: print
only)::

    python -m benchmarks.bench_compact
    python -m benchmarks.bench_compact --limit 200 --no-append
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

import webanchor_env
from agents.prompts import COMPACT_OBSERVATIONS, PROMPTS, PromptVariant
from benchmarks._results import add_no_append, append_section
from wiki_corpus.schema import Task, url_to_title


@dataclass(frozen=True)
class Setting:
    """Observation settings of the environment."""

    top_k: int
    visit_chars: int
    goal_mode: bool = False

    def env_kwargs(self) -> dict[str, Any]:
        return {"top_k": self.top_k, "visit_chars": self.visit_chars, "goal_mode": self.goal_mode}

    def label(self) -> str:
        mode = "goal" if self.goal_mode else "window"
        return f"top_k={self.top_k}, visit_chars={self.visit_chars}, {mode}"


def make_env_factory(setting: Setting, split: str = "train"):
    def make() -> gym.Env:
        return gym.make(
            webanchor_env.ENV_ID, split=split, privileged_info=True, **setting.env_kwargs()
        )

    return make


# --- Prompt -----------------------------------------------------------------------------------


def prompt_tokens(tokenizer: Any, variant: PromptVariant, question: str) -> tuple[int, int]:
    """(system + question message contents, chat-templated prompt with the first prefill)."""
    messages = variant.initial_messages(question)
    content = sum(len(tokenizer.encode(m["content"], add_special_tokens=False)) for m in messages)
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    templated = len(tokenizer.encode(text + variant.first_prefill, add_special_tokens=False))
    return content, templated


def prompt_table(tokenizer: Any, tasks: Sequence[Task]) -> str:
    lines = [
        "| prompt | system | system + question: mean | max | chat-templated: mean | max "
        "| questions over 200 (templated) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant in PROMPTS.values():
        counts = [prompt_tokens(tokenizer, variant, t.question) for t in tasks]
        content, templated = zip(*counts)
        system = len(tokenizer.encode(variant.system_text(), add_special_tokens=False))
        over = sum(n > 200 for n in templated)
        lines.append(
            f"| {variant.name} | {system} | {statistics.fmean(content):.0f} | {max(content)} "
            f"| {statistics.fmean(templated):.0f} | {max(templated)} | {over} of {len(tasks)} |"
        )
    return "\n".join(lines)


# --- Observations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """One gold path replayed under one setting."""

    answer_seen: bool
    path_linked: bool
    observation_tokens: int


def _named(page_url: str, seen: str) -> bool:
    title = url_to_title(page_url) or page_url
    return page_url in seen or title in seen


def replay(env: gym.Env, task: Task, tokenizer: Any) -> Replay:
    """Play the task's gold actions (without its answer) and read what the agent saw."""
    env.reset(options={"task_id": task.id})
    seen, linked, tokens = "", True, 0
    visits = 0
    info: dict[str, Any] = {}
    for action in task.gold.actions:
        if action["name"] == "answer":
            break
        if action["name"] == "visit":
            if visits and not all(_named(u, seen) for u in action["arguments"]["url"]):
                linked = False
            visits += 1
        observation, _, terminated, truncated, info = env.step(dict(action))
        seen += "\n" + observation
        tokens += len(tokenizer.encode(observation, add_special_tokens=False))
        if terminated or truncated:
            break
    return Replay(bool(info.get("answer_seen")), linked, tokens)


def observation_row(setting: Setting, tasks: Sequence[Task], tokenizer: Any) -> dict[str, Any]:
    env = make_env_factory(setting)()
    runs = [replay(env.unwrapped, t, tokenizer) for t in tasks]
    env.close()
    return {
        "setting": setting.label(),
        "answer seen": sum(r.answer_seen for r in runs) / len(runs),
        "path linked": sum(r.path_linked for r in runs) / len(runs),
        "obs tokens": statistics.fmean(r.observation_tokens for r in runs),
        "obs tokens max": max(r.observation_tokens for r in runs),
    }


def observation_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| setting | answer seen | path linked | observation tokens: mean | max |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {100 * r['answer seen']:.1f}% | {100 * r['path linked']:.1f}% "
            f"| {r['obs tokens']:.0f} | {r['obs tokens max']} |"
        )
    return "\n".join(lines)


# --- Gold trajectories as SFT sees them -------------------------------------------------------


def trajectory_row(
    tokenizer: Any, tasks: Sequence[Task], prompt: str, setting: Setting
) -> dict[str, Any]:
    from agents.train.sft import gold_trajectories

    played = gold_trajectories(tokenizer, make_env_factory(setting), tasks, prompt, "train")
    hops = {t.id: t.hops for t in tasks}
    lengths = [len(t.token_ids) for t in played]
    one_hop = [len(t.token_ids) for t in played if hops[t.task_id] == 1]
    return {
        "prompt": prompt,
        "setting": setting.label(),
        "demonstrations": len(played),
        "tokens mean": statistics.fmean(lengths) if lengths else 0.0,
        "tokens max": max(lengths, default=0),
        "1-hop mean": statistics.fmean(one_hop) if one_hop else 0.0,
        "over 2048": sum(n > 2048 for n in lengths),
        "trained mean": statistics.fmean(sum(t.action_mask) for t in played) if played else 0.0,
    }


def trajectory_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| prompt | setting | demonstrations | tokens: mean | max | 1-hop mean | over 2,048 "
        "| trained tokens: mean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['prompt']} | {r['setting']} | {r['demonstrations']} | {r['tokens mean']:.0f} "
            f"| {r['tokens max']} | {r['1-hop mean']:.0f} | {r['over 2048']} "
            f"| {r['trained mean']:.0f} |"
        )
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="first N train tasks (0: all)")
    parser.add_argument("--top-k", type=_ints, default=[1, 2, 3], help="e.g. 1,2,3")
    parser.add_argument("--visit-chars", type=_ints, default=[800, 1000, 1200, 1500])
    parser.add_argument("--goal-mode", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure goal-mode visits (at each visit_chars)")  # fmt: skip
    parser.add_argument("--trajectories", type=int, default=200,
                        help="train tasks whose gold trajectories are tokenized")  # fmt: skip
    add_no_append(parser)
    args = parser.parse_args(argv)
    from agents.testing import smollm2_tokenizer

    load = os.getloadavg()
    tokenizer = smollm2_tokenizer()
    probe = make_env_factory(Setting(5, 4000))()
    all_tasks = list(probe.unwrapped.backend.corpus.tasks)
    train = [t for t in probe.unwrapped.tasks("train") if t.gold.actions]
    probe.close()
    train = train[: args.limit or None]

    prompts = prompt_table(tokenizer, all_tasks)
    print(prompts, flush=True)

    modes = (False, True) if args.goal_mode else (False,)
    settings = [Setting(k, c) for k, c in itertools.product(args.top_k, args.visit_chars)]
    settings += [Setting(max(args.top_k), c, True) for c in args.visit_chars if True in modes]
    rows = []
    for setting in settings:
        rows.append(observation_row(setting, train, tokenizer))
        print(observation_table(rows[-1:]).splitlines()[-1], flush=True)
    observations = observation_table(rows)
    print(observations, flush=True)

    compact = Setting(**COMPACT_OBSERVATIONS)
    few = train[: args.trajectories]
    trajectories = trajectory_table(
        [
            trajectory_row(tokenizer, few, "react-plan-prefill", Setting(5, 4000)),
            trajectory_row(tokenizer, few, "compact-plan-prefill", compact),
        ]
    )
    print(trajectories, flush=True)
    if not args.no_append:
        body = (
            f"Bundled corpus, SmolLM2 tokenizer. Prompts: all {len(all_tasks)} questions. "
            f"Observations: gold actions of {len(train)} train tasks replayed (answer not sent); "
            "'answer seen' is the environment's privileged `answer_seen`, 'path linked' means "
            "every gold page visited after the first was named (URL or title) in an earlier "
            f"observation. Trajectories: the SFT demonstrations of {len(few)} train tasks "
            "(`agents.train.sft.gold_trajectories`: every gold path, plus a recovery "
            "demonstration for one task in four), token-exact.\n\n"
            f"{prompts}\n\n{observations}\n\n{trajectories}"
        )
        append_section("Compact prompt and observation sizes", body, load_at_start=load)


if __name__ == "__main__":
    main()
