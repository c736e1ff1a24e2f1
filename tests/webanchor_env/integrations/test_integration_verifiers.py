"""verifiers: ``load_environment`` evaluated by verifiers' own loop (``Environment.evaluate``)
against a local OpenAI-compatible stub that replays each task's gold actions as tool calls."""

from __future__ import annotations

import asyncio
import json

import pytest

vf = pytest.importorskip("verifiers", reason="needs verifiers (pip install 'webanchor[verifiers]')")

from served_app import Served  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from webanchor_env.integrations.verifiers import TESTED_VERSIONS, load_environment  # noqa: E402
from wiki_corpus import load  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TASKS = {t.question: t for t in load("default").tasks_in("dev")[:3]}
PLAN = "Plan: search for the entity the question names, read its page, then answer."


def gold_calls(task, plain_answer: bool) -> list[dict]:
    calls = []
    for a in task.gold.actions:
        args = dict(a["arguments"])
        for key in ("query", "url"):
            if isinstance(args.get(key), list):
                args[key] = args[key][0]
        if a["name"] == "visit":
            args.setdefault("goal", "")
        calls.append({"name": a["name"], "arguments": args})
    if plain_answer:  # end with the answer as text instead of calling the answer tool
        calls[-1] = {"content": calls[-1]["arguments"]["answer"]}
    return calls


def stub_app(plain_answer: bool) -> Starlette:
    """``POST /v1/chat/completions``: the next gold action of the prompt's task."""
    requests: list[dict] = []

    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        requests.append(body)
        messages = body["messages"]
        question = next(m["content"] for m in messages if m["role"] == "user")
        turn = sum(m["role"] == "assistant" for m in messages)
        calls = gold_calls(TASKS[question], plain_answer)
        call = calls[turn] if turn < len(calls) else {"content": "Done."}
        message: dict = {"role": "assistant", "content": PLAN if turn == 0 else call.get("content")}
        if "name" in call:
            message["tool_calls"] = [
                {
                    "id": f"call-{turn}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
                }
            ]
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": "tool_calls" if "name" in call else "stop",
        }
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return JSONResponse(
            {"id": f"chatcmpl-{len(requests)}", "object": "chat.completion", "created": 0,
             "model": body["model"], "choices": [choice], "usage": usage}
        )  # fmt: skip

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.requests = requests
    return app


def evaluate(env, url: str, rollouts: int = 1):
    client = vf.ClientConfig(
        api_base_url=f"{url}/v1", api_key_var="WEBANCHOR_STUB_KEY", max_retries=0
    )
    return asyncio.run(
        env.evaluate(
            client, model="stub", rollouts_per_example=rollouts, on_progress=lambda *a, **k: None
        )
    )


def test_installed_verifiers_is_in_the_tested_range():
    from packaging.specifiers import SpecifierSet

    assert vf.__version__ in SpecifierSet(TESTED_VERSIONS)


def test_gold_tool_calls_through_verifiers_evaluate_earn_exact_match_one():
    env = load_environment(split="dev", num_examples=3)
    assert {t.name for t in env.tool_defs} == {"search", "visit", "answer"}
    visit_schema = next(t for t in env.tool_defs if t.name == "visit").parameters
    assert set(visit_schema["required"]) == {"url", "goal"}
    app = stub_app(plain_answer=False)
    with Served(app) as served:
        results = evaluate(env, served.url, rollouts=2)
    outputs = results["outputs"]
    assert len(outputs) == 6
    assert [o["reward"] for o in outputs] == [1.0] * 6
    for o in outputs:
        task = next(t for t in TASKS.values() if t.id == o["info"]["task_id"])
        assert o["metrics"]["exact_match"] == 1.0
        assert o["metrics"]["tool_calls"] == len(task.gold.actions)
    assert len(app.state.requests) == sum(2 * len(t.gold.actions) for t in TASKS.values())


def test_an_answer_in_the_last_message_is_scored_and_the_plan_rubric_is_a_second_rubric():
    from agents.rewards import ExpectedScoreJudge
    from agents.testing import smollm2_tokenizer, tiny_causal_lm

    tokenizer = smollm2_tokenizer()
    judge = ExpectedScoreJudge(tiny_causal_lm(tokenizer, seed=1), tokenizer)
    env = load_environment(split="dev", num_examples=2, plan_judge=judge, plan_weight=0.5)
    with Served(stub_app(plain_answer=True)) as served:
        outputs = evaluate(env, served.url)["outputs"]
    expected = judge.score([t.question for t in list(TASKS.values())[:2]], [PLAN, PLAN])
    for o, plan in zip(outputs, expected):
        assert o["metrics"]["exact_match"] == 1.0
        assert o["metrics"]["plan_rubric"] == pytest.approx(plan.reward)
        assert o["metrics"]["plan_judge_failed"] == 0.0
        assert o["reward"] == pytest.approx(1.0 + 0.5 * plan.reward)
