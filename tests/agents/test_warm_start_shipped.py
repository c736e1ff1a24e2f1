"""The shipped warm start is complete, small, and loads into SmolLM2 as a changed model."""

from __future__ import annotations

import json

import pytest
import torch

from agents.agent_format import AgentFormat
from agents.models import WARM_START, warm_start_dir

FILES = ("adapter_config.json", "adapter_model.safetensors", "webanchor_format.json")


def test_the_warm_start_ships_its_adapter_format_and_manifest():
    directory = warm_start_dir()
    for name in (*FILES, "manifest.json"):
        assert (directory / name).is_file(), name
    assert (directory / "adapter_model.safetensors").stat().st_size <= 20 * 2**20
    manifest = json.loads((directory / "manifest.json").read_text())
    for key in ("command", "trained_at_commit", "data", "training", "config"):
        assert key in manifest, key
    assert manifest["data"]["tasks_sha256"] and manifest["config"]["lora_rank"] > 0
    fmt = AgentFormat.load(directory)
    assert fmt is not None and fmt.prompt == manifest["config"]["prompt"]
    assert fmt.max_new_tokens >= 400  # above the longest demonstrated turn (385 tokens)


@pytest.mark.slow
def test_the_warm_start_loads_merged_into_smollm2():
    from agents.models import load_model_and_tokenizer

    base, tokenizer = load_model_and_tokenizer(None, device="cpu", dtype=torch.float32)
    tuned, _ = load_model_and_tokenizer(WARM_START, device="cpu", dtype=torch.float32)
    assert type(tuned) is type(base)  # merged: no PEFT wrapper left
    ids = torch.tensor([tokenizer.encode("Which city is the capital of Shacyvand?")])
    with torch.no_grad():
        diff = (tuned(input_ids=ids).logits - base(input_ids=ids).logits).abs().max()
    assert diff > 1e-2  # the adapter changed the model
