"""TRL: a real ``GRPOTrainer`` trains through the ``environment_factory`` class.

The policy is a tiny random Llama on the SmolLM2 tokenizer whose ``generate`` replays a
scripted agent (search with the gold query, visit the first gold page, answer: the gold
answer for some tasks, a wrong one for others); TRL parses the tool calls, runs them on
the environment, and computes the loss with the model's real forward pass.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import torch

trl = pytest.importorskip("trl", minversion="1.0")

from webanchor_env.integrations.trl import (  # noqa: E402
    INSTRUCTIONS,
    TESTED_VERSIONS,
    WikiToolEnv,
    environment_reward,
    make_environment_class,
    tool_calling_tokenizer,
    trl_dataset,
)
from webanchor_env.scoring import exact_match  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


def test_installed_trl_is_in_the_tested_range():
    from packaging.specifiers import SpecifierSet

    assert trl.__version__ in SpecifierSet(TESTED_VERSIONS)


def test_the_class_has_a_no_argument_constructor_and_typed_tools():
    from transformers.utils import get_json_schema

    env = make_environment_class(split="dev")()
    task = env.session.env.tasks()[0]
    assert env.reset(task_id=task.id, prompt=[]) == task.question
    schemas = {f.__name__: get_json_schema(f) for f in (env.search, env.visit, env.answer)}
    assert schemas["visit"]["function"]["parameters"]["required"] == ["url", "goal"]
    assert "query" in schemas["search"]["function"]["parameters"]["properties"]
    assert env.reward == 0.0 and not env.done
    env.answer(task.answer)
    assert env.reward == 1.0 and env.done
    assert environment_reward([env]) == [1.0]
    assert "over" in env.search("anything")  # no more calls once answered


class ScriptedGenerate:
    """Stands in for ``model.generate``: per prompt row, the next action of a scripted agent."""

    def __init__(self, tokenizer, tasks) -> None:
        self.tokenizer = tokenizer
        self.by_question = {t.question: t for t in tasks}
        self.answers: list[tuple[str, str]] = []  # (task id, answer given)

    def action(self, text: str) -> str:
        question = re.search(r"Question: (.*?)<\|im_end\|>", text, re.S).group(1)
        task = self.by_question[question]
        turn = text.count("<|im_start|>assistant") - 1  # the last one is the generation prompt
        gold = task.gold.actions
        if turn == 0:
            call = {"name": "search", "arguments": {"query": gold[0]["arguments"]["query"][0]}}
        elif turn == 1:
            url = task.gold.pages[0]
            call = {"name": "visit", "arguments": {"url": url, "goal": "find the answer"}}
        elif turn == 2:  # the two rollouts of a group alternate: right, wrong
            n = sum(tid == task.id for tid, _ in self.answers)
            answer = task.answer if n % 2 == 0 else "no idea"
            self.answers.append((task.id, answer))
            call = {"name": "answer", "arguments": {"answer": answer}}
        else:
            return "Done.<|im_end|>"
        return f"<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>"

    def __call__(self, input_ids, attention_mask=None, **_):
        rows = []
        for ids in input_ids:
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            rows.append(self.tokenizer.encode(self.action(text), add_special_tokens=False))
        width = max(map(len, rows))
        pad = self.tokenizer.pad_token_id
        tail = torch.tensor([r + [pad] * (width - len(r)) for r in rows])  # [B, C]
        return torch.cat([input_ids, tail.to(input_ids.device)], dim=1)  # [B, P + C]


@pytest.fixture
def one_thread():
    """The tiny model's steps are faster on one thread of a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_grpo_trainer_logs_the_environments_exact_match_rewards(tmp_path, monkeypatch, one_thread):
    from trl import GRPOConfig, GRPOTrainer

    from agents.testing import smollm2_tokenizer, tiny_causal_lm

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    env_class = make_environment_class(split="train", top_k=2, visit_chars=300)
    dataset = trl_dataset(env_class, limit=4)
    assert dataset[0]["prompt"] == [{"role": "user", "content": INSTRUCTIONS}]
    tasks = env_class().session.env.tasks()[:4]

    tokenizer = tool_calling_tokenizer(copy.deepcopy(smollm2_tokenizer()))
    model = tiny_causal_lm(tokenizer)
    script = ScriptedGenerate(tokenizer, tasks)
    model.generate = script
    instances: list[WikiToolEnv] = []

    def factory() -> WikiToolEnv:
        instances.append(env_class())
        return instances[-1]

    config = GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
        max_steps=2, learning_rate=1e-2, logging_steps=1, report_to=[], use_cpu=True,
        save_strategy="no", bf16=False, max_completion_length=1024, seed=0,
        max_tool_calling_iterations=4,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        args=config,
        train_dataset=dataset,
        reward_funcs=environment_reward,
        environment_factory=factory,
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()

    assert trainer.state.global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    answers = {t.id: t for t in tasks}
    expected = [exact_match(given, answers[tid].answers) for tid, given in script.answers]
    assert expected == [1.0, 0.0] * 2  # 2 steps x 1 group of 2 rollouts, mixed in each group
    logged = list(trainer._logs["rewards"]["environment_reward"])  # the last step's rollouts
    assert sorted(logged) == sorted(expected[2:])
    means = [h["rewards/environment_reward/mean"] for h in trainer.state.log_history[:2]]
    assert means == [0.5, 0.5]
    assert [h["frac_reward_zero_std"] for h in trainer.state.log_history[:2]] == [0.0, 0.0]
    assert trainer.state.log_history[0]["tools/call_frequency"] == pytest.approx(3.0)
    assert len({id(e.session.env.backend) for e in instances}) == 1  # one index per process


def test_rollout_func_output_carries_the_plan_mask_next_to_the_env_mask():
    from types import SimpleNamespace

    from agents.grpo import AllSteps, FirstStep
    from agents.train.trl_adapter import split_trajectory

    t = SimpleNamespace(  # prompt, plan (2 tokens), tool response, turn 1 (2 tokens)
        token_ids=(5, 6, 7, 8, 9, 10, 11),
        logprobs=(0.0, 0.0, -0.5, -0.25, 0.0, -1.0, -2.0),
        action_mask=(0, 0, 1, 1, 0, 1, 1),
        step_ids=(-1, -1, 0, 0, -1, 1, 1),
    )
    every = split_trajectory(t, AllSteps())
    assert every["prompt_ids"] == [5, 6] and every["completion_ids"] == [7, 8, 9, 10, 11]
    assert every["env_mask"] == [1, 1, 0, 1, 1]
    assert every["plan_mask"] == [1, 1, 0, 0, 0]
    assert every["logprobs"] == [-0.5, -0.25, 0.0, -1.0, -2.0]
    first = split_trajectory(t, FirstStep())
    assert first["env_mask"] == first["plan_mask"] == [1, 1, 0, 0, 0]
