"""verl: the ``webanchor_wiki`` agent loop's ``run`` on CPU with verl's real classes.

Exercised: verl's ``AgentLoopBase`` (its chat templating, system-prompt stripping and event
loop), ``AgentLoopOutput`` (and its ``as_dict`` tensors), the agent-loop registry, the
tool registry loading ``examples/verl/tool_config.yaml``. In place of vLLM a scripted token
server answers ``generate(request_id, prompt_ids, sampling_params)`` with the gold actions
of the prompt's task (SmolLM2 tokenizer). Not exercised: Ray workers, vLLM/SGLang, the
PPO trainer (they need GPUs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip(
    "verl.experimental.agent_loop", reason="needs verl (pip install 'webanchor[verl]')"
)

from omegaconf import OmegaConf  # noqa: E402
from verl.experimental.agent_loop.agent_loop import (  # noqa: E402
    DictConfigWrap,
    _agent_loop_registry,
)
from verl.workers.rollout.replica import TokenOutput  # noqa: E402

from webanchor_env.integrations.verl import (  # noqa: E402
    AGENT_NAME,
    SYSTEM_PROMPT,
    TESTED_VERSIONS,
    WikiAgentLoop,
    compute_score,
    verl_rows,
)
from wiki_corpus import load  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[3]
TASKS = load("default").tasks_in("dev")[:3]
LOGPROB = -0.5


def turn_texts(task, answer: str | None = None) -> list[str]:
    """The gold path as assistant turns in the environment's grammar, a plan first."""
    turns = []
    for a in task.gold.actions:
        if a["name"] == "answer":
            turns.append(f"<answer>{answer or a['arguments']['answer']}</answer>")
        else:
            turns.append(f"<tool_call>{json.dumps(a)}</tool_call>")
    turns[0] = "<plan>Find the entity the question names, then read its page.</plan>\n" + turns[0]
    return turns


class ScriptedServer:
    """Stands in for verl's server manager: the next gold turn of the prompt's task."""

    def __init__(self, tokenizer, wrong: set[str] = frozenset()) -> None:
        self.tokenizer, self.wrong = tokenizer, wrong
        self.by_question = {t.question: t for t in TASKS}
        self.sampled: dict[str, list[list[int]]] = {}

    async def generate(self, request_id, *, prompt_ids, sampling_params, **_):
        text = self.tokenizer.decode(prompt_ids)
        task = next(t for q, t in self.by_question.items() if q in text)
        turn = text.count("<|im_start|>assistant") - 1
        answer = "not the answer" if task.id in self.wrong else None
        ids = self.tokenizer.encode(turn_texts(task, answer)[turn], add_special_tokens=False)
        ids.append(self.tokenizer.convert_tokens_to_ids("<|im_end|>"))
        self.sampled.setdefault(task.id, []).append(ids)
        return TokenOutput(token_ids=ids, log_probs=[LOGPROB] * len(ids), stop_reason="completed")


@pytest.fixture(scope="module")
def tokenizer():
    from agents.testing import smollm2_tokenizer

    return smollm2_tokenizer()


def make_loop(tokenizer, server) -> WikiAgentLoop:
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create(
        {"actor_rollout_ref": {"rollout": {"prompt_length": 4096, "response_length": 16384,
                                           "multi_turn": {"max_assistant_turns": 8}}}}
    )  # fmt: skip
    return WikiAgentLoop(
        trainer_config=DictConfigWrap(config),
        server_manager=server,
        tokenizer=tokenizer,
        processor=None,
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(OmegaConf.create({})),
    )


def run(loop: WikiAgentLoop, task):
    row = next(r for r in verl_rows("default", "dev") if r["extra_info"]["task_id"] == task.id)
    sample = {"raw_prompt": row["prompt"], "extra_info": row["extra_info"]}
    return loop.loop.run_until_complete(loop.run({"temperature": 1.0}, **sample)), row


def test_installed_verl_is_in_the_tested_range():
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    assert version("verl") in SpecifierSet(TESTED_VERSIONS)


def test_the_loop_is_registered_under_its_name():
    assert _agent_loop_registry[AGENT_NAME] == {
        "_target_": "webanchor_env.integrations.verl.WikiAgentLoop"
    }


def test_run_returns_token_exact_output_with_reward_and_plan_mask(tokenizer):
    server = ScriptedServer(tokenizer, wrong={TASKS[2].id})
    loop = make_loop(tokenizer, server)
    for task in TASKS:
        out, row = run(loop, task)
        turns = server.sampled[task.id]
        n = len(task.gold.actions)
        assert len(turns) == n
        assert out.reward_score == (0.0 if task.id in server.wrong else 1.0)
        assert out.num_turns == 1 + n + (n - 1)  # user, assistants, tool responses
        expected = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)
        assert out.prompt_ids == list(expected["input_ids"])
        ids, mask, logp = out.response_ids, out.response_mask, out.response_logprobs
        assert len(ids) == len(mask) == len(logp) == len(out.extra_fields["plan_mask"])
        assert [t for t, m in zip(ids, mask) if m] == [t for turn in turns for t in turn]
        assert all((lp == LOGPROB) == bool(m) for lp, m in zip(logp, mask))
        plan = out.extra_fields["plan_mask"]
        assert plan[: len(turns[0])] == [1] * len(turns[0]) and sum(plan) == len(turns[0])
        assert ids[: len(turns[0])] == turns[0]  # the response starts with the plan turn
        tool_text = tokenizer.decode([t for t, m in zip(ids, mask) if not m])
        assert tool_text.count("<|im_start|>tool") == n - 1
        assert SYSTEM_PROMPT not in tool_text  # verl stripped the template's system prompt
        tensors = out.as_dict()  # verl's own conversion for the trainer
        assert tensors["rm_scores"][-1] == out.reward_score
        assert tensors["responses"].shape == tensors["response_mask"].shape


def test_tools_load_from_the_sample_tool_config_and_answer_as_the_environment(tokenizer):
    from verl.tools.tool_registry import initialize_tools_from_config

    from webanchor_env.backend import get_backend

    tools = {
        t.name: t for t in initialize_tools_from_config(REPO / "examples/verl/tool_config.yaml")
    }
    assert set(tools) == {"search", "visit"}
    backend = get_backend("default", show_progress=False)
    task = TASKS[0]
    query = task.gold.actions[0]["arguments"]["query"]
    url = task.gold.pages[0]

    async def call():
        search_id, _ = await tools["search"].create()
        found, reward, _ = await tools["search"].execute(search_id, {"query": query})
        visit_id, _ = await tools["visit"].create()
        page, _, _ = await tools["visit"].execute(visit_id, {"url": [url], "goal": "facts"})
        await tools["search"].release(search_id)
        return found, reward, page

    import asyncio

    found, reward, page = asyncio.run(call())
    assert found.text == backend.search_text(query, 5) and reward == 0.0
    assert page.text == backend.visit_text([url], "facts", max_chars=4000)


def test_compute_score_is_exact_match_of_the_answer():
    truth = ["Lumen Tower", "The Lumen Tower"]
    assert (
        compute_score("webanchor_wiki", "<think>..</think><answer>the lumen tower.</answer>", truth)
        == 1.0
    )
    assert compute_score("webanchor_wiki", "<answer>Orlan Vesk</answer>", truth) == 0.0
    assert compute_score("webanchor_wiki", "so it is\nLumen Tower", "Lumen Tower") == 1.0
