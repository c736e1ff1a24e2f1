"""What the paper's experiments share: scales, corpora, the starting policy, trained
methods, evaluation, and failures that are reported instead of ending the run.

Every experiment (``plan_anchor.py``, ``main_table.py``, ``ablations.py``,
``training_dynamics.py``) takes ``--scale smoke|small|full``, ``--work-dir`` (where
corpora, trained models and evaluations are kept, so experiments reuse each other's
training and an interrupted run continues), ``--corpus`` and ``--methods-file``.

A *scale* fixes every budget (tasks, samples, turns, tokens, training steps), so all
methods of one run see the same tasks, seeds and budgets:

- ``smoke``: a tiny random model, seconds; what the tests run.
- ``small``: SmolLM2-135M-Instruct on this 2-core CPU, each experiment within 90 minutes.
- ``full``: the settings for a GPU (see ``benchmarks/README.md``).

The starting policy (``Scale.start``) of ``small`` and ``full`` is the shipped warm start
(``smollm2-sft``: SmolLM2 with the SFT adapter of ``python -m agents.train --preset
smollm2-cpu``), played in the format it was trained in (prompt, observation sizes, turn and
token limits); ``smoke`` trains its own short SFT start on gold trajectories. Methods train
from the start.

Equal budgets (:func:`agents.methods.Method.equal_budget`): every trained method of a run
gets the same number of policy updates and of sampled trajectories, stage 1 + stage 2
steps of the scale, whichever stages it has.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import hashlib
import json
import math
import shutil
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agents.methods import Method, get_method, load_methods_file
from benchmarks._results import add_no_append, append_section

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

HOTPOT_FILE = REPO.parent / "shared" / "data" / "hotpotqa_dev500.jsonl"
"""Default source of the ``hotpotqa`` corpus (imported on first use)."""

T = TypeVar("T")


# --- Scales -------------------------------------------------------------------------------


SMALL_TRAINING: dict[str, Any] = {
    "model": "", "tiny_model": False, "temperature": 1.0, "sft_max_tasks": 4, "sft_epochs": 1,
    "stage1_steps": 2, "stage2_steps": 1, "stage1_group_size": 4, "stage2_group_size": 4,
    "tasks_per_step": 2, "learning_rate": 2e-5, "lora_rank": 16, "lora_alpha": 32,
    "micro_batch_size": 2, "judge_model": "smollm2", "seed": 0, "corpus": "default",
    "split": "train", "tensorboard": False,
}  # fmt: skip
"""The ``small`` scale's training settings (TrainConfig fields, flat stage names): every
scale is these with its start's format and its own overrides. ``model`` '' is
SmolLM2-135M-Instruct; the episode settings (turns, tokens, visit size, results,
temperature, seed) serve evaluation too. LoRA adapters on the start, as in the demo."""


class Start(str, enum.Enum):
    """Where a scale's models start (``Scale.start``)."""

    WARM = "warm-start"
    """The shipped warm start (``agents.models.WARM_START``), in its saved format."""
    SFT = "sft"
    """The scale's model after a short SFT on ``sft_max_tasks`` gold paths."""


SFT_FORMAT: dict[str, Any] = {
    "prompt": "react-plan-prefill", "max_turns": 5, "max_new_tokens": 128, "visit_chars": 600,
    "top_k": 3,
}  # fmt: skip
"""The episode format of an ``sft`` start (the scale's own SFT uses it too)."""


def start_format(start: Start) -> dict[str, Any]:
    """The episode settings (prompt, turns, tokens, observation sizes) of a start."""
    return dict(SFT_FORMAT) if Start(start) is Start.SFT else dict(_warm_start_format())


@functools.cache
def _warm_start_format() -> dict[str, Any]:
    """The shipped warm start's saved format (read once a process)."""
    from agents.agent_format import AgentFormat
    from agents.models import warm_start_dir

    saved = AgentFormat.load(warm_start_dir())
    if saved is None:
        raise FileNotFoundError(f"Expected the shipped warm start in {warm_start_dir()}.")
    return dataclasses.asdict(saved)


