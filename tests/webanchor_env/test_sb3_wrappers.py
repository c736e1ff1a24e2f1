"""The Stable-Baselines3 wrapper: candidates from text, SB3's check_env, a short PPO run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from stable_baselines3.common.env_checker import check_env

from webanchor_env.sb3 import (
    SlotConfig,
    WikiDiscreteEnv,
    answer_candidates,
    capitalized_spans,
    make_discrete_env,
    make_vec_env,
    result_candidates,
    search_candidates,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SEARCH_RESPONSE = """<tool_response>
A search for 'Lumen Tower' found 2 results:
1. [Lumen Tower](https://wiki.local/wiki/Lumen_Tower)
Lumen Tower is a skyscraper in Cobalt Bay.
2. [Orlan Vesk (architect)](https://wiki.local/wiki/Orlan_Vesk_(architect))
Orlan Vesk was an architect.
</tool_response>"""
PAGE_RESPONSE = """<tool_response>
Page: [Lumen Tower](https://wiki.local/wiki/Lumen_Tower)

# Lumen Tower

Lumen Tower is a skyscraper in Cobalt Bay completed in 1998.

Infobox:
Architect: Orlan Vesk
Height: 212 m

Links:
- [Orlan Vesk](https://wiki.local/wiki/Orlan_Vesk)
</tool_response>"""


def test_candidates_come_from_the_text():
    assert capitalized_spans("How many pages does The Last Dancer of Wouloton have?") == [
        "The Last Dancer of Wouloton"
    ]
    assert capitalized_spans("Who designed Drolmimica Stadium?") == ["Drolmimica Stadium"]
    queries = [c.value for c in search_candidates("Who designed Lumen Tower?")]
    assert queries == ["Who designed Lumen Tower?", "Lumen Tower"]
    results = result_candidates(SEARCH_RESPONSE)
    assert [(c.value, c.url) for c in results] == [
        ("Lumen Tower", "https://wiki.local/wiki/Lumen_Tower"),
        ("Orlan Vesk (architect)", "https://wiki.local/wiki/Orlan_Vesk_(architect)"),
    ]
    answers = [c.value for c in answer_candidates(PAGE_RESPONSE)]
    assert answers[:3] == ["Orlan Vesk", "212 m", "Lumen Tower"]  # fields, then the title
    assert "Cobalt Bay" in answers and "1998" in answers
    assert "Links" not in answers and "Infobox" not in answers


@pytest.fixture
def discrete_env(tiny_backend) -> WikiDiscreteEnv:
    return make_discrete_env(backend=tiny_backend, split="train", max_episode_steps=6)


def test_sb3_check_env_passes(discrete_env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SB3's advice comes as warnings: none is expected
        check_env(discrete_env, warn=True)


def test_spaces_and_same_seed_same_observation(discrete_env):
    slots = SlotConfig()
    assert discrete_env.action_space.n == slots.total
    dim = discrete_env.encoder.dim
    assert discrete_env.observation_space.shape == (2 * dim + 5 + 2 * slots.total,)
    first, _ = discrete_env.reset(seed=7)
    again, _ = discrete_env.reset(seed=7)
    assert first.dtype == np.float32 and np.array_equal(first, again)
    assert first in discrete_env.observation_space


def test_slots_solve_a_task_and_empty_slots_waste_a_turn(discrete_env):
    slots = SlotConfig()
    discrete_env.reset(seed=0, options={"task_id": "t-1"})  # the architect of Lumen Tower
    _, reward, terminated, _, info = discrete_env.step(slots.search + 1)  # an empty visit slot
    assert (reward, terminated, info["slot"], info["action"]) == (0.0, False, "visit", "")
    assert info["error"] is not None
    _, _, _, _, info = discrete_env.step(1)  # search "Lumen Tower"
    assert info["action"]["arguments"]["query"] == ["Lumen Tower"]
    kind, result = discrete_env.candidate(slots.search)  # visit the first result
    assert kind == "visit" and result is not None and result.value == "Lumen Tower"
    discrete_env.step(slots.search)
    answers = [discrete_env.candidate(slots.search + slots.visit + i)[1] for i in range(8)]
    values = [a.value for a in answers if a is not None]
    assert "Orlan Vesk" in values
    pick = slots.search + slots.visit + values.index("Orlan Vesk")
    obs, reward, terminated, _, info = discrete_env.step(pick)
    assert (reward, terminated) == (1.0, True) and obs in discrete_env.observation_space


def test_task_ids_restrict_the_episodes(tiny_backend):
    env = make_discrete_env(backend=tiny_backend, split="dev", task_ids=["t-2"])
    for seed in range(3):
        assert env.reset(seed=seed)[1]["task_id"] == "t-2"


def test_dummy_vec_env_shares_one_backend_and_a_short_ppo_run_learns(tiny_backend):
    from stable_baselines3 import PPO

    vec = make_vec_env(2, backend=tiny_backend, split="train", max_episode_steps=4, seed=0)
    assert all(e.unwrapped.backend is tiny_backend for e in vec.envs)
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=64)
    assert model.num_timesteps >= 64
    action, _ = model.predict(vec.reset(), deterministic=True)
    assert action.shape == (2,)
    vec.close()


def test_subprocess_vec_env_needs_the_service():
    with pytest.raises(ValueError, match="Expected search_url= with subprocess=True"):
        make_vec_env(2, subprocess=True)
