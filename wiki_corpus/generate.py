"""Top level of the synthetic corpus: world -> pages -> validated tasks -> splits.

>>> result = generate(300, seed=0, n_tasks={"train": 40, "dev": 10, "test": 10})
>>> len(result.pages), len(result.tasks)
(300, 60)

Every candidate question passes both validators of :mod:`wiki_corpus.validate` before it
is kept; rejected ones are replaced by new draws and counted per reason in
``meta["validation"]``. The same ``(n_pages, seed, n_tasks)`` always gives the same pages,
tasks and metadata, byte for byte once written with :func:`wiki_corpus.io.write_corpus`.

:func:`make_honest` then checks every gold path against the environment's own search and
visit responses (:mod:`wiki_corpus.honesty`): a path that uses a page or a name before
the agent could have seen it is replaced by an honest one through the same pages, or the
task by a fresh draw that has one; ``python -m wiki_corpus generate`` does this unless
told not to, and the counts per split and per hop count go to ``meta.json``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from tqdm import tqdm

from wiki_corpus.honesty import (
    EntityNames,
    Observe,
    first_queries,
    first_search_options,
    first_violation,
    gold_pages,
    honest_gold,
    replay,
    title_name,
)
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
    stream = CandidateStream(world, htmls, rng)
    kept: list[Candidate] = []
    limit = ATTEMPTS_PER_TASK * total + 100
    with tqdm(total=total, desc="tasks", unit="task", disable=not progress) as bar:
        while len(kept) < total:
            cand = stream.next(limit)
            if cand is None:
                raise RuntimeError(
                    f"Only {len(kept)} of {total} tasks passed validation after "
                    f"{stream.drawn} draws; generate more pages or fewer tasks."
                )
            kept.append(cand)
            bar.update(1)
    return kept, stream.summary()


class CandidateStream:
    """Draws candidates and returns those that pass both validators, counting rejections."""

    def __init__(
        self, world: World, htmls: list[str], rng: random.Random, seen: Iterable[str] = ()
    ) -> None:
        self.world = world
        self.maker = QuestionMaker(world, rng)
        entity_of = {url: e for e, url in enumerate(world.urls)}
        self.texts = PageTexts(lambda url: htmls[entity_of[url]] if url in entity_of else None)
        self.seen = set(seen)
        self.rejected: Counter[str] = Counter()
        self.drawn = self.generated = self.kept = 0

    def next(self, limit: int) -> Candidate | None:
        """The next valid candidate, or None once ``limit`` draws have been made."""
        while self.drawn < limit:
            self.drawn += 1
            cand = self.maker.make()
            if cand is None:
                continue
            self.generated += 1
            verdict = _verdict(self.world, cand, self.texts, self.seen)
            if verdict:
                self.rejected[verdict] += 1
                continue
            self.seen.add(cand.question)
            self.kept += 1
            return cand
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "draws": self.drawn,
            "generated": self.generated,
            "kept": self.kept,
            "rejected": dict(sorted(self.rejected.items())),
        }


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


HONEST, FIXED, REPLACED = "honest", "fixed", "replaced"


def make_honest(
    result: GenerationResult,
    observe: Observe,
    *,
    progress: bool = False,
    search: dict[str, Any] | None = None,
) -> GenerationResult:
    """Give every task a causally honest gold path (:mod:`wiki_corpus.honesty`).

    ``observe`` answers search and visit actions as the environment does. A task whose gold
    path is honest is kept as it is; otherwise it gets an honest path through the same
    pages (other queries taken from the question) or, when there is none, its slot (id and
    split) goes to a fresh draw that has one. Counts per split and per hop count go to
    ``meta["validation"]["honesty"]``, with ``search``: the settings ``observe`` answers
    with (honesty holds for those: another search mode or depth shows other pages).
    """
    world, seed = result.world, result.meta["seed"]
    htmls = [page.html for page in result.pages[: len(world)]]
    entity_of = {url: e for e, url in enumerate(world.urls)}
    names = EntityNames([*world.names, *(title_name(p.title) for p in result.pages)])

    def honest(task: Task) -> tuple[str, Task | None]:
        actions = list(task.gold.actions)
        responses = replay(actions, observe)
        if first_violation(task.question, actions, responses, names) is None:
            return HONEST, task
        pages = gold_pages(actions, task.gold.pages, lambda url: world.names[entity_of[url]])
        options = first_search_options(task.question, first_queries(actions))
        path = honest_gold(task.question, task.answer, pages, options, observe, names)
        if path is None:
            return REPLACED, None
        return FIXED, replace(task, gold=replace(task.gold, actions=path))

    stream = CandidateStream(
        world, htmls, random.Random(f"webanchor-honest-{seed}"), (t.question for t in result.tasks)
    )
    limit = ATTEMPTS_PER_TASK * len(result.tasks) + 100
    splits: dict[str, Counter[str]] = {split: Counter() for split in SPLITS}
    by_hops: dict[int, Counter[str]] = {}
    without_path = 0
    tasks: list[Task] = []
    for task in tqdm(result.tasks, desc="honesty", unit="task", disable=not progress):
        status, kept = honest(task)
        splits[task.split][status] += 1
        by_hops.setdefault(task.hops, Counter())[status] += 1
        while kept is None:
            cand = stream.next(limit)
            if cand is None:
                raise RuntimeError(
                    f"No replacement with an honest gold path after {stream.drawn} draws."
                )
            fresh = to_task(cand, task.id, task.split, world, htmls.__getitem__)
            kept = honest(fresh)[1]
            without_path += kept is None
        tasks.append(kept)
    record = {
        "splits": {split: _shares(counts) for split, counts in splits.items() if counts},
        "by_hops": {str(h): _shares(by_hops[h]) for h in sorted(by_hops)},
        "replacement_draws": stream.summary() | {"without_honest_path": without_path},
        "search": dict(search or {}),
    }
    validation = {**result.meta["validation"], "honesty": record}
    meta = corpus_meta(world, result.pages, tasks, result.meta["n_pages"], seed, validation)
    return replace(result, tasks=tasks, meta=meta)


def _shares(counts: Counter[str]) -> dict[str, Any]:
    total = sum(counts.values())
    out: dict[str, Any] = {status: counts[status] for status in (HONEST, FIXED, REPLACED)}
    return out | {f"share_{s}": round(counts[s] / total, 4) for s in (FIXED, REPLACED)}