@dataclass(frozen=True)
class Scale:
    """Every budget of an experiment run: the training settings of its models, as overrides
    of :class:`~agents.train.config.TrainConfig`, and what only experiments have."""

    name: str
    training: Mapping[str, Any] = field(default_factory=dict)
    """TrainConfig settings over :data:`SMALL_TRAINING` and the start's format (e.g.
    ``{"stage1_steps": 100}``)."""
    start: Start = Start.WARM
    """The starting policy."""
    eval_tasks: int = 4
    """Tasks per corpus evaluated (the first N of the split)."""
    runs: int = 3
    """Samples per task: pass@1 is their mean, pass@k uses k = runs."""
    batch_tasks: int = 8
    """Tasks per lockstep evaluation batch."""
    anchor_tasks: int = 6
    """Plan anchor: questions probed per corpus (or per difficulty)."""
    anchor_samples: int = 4
    """Plan anchor: rollouts per question to find ones neither all right nor all wrong."""
    anchor_continuations: int = 4
    """Plan anchor: n continuations after each fixed first step (pass@n)."""
    anchor_max_hops: int | None = None
    """Plan anchor: only questions of at most this many hops (None: all)."""
    anchor_batch_episodes: int = 32
    """Plan anchor: episodes played in lockstep at once (whole questions or fixed steps, at
    least one). Their key/value states set its memory: about 0.14 GiB an episode of the
    warm start on the CPU (peak 2.4 / 3.5 / 5.6 GiB at 8 / 16 / 32)."""

    def config(self, **changes: Any) -> Any:
        """The TrainConfig of a model trained at this scale, with ``changes``."""
        from agents.train.config import TrainConfig

        fmt = start_format(self.start)
        return TrainConfig.from_dict({**SMALL_TRAINING, **fmt, **self.training, **changes})

    def with_training(self, **changes: Any) -> Scale:
        """This scale with other training settings."""
        return dataclasses.replace(self, training={**self.training, **changes})

    @functools.cached_property
    def settings(self) -> Any:
        """The scale's TrainConfig (built once; ``config(**changes)`` for a model's own)."""
        return self.config()

    # The settings evaluation shares with training (every row of a table plays episodes
    # as the models were trained to).
    max_turns = property(lambda self: self.settings.max_turns)
    max_new_tokens = property(lambda self: self.settings.max_new_tokens)
    visit_chars = property(lambda self: self.settings.visit_chars)
    top_k = property(lambda self: self.settings.top_k)
    temperature = property(lambda self: self.settings.temperature)
    seed = property(lambda self: self.settings.seed)
    judge_model = property(lambda self: self.settings.judge_model)
    prompt = property(lambda self: self.settings.prompt)

    def training_key(self) -> dict[str, Any]:
        """The settings that change a trained model (the cache key of trained models): all
        but ``TrainConfig``'s runtime fields (progress bars, the heap, resuming)."""
        from agents import cli
        from agents.train.config import RUNTIME_FIELDS

        flat = cli.flatten(self.settings)
        return {k: v for k, v in flat.items() if k not in RUNTIME_FIELDS}

    def describe(self) -> str:
        """One line of the budgets for a results note."""
        c = self.settings
        model = "tiny random model" if c.tiny_model else (c.model or "SmolLM2-135M-Instruct")
        start = (
            "start: the shipped warm start smollm2-sft"
            if self.start is Start.WARM
            else f"{model}, SFT start on {c.sft_max_tasks} gold trajectories"
        )
        tuning = f"LoRA rank {c.lora_rank}" if c.lora_rank else "full weights"
        return (
            f"scale {self.name}: {start}; prompt {c.prompt}; {self.eval_tasks} tasks per "
            f"corpus x {self.runs} runs; {c.max_turns} turns of <= {c.max_new_tokens} tokens; "
            f"visits of {c.visit_chars} chars; top-{c.top_k}; training (equal budgets) "
            f"{c.stage1.steps + c.stage2.steps} steps a method ({c.stage1.steps} + "
            f"{c.stage2.steps} for two stages), G = {c.stage1.group_size}, "
            f"{c.tasks_per_step} question(s) per step, {tuning}, lr {c.learning_rate:g}; "
            f"plan anchor {self.anchor_tasks} questions"
            + (f" of <= {self.anchor_max_hops} hops" if self.anchor_max_hops else "")
            + f" x {self.anchor_samples} samples, "
            f"{self.anchor_continuations} continuations; seed {c.seed}"
        )


