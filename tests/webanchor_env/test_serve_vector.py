"""Vector environments share one search index: in process by identity, across processes
through the search service."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import webanchor_env
from webanchor_env.remote import RemoteSearchBackend, remote_env_fns
from webanchor_env.sb3 import make_vec_env
from webanchor_env.serve import serve

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEARCH = {"name": "search", "arguments": {"query": ["Lumen Tower architect"]}}


@pytest.fixture(scope="module")
def server(tiny_backend):
    srv = serve(tiny_backend)
    yield srv
    srv.stop()


def test_sync_vector_envs_share_one_backend(tiny_backend, tiny_corpus_dir, tiny_cache_dir):
    def make() -> gym.Env:
        return gym.make(
            webanchor_env.ENV_ID,
            corpus=str(tiny_corpus_dir),
            cache_dir=str(tiny_cache_dir),
            show_progress=False,
        )

    envs = gym.vector.SyncVectorEnv([make for _ in range(3)])
    backends = [env.unwrapped.backend for env in envs.envs]
    assert all(b is tiny_backend for b in backends)  # one store, one index, one encoder
    envs.close()


@pytest.mark.slow
def test_async_workers_search_through_the_service(server):
    before = server.stats.snapshot()["search_requests"]
    envs = gym.vector.AsyncVectorEnv(
        remote_env_fns(server.url, 2, split="train"), context="spawn", shared_memory=False
    )
    try:
        assert all(isinstance(b, RemoteSearchBackend) for b in envs.get_attr("backend"))
        envs.reset(seed=0)
        observations, _, _, _, infos = envs.step((SEARCH, SEARCH))
        assert all("[Lumen Tower](https://wiki.local/wiki/Lumen_Tower)" in o for o in observations)
        assert list(infos["search_calls"]) == [1, 1]
    finally:
        envs.close()
    assert server.stats.snapshot()["search_requests"] >= before + 2


@pytest.mark.slow
def test_sb3_subprocess_workers_search_and_embed_through_the_service(server):
    stats = server.stats.snapshot()
    vec = make_vec_env(2, subprocess=True, search_url=server.url, split="train", seed=0)
    try:
        obs = vec.reset()
        obs, rewards, dones, infos = vec.step(np.array([1, 1]))  # search the question's span
        assert obs.shape[0] == 2 and np.isfinite(obs).all()
        assert [i["slot"] for i in infos] == ["search", "search"]
    finally:
        vec.close()
    after = server.stats.snapshot()
    assert after["search_requests"] >= stats["search_requests"] + 2
    assert after["texts_embedded"] > stats["texts_embedded"]  # workers hold no model


def test_gym_make_takes_the_service_address(server):
    before = server.stats.snapshot()["search_requests"]
    env = gym.make(webanchor_env.ENV_ID, search_url=server.url, split="train")
    try:
        assert isinstance(env.unwrapped.backend, RemoteSearchBackend)
        env.reset(seed=0)
        observation, *_ = env.step(SEARCH)
        assert "Lumen Tower" in observation
        assert server.stats.snapshot()["search_requests"] > before
    finally:
        env.close()
