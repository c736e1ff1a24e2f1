"""Where the labels of plans come from: outcomes of continuations, and people.

**Plans.** A :class:`PlanRecord` is one plan (a whole first assistant turn) for one task,
with its outcome once measured. Plans files are JSONL (:func:`save_plans`,
:func:`load_plans`).

**Outcome labels.** On the synthetic world a plan's quality can be measured: fix it as
the first turn, run ``n`` continuations, and its success rate is its outcome
(:func:`label_by_outcomes`); a plan is *correct* when the rate is at least ``cutoff``
(default 0.5, :func:`outcome_label`), and plans with rates strictly between 0 and 1 are
*mixed* and reported separately. The continuations come from any
:data:`ContinuationRunner`; :class:`RolloutContinuations` runs them with the rollout
engine.

What continues after the plan decides what the label means. The gold-path oracle
ignores the plan (it replays the gold actions whatever came first), so every plan would
be "correct"; a weak policy such as SmolLM2-135M fails almost always, so every plan would
be "incorrect". :class:`PlanFollowerPolicy` makes the outcome a function of the plan: it
does exactly what the plan's steps say (search this, read that), nothing else, and reads
perfectly (it answers correctly once the evidence has been in front of it; it knows the
answer, so it is privileged like the oracle). Its label says "following this plan
reaches the answer". ``slip`` makes it skip a step now and then, so that plans without
slack fail sometimes and the success rate over ``n`` continuations is graded.

**Human labels.** :func:`export_for_labelling` writes plans to a CSV or JSONL file with
the columns ``id, question, plan, label, note`` (label and note empty);
:func:`import_labels` reads them back. A row with no id, a label other than 0/1 or an
unknown or repeated id is an error naming the file and the row (its first line), or,
with ``skip_bad=True``, is reported, excluded and counted, as the corpus importers do. A
row with an empty label is unlabeled, not bad.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from agents.scripted import Move, ScriptedPolicy, TaskBook, answer_action, turn_index
from webanchor_env.actions import parse_action
from webanchor_env.scoring import contains_answer, normalize_answer
from wiki_corpus.schema import Task, title_to_url, url_to_title

# ----------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanRecord:
    """One plan for one task, and its outcome when measured."""

    id: str
    task_id: str
    question: str
    plan: str
    """The whole first assistant turn, prefill included."""
    success_rate: float | None = None
    """Share of the continuations that answered correctly; None until measured."""
    n_continuations: int = 0
    source: str = ""
    """Where the plan came from (e.g. "oracle", "smollm2", "drop_last_read")."""
    continuation: str = ""
    """The policy that ran the continuations (what the outcome label means)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "question": self.question,
            "plan": self.plan,
            "success_rate": self.success_rate,
            "n_continuations": self.n_continuations,
            "source": self.source,
            "continuation": self.continuation,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PlanRecord:
        rate = obj.get("success_rate")
        if rate is not None and not (isinstance(rate, (int, float)) and 0 <= rate <= 1):
            raise ValueError(f"success_rate must be a number in [0, 1] or null, got {rate!r}")
        for key in ("id", "task_id", "question", "plan"):
            if not isinstance(obj.get(key), str):
                raise ValueError(f"{key!r} must be a string, got {obj.get(key)!r}")
        return cls(
            id=obj["id"],
            task_id=obj["task_id"],
            question=obj["question"],
            plan=obj["plan"],
            success_rate=None if rate is None else float(rate),
            n_continuations=int(obj.get("n_continuations", 0)),
            source=str(obj.get("source", "")),
            continuation=str(obj.get("continuation", "")),
        )


class PlanFormatError(ValueError):
    """A line of a plans file that is not a plan; names the file and line."""


def plan_id(task_id: str, plan: str) -> str:
    """A stable id: the task id and a hash of the plan text."""
    return f"{task_id}:{hashlib.sha256(plan.encode('utf-8')).hexdigest()[:10]}"


