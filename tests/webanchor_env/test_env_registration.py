"""Registration: the id, its spec, `check_env` on every registered id, a light import."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import webanchor_env
from webanchor_env import ENV_ID, WikiEnv

OUR_IDS = sorted(i for i in gym.registry if i.startswith("WebAnchor"))


def test_registered_spec() -> None:
    assert ENV_ID in OUR_IDS
    spec = gym.spec(ENV_ID)
    assert spec.entry_point == "webanchor_env.env:WikiEnv"
    assert spec.max_episode_steps == webanchor_env.MAX_TURNS
    assert spec.kwargs == {"corpus": "default", "split": "train"}


@pytest.mark.parametrize("env_id", OUR_IDS)
def test_check_env_on_every_registered_id(env_id: str, tiny_corpus_dir, tiny_cache_dir) -> None:
    env = gym.make(
        env_id, corpus=str(tiny_corpus_dir), cache_dir=tiny_cache_dir, show_progress=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        check_env(env.unwrapped)
    env.close()


def test_make_kwargs_choose_corpus_split_top_k_and_budgets(tiny_corpus_dir, tiny_cache_dir):
    env = gym.make(
        ENV_ID,
        corpus=tiny_corpus_dir,
        cache_dir=tiny_cache_dir,
        show_progress=False,
        split="test",
        top_k=2,
        max_search_calls=3,
        max_visit_calls=4,
        max_episode_steps=7,
    )
    inner = env.unwrapped
    assert isinstance(inner, WikiEnv)
    assert (inner.config.split, inner.config.top_k) == ("test", 2)
    assert (inner.config.max_search_calls, inner.config.max_visit_calls) == (3, 4)
    assert env.spec.max_episode_steps == 7
    _, info = env.reset(seed=0)
    assert info["split"] == "test"
    obs, *_ = env.step({"name": "search", "arguments": {"query": "Lumen Tower"}})
    assert obs.count("\n2. ") == 1 and "\n3. " not in obs  # top_k=2 results


def test_import_is_light() -> None:
    code = (
        "import sys, webanchor_env, gymnasium as gym; "
        "assert 'WebAnchor-Wiki-v0' in gym.registry; "
        "heavy = {'torch', 'faiss', 'sentence_transformers', 'transformers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
