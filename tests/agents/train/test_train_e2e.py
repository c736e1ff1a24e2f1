"""End to end on a tiny model and a four-page wiki: anchor-grpo with exact resume, SFT on
gold trajectories, two processes under accelerate, and the reward bookkeeping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from agents.train.__main__ import main
from agents.train.checkpoint import STATE_FILE, list_checkpoints
from agents.train.config import TrainConfig
from agents.train.logging import read_metrics
from agents.train.rewards import outcome_rewards, rubric_rewards
from agents.train.run import OutOfMemory, guard_oom
from agents.trajectory import Trajectory
from wiki_corpus import Gold, Page, Task, title_to_url, write_corpus

FACTS = {
    "Lumen Tower": (
        "The Lumen Tower is a glass tower in Cobalt Bay designed by Orlan Vesk.",
        "Orlan Vesk",
    ),
    "Orlan Vesk": ("Orlan Vesk is an architect born in the town of Tessary.", "Tessary"),
    "Varn Institute": ("The Varn Institute of Design was founded in 1902.", "1902"),
    "Pellucid Strait": (
        "The Pellucid Strait is crossed by the Glasswing Bridge.",
        "Glasswing Bridge",
    ),
}
QUESTIONS = {
    "Lumen Tower": "Who designed the Lumen Tower?",
    "Orlan Vesk": "In which town was Orlan Vesk born?",
    "Varn Institute": "In what year was the Varn Institute of Design founded?",
    "Pellucid Strait": "Which bridge crosses the Pellucid Strait?",
}


def page(title: str) -> Page:
    text = FACTS[title][0]
    html = (
        f"<html><head><title>{title}</title></head><body><main><h1 id='firstHeading'>{title}"
        f"</h1><p>{text}</p></main></body></html>"
    )
    return Page(title.lower().replace(" ", "-"), title_to_url(title), title, html)


def task(i: int, title: str, split: str) -> Task:
    actions = (
        {"name": "search", "arguments": {"query": [title]}},
        {"name": "visit", "arguments": {"url": [title_to_url(title)], "goal": "the answer"}},
        {"name": "answer", "arguments": {"answer": FACTS[title][1]}},
    )
    gold = Gold(pages=(title_to_url(title),), actions=actions)
    return Task(f"t-{i}", QUESTIONS[title], FACTS[title][1], split=split, gold=gold)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    titles = list(FACTS)
    tasks = [task(i, t, "train") for i, t in enumerate(titles)]
    tasks += [task(10 + i, t, "dev") for i, t in enumerate(titles[:2])]
    out = tmp_path_factory.mktemp("corpus") / "tiny"
    return write_corpus(out, [page(t) for t in titles], tasks, {"name": "train-tiny"})


def args(corpus: Path, out: Path, *extra: str) -> list[str]:
    # The tiny random judge's scores differ only by noise, which the default spread floor
    # makes flat; these runs test the machinery, so they train on it (floor 0).
    return [
        "--tiny-model", "--corpus", str(corpus), "--output-dir", str(out),
        "--max-turns", "2", "--max-new-tokens", "10", "--tasks-per-step", "1",
        "--stage1-group-size", "3", "--stage2-group-size", "2", "--micro-batch-size", "2",
        "--optimizer-steps-per-batch", "2", "--learning-rate", "1e-3", "--no-progress",
        "--judge-batch-size", "3", "--min-reward-spread", "0", *extra,
    ]  # fmt: skip


def without_times(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in records]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Step 2. empty batch")
def test_anchor_grpo_runs_and_a_resumed_run_repeats_it_exactly(corpus_dir, tmp_path):
    stages = ("--algo", "anchor-grpo", "--stage1-steps", "2", "--stage2-steps", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(args(corpus_dir, tmp_path / "a", *stages)) == 0
    straight = read_metrics(tmp_path / "a" / "metrics.jsonl")
    assert [r["stage"] for r in straight] == ["stage1", "stage1", "stage2"]
    plan = straight[0]
    assert plan["tokens/rest"] == 0 and plan["tokens/plan"] > 0  # stage 1 stops after the plan
    assert 0 <= plan["rubric/score"] <= 1 and plan["rubric/goal_alignment"] is not None
    assert plan["loss/policy"] is not None and plan["loss/entropy"] > 0
    assert plan["tokens/trained"] == plan["tokens/plan"]  # only plan tokens are trained
    # a random tiny model never answers right: stage 2 has no signal and is skipped
    assert straight[2]["reward/pass_rate"] == 0 and straight[2]["loss/policy"] is None
    assert any("empty batch" in str(w.message) for w in caught)
    for name in ("final/config.json", "curves.png", "tensorboard"):
        assert (tmp_path / "a" / name).exists()

    first = main(args(corpus_dir, tmp_path / "b", *stages, "--stop-after", "2"))
    assert first == 0 and not (tmp_path / "b" / "final").exists()
    assert main(args(corpus_dir, tmp_path / "b", *stages, "--resume", "auto")) == 0
    resumed = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert without_times(resumed) == without_times(straight)

    with pytest.raises(ValueError, match="seed: 0 -> 1"):
        main(args(corpus_dir, tmp_path / "b", *stages, "--resume", "auto", "--seed", "1"))


@pytest.mark.slow
def test_sft_on_gold_trajectories_lowers_the_loss(corpus_dir, tmp_path):
    extra = ("--algo", "sft", "--sft-epochs", "4", "--sft-learning-rate", "3e-3")
    assert main(args(corpus_dir, tmp_path, *extra, "--eval-tasks", "1")) == 0
    records = read_metrics(tmp_path / "metrics.jsonl")
    losses = [r["sft/loss"] for r in records if r["stage"] == "sft"]
    assert len(losses) == 12  # 4 gold trajectories and 1 recovery, 2 per step, 4 epochs
    assert losses[-1] < losses[0]
    assert records[-1]["stage"] == "eval" and records[-1]["eval/pass@1_after"] is not None
    assert (tmp_path / "final" / "config.json").exists()


def test_a_lora_sft_run_packs_into_a_warm_start_that_loads_as_trained(corpus_dir, tmp_path):
    from safetensors.torch import load_file

    from agents.agent_format import AgentFormat
    from agents.models import merge_adapter
    from agents.testing import smollm2_tokenizer, tiny_causal_lm
    from agents.train.warm_start import pack

    extra = ("--algo", "sft", "--sft-epochs", "2", "--sft-learning-rate", "1e-2")
    extra += ("--lora-rank", "4", "--sft-max-hops", "1", "--sft-lr-decay", "--warmup-steps", "1")
    assert main(args(corpus_dir, tmp_path / "run", *extra, "--prompt", "compact-plan")) == 0
    target = pack(tmp_path / "run", tmp_path / "ship", wall_seconds=1.0)
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["data"]["sft_max_hops"] == 1 and manifest["training"]["steps"] == 6
    assert manifest["config"]["lora_rank"] == 4 and manifest["adapter_bytes"] > 0
    weights = load_file(str(target / "adapter_model.safetensors"))
    assert weights and all(w.dtype == torch.bfloat16 for w in weights.values())
    assert AgentFormat.load(target).prompt == "compact-plan"
    assert (target / "curves.png").stat().st_size > 1000  # the run's loss curve travels too
    tokenizer = smollm2_tokenizer()
    base = tiny_causal_lm(tokenizer, seed=0)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        merged = merge_adapter(base, target).state_dict()
    assert not [w for w in seen if "is_gradient_checkpointing" in str(w.message)]
    trained = load_file(str(tmp_path / "run" / "final" / "model.safetensors"))
    changed = [k for k in trained if not torch.equal(before[k], merged[k])]
    assert changed  # the adapter moved the weights ...
    for k in changed:  # ... to the trained model's, up to the bf16 rounding of the adapter
        assert torch.allclose(merged[k], trained[k], atol=2e-3), k
    with pytest.raises(FileNotFoundError, match="finished LoRA run"):
        pack(tmp_path / "nothing", tmp_path / "ship2")


def test_sft_accumulating_micro_batches_matches_one_batch(corpus_dir, tmp_path):
    extra = ("--algo", "sft", "--sft-epochs", "1", "--sft-learning-rate", "1e-2")
    assert main(args(corpus_dir, tmp_path / "one", *extra, "--micro-batch-size", "4")) == 0
    split = ("--micro-batch-size", "1", "--sft-batch-size", "4")
    assert main(args(corpus_dir, tmp_path / "acc", *extra, *split)) == 0
    one, acc = (read_metrics(tmp_path / d / "metrics.jsonl") for d in ("one", "acc"))
    assert [r["sft/tokens"] for r in one] == [r["sft/tokens"] for r in acc]
    assert len(one) >= 2  # the later steps' losses follow the earlier updates
    for a, b in zip(one, acc):
        assert a["sft/loss"] == pytest.approx(b["sft/loss"], rel=1e-5)
        # the accumulated gradient itself (before AdamW: its first step turns each element's
        # sign into +-lr, so a near-zero element summed in another order may flip)
        assert a["loss/grad_norm"] == pytest.approx(b["loss/grad_norm"], rel=1e-4)


def test_gold_trajectories_train_only_the_oracle_tokens(corpus_dir):
    from agents.testing import smollm2_tokenizer
    from agents.train.run import env_factory
    from agents.train.sft import gold_trajectories
    from wiki_corpus import load

    tokenizer = smollm2_tokenizer()
    make_env, _ = env_factory(str(corpus_dir), "train")
    tasks = load(corpus_dir).tasks_in("train")[:2]
    data = gold_trajectories(tokenizer, make_env, tasks, "react-plan-prefill", "train", 0)
    assert len(data) == 2 and all(t.reward == 1.0 for t in data)
    for t in data:
        written = tokenizer.decode(t.policy_token_ids)
        assert "</plan>" in written and "Orlan" not in written.split("</plan>")[0][:0]
        assert {s for s, m in zip(t.step_ids, t.action_mask) if m} == {0, 1, 2}
        assert "<tool_response>" not in written  # observations are context only


@pytest.mark.slow
def test_two_processes_under_accelerate_stay_in_sync(corpus_dir, tmp_path):
    out = tmp_path / "ddp"
    command = [
        # on a machine without GPUs, --multi_gpu starts torchrun; the processes use gloo
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--multi_gpu",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "agents.train",
        *args(corpus_dir, out, "--algo", "anchor-grpo", "--stage1-steps", "1",
              "--stage2-steps", "1", "--no-tensorboard"),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_metrics(out / "metrics.jsonl")
    assert len(records) == 2
    for record in records:
        assert record["dist/processes"] == 2
        assert record["dist/param_spread"] == 0.0
    assert records[0]["batch/sequences"] > 3  # both processes trained their own groups
    assert records[0]["tokens/plan"] > 0


def traj(reward: float, reason: str | None = None, group: int = 0) -> Trajectory:
    return Trajectory("t-0", group, 0, (1, 2), (0.0, -1.0), (0, 1), (-1, 0), reward,
                      truncated_reason=reason)  # fmt: skip


def test_broken_episodes_and_unparsed_judgments_are_excluded_not_zero():
    rewards = outcome_rewards([traj(1.0), traj(0.0, "policy_error: boom"), traj(float("nan"))])
    assert rewards.values[0] == 1.0 and torch.isnan(rewards.values[1:]).all()

    class Result:
        def __init__(self, reward):
            self.reward, self.scores = reward, None if reward is None else {"a": 3.0}

    class Judge:
        rubric = type("R", (), {"dimensions": [type("D", (), {"key": "a"})]})

        def score(self, questions, plans):
            return [Result(0.6), Result(None)]

    judged = rubric_rewards([traj(0.0), traj(0.0)], ["q", "q"], Judge())
    assert judged.values[0] == pytest.approx(0.6) and torch.isnan(judged.values[1])
    assert judged.dimensions["a"][0] == 3.0 and torch.isnan(judged.dimensions["a"][1])


def test_out_of_memory_names_the_settings_to_lower():
    config = TrainConfig(micro_batch_size=8)
    expected = "Lower --micro-batch-size \\(now 8\\)"
    with pytest.raises(OutOfMemory, match=expected), guard_oom(config, None, "the update"):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(RuntimeError, match="unrelated"), guard_oom(config, None, "the update"):
        raise RuntimeError("unrelated")


def test_cli_help_lists_the_algorithms(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "anchor-grpo" in text and "--stage1-group-size" in text
    json.dumps(text)


# ----------------------------------------------------------------------------- TRL adapter


def trl_rollout(corpus_dir, selector, plan_only=False):
    from agents.policy import SamplingParams
    from agents.prompts import get_prompt
    from agents.train.run import env_factory
    from agents.train.trl_adapter import make_rollout_func
    from wiki_corpus import load

    make_env, _ = env_factory(str(corpus_dir), "train")
    tasks = load(corpus_dir).tasks_in("train")
    return tasks, make_rollout_func(
        make_env,
        selector,
        tasks,
        prompt=get_prompt("react-plan-prefill"),
        params=SamplingParams(max_new_tokens=8),
        max_turns=2,
        plan_only=plan_only,
    )


def test_trl_rollout_func_returns_env_mask_of_the_selected_steps(corpus_dir):
    from types import SimpleNamespace

    from agents.grpo import FirstStep
    from agents.testing import smollm2_tokenizer, tiny_causal_lm

    tokenizer = smollm2_tokenizer()
    tasks, rollout_func = trl_rollout(corpus_dir, FirstStep())
    trainer = SimpleNamespace(
        state=SimpleNamespace(global_step=3),
        accelerator=SimpleNamespace(process_index=0, unwrap_model=lambda m: m),
        model=tiny_causal_lm(tokenizer),
        processing_class=tokenizer,
    )
    prompts = [tasks[0].question] * 2 + [[{"role": "user", "content": tasks[1].question}]] * 2
    out = rollout_func(prompts, trainer)
    assert {"prompt_ids", "completion_ids", "logprobs", "env_mask", "outcome", "plan"} <= set(out)
    assert all(len(v) == 4 for v in out.values())
    assert out["task_id"] == [tasks[0].id] * 2 + [tasks[1].id] * 2
    for prompt, completion, logp, mask in zip(
        out["prompt_ids"], out["completion_ids"], out["logprobs"], out["env_mask"]
    ):
        assert len(completion) == len(logp) == len(mask)
        assert mask[0] == 1  # the completion starts with the plan the policy wrote
        n_plan = mask.index(0) if 0 in mask else len(mask)
        assert sum(mask) == n_plan and 0 < n_plan <= 8  # only the plan turn, nothing later
        assert all(lp < 0 for lp in logp[:n_plan])
        assert len(completion) > n_plan  # tool responses and turn 2 follow, masked out
        assert tokenizer.decode(prompt).rstrip().endswith("<plan>")
    assert out["outcome"] == [0.0] * 4
    assert out["completion_ids"][0] != out["completion_ids"][1]  # samples of a group differ


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_trl_grpo_trainer_takes_a_step_with_first_step_masking(corpus_dir, tmp_path):
    pytest.importorskip("trl")
    from trl import GRPOConfig, GRPOTrainer

    from agents.grpo import FirstStep
    from agents.rewards import ExpectedScoreJudge
    from agents.testing import smollm2_tokenizer, tiny_causal_lm
    from agents.train.trl_adapter import PlanRubricReward, outcome_reward, trl_dataset

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = smollm2_tokenizer()
    model = tiny_causal_lm(tokenizer)
    judge = ExpectedScoreJudge(tiny_causal_lm(tokenizer, seed=1), tokenizer)
    tasks, rollout_func = trl_rollout(corpus_dir, FirstStep(), plan_only=True)
    config = GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4,
        max_steps=1, learning_rate=1e-3, logging_steps=1, report_to=[], use_cpu=True,
        save_strategy="no", bf16=False, max_completion_length=16,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        args=config,
        train_dataset=trl_dataset(tasks),
        reward_funcs=[PlanRubricReward(judge), outcome_reward],
        rollout_func=rollout_func,
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    logged = trainer.state.log_history[0]
    assert "rewards/plan_rubric/mean" in logged


def two_dimension_rubric(path: Path) -> Path:
    dims = [
        {"key": "focus", "name": "Focus", "description": "Aims at the question.",
         "criteria": ["Names the asked attribute."], "max_score": 3},
        {"key": "tools", "name": "Tools", "description": "Uses search and visit well.",
         "criteria": ["Searches before visiting."], "max_score": 2},
    ]  # fmt: skip
    path.write_text(json.dumps({"name": "learned", "version": "2", "dimensions": dims}))
    return path


@pytest.mark.filterwarnings("ignore:Step 0. empty batch")
def test_a_rubric_file_is_checked_and_drives_the_plan_reward(corpus_dir, tmp_path):
    from agents.rubrics.validation import UnvalidatedRubricError, UnvalidatedRubricWarning

    rubric = two_dimension_rubric(tmp_path / "rubric.json")
    stage = ("--algo", "anchor-grpo", "--stage1-steps", "1", "--stage2-steps", "0")
    with pytest.warns(UnvalidatedRubricWarning, match="not validated"):
        assert main(args(corpus_dir, tmp_path / "a", *stage, "--rubric", str(rubric))) == 0
    [record] = read_metrics(tmp_path / "a" / "metrics.jsonl")
    assert 0 <= record["rubric/focus"] <= 3 and 0 <= record["rubric/tools"] <= 2
    assert "rubric/goal_alignment" not in record
    strict = ("--rubric", str(rubric), "--require-validated-rubric")
    with pytest.raises(UnvalidatedRubricError, match="learned"):
        main(args(corpus_dir, tmp_path / "b", *stage, *strict))


@pytest.mark.filterwarnings("ignore:Step 0. empty batch")
def test_naive_plan_reward_is_one_overall_rating(corpus_dir, tmp_path):
    stage = ("--algo", "anchor-grpo", "--stage1-steps", "1", "--stage2-steps", "0")
    assert main(args(corpus_dir, tmp_path, *stage, "--plan-reward", "naive")) == 0
    [record] = read_metrics(tmp_path / "metrics.jsonl")
    assert 0 <= record["rubric/overall"] <= 5
    assert record["rubric/score"] == pytest.approx(record["rubric/overall"] / 5, abs=1e-5)
    assert not any(k.startswith("rubric/goal") for k in record)


@pytest.mark.filterwarnings("ignore:Step .. empty batch")
def test_tracer1_trains_an_anticipatory_agent_in_two_stages(corpus_dir, tmp_path):
    flags = ("--algo", "tracer1", "--agent", "anticipatory", "--prompt", "anticipatory-t3-prefill")
    flags += ("--stage1-steps", "1", "--stage2-steps", "1", "--max-new-tokens", "24")
    assert main(args(corpus_dir, tmp_path, *flags)) == 0
    first, second = read_metrics(tmp_path / "metrics.jsonl")
    assert (first["stage"], second["stage"]) == ("stage1", "stage2")
    # stage 1 scores every turn's predictions (0 for the random model's unreadable lists,
    # not missing); stage 2 adds the share of useful tool calls to the 0/1 outcome
    assert first["reward/excluded"] == 0 and 0 <= first["reward/mean"] <= 1
    assert first["tokens/rest"] > 0  # whole anticipatory episodes, not plans only
    assert second["reward/excluded"] == 0 and "reward/pass_rate" not in second
    [checkpoint] = list_checkpoints(tmp_path)
    saved = json.loads((checkpoint / STATE_FILE).read_text())["config"]
    assert (saved["algo"], saved["agent"], saved["horizon"]) == ("tracer1", "anticipatory", 3)


def test_custom_stages_take_any_selector_and_reward_function(corpus_dir, tmp_path):
    from agents.grpo import ExplicitSteps
    from agents.train.algos import RewardSource, Stage
    from agents.train.trainer import train

    seen = []

    def plan_length(trajectories, tasks):
        seen.append([t.id for t in tasks])
        return [None if i == 0 else float(len(t.plan)) for i, t in enumerate(trajectories)]

    config = TrainConfig.from_dict(dict(
        tiny_model=True, corpus=str(corpus_dir), output_dir=str(tmp_path), max_turns=2,
        max_new_tokens=10, tasks_per_step=1, stage1_steps=1, stage1_group_size=3, micro_batch_size=3,
        learning_rate=1e-3, progress=False, tensorboard=False,
    ))  # fmt: skip
    stage = Stage(1, ExplicitSteps({0}), plan_length, True, config.stage(1))
    result = train(config, stages=[stage])
    assert result.steps_done == 1 and seen and all(i.startswith("t-") for i in seen[0])
    [record] = read_metrics(tmp_path / "metrics.jsonl")
    assert record["reward/excluded"] == 1  # the None reward is counted, not zero
    assert record["reward/count"] == 2  # the other two of the group of 3
    assert record["tokens/rest"] == 0 and record["tokens/trained"] <= record["tokens/plan"]
    with pytest.raises(ValueError, match="at least one stage"):
        train(config.replace(output_dir=str(tmp_path / "none")), stages=[])
    assert RewardSource.NAIVE_PLAN.judged and not RewardSource.OUTCOME.judged


@pytest.mark.filterwarnings("ignore:Step .. empty batch")
def test_demo_measures_probes_trains_both_stages_and_reports(corpus_dir, tmp_path):
    from agents.agent_format import AgentFormat
    from agents.train.demo import DemoSettings, demo_run, demo_summary

    fmt = AgentFormat(
        "compact-plan-prefill", top_k=2, visit_chars=600, max_turns=2, max_new_tokens=8
    )
    training = {"stage1_steps": 1, "stage2_steps": 1, "stage1_group_size": 2}
    training |= {"stage2_group_size": 2, "tasks_per_step": 1, "progress": False}
    settings = DemoSettings(
        corpus=str(corpus_dir), eval_tasks=2, max_hops=5, probe_tasks=2, tiny_model=True,
        format=fmt, overrides=training | {"tensorboard": False},
    )  # fmt: skip
    result = demo_run(tmp_path, settings)
    assert result.before["tasks"] == 2 and result.after["tasks"] == 2
    assert result.probe.questions == 2 and 0.0 <= result.probe.after_wrong <= 1.0
    stages = [r["stage"] for r in read_metrics(tmp_path / "anchor-grpo" / "metrics.jsonl")]
    assert stages == ["stage1", "stage2"]
    assert (tmp_path / "anchor-grpo" / "curves.png").exists()
    saved = AgentFormat.load(tmp_path / "anchor-grpo" / "final")
    assert saved == fmt  # the trained model keeps the format it was trained in
    summary = demo_summary(result)
    assert "plan-anchor probe, 2 questions" in summary and "curves.png" in summary
    again = demo_run(tmp_path, settings)  # a second run in the same place starts over
    assert again.before == result.before


def test_a_reward_function_returning_the_wrong_count_is_named():
    from agents.train.rewards import custom_rewards

    batch = custom_rewards([traj(0.0), traj(1.0)], ["a", "b"], lambda ts, tasks: [1.0, None])
    assert torch.isnan(batch.values[1]) and batch.values[0] == 1.0
    with pytest.raises(ValueError, match="return 2 values, got 1"):
        custom_rewards([traj(0.0), traj(1.0)], ["a", "b"], lambda ts, tasks: [1.0])
