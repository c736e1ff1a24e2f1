"""OpenEnv: the environment served by OpenEnv's own app factory on 127.0.0.1, played through
OpenEnv's WebSocket client: gold actions win, 8 sessions run at once, and a client that
disappears mid-episode (closed socket, or a silent one) does not keep its session."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("openenv.core", reason="needs openenv-core (pip install 'webanchor[openenv]')")

from served_app import Served  # noqa: E402

from webanchor_env.integrations.openenv import (  # noqa: E402
    TESTED_VERSIONS,
    WikiAction,
    WikiEnvClient,
    WikiEnvironment,
    create_wiki_app,
)
from wiki_corpus import load  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TASKS = load("default").tasks_in("dev")[:8]


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    app = create_wiki_app("default", "dev", max_concurrent_envs=8, session_timeout_s=120)
    with Served(app) as served:
        yield served


def gold_actions(task) -> list[WikiAction]:
    actions = []
    for a in task.gold.actions:
        args = a["arguments"]
        if a["name"] == "search":
            actions.append(WikiAction(tool="search", query=args["query"][0]))
        elif a["name"] == "visit":
            actions.append(WikiAction(tool="visit", url=args["url"][0], goal=args.get("goal", "")))
        else:
            actions.append(WikiAction(tool="answer", answer=args["answer"]))
    return actions


async def play(url: str, task) -> tuple[float, bool, int]:
    async with WikiEnvClient(base_url=url) as client:
        result = await client.reset(task_id=task.id)
        assert result.observation.question == task.question and not result.done
        for action in gold_actions(task):
            result = await client.step(action)
        state = await client.state()
        return result.reward, result.done, state.step_count


def wait_for_no_sessions(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while WikiEnvironment.open_sessions and time.monotonic() < deadline:
        time.sleep(0.1)
    assert WikiEnvironment.open_sessions == 0


def test_installed_openenv_is_in_the_tested_range():
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    assert version("openenv-core") in SpecifierSet(TESTED_VERSIONS)


def test_gold_actions_of_three_tasks_earn_reward_one(server):
    for task in TASKS[:3]:
        reward, done, steps = asyncio.run(play(server.url, task))
        assert (reward, done, steps) == (1.0, True, len(task.gold.actions))
        with WikiEnvClient(base_url=server.url).sync() as env:  # the blocking client too
            env.reset(task_id=task.id)
            result = env.step(WikiAction(tool="answer", answer="surely not this"))
            assert (result.reward, result.done) == (0.0, True)
    wait_for_no_sessions(10)


def test_eight_concurrent_sessions_each_play_their_own_task(server):
    async def all_at_once():
        return await asyncio.gather(*(play(server.url, t) for t in TASKS))

    results = asyncio.run(all_at_once())
    assert [r[:2] for r in results] == [(1.0, True)] * 8
    wait_for_no_sessions(10)


def test_a_client_that_drops_mid_episode_frees_its_session(server):
    async def drop():
        client = WikiEnvClient(base_url=server.url)
        await client.connect()
        await client.reset(task_id=TASKS[0].id)
        await client.step(gold_actions(TASKS[0])[0])
        assert WikiEnvironment.open_sessions == 1
        client._ws.transport.abort()  # no close frame: the connection just goes away

    asyncio.run(drop())
    wait_for_no_sessions(10)
    test_eight_concurrent_sessions_each_play_their_own_task(server)  # all 8 slots are free


def test_a_silent_client_is_reaped_by_the_session_timeout():
    app = create_wiki_app("default", "dev", max_concurrent_envs=2, session_timeout_s=1.0)

    async def go_silent(url: str):
        client = WikiEnvClient(base_url=url)
        await client.connect()
        await client.reset(task_id=TASKS[0].id)
        assert WikiEnvironment.open_sessions == 1
        deadline = time.monotonic() + 20  # the reaper looks every 5 s
        while WikiEnvironment.open_sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.2)  # the socket stays open, nothing is sent
        reaped = WikiEnvironment.open_sessions == 0
        client._ws.transport.abort()
        return reaped

    with Served(app) as served:
        assert asyncio.run(go_silent(served.url))