SCALES = {
    "smoke": Scale(
        "smoke", eval_tasks=2, runs=2, anchor_tasks=2, anchor_samples=2, anchor_continuations=2,
        start=Start.SFT,
        training={
            "tiny_model": True, "max_turns": 7, "max_new_tokens": 12, "sft_max_tasks": 2,
            "stage1_steps": 1, "stage2_steps": 1, "stage1_group_size": 2, "stage2_group_size": 2,
            "tasks_per_step": 1, "learning_rate": 1e-3, "lora_rank": 0, "judge_model": "",
        },
    ),
    # about 10 s an episode of the warm start (8 turns of <= 400 tokens) on the 2-core CPU
    "small": Scale(
        "small", eval_tasks=8, runs=3, batch_tasks=4, anchor_tasks=24, anchor_samples=8,
        anchor_continuations=4, anchor_max_hops=2, anchor_batch_episodes=16,
    ),
    "full": Scale(
        "full", eval_tasks=300, runs=3, batch_tasks=32, anchor_tasks=100, anchor_samples=8,
        anchor_continuations=8, anchor_batch_episodes=256,
        training={
            "stage1_steps": 100, "stage2_steps": 100, "stage1_group_size": 8,
            "stage2_group_size": 8, "tasks_per_step": 8, "learning_rate": 1e-6, "lora_rank": 0,
            "micro_batch_size": 8, "judge_model": "",
        },
    ),
}  # fmt: skip


# --- Corpora ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus an experiment evaluates on: its table name, location and split."""

    name: str
    corpus: str
    """'default' (the bundled world) or a corpus directory."""
    split: str = "test"


def parse_corpus(text: str, work_dir: Path, hotpot_file: Path = HOTPOT_FILE) -> CorpusSpec:
    """``world`` (the bundled test split), ``hotpotqa`` (imported from ``hotpot_file`` into
    the work directory on first use) or ``NAME=DIR[:SPLIT]``."""
    if text == "world":
        return CorpusSpec("world", "default", "test")
    if text == "hotpotqa":
        return CorpusSpec("hotpotqa", str(import_hotpotqa(hotpot_file, work_dir)), "test")
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"Expected world, hotpotqa or NAME=DIR[:SPLIT], got {text!r}.")
    directory, _, split = rest.partition(":")
    if (
        not (Path(directory) / "pages.jsonl").exists()
        and not (Path(directory) / "pages.jsonl.gz").exists()
    ):
        raise FileNotFoundError(f"Corpus {name!r} is not built: no pages file in {directory}.")
    return CorpusSpec(name, directory, split or "test")


def import_hotpotqa(source: Path, work_dir: Path) -> Path:
    """The HotpotQA corpus in ``work_dir/corpora/hotpotqa``, imported once."""
    out = work_dir / "corpora" / "hotpotqa"
    if (out / "tasks.jsonl").exists():
        return out
    if not source.exists():
        raise FileNotFoundError(
            f"Corpus hotpotqa is not built and its source {source} is missing "
            "(pass --hotpot-file, or another --corpus)."
        )
    from wiki_corpus.importers import import_file
    from wiki_corpus.io import write_corpus

    result = import_file("hotpotqa", source)
    write_corpus(out, result.pages, result.tasks, result.meta)
    return out


# --- Failures -----------------------------------------------------------------------------


@dataclass
class Failures:
    """What failed (a checkpoint, a corpus, a method): reported, and the run goes on."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def attempt(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``fn(*args, **kwargs)``, or None after recording and printing the error."""
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of one part is reported
            message = f"{type(err).__name__}: {err}"
            self.items.append((what, message))
            print(f"[failed] {what}: {message} (continuing with the rest)", file=sys.stderr)
            traceback.print_exc(limit=3, file=sys.stderr)
            return None

    def note(self, what: str, reason: str) -> None:
        """Record something left out for a reason other than an exception."""
        self.items.append((what, reason))
        print(f"[skipped] {what}: {reason}", file=sys.stderr)

    def markdown(self) -> str:
        """A list of the failures for the results, or '' when nothing failed."""
        if not self.items:
            return ""
        lines = ["Failed (the rest ran):", ""]
        lines += [f"- {what}: {message}" for what, message in self.items]
        return "\n".join(lines) + "\n"


