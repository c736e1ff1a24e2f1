"""Command line of the virtual wiki.

    python -m wiki_corpus generate --pages N --seed S --out DIR [--train N --dev N --test N]
                                   [--no-honesty-check]
    python -m wiki_corpus import hotpotqa|musique FILE --out DIR [--skip-bad] [--split S]
    python -m wiki_corpus stats DIR|default [--samples K]

``generate`` builds a fictional world, renders its pages, draws and validates tasks,
gives every task a causally honest gold path, checked with the environment's own search
and visit responses over the written pages (:func:`wiki_corpus.generate.make_honest`;
``--no-honesty-check`` skips that and says so in ``meta.json``), and writes the corpus
directory atomically; ``import`` converts a real multi-hop QA file;
``stats`` prints sizes, splits, difficulty and hop histograms, validation counts and
sample tasks with their gold paths. Bad settings end with a usage error (exit status 2)
that names the setting, what was expected and what came.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from wiki_corpus.honesty import Observe, env_observer
from wiki_corpus.io import load, write_corpus
from wiki_corpus.schema import SPLITS, Page, Task

IMPORT_KINDS = ("hotpotqa", "musique")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its three subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m wiki_corpus", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate a synthetic corpus from a seed")
    gen.add_argument("--pages", type=_int_at_least(1), required=True, help="number of pages")
    gen.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default 0)")
    gen.add_argument("--out", required=True, help="output corpus directory")
    for split in SPLITS:
        gen.add_argument(
            f"--{split}",
            type=_int_at_least(0),
            default=None,
            help=f"number of {split} tasks (default: 1000/200/300, scaled down for small worlds)",
        )
    gen.add_argument(
        "--no-honesty-check",
        action="store_true",
        help="keep the gold paths unchecked (no search index is built)",
    )
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    gen.set_defaults(subparser=gen)

    imp = sub.add_parser("import", help="import a HotpotQA or MuSiQue file")
    imp.add_argument("kind", choices=IMPORT_KINDS, help="dataset format")
    imp.add_argument("file", help="dataset file (.json or .jsonl)")
    imp.add_argument("--out", required=True, help="output corpus directory")
    imp.add_argument("--skip-bad", action="store_true", help="skip and count malformed records")
    imp.add_argument("--split", choices=SPLITS, default="test", help="split of the tasks")
    imp.set_defaults(subparser=imp)

    stats = sub.add_parser("stats", help="summarize a corpus directory or 'default'")
    stats.add_argument("corpus", help="a corpus directory, or 'default' for the bundled corpus")
    stats.add_argument(
        "--samples", type=_int_at_least(0), default=1, help="sample tasks to show (default 1)"
    )
    stats.set_defaults(subparser=stats)
    return parser


def _generate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from wiki_corpus.generate import check_settings, default_task_counts, generate, make_honest
    from wiki_corpus.stats import corpus_stats, format_stats

    n_tasks = default_task_counts(args.pages)
    given = {split: getattr(args, split) for split in SPLITS if getattr(args, split) is not None}
    n_tasks.update(given)
    try:
        check_settings(args.pages, args.seed, n_tasks)
    except ValueError as err:
        parser.error(str(err))
    result = generate(args.pages, args.seed, n_tasks, progress=not args.quiet)
    command = ["python", "-m", "wiki_corpus", "generate", "--pages", str(args.pages)]
    command += ["--seed", str(args.seed), "--out", args.out]
    for split, count in given.items():
        command += [f"--{split}", str(count)]
    command += ["--no-honesty-check"] if args.no_honesty_check else []
    meta = {**result.meta, "command": shlex.join(command)}
    if args.no_honesty_check:
        meta["validation"] = {**meta["validation"], "honesty": "not checked"}
    with _keeping_shipped_index(Path(args.out)) as restore:
        out = write_corpus(args.out, _progress(result.pages, args.quiet), result.tasks, meta)
        if not args.no_honesty_check:
            restore(out)
            result = make_honest(
                result, _observer(out, args.quiet), progress=not args.quiet, search=_search()
            )
            meta = {**result.meta, "command": meta["command"]}
            out = write_corpus(args.out, _progress(result.pages, args.quiet), result.tasks, meta)
        restore(out)
    print(f"Wrote {out}")
    print(format_stats(corpus_stats(load(out)), str(out)))
    return 0


SHIPPED_INDEX = "index"
"""The folder in which a corpus directory ships its prebuilt search index."""


@contextmanager
def _keeping_shipped_index(out: Path) -> Iterator[Callable[[Path], None]]:
    """Keep a copy of ``out``'s prebuilt index while the directory is rewritten; the
    function it gives puts the copy back (the backend checks it against the new pages by
    fingerprint, and builds a fresh index when they differ)."""
    shipped = out / SHIPPED_INDEX
    if not shipped.is_dir():
        yield lambda _: None
        return
    with tempfile.TemporaryDirectory(prefix=".index-", dir=out.parent) as keep:
        copy = Path(keep) / SHIPPED_INDEX
        shutil.copytree(shipped, copy)

        def restore(corpus_dir: Path) -> None:
            if not (corpus_dir / SHIPPED_INDEX).exists():
                shutil.copytree(copy, corpus_dir / SHIPPED_INDEX)

        yield restore


def _observer(corpus_dir: Path, quiet: bool) -> Observe:
    """The environment's search and visit responses over the written corpus."""
    from webanchor_env.backend import get_backend

    return env_observer(get_backend(corpus_dir, show_progress=not quiet))