def save_plans(path: str | Path, plans: Iterable[PlanRecord]) -> Path:
    """Write plans as JSONL, one object a line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in plans)
    path.write_text(text, encoding="utf-8")
    return path


def load_plans(path: str | Path) -> list[PlanRecord]:
    """Read a plans JSONL file; a bad line or a repeated id raises :class:`PlanFormatError`."""
    path = Path(path)
    plans: list[PlanRecord] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            plan = PlanRecord.from_json(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            raise PlanFormatError(f"{path}:{lineno}: not a plan record ({err})") from None
        if plan.id in seen:
            raise PlanFormatError(f"{path}:{lineno}: repeated plan id {plan.id!r}")
        seen.add(plan.id)
        plans.append(plan)
    return plans


def plans_from_trajectories(trajectories: Iterable[Any], source: str = "") -> list[PlanRecord]:
    """The distinct (task, first turn) plans of some trajectories, in order."""
    from agents.rubrics.insights import question_of

    out: dict[str, PlanRecord] = {}
    for traj in trajectories:
        if not traj.plan.strip():
            continue
        uid = plan_id(traj.task_id, traj.plan)
        if uid not in out:
            question = question_of(traj.messages)
            out[uid] = PlanRecord(uid, traj.task_id, question, traj.plan, source=source)
    return list(out.values())


def plans_with_own_outcomes(
    trajectories: Iterable[Any], success_threshold: float = 1.0, source: str = ""
) -> list[PlanRecord]:
    """The distinct (task, first turn) plans of some episodes, each labelled by the episodes
    it began: its success rate is the share of them whose reward is at least
    ``success_threshold`` (no new continuations; the label is as noisy as one episode
    when a plan began one)."""
    trajectories = [t for t in trajectories if t.plan.strip()]
    outcomes: dict[str, list[bool]] = {}
    for traj in trajectories:
        outcomes.setdefault(plan_id(traj.task_id, traj.plan), []).append(
            traj.reward >= success_threshold
        )
    return [
        replace(
            plan,
            success_rate=sum(outcomes[plan.id]) / len(outcomes[plan.id]),
            n_continuations=len(outcomes[plan.id]),
            continuation="own episode",
        )
        for plan in plans_from_trajectories(trajectories, source)
    ]


# ----------------------------------------------------------------------------- outcome labels


def outcome_label(success_rate: float, cutoff: float = 0.5) -> int:
    """1 (correct plan) when the success rate is at least ``cutoff``, else 0."""
    return int(success_rate >= cutoff)


def is_mixed(success_rate: float) -> bool:
    """Some continuations succeeded and some failed."""
    return 0 < success_rate < 1


def outcome_labels(plans: Iterable[PlanRecord], cutoff: float = 0.5) -> dict[str, int]:
    """Plan id -> outcome label, for the plans whose outcome was measured."""
    return {
        p.id: outcome_label(p.success_rate, cutoff) for p in plans if p.success_rate is not None
    }


ContinuationRunner = Callable[[Sequence[PlanRecord], int], list[float]]
"""Fixes each plan as the first turn, runs ``n`` continuations, returns success rates."""


def label_by_outcomes(
    plans: Sequence[PlanRecord],
    runner: ContinuationRunner,
    n: int,
    *,
    batch_size: int = 16,
    continuation: str = "",
    progress: bool = False,
) -> list[PlanRecord]:
    """The plans with their success rates over ``n`` continuations filled in."""
    if n < 1:
        raise ValueError(f"Expected n >= 1 continuations, got {n}.")
    out: list[PlanRecord] = []
    bar = tqdm(total=len(plans), desc=f"continuations (n={n})", disable=not progress)
    for start in range(0, len(plans), batch_size):
        batch = plans[start : start + batch_size]
        rates = runner(batch, n)
        if len(rates) != len(batch):
            raise ValueError(f"The runner returned {len(rates)} rates for {len(batch)} plans.")
        for plan, rate in zip(batch, rates):
            if not 0 <= rate <= 1:
                raise ValueError(f"The runner returned success rate {rate!r} for {plan.id!r}.")
            out.append(
                replace(plan, success_rate=rate, n_continuations=n, continuation=continuation)
            )
        bar.update(len(batch))
    bar.close()
    return out


class RolloutContinuations:
    """A :data:`ContinuationRunner` over the rollout engine (:mod:`agents.rollout`).

    Each plan is forced as the first turn of ``n`` episodes of its task; the success rate
    is the share of episodes whose reward is at least ``success_threshold``. Every
    trajectory is kept in :attr:`trajectories` (e.g. to extract insights from). Plans
    are stored with the prompt's first-turn prefill; it is taken off before forcing.
    """

    def __init__(
        self,
        policy: Any,
        make_env: Callable[[], Any],
        *,
        prompt: Any = None,
        params: Any = None,
        max_turns: int | None = None,
        seed: int = 0,
        success_threshold: float = 0.5,
    ) -> None:
        from agents.policy import SamplingParams
        from agents.prompts import DEFAULT_PROMPT

        self.policy = policy
        self.make_env = make_env
        self.prompt = prompt or DEFAULT_PROMPT
        self.params = replace(params or SamplingParams(), seed=seed)
        self.max_turns = max_turns
        self.success_threshold = success_threshold
        self.trajectories: list[Any] = []
        self._engines: dict[int, Any] = {}
        self._next_group = 0

    def __call__(self, plans: Sequence[PlanRecord], n: int) -> list[float]:
        engine = self._engine(n)
        groups = list(range(self._next_group, self._next_group + len(plans)))
        self._next_group += len(plans)
        trajs = engine.run(
            [p.task_id for p in plans],
            group_ids=groups,
            forced_first_turns=[self._after_prefill(p.plan) for p in plans],
        )
        self.trajectories += trajs
        rates = []
        for i in range(len(plans)):
            group = trajs[i * n : (i + 1) * n]  # task-major order
            rates.append(sum(t.reward >= self.success_threshold for t in group) / n)
        return rates

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    def _engine(self, n: int) -> Any:
        from agents.rollout import RolloutConfig, RolloutEngine

        if n not in self._engines:
            config = RolloutConfig(
                group_size=n, prompt=self.prompt, params=self.params, max_turns=self.max_turns
            )
            self._engines[n] = RolloutEngine(self.policy, self.make_env, config)
        return self._engines[n]

    def _after_prefill(self, plan: str) -> str:
        prefill = self.prompt.prefill(0)
        return plan[len(prefill) :] if prefill and plan.startswith(prefill) else plan


# ----------------------------------------------------------------------------- plan follower

_STEP_SPLIT = re.compile(r"(?:^|\s)\d{1,2}[.)]\s+|\n+")
_URL = re.compile(r"https://wiki\.local/wiki/[^\s<>\"'\])]+")
_READ = re.compile(
    r"^(?:read|visit|open)\s+(?:the\s+)?(?:page\s+|pages\s+)?(?:of\s+|on\s+)?(.+?)"
    r"(?:\s+(?:to|and)\s+(?:find|learn|get|see|check|look|read)\b.*)?[.!]?$",
    re.IGNORECASE,
)
_SEARCH = re.compile(r"^(?:search|look\s+up|query)\s+(?:for\s+)?(.+?)[.!]?$", re.IGNORECASE)
_LEAD = re.compile(r"^(?:first|then|next|finally|after\s+that|and)\b[,:]?\s*", re.IGNORECASE)
_ANSWER = re.compile(r"^(?:give\s+(?:the\s+)?|write\s+(?:the\s+)?)?answer\b", re.IGNORECASE)
_YES_NO = frozenset({"yes", "no"})


def plan_text(turn: str) -> str:
    """The plan inside a first turn: its ``<plan>`` (or ``<think>``), else the turn
    without its tool calls and answer."""
    parsed = parse_action(turn)
    if parsed.plan or parsed.think:
        return parsed.plan or parsed.think or ""
    return re.sub(r"<(tool_call|answer)>.*?(</\1>|$)", " ", turn, flags=re.DOTALL)


def _titles(text: str, known: Collection[str] | None) -> list[str]:
    """The page titles a "Read ..." step names: the whole text, or its comma-separated
    parts when ``known`` titles say the whole is not a title and every part is."""
    text = text.strip()
    parts = [t.strip() for t in text.split(", ") if t.strip()]
    splits = len(parts) > 1 and known is not None and text not in known
    return parts if splits and all(p in known for p in parts) else [text]


def plan_steps(turn: str, titles: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The actions a first turn's plan asks for, in order, up to its answer step.

    Steps are numbered (``1. ...``) or one a line. A step with wiki URLs visits them;
    "Read/Visit/Open X (to find ...)" visits the page titled X (or pages X and Y for
    "X, Y" when ``titles``, the known page titles, say so); "Search (for) Q" searches Q.
    Steps that say neither are not actions and are skipped.
    """
    steps: list[dict[str, Any]] = []
    for raw in _STEP_SPLIT.split(plan_text(turn)):
        step = _LEAD.sub("", raw.strip())
        if not step:
            continue
        if _ANSWER.match(step):
            break
        urls = _URL.findall(step)
        read, search = _READ.match(step), _SEARCH.match(step)
        if urls:
            steps.append({"name": "visit", "arguments": {"url": urls, "goal": step}})
        elif read:
            urls = [title_to_url(t) for t in _titles(read.group(1), titles)]
            steps.append({"name": "visit", "arguments": {"url": urls, "goal": step}})
        elif search:
            steps.append({"name": "search", "arguments": {"query": [search.group(1).strip()]}})
    return steps


