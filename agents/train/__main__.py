"""``python -m agents.train --algo anchor-grpo ...``: see ``--help`` for every setting.

Runs unchanged under ``accelerate launch --num_processes N -m agents.train ...``.
"""

from __future__ import annotations

import sys

from agents.train.config import parse_args
from agents.train.memory import peak_rss_gib
from agents.train.trainer import train


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    result = train(config)
    state = "finished" if result.finished else "stopped early (resume with --resume auto)"
    print(f"Training {state} after {result.steps_done} steps; results in {result.output_dir}")
    print(f"Peak memory: {peak_rss_gib():.2f} GiB resident (ru_maxrss of this process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
