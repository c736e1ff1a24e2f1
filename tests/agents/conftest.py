"""Fixtures for the rollout, scripted-agent, anticipatory and evaluation tests.

A small wiki of its own (six pages, four tasks with complete gold paths: search, visit,
answer), the shared search backend over it, environments on it, the real SmolLM2
tokenizer and a tiny randomly initialized model on top of that tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import webanchor_env
from wiki_corpus import Gold, Page, Task, title_to_url, write_corpus


def _page(title: str, text: str, links: tuple[str, ...] = ()) -> Page:
    anchors = " ".join(f'<a href="{title_to_url(t)}">{t}</a>' for t in links)
    html = f"<main><h1>{title}</h1><p>{text}</p><p>See also: {anchors}</p></main>"
    return Page(f"p-{title.lower().replace(' ', '-')}", title_to_url(title), title, html)


PAGES = [
    _page(
        "Lumen Tower",
        "Lumen Tower is a skyscraper in Cobalt Bay completed in 1998. Its architect was "
        "Orlan Vesk.",
        ("Orlan Vesk", "Cobalt Bay"),
    ),
    _page(
        "Orlan Vesk",
        "Orlan Vesk was an architect born in Tessary. He studied at the Varn Institute.",
        ("Tessary", "Varn Institute"),
    ),
    _page("Tessary", "Tessary is a market town known for its clockmakers.", ("Orlan Vesk",)),
    _page("Varn Institute", "The Varn Institute is a school of design founded in 1902."),
    _page("Cobalt Bay", "Cobalt Bay is a port city with 842,000 inhabitants.", ("Lumen Tower",)),
    _page("Glasswing Bridge", "Glasswing Bridge is a glass footbridge opened in 2006."),
]


def _gold(answer: str, *steps: tuple[str, str]) -> Gold:
    actions: list[dict[str, Any]] = []
    for query, title in steps:
        actions.append({"name": "search", "arguments": {"query": [query]}})
        actions.append(
            {"name": "visit", "arguments": {"url": [title_to_url(title)], "goal": query}}
        )
    actions.append({"name": "answer", "arguments": {"answer": answer}})
    return Gold(pages=tuple(title_to_url(t) for _, t in steps), actions=tuple(actions))


TASKS = [
    Task(
        "q-1",
        "Who was the architect of Lumen Tower?",
        "Orlan Vesk",
        split="test",
        gold=_gold("Orlan Vesk", ("Lumen Tower architect", "Lumen Tower")),
    ),
    Task(
        "q-2",
        "In which town was the architect of Lumen Tower born?",
        "Tessary",
        split="test",
        hops=2,
        gold=_gold(
            "Tessary",
            ("Lumen Tower architect", "Lumen Tower"),
            ("Orlan Vesk birthplace", "Orlan Vesk"),
        ),
    ),
    Task(
        "q-3",
        "When was the Glasswing Bridge opened?",
        "2006",
        split="test",
        gold=_gold("2006", ("Glasswing Bridge opened", "Glasswing Bridge")),
    ),
    Task(
        "q-4",
        "How many inhabitants does Cobalt Bay have?",
        "842,000",
        aliases=("842000",),
        split="train",
        gold=_gold("842,000", ("Cobalt Bay population", "Cobalt Bay")),
    ),
]
TEST_IDS = [t.id for t in TASKS if t.split == "test"]


@pytest.fixture(scope="session")
def agents_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("agents-corpus") / "wiki", PAGES, TASKS)


@pytest.fixture(scope="session")
def agents_backend(agents_corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The search backend over the small wiki (embedding model loads once per session)."""
    return webanchor_env.get_backend(
        agents_corpus_dir, cache_dir=tmp_path_factory.mktemp("agents-cache"), show_progress=False
    )


@pytest.fixture(scope="session")
def make_env(agents_backend):
    """Build a test-split environment over the small wiki (6 turns at most)."""

    def make(**kwargs: Any) -> gym.Env:
        options = {"split": "test", "max_episode_steps": 6, **kwargs}
        return gym.make(webanchor_env.ENV_ID, backend=agents_backend, **options)

    return make


@pytest.fixture(scope="session")
def tasks() -> list[Task]:
    return list(TASKS)


@pytest.fixture(scope="session")
def tokenizer():
    from agents.testing import smollm2_tokenizer

    return smollm2_tokenizer()


@pytest.fixture(scope="session")
def tiny_policy(tokenizer):
    """An HFPolicy over a tiny random Llama with the SmolLM2 tokenizer."""
    from agents.hf_policy import HFPolicy
    from agents.testing import tiny_causal_lm

    return HFPolicy(tiny_causal_lm(tokenizer, seed=0), tokenizer)


class RecordingPolicy:
    """Wraps a policy and keeps every sampled turn by its request seed, and the batch sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.tokenizer = inner.tokenizer
        self.eos_token_ids = getattr(inner, "eos_token_ids", None)
        self.batch_sizes: list[int] = []
        self.by_seed: dict[int | None, Any] = {}
        self.requests: list[Any] = []

    def generate(self, requests, params):
        turns = self.inner.generate(requests, params)
        self.batch_sizes.append(len(requests))
        self.requests.extend(requests)
        for request, turn in zip(requests, turns):
            self.by_seed[request.seed] = turn
        return turns


@pytest.fixture(scope="session")
def recording():
    return RecordingPolicy