def _signature(name: str, arguments: Mapping[str, Any]) -> tuple[str, str]:
    """What identifies an action across spellings: tool and normalized targets."""
    if name == "visit":
        items = [(url_to_title(u) or u).replace("_", " ") for u in arguments.get("url", ())]
    else:
        items = list(arguments.get("query", ()))
    return name, ", ".join(items).casefold().strip()


def steps_done(steps: Sequence[Mapping[str, Any]], turns: Sequence[str]) -> int:
    """How many plan steps the turns have carried out (index after the last one done)."""
    wanted = [_signature(s["name"], s["arguments"]) for s in steps]
    pointer = 0
    for text in turns:
        for call in parse_action(text).tool_calls:
            sig = _signature(call.name, call.arguments)
            later = [i for i in range(pointer, len(wanted)) if wanted[i] == sig]
            if later:
                pointer = later[0] + 1
    return pointer


def visited_titles(turns: Sequence[str]) -> set[str]:
    """Normalized titles of every page the turns asked to visit."""
    titles = set()
    for text in turns:
        for call in parse_action(text).tool_calls:
            if call.name == "visit":
                titles |= {normalize_answer(url_to_title(u) or u) for u in call.arguments["url"]}
    return titles


def exchanges(messages: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    """(assistant turn, the tool response that followed it or "") pairs, in order."""
    out = []
    for i, m in enumerate(messages):
        if m.get("role") == "assistant":
            after = messages[i + 1] if i + 1 < len(messages) else {}
            response = after.get("content", "") if after.get("role") in ("user", "tool") else ""
            out.append((m.get("content", ""), response))
    return out


def evidence_seen(task: Task, pairs: Sequence[tuple[str, str]]) -> bool:
    """Whether a perfect reader could answer now: a page it chose to read (the response to
    a turn with a visit) states the answer; for a yes/no answer, which any text contains,
    every gold page was visited. Search snippets do not count: on a small wiki a search
    shows every page, and an answer glimpsed in a snippet about another page is luck."""
    turns = [turn for turn, _ in pairs]
    if normalize_answer(task.answer) in _YES_NO:
        gold = {normalize_answer(url_to_title(u) or u) for u in task.gold.pages}
        return bool(gold) and gold <= visited_titles(turns)
    return any(
        contains_answer(response, task.answers)
        for turn, response in pairs
        if any(call.name == "visit" for call in parse_action(turn).tool_calls)
    )


class PlanFollowerPolicy(ScriptedPolicy):
    """Continues an episode by doing exactly what its first turn's plan says.

    At each later turn it carries out the next plan step not yet done (skipping one with
    probability ``slip``); when the steps run out it answers: the gold answer when the
    evidence has been seen (:func:`evidence_seen`), else "unknown". See the module
    docstring for why outcome labels use it. It needs the tasks (privileged, like the
    oracle) and its turns are reproducible from the request seeds. ``titles``, the
    corpus's page titles, let it read "Read X, Y" as two pages when "X, Y" is not one.
    """

    def __init__(
        self,
        tasks: Iterable[Task] = (),
        tokenizer: Any = None,
        *,
        slip: float = 0.0,
        seed: int = 0,
        titles: Collection[str] | None = None,
        end_with_eos: bool = False,
    ) -> None:
        super().__init__(tokenizer, end_with_eos=end_with_eos)
        if not 0 <= slip < 1:
            raise ValueError(f"Expected 0 <= slip < 1, got {slip}.")
        self.book = TaskBook(tasks)
        self.slip = slip
        self.seed = seed
        self.titles = None if titles is None else frozenset(titles)

    def bind_tasks(self, tasks: Iterable[Task]) -> PlanFollowerPolicy:
        self.book.add(tasks)
        return self

    def move(self, request: Any) -> Move:
        messages = request.messages
        task = self.book.find(messages)
        turns = [m["content"] for m in messages if m.get("role") == "assistant"]
        turn = turn_index(messages)
        if not turns:  # no forced plan: the follower has nothing to follow
            return Move(answer_action("unknown"), "No plan was given.")
        steps = plan_steps(turns[0], self.titles)
        pointer = steps_done(steps, turns)
        key = request.seed
        if key is None:
            key = zlib.crc32(f"{self.seed}|{turn}|{task.id}".encode())
        if random.Random(key).random() < self.slip:
            pointer += 1
        if pointer < len(steps):
            return Move(dict(steps[pointer]))
        answer = task.answer if evidence_seen(task, exchanges(messages)) else "unknown"
        return Move(answer_action(answer))


# ----------------------------------------------------------------------------- human labels

LABEL_COLUMNS = ("id", "question", "plan", "label", "note")


class LabelFormatError(ValueError):
    """A label file, or a row of one, that cannot be read; names the file and row."""


@dataclass(frozen=True)
class HumanLabel:
    """A person's verdict on one plan: 1 = the plan would lead to the answer."""

    id: str
    label: int
    note: str = ""


@dataclass(frozen=True)
class BadRow:
    """A row that was excluded, and why."""

    path: str
    row: int
    """The file line the row starts on (the CSV header is line 1)."""
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.row}: {self.reason}"


