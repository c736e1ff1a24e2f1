"""A planning method defined in a file: the worked example of ``agents.methods``.

    python -m benchmarks.main_table --methods-file tests/benchmarks/example_method.py \\
        --methods grpo,example-plan-length

Stage 1 samples plans only and updates the plan tokens with a toy dense reward, the plan's
length (longer plans score higher, up to 400 characters); stage 2 is GRPO's, as for every
method with an executor.
"""

from agents.methods import Method, register
from agents.train.algos import StepChoice

PLAN_CHARS = 400


def plan_length_reward(trajectories, tasks):
    """One reward per trajectory: the length of its plan (first turn), scaled to [0, 1]."""
    return [min(len(t.plan), PLAN_CHARS) / PLAN_CHARS for t in trajectories]


register(
    Method(
        name="example-plan-length",
        description="stage 1: plans only, plan tokens, plan-length reward; stage 2: grpo",
        planner_steps=StepChoice.FIRST,
        planner_reward=plan_length_reward,
        plan_only=True,
    )
)