# --- Models -------------------------------------------------------------------------------


def _base_config(scale: Scale, output_dir: Path, **changes: Any) -> Any:
    return scale.config(output_dir=str(output_dir), **changes)


def read_stamp(path: Path) -> Any | None:
    """The JSON of the stamp file ``path``; None when it is missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _stamped(out: Path, record: dict[str, Any]) -> bool:
    """Whether ``out/made_with.json`` holds ``record`` (a missing or broken stamp does not)."""
    return read_stamp(out / "made_with.json") == record


def _cached(out: Path, record: dict[str, Any]) -> Path | None:
    """``out/final`` when it was made with ``record``; a stale or partial ``out`` is removed."""
    final = out / "final"
    if _stamped(out, record) and (final / "config.json").exists():
        return final
    if out.exists():
        shutil.rmtree(out)
    return None


def start_model(scale: Scale, work_dir: Path) -> str:
    """The starting policy: the shipped warm start, or the scale's model after a short SFT
    (trained once per work directory)."""
    from agents.models import WARM_START
    from agents.train.config import Algo
    from agents.train.trainer import train

    if scale.start is Start.WARM:
        return WARM_START

    out = work_dir / "models" / "start"
    record = {"scale": scale.training_key(), "what": "sft start"}
    if (final := _cached(out, record)) is not None:
        return str(final)
    train(_base_config(scale, out, algo=Algo.SFT))
    (out / "made_with.json").write_text(json.dumps(record), encoding="utf-8")
    return str(out / "final")


def method_key(method: Method) -> dict[str, str]:
    """A method's settings as text that is the same in every process (functions by their
    module and name, not their address)."""

    def text(value: Any) -> str:
        if callable(value) and hasattr(value, "__qualname__"):
            return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
        return repr(dict(value)) if isinstance(value, Mapping) else repr(value)

    return {f.name: text(getattr(method, f.name)) for f in dataclasses.fields(method)}


def method_model(method: Method, scale: Scale, work_dir: Path, start: str) -> str:
    """The policy of ``method``: ``start`` itself, or ``start`` trained by the method
    (kept under ``work_dir/models/<name>`` and reused by later experiments)."""
    if not method.trains:
        return start
    from agents.train.rewards import reward_versions
    from agents.train.trainer import train

    out = work_dir / "models" / method.name
    base = _base_config(scale, out, model=start)
    total = base.stage1.steps + base.stage2.steps
    config = method.equal_budget(method.train_config(base), total)
    record = {"scale": scale.training_key(), "method": method_key(method), "start": start}
    record |= {"rewards": versions} if (versions := reward_versions(config)) else {}
    if (final := _cached(out, record)) is not None:
        return str(final)
    train(config, stages=method.stages(config))
    (out / "made_with.json").write_text(json.dumps(record), encoding="utf-8")
    return str(out / "final")


def training_metrics(work_dir: Path, name: str) -> list[dict[str, Any]]:
    """The metrics.jsonl records of method ``name``'s training run."""
    from agents.train.logging import read_metrics

    return read_metrics(work_dir / "models" / name / "metrics.jsonl")


# --- Evaluation ---------------------------------------------------------------------------


def model_stamp(policy: str) -> Any:
    """What identifies a model's weights: the harness's ``made_with.json`` of a model it
    trained, the content of another model directory (its weights and JSON files: the same
    in every checkout, unlike their modification times), or else the name."""
    from agents.models import model_directory

    path = model_directory(policy)
    if path is None:
        return policy
    made = path.parent / "made_with.json"
    if made.exists():
        return json.loads(made.read_text(encoding="utf-8"))
    return content_digest(path)