@dataclass(frozen=True)
class LabelImport:
    """What a label file held."""

    labels: tuple[HumanLabel, ...]
    unlabeled: int
    """Rows with an empty label."""
    bad: tuple[BadRow, ...]
    """Rows excluded (only with ``skip_bad``)."""

    def as_dict(self) -> dict[str, int]:
        return {lab.id: lab.label for lab in self.labels}


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv")


def export_for_labelling(
    path: str | Path,
    plans: Sequence[PlanRecord],
    *,
    limit: int | None = None,
    seed: int = 0,
) -> Path:
    """Write plans for people to label: CSV (``.csv``) or JSONL (other suffixes).

    Columns ``id, question, plan, label, note``; label and note are empty. With
    ``limit``, a random sample (fixed by ``seed``) of that many plans, in input order.
    Outcomes are not written, so they cannot sway the labeller.
    """
    path = Path(path)
    chosen = list(plans)
    if limit is not None and limit < len(chosen):
        keep = set(random.Random(seed).sample(range(len(chosen)), limit))
        chosen = [p for i, p in enumerate(chosen) if i in keep]
    rows = [
        {"id": p.id, "question": p.question, "plan": p.plan, "label": "", "note": ""}
        for p in chosen
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    if _is_csv(path):
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    else:
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _csv_rows(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in ("id", "label") if c not in header]
        if missing:
            raise LabelFormatError(
                f"{path}:1: expected a header with columns {list(LABEL_COLUMNS)}, "
                f"missing {missing} (got {header})"
            )
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterable[tuple[int, Any]]:
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as err:
            yield lineno, f"not valid JSON ({err.msg})"


def _read_label(value: Any) -> int | None | str:
    """0/1, None for an empty label, or why the value is not a label."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return f"label must be 0 or 1, got {value!r}"
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return f"label must be 0 or 1, got {value!r}"


def _check_row(
    row: Any, known_ids: Collection[str] | None, seen: set[str]
) -> HumanLabel | None | str:
    if isinstance(row, str):
        return row
    if not isinstance(row, dict):
        return f"expected an object with {list(LABEL_COLUMNS)}, got {type(row).__name__}"
    uid = row.get("id")
    if not isinstance(uid, str) or not uid.strip():
        return "missing id"
    uid = uid.strip()
    if known_ids is not None and uid not in known_ids:
        return f"unknown plan id {uid!r}"
    if uid in seen:
        return f"repeated plan id {uid!r}"
    label = _read_label(row.get("label"))
    if isinstance(label, str):
        return label
    seen.add(uid)
    note = row.get("note")
    return None if label is None else HumanLabel(uid, label, note if isinstance(note, str) else "")


def import_labels(
    path: str | Path, *, known_ids: Collection[str] | None = None, skip_bad: bool = False
) -> LabelImport:
    """Read a label file written by :func:`export_for_labelling` and filled in by people.

    Without ``skip_bad`` the first bad row raises :class:`LabelFormatError` naming the
    file and row; with it, bad rows are collected in :attr:`LabelImport.bad`.
    ``known_ids`` (the plan ids that exist) makes an unknown id a bad row.
    """
    path = Path(path)
    rows = _csv_rows(path) if _is_csv(path) else _jsonl_rows(path)
    labels: list[HumanLabel] = []
    bad: list[BadRow] = []
    unlabeled = 0
    seen: set[str] = set()
    for line, row in rows:
        checked = _check_row(row, known_ids, seen)
        if isinstance(checked, str):
            problem = BadRow(str(path), line, checked)
            if not skip_bad:
                raise LabelFormatError(f"{problem} (use skip_bad / --skip-bad to exclude it)")
            bad.append(problem)
        elif checked is None:
            unlabeled += 1
        else:
            labels.append(checked)
    return LabelImport(tuple(labels), unlabeled, tuple(bad))


def save_human_labels(path: str | Path, labels: Iterable[HumanLabel]) -> Path:
    """Write checked labels as JSONL ``{"id", "label", "note"}`` (readable by import_labels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(
        json.dumps({"id": x.id, "label": x.label, "note": x.note}, ensure_ascii=False) + "\n"
        for x in labels
    )
    path.write_text(text, encoding="utf-8")
    return path
