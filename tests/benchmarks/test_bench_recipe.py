"""benchmarks/bench_recipe.py: the recipe's FLOPs and time bound on this CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


def test_attention_flops_by_hand():
    from benchmarks.bench_recipe import attention_backward_flops, attention_flops

    # [B=1, H=2, L=4, D=8]: two products of 2*1*2*4*4*8 = 512 FLOPs each, 1024 in all
    shape = (1, 2, 4, 8)
    assert attention_flops(shape, shape, shape) == 1024
    # causal: 1 + 2 + 3 + 4 = 10 of the 16 scores, so 10/16 of the arithmetic
    assert attention_flops(shape, shape, shape, 0.0, True) == 640
    assert attention_backward_flops(shape, shape, shape, shape, shape, (1, 2, 4), 0.0, True) == 1280
    # grouped query attention: 2 key/value heads under 6 query heads count the query's heads
    assert attention_flops((1, 6, 4, 8), (1, 2, 4, 8), (1, 2, 4, 8)) == 3 * 1024


def test_the_counter_sees_the_cpu_attention_kernel():
    """Torch's counter alone counts 0 FLOPs for the CPU's fused attention; with the formulas
    it counts forward + backward = 3 forwards."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.bench_recipe import ATTENTION_FLOPS, attention_flops

    q = torch.randn(1, 3, 16, 8, requires_grad=True)
    with FlopCounterMode(display=False, custom_mapping=ATTENTION_FLOPS) as counter:
        out = torch.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
        out.sum().backward()
    shape = tuple(q.shape)
    assert counter.get_total_flops() == 3 * attention_flops(shape, shape, shape, 0.0, True)


def test_extrapolate_by_hand():
    from benchmarks.bench_recipe import Pass, extrapolate

    passes = [Pass(100, 10, 1e9, 1.0), Pass(300, 30, 3e9, 2.0)]
    got = extrapolate(passes, tokens=4000, gemm_gflops=10.0)
    assert got.flops_per_token == pytest.approx(1e7)  # 4e9 FLOPs over 400 tokens
    assert got.total_flops == pytest.approx(4e10)
    assert got.bound_seconds == pytest.approx(4.0)  # 4e10 at 10 GFLOP/s
    assert got.estimate_seconds == pytest.approx(30.0)  # 3 s per 400 tokens, 4000 tokens
    assert got.achieved_gflops == pytest.approx(4 / 3)


def test_a_tiny_recipe_runs_end_to_end(results_file):
    if not (REPO / "wiki_corpus" / "data" / "default" / "tasks.jsonl").exists():
        pytest.skip("the bundled default corpus is not generated yet")
    from agents.testing import smollm2_tokenizer, tiny_causal_lm
    from benchmarks import bench_recipe

    got = bench_recipe.main(["--train-args", "--tiny-model --sft-max-tasks 3", "--sample", "2"])
    # every token goes through each layer's linear weights three times (forward, its
    # recomputation under checkpointing, the backward's input gradient): >= 6 FLOPs a weight
    model = tiny_causal_lm(smollm2_tokenizer())
    weights = sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lm_head" not in name
    )
    assert got.flops_per_token >= 6 * weights
    assert got.bound_seconds > 0 and got.estimate_seconds > 0
    text = results_file.read_text()
    assert "## SFT recipe: its arithmetic against this CPU" in text
    assert "**lower bound**" in text and "--sft-max-tasks 3" in text
