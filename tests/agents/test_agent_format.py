"""A trained model's format travels with it: saved by training, used by evaluation and
further training unless a flag says otherwise."""

from __future__ import annotations

import pytest

from agents.agent_format import FORMAT_FILE, AgentFormat
from agents.evaluate import EvalConfig
from agents.models import WARM_START, model_directory, warm_start_dir
from agents.train.config import parse_args

FMT = AgentFormat(
    "compact-plan-prefill", top_k=2, visit_chars=1200, max_turns=8, max_new_tokens=400
)


def test_a_saved_format_loads_back_and_a_missing_one_is_none(tmp_path):
    FMT.save(tmp_path)
    assert AgentFormat.load(tmp_path) == FMT
    assert AgentFormat.load(tmp_path / "elsewhere") is None and AgentFormat.load(None) is None


def test_a_broken_format_file_is_named(tmp_path):
    (tmp_path / FORMAT_FILE).write_text('{"prompt": "react-plan"}')
    with pytest.raises(ValueError, match=f"model format in .*{FORMAT_FILE}"):
        AgentFormat.load(tmp_path)
    (tmp_path / FORMAT_FILE).write_text("not json")
    with pytest.raises(ValueError, match="unreadable"):
        AgentFormat.load(tmp_path)


def test_evaluation_plays_a_model_in_its_saved_format_unless_told_otherwise(tmp_path):
    FMT.save(tmp_path)
    config = EvalConfig(policy=str(tmp_path))
    assert (config.prompt, config.top_k, config.visit_chars) == ("compact-plan-prefill", 2, 1200)
    assert (config.max_turns, config.max_new_tokens) == (8, 400)
    config = EvalConfig(policy=str(tmp_path), top_k=5, prompt="react-plan")
    assert (config.top_k, config.prompt, config.visit_chars) == (5, "react-plan", 1200)
    plain = EvalConfig(policy="smollm2")
    assert (plain.prompt, plain.max_turns, plain.max_new_tokens, plain.top_k) == (None, 20, 256, 5)


def test_training_from_a_model_takes_its_format_then_preset_then_flags(tmp_path):
    FMT.save(tmp_path)
    config = parse_args(["--algo", "grpo", "--model", str(tmp_path), "--top-k", "4"])
    assert (config.prompt, config.visit_chars, config.max_new_tokens) == (
        "compact-plan-prefill", 1200, 400,
    )  # fmt: skip
    assert config.top_k == 4 and config.model == str(tmp_path)
    assert parse_args(["--algo", "grpo"]).prompt == "react-plan-prefill"
    preset = parse_args(["--preset", "smollm2-cpu", "--sft-max-tasks", "3"])
    assert (preset.algo.value, preset.lora_rank, preset.sft_max_tasks) == ("sft", 16, 3)


def test_model_names_map_to_their_directories(tmp_path):
    assert model_directory(WARM_START) == warm_start_dir()
    assert model_directory(str(tmp_path)) == tmp_path
    assert model_directory("smollm2") is None and model_directory("org/some-model") is None
