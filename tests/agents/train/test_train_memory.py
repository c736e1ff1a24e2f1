"""Memory: activation checkpointing leaves the gradients alone; the CLI reports peak RSS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from agents.train import __main__ as cli
from agents.train.memory import checkpoint_activations, peak_rss_gib
from agents.train.run import TrainResult


def _grads(model: torch.nn.Module, ids: torch.Tensor) -> list[torch.Tensor]:
    from agents.train.sft import sft_loss

    model.zero_grad()
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[:, 5:] = True
    sft_loss(model, ids, torch.ones_like(ids), mask, chunk_size=3).backward()
    return [p.grad.clone() for p in model.parameters()]


def test_activation_checkpointing_gives_the_same_gradients():
    from agents.testing import smollm2_tokenizer, tiny_causal_lm

    model = tiny_causal_lm(smollm2_tokenizer()).train()
    ids = torch.randint(3, 500, (2, 12), generator=torch.Generator().manual_seed(0))
    plain = _grads(model, ids)
    assert checkpoint_activations(model)
    assert model.model.gradient_checkpointing
    for got, want in zip(_grads(model, ids), plain):
        torch.testing.assert_close(got, want)
    assert not checkpoint_activations(torch.nn.Linear(2, 2))  # not a Hugging Face model


def test_the_training_cli_prints_peak_memory_at_the_end(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "train", lambda config: TrainResult(Path(tmp_path), 3, True))
    assert cli.main(["--algo", "sft", "--tiny-model"]) == 0
    out = capsys.readouterr().out
    assert "Training finished after 3 steps" in out
    shown = re.search(r"Peak memory: (\d+\.\d\d) GiB resident", out)
    assert shown and 0 < float(shown.group(1)) <= peak_rss_gib() + 0.01


def test_a_right_padded_batch_runs_unmasked_with_the_same_real_logits():
    from agents.testing import smollm2_tokenizer, tiny_causal_lm
    from agents.train.logprobs import forward_logits, right_padded

    model = tiny_causal_lm(smollm2_tokenizer()).eval()
    ids = torch.randint(3, 500, (3, 10), generator=torch.Generator().manual_seed(1))
    lengths = [10, 6, 3]
    mask = torch.tensor([[1] * n + [0] * (10 - n) for n in lengths])
    assert right_padded(mask) and not right_padded(mask.flip(-1))
    with torch.no_grad():
        batched = forward_logits(model, ids, mask)
        for row, n in enumerate(lengths):  # each row alone, unpadded
            alone = model(input_ids=ids[row : row + 1, :n]).logits[0]
            torch.testing.assert_close(batched[row, :n], alone, atol=1e-5, rtol=1e-5)
        left = forward_logits(model, ids, mask.flip(-1))  # left padding keeps its mask
        assert torch.isfinite(left).all()


HEAP_PATTERN = """
import contextlib, json, sys, torch
from agents.train import memory
from agents.train.memory import pin_mmap_threshold, release_free_memory, rss_gib
pinned = pin_mmap_threshold() if sys.argv[1] == "pin" else False
release_free_memory()
base = rss_gib()
generator = torch.Generator().manual_seed(0)
kept = []
grown = 0.0
for _ in range(3):  # blocks of varying size, most freed: the pattern of varying lengths
    block = memory.transient_activations() if sys.argv[1] == "block" else contextlib.nullcontext()
    with block as inside:
        sizes = torch.randint(200_000, 2_000_000, (120,), generator=generator)
        blocks = [torch.ones(int(n)) for n in sizes]
        kept += blocks[::20]
        del blocks
        held = sum(b.numel() * 4 for b in kept) / 2**30
        grown = max(grown, rss_gib() - base - held)  # freed but not returned
    pinned = pinned or bool(inside)
released = release_free_memory()
print(json.dumps({"pinned": pinned, "grown": grown, "released": released,
                  "left": rss_gib() - base - held}))
"""


def _heap_pattern(mode: str) -> dict:
    """Allocate and free tensors of 0.8-8 MB in a fresh process (``mode`` pin: with the
    mmap threshold pinned first); what stayed resident, in GiB."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", HEAP_PATTERN, mode],
        capture_output=True, text=True, check=True, env=env, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_heap_memory_goes_back_to_the_os_between_steps_or_at_once_when_pinned():
    from agents.train.memory import rss_gib

    if rss_gib() is None:
        pytest.skip("no /proc/self/statm on this system")
    default = _heap_pattern("default")
    if not default["released"] and default["grown"] < 0.1:
        pytest.skip("not glibc: no heap to measure")
    # glibc's rising mmap threshold keeps freed blocks resident until malloc_trim ...
    assert default["grown"] > 0.1 and default["left"] < 0.5 * default["grown"]
    # ... and with the threshold pinned, freed blocks leave at once.
    pinned = _heap_pattern("pin")
    assert pinned["pinned"] and pinned["grown"] < 0.25 * default["grown"]
    block = _heap_pattern("block")  # pinned inside each block only, as a micro-batch is
    assert block["pinned"] and block["grown"] < 0.25 * default["grown"]