def _search() -> dict[str, object]:
    """The environment's default search and visit settings, which the honesty pass uses."""
    from webanchor_env.env import WikiEnvConfig

    config = WikiEnvConfig()
    return {
        "search_mode": config.search_mode,
        "top_k": config.top_k,
        "visit_chars": config.visit_chars,
        "goal_mode": config.goal_mode,
    }


def _progress(pages: list[Page], quiet: bool) -> Iterable[Page]:
    from tqdm import tqdm

    return tqdm(pages, desc="write", unit="page", disable=quiet)


def _import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from wiki_corpus.importers import import_file
    except ImportError as err:  # pragma: no cover - the importers ship with the package
        print(f"error: the importers are not available ({err})", file=sys.stderr)
        return 1
    try:
        result = import_file(args.kind, args.file, skip_bad=args.skip_bad, split=args.split)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    command = ["python", "-m", "wiki_corpus", "import", args.kind, args.file, "--out", args.out]
    command += ["--skip-bad"] if args.skip_bad else []
    command += ["--split", args.split] if args.split != "test" else []
    meta = {**result.meta, "command": shlex.join(command)}
    out = write_corpus(args.out, result.pages, result.tasks, meta)
    print(
        f"Imported {len(result.tasks):,} tasks and {len(result.pages):,} pages from "
        f"{args.file} into {out} ({result.skipped:,} bad records skipped)."
    )
    return 0


def _stats(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from wiki_corpus.stats import corpus_stats, describe_task, format_stats

    try:
        corpus = load(args.corpus)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))
    print(format_stats(corpus_stats(corpus), f"{args.corpus} ({corpus.path})"))
    samples = _sample_tasks(corpus.tasks, args.samples)
    for task in samples:
        print()
        print(describe_task(task))
    return 0


def _sample_tasks(tasks: list[Task], count: int) -> list[Task]:
    """Evenly spaced dev tasks (any split if there are none), three-hop tasks first."""
    dev = [t for t in tasks if t.split == "dev"] or list(tasks)
    dev.sort(key=lambda t: (abs(t.hops - 3), t.id))
    if count <= 0 or not dev:
        return []
    step = max(1, len(dev) // count)
    return dev[::step][:count]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"generate": _generate, "import": _import, "stats": _stats}
    return handlers[args.command](args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