def content_digest(directory: Path) -> str:
    """SHA-256 over the names and contents of a model directory's top-level weight and JSON
    files (``*.safetensors``, ``*.bin``, ``*.json``)."""
    digest = hashlib.sha256()
    files = sorted(
        f
        for f in directory.iterdir()
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".json")
    )
    for file in files:
        with file.open("rb") as fh:
            digest.update(f"{file.name}\0".encode() + hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def fresh_eval_dir(out: Path, record: dict[str, Any]) -> None:
    """Keep ``out`` (so a partial evaluation resumes) only when it was made with ``record``;
    otherwise set it aside and start it empty (or bring back the one set aside with
    ``record``), so a retrained model or other budgets never reuse old trajectories and
    switching settings back and forth plays nothing twice. Set aside means moved to
    ``out/../.set_aside/<name>-<digest of its stamp>``."""
    record = json.loads(json.dumps(record, default=str))
    if out.exists():
        if _stamped(out, record):
            return
        _set_aside(out)
    kept = _aside_path(out, record)
    if kept.is_dir() and _stamped(kept, record):
        kept.rename(out)
        return
    out.mkdir(parents=True)
    (out / "made_with.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def _aside_path(out: Path, record: Any) -> Path:
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return out.parent / ".set_aside" / f"{out.name}-{digest}"


def _set_aside(out: Path) -> None:
    """Move ``out`` under its stamp's digest (a directory without a readable stamp, which
    holds nothing a rerun could match, is removed)."""
    record = read_stamp(out / "made_with.json")
    if record is None:
        shutil.rmtree(out)
        return
    target = _aside_path(out, record)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.rename(target)


def check_checkpoint(policy: str) -> str:
    """``policy``, or FileNotFoundError when it names a local checkpoint that is not there.

    Scripted names, ``smollm2``, ``openai:...`` and ``org/name`` hub ids pass; a path
    (``/x/y``, ``./x``, ``~/x``, a bare name or ``a/b/c``) must exist (it is returned
    with ``~`` expanded).
    """
    from agents.models import WARM_START

    named = ("oracle", "naive", "random", "smollm2", WARM_START)
    if policy in named or policy.startswith("openai:"):
        return policy
    path = Path(policy).expanduser()
    if path.exists():
        return str(path)
    if policy.startswith(("/", ".", "~")) or policy.count("/") != 1:
        raise FileNotFoundError(f"Checkpoint {policy!r} does not exist.")
    return policy


def eval_dir(work_dir: Path, name: str, corpus: CorpusSpec) -> Path:
    """Where the evaluation of row/method ``name`` on ``corpus`` lives; experiments share
    it, so a method evaluated for the main table is not evaluated again for the ablations
    (the stamp of :func:`fresh_eval_dir` keeps that honest)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return work_dir / "evals" / safe / corpus.name


def evaluate_policy(
    policy: str,
    corpus: CorpusSpec,
    scale: Scale,
    out: Path,
    *,
    agent: str = "react",
    prompt: str | None = None,
    runs: int | None = None,
) -> dict[str, Any]:
    """Evaluate ``policy`` (a scripted name, ``smollm2``, ``smollm2-sft`` or a model
    directory) on the first ``scale.eval_tasks`` tasks; returns the summary metrics.
    ``prompt`` None: the scale's (a ReAct agent) or the anticipatory agent's default.
    Resumes a partial run made with the same settings and weights (see
    :func:`fresh_eval_dir`)."""
    from agents.anticipatory import anticipatory_prompt
    from agents.evaluate import EvalConfig, evaluate

    scripted = policy in ("oracle", "naive", "random")
    if prompt is None:
        prompt = scale.prompt if agent == "react" else anticipatory_prompt().name
    check_checkpoint(policy)
    n = runs or scale.runs
    config = EvalConfig(
        policy=policy, corpus=corpus.corpus, split=corpus.split, n=n, k=n, agent=agent,
        prompt=None if scripted else prompt, max_turns=scale.max_turns,
        max_new_tokens=scale.max_new_tokens, top_k=scale.top_k, visit_chars=scale.visit_chars,
        temperature=scale.temperature, seed=scale.seed, limit=scale.eval_tasks, out=str(out),
        resume=True, batch_tasks=scale.batch_tasks,
    )  # fmt: skip
    fresh_eval_dir(out, eval_record(config, corpus))
    return evaluate(config)["metrics"]


EVAL_RECORD_SKIPS = ("out", "resume", "progress")
"""EvalConfig fields that do not change an evaluation's episodes."""


def eval_record(config: Any, corpus: CorpusSpec) -> dict[str, Any]:
    """What an evaluation's episodes depend on, its stamp: the EvalConfig it runs (without
    :data:`EVAL_RECORD_SKIPS`), the corpus and the policy's weights (:func:`model_stamp`).
    Budgets it does not use (training steps, the plan anchor's) stay out of it, so changing
    them keeps the evaluations already made."""
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in EVAL_RECORD_SKIPS}
    return {
        "eval": settings,
        "corpus": dataclasses.asdict(corpus),
        "model": model_stamp(config.policy),
    }


# --- Command line -------------------------------------------------------------------------


def split_list(text: str | None) -> list[str]:
    """A comma list option as names: ``"a, b,,c"`` -> ``["a", "b", "c"]``; None -> ``[]``."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def common_parser(
    description: str, default_corpora: Sequence[str] = ("world", "hotpotqa")
) -> argparse.ArgumentParser:
    """The options every experiment shares (``default_corpora`` when no --corpus is given)."""
    parser = argparse.ArgumentParser(description=description)
    parser.set_defaults(default_corpora=list(default_corpora))
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--work-dir", type=Path, default=REPO / "runs" / "bench", help="models, runs, plots"
    )
    parser.add_argument(
        "--corpus",
        action="append",
        help="world, hotpotqa or NAME=DIR[:SPLIT] (repeatable; default: "
        f"{' and '.join(default_corpora)})",
    )
    parser.add_argument("--hotpot-file", type=Path, default=HOTPOT_FILE)
    parser.add_argument(
        "--methods-file", action="append", default=[], help="Python file registering methods"
    )
    parser.add_argument("--model", default=None, help="starting model (overrides the scale's)")
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of training and sampling (overrides the scale's 0; give each seed its own "
        "--work-dir, where its models are kept)",
    )
    parser.add_argument("--note", default="", help="a note for RESULTS.md")
    add_no_append(parser)
    return parser


def scale_from(args: argparse.Namespace) -> Scale:
    scale = SCALES[args.scale]
    if args.seed is not None:
        scale = scale.with_training(seed=args.seed)
    if args.model is None:
        return scale
    tiny = args.model == "tiny"
    return scale.with_training(tiny_model=tiny, model="" if tiny else args.model)


def corpora_from(args: argparse.Namespace, failures: Failures) -> list[CorpusSpec]:
    """The requested corpora; one that cannot be built is reported and left out."""
    specs = []
    for text in args.corpus or getattr(args, "default_corpora", ["world", "hotpotqa"]):
        spec = failures.attempt(
            f"corpus {text}", parse_corpus, text, args.work_dir, args.hotpot_file
        )
        if spec is not None:
            specs.append(spec)
    return specs


def methods_from(names: Sequence[str], files: Sequence[str], failures: Failures) -> list[Method]:
    """Load the method files, then look up ``names`` (unknown names are reported)."""
    for path in files:
        failures.attempt(f"methods file {path}", load_methods_file, path)
    found = [failures.attempt(f"method {name}", get_method, name) for name in names]
    return [m for m in found if m is not None]


def finish(title: str, body: str, args: argparse.Namespace, failures: Failures, note: str) -> None:
    """Print the section and append it to RESULTS.md (unless --no-append)."""
    text = body + ("\n" + failures.markdown() if failures.items else "")
    print(f"\n## {title}\n\n{text}")
    if not args.no_append:
        notes = "; ".join(x for x in (note, args.note) if x)
        path = append_section(title, text, notes)
        print(f"appended to {path}")


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it to ``path`` (its folder made if needed) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def error_bars(
    values: Sequence[float], intervals: Sequence[Sequence[float] | None]
) -> list[list[float]]:
    """Matplotlib's ``yerr`` of bars at ``values`` with these intervals: the distances below
    and above each value (0 where it has no interval; NaN bars get 0 too)."""
    below, above = [], []
    for value, interval in zip(values, intervals, strict=True):
        low, high = interval or (value, value)
        missing = math.isnan(value)
        below.append(0.0 if missing else value - low)
        above.append(0.0 if missing else high - value)
    return [below, above]


def interval_text(interval: Sequence[float] | None, digits: int = 2) -> str:
    """`` [0.12, 0.40]`` after a table cell, or '' without an interval."""
    return "" if not interval else f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
