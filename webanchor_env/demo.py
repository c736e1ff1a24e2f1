"""A tour of the environment: `python -m webanchor_env.demo` (what `make demo` runs).

It prints the bundled corpus's statistics and one task with its gold path, builds (first run,
about a minute, with a progress bar) or loads the search index, then plays the gold-path
agent and a naive agent (search the question, answer with the top title) on dev tasks and
prints their pass rates and one transcript.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Sequence

import gymnasium as gym

import wiki_corpus
from webanchor_env import ENV_ID
from webanchor_env.agents_scripted import GoldPathAgent, NaiveSearchAgent, run_episode
from wiki_corpus import Corpus, Task

_BLOCK = re.compile(r"(<tool_response>\n)(.*?)(\n</tool_response>)", re.DOTALL)


def say(text: str = "") -> None:
    print(text, flush=True)


def print_stats(corpus: Corpus, name: str) -> None:
    """Sizes, splits, difficulty and hop histograms (``python -m wiki_corpus stats``)."""
    from wiki_corpus.stats import corpus_stats, format_stats

    say(format_stats(corpus_stats(corpus), name))
    links = sum(page.html.count('href="' + wiki_corpus.WIKI_PREFIX) for page in corpus.pages)
    html_mib = sum(len(page.html) for page in corpus.pages) / 2**20
    say(f"HTML: {html_mib:,.1f} MiB, {links:,} links between pages")


def print_task(task: Task) -> None:
    """A task with its answer and gold path."""
    say(f"Task {task.id} ({task.split}, {task.hops} hops, difficulty {task.difficulty})")
    say(f"  question: {task.question}")
    say(
        f"  answer:   {task.answer}"
        + (f"  (aliases: {', '.join(task.aliases)})" if task.aliases else "")
    )
    say("  gold pages:")
    for url in task.gold.pages:
        say(f"    {url}")
    say("  gold actions:" + ("" if task.gold.actions else " (none)"))
    for action in task.gold.actions:
        say(f"    {json.dumps(action, ensure_ascii=False)}")


def abridge(transcript: str, limit: int = 700) -> str:
    """The transcript with each tool response cut to ``limit`` characters."""

    def cut(match: re.Match[str]) -> str:
        body = match.group(2)
        if len(body) > limit:
            body = body[:limit] + f"\n[… {len(body) - limit:,} more characters]"
        return match.group(1) + body + match.group(3)

    return _BLOCK.sub(cut, transcript)


def evaluate(env: gym.Env, agent_name: str, tasks: Sequence[Task], split: str) -> float:
    """Play one agent on the tasks; print and return its pass rate."""
    agent = GoldPathAgent(env) if agent_name == "gold" else NaiveSearchAgent()
    start = time.perf_counter()
    rewards, steps = [], []
    for task in tasks:
        result = run_episode(env, agent, {"task_id": task.id, "split": split})
        rewards.append(result.reward)
        steps.append(result.steps)
    rate = sum(rewards) / len(rewards)
    seconds = time.perf_counter() - start
    say(
        f"  {agent_name:>5} agent: pass rate {rate:.1%} on {len(tasks)} {split} tasks "
        f"({sum(steps) / len(steps):.1f} turns each, {seconds:.1f} s)"
    )
    return rate


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="default", help="bundled name or corpus directory")
    parser.add_argument("--split", default="dev", help="split the agents play")
    parser.add_argument("--tasks", type=int, default=50, help="how many tasks of the split")
    parser.add_argument("--cache-dir", default=None, help="search index cache directory")
    args = parser.parse_args(argv)

    say("== 1. The corpus ==")
    corpus = wiki_corpus.load(args.corpus)
    print_stats(corpus, args.corpus)
    tasks = corpus.tasks_in(args.split)[: args.tasks]
    if not tasks:
        raise SystemExit(f"Expected tasks in split {args.split!r} of {args.corpus!r}, got none.")

    say("\n== 2. A sample task and its gold path ==")
    sample = max(tasks, key=lambda t: (t.hops, -tasks.index(t)))
    print_task(sample)

    say("\n== 3. The environment ==")
    say(f"gym.make({ENV_ID!r}, split={args.split!r}): loading the search index")
    say("(the first run embeds every passage and builds the FAISS index; later runs load it)")
    start = time.perf_counter()
    env = gym.make(
        ENV_ID,
        corpus=args.corpus,
        split=args.split,
        cache_dir=args.cache_dir,
        render_mode="ansi",
    )
    say(f"ready in {time.perf_counter() - start:.1f} s")

    say(f"\n== 4. Two scripted agents on {len(tasks)} {args.split} tasks ==")
    rates = {name: evaluate(env, name, tasks, args.split) for name in ("gold", "naive")}

    say(f"\n== 5. Transcript of the gold-path agent on task {sample.id} ==")
    run_episode(env, GoldPathAgent(env), {"task_id": sample.id, "split": args.split})
    say(abridge(env.render() or ""))
    env.close()
    return rates


if __name__ == "__main__":
    main()
