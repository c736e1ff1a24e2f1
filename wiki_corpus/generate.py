"""Top level of the synthetic corpus: world -> pages -> validated tasks -> splits.

>>> result = generate(300, seed=0, n_tasks={"train": 40, "dev": 10, "test": 10})
>>> len(result.pages), len(result.tasks)
(300, 60)

Every candidate question passes both validators of :mod:`wiki_corpus.validate` before it
is kept; rejected ones are replaced by new draws and counted per reason in
``meta["validation"]``. The same ``(n_pages, seed, n_tasks)`` always gives the same pages,
tasks and metadata, byte for byte once written with :func:`wiki_corpus.io.write_corpus`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from tqdm import tqdm

from wiki_corpus.model import KINDS
from wiki_corpus.questions import Candidate, QuestionMaker, gold_actions
from wiki_corpus.render import Renderer, disambiguation_groups
from wiki_corpus.schema import SPLITS, Gold, Page, Task, title_to_url
from wiki_corpus.validate import DUPLICATE, PageTexts, check_grounded, check_unique
from wiki_corpus.world import World
from wiki_corpus.worldgen import MIN_PAGES, build_world

DEFAULT_TASKS: dict[str, int] = {"train": 1000, "dev": 200, "test": 300}
PAGES_PER_TASK = 2
"""A world needs at least this many pages per requested task."""
ATTEMPTS_PER_TASK = 30
FORMAT_VERSION = 1
T = TypeVar("T")


@dataclass(frozen=True)
class GenerationResult:
    """Pages, tasks and metadata of a generated corpus, and the world they come from."""

    pages: list[Page]
    tasks: list[Task]
    meta: dict[str, Any]
    world: World


def default_task_counts(n_pages: int) -> dict[str, int]:
    """1,000 / 200 / 300 tasks, scaled down for worlds too small to hold that many."""
    total = sum(DEFAULT_TASKS.values())
    if n_pages >= total * PAGES_PER_TASK:
        return dict(DEFAULT_TASKS)
    scale = n_pages / (total * PAGES_PER_TASK)
    return {split: max(1, int(n * scale)) for split, n in DEFAULT_TASKS.items()}


def check_settings(n_pages: int, seed: int, n_tasks: dict[str, int]) -> None:
    """Raise ``ValueError`` naming the setting, what was expected and what came."""
    if isinstance(n_pages, bool) or not isinstance(n_pages, int) or n_pages < MIN_PAGES:
        raise ValueError(f"Expected n_pages to be an integer >= {MIN_PAGES}, got {n_pages!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Expected seed to be a non-negative integer, got {seed!r}.")
    unknown = sorted(set(n_tasks) - set(SPLITS))
    if unknown:
        raise ValueError(f"Expected task splits among {SPLITS}, got {unknown}.")
    for split, count in n_tasks.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(
                f"Expected the number of {split} tasks to be a non-negative integer, got {count!r}."
            )
    total = sum(n_tasks.values())
    if total * PAGES_PER_TASK > n_pages:
        raise ValueError(
            f"Too few pages for {total} tasks: expected n_pages >= {total * PAGES_PER_TASK} "
            f"({PAGES_PER_TASK} per task), got {n_pages}."
        )


def generate(
    n_pages: int,
    seed: int = 0,
    n_tasks: dict[str, int] | None = None,
    *,
    progress: bool = False,
) -> GenerationResult:
    """Generate a world of ``n_pages`` pages and validated tasks for each split."""
    n_tasks = default_task_counts(n_pages) if n_tasks is None else dict(n_tasks)
    n_tasks = {split: n_tasks.get(split, 0) for split in SPLITS} | n_tasks
    check_settings(n_pages, seed, n_tasks)
    world = build_world(n_pages, seed)
    htmls, pages = render_pages(world, progress=progress)
    tasks, validation = make_tasks(world, htmls, n_tasks, seed, progress=progress)
    meta = corpus_meta(world, pages, tasks, n_pages, seed, validation)
    return GenerationResult(pages=pages, tasks=tasks, meta=meta, world=world)


def _bar(items: Iterable[T], total: int, desc: str, progress: bool) -> Iterator[T]:
    return iter(tqdm(items, total=total, desc=desc, unit="page", disable=not progress))


def render_pages(world: World, *, progress: bool = False) -> tuple[list[str], list[Page]]:
    """HTML of every entity (indexed by entity id) and all pages, disambiguation included."""
    renderer = Renderer(world)
    htmls = [renderer.entity(e) for e in _bar(range(len(world)), len(world), "render", progress)]
    pages = [
        Page(id=_page_id(e), url=world.urls[e], title=world.titles[e], html=h)
        for e, h in enumerate(htmls)
    ]
    for name, ids in disambiguation_groups(world):
        html = renderer.disambiguation(name, ids)
        pages.append(Page(id=_page_id(len(pages)), url=title_to_url(name), title=name, html=html))
    return htmls, pages


def _page_id(index: int) -> str:
    return f"page-{index:06d}"


def make_tasks(
    world: World,
    htmls: list[str],
    n_tasks: dict[str, int],
    seed: int,
    *,
    progress: bool = False,
) -> tuple[list[Task], dict[str, Any]]:
    """Draw candidates until enough pass validation; deal them into splits."""
    rng = random.Random(f"webanchor-questions-{seed}")
    kept, validation = _validated_candidates(world, htmls, sum(n_tasks.values()), rng, progress)
    rng.shuffle(kept)
    tasks: list[Task] = []
    start = 0
    for split in SPLITS:
        for k, cand in enumerate(kept[start : start + n_tasks[split]], start=1):
            tasks.append(to_task(cand, f"wa-{split}-{k:05d}", split, world, htmls.__getitem__))
        start += n_tasks[split]
    return tasks, validation


def _validated_candidates(
    world: World, htmls: list[str], total: int, rng: random.Random, progress: bool
) -> tuple[list[Candidate], dict[str, Any]]:
    maker = QuestionMaker(world, rng)
    entity_of = {url: e for e, url in enumerate(world.urls)}
    texts = PageTexts(lambda url: htmls[entity_of[url]] if url in entity_of else None)
    kept: list[Candidate] = []
    seen: set[str] = set()
    rejected: Counter[str] = Counter()
    drawn = generated = 0
    limit = ATTEMPTS_PER_TASK * total + 100
    with tqdm(total=total, desc="tasks", unit="task", disable=not progress) as bar:
        while len(kept) < total:
            if drawn >= limit:
                raise RuntimeError(
                    f"Only {len(kept)} of {total} tasks passed validation after {drawn} draws; "
                    "generate more pages or fewer tasks."
                )
            drawn += 1
            cand = maker.make()
            if cand is None:
                continue
            generated += 1
            verdict = _verdict(world, cand, texts, seen)
            if verdict:
                rejected[verdict] += 1
                continue
            seen.add(cand.question)
            kept.append(cand)
            bar.update(1)
    validation = {
        "draws": drawn,
        "generated": generated,
        "kept": len(kept),
        "rejected": dict(sorted(rejected.items())),
    }
    return kept, validation


def _verdict(
    world: World, cand: Candidate, texts: Callable[[str], str | None], seen: set[str]
) -> str:
    """The rejection reason of a candidate, or "" when it is kept."""
    if cand.question in seen:
        return DUPLICATE
    unique = check_unique(world, cand.query, cand.answer)
    if not unique.ok:
        return unique.reason
    grounded = check_grounded(cand.evidence, texts)
    return "" if grounded.ok else grounded.reason


def to_task(
    cand: Candidate, task_id: str, split: str, world: World, html_of: Callable[[int], str]
) -> Task:
    """A kept candidate as a :class:`Task` with its gold path."""
    return Task(
        id=task_id,
        question=cand.question,
        answer=cand.answer,
        aliases=cand.aliases,
        split=split,
        difficulty=cand.difficulty,
        hops=cand.hops,
        source="synthetic",
        gold=Gold(
            pages=tuple(world.urls[e] for e in cand.pages),
            actions=gold_actions(cand, world, html_of),
        ),
    )


def corpus_meta(
    world: World,
    pages: list[Page],
    tasks: list[Task],
    n_pages: int,
    seed: int,
    validation: dict[str, Any],
) -> dict[str, Any]:
    """Settings, counts and validation figures; no timestamps, so output stays deterministic."""
    return {
        "generator": "wiki_corpus.generate",
        "format_version": FORMAT_VERSION,
        "source": "synthetic",
        "seed": seed,
        "n_pages": n_pages,
        "counts": {
            "pages": len(pages),
            "entities": {kind.value: len(world.ranges[kind]) for kind in KINDS},
            "disambiguation_pages": len(pages) - len(world),
            "tasks": {split: sum(t.split == split for t in tasks) for split in SPLITS},
        },
        "validation": validation,
    }
