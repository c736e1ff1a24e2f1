"""The wiki backend: one corpus, its page store and its search index, built once and cached.

``get_backend`` is what environments call: it is memoized per process, so every env of a
vector env shares one store, one index and one encoder. The parsed pages, the passages and
the FAISS index live in a cache directory (``$WEBANCHOR_CACHE``, else
``$XDG_CACHE_HOME/webanchor`` or ``~/.cache/webanchor``) keyed by content: the corpus
fingerprint, the embedder and the index type, so two checkouts or two virtual environments
share one build. A manifest records what the index was built from (fingerprint, model,
dimension, index type, passage settings, parser and package versions) and a checksum per
file. A stale or corrupt cache is reported in one line (:class:`IndexCacheWarning`) and
rebuilt; a missing one is built with a progress bar.

A corpus directory may ship its own prebuilt index in ``index/`` (the bundled corpus does:
``python -m webanchor_env.build_index default`` writes it); when its manifest matches the
corpus it is loaded instead of building anything.

The BM25 index over the same passages (:mod:`webanchor_env.lexical`, for the ``bm25`` and
``hybrid`` search modes) is opened on the first such search, from the same cache, keyed by
the same corpus fingerprint and its own settings; it is built (in seconds) when missing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import faiss

import wiki_corpus
from webanchor_env import tools
from webanchor_env.actions import SearchArgs, VisitArgs
from webanchor_env.embedding import Encoder, get_encoder, model_name
from webanchor_env.index import (
    INDEX_FILE,
    INDEX_TYPES,
    CacheError,
    Hit,
    IndexManifest,
    SearchIndex,
    atomic_write,
    build_faiss,
    checked_manifest,
    read_faiss,
    read_manifest,
    save_faiss,
    write_manifest,
)
from webanchor_env.passages import Passage, PassageSettings, split_pages
from webanchor_env.reader import PARSER_VERSION, ParsedPage
from webanchor_env.retrieval import (
    BACKEND_SEARCH_MODE,
    HybridSearch,
    PageSearch,
    check_search_mode,
)
from webanchor_env.store import PageStore
from wiki_corpus import Corpus
from wiki_corpus.io import pages_path, resolve

if TYPE_CHECKING:
    from webanchor_env.lexical import LexicalIndex

TEXT_FILE = "pages.json.gz"
"""Cache file holding the parsed pages and the passages, so loading parses nothing."""
SHIPPED_DIR = "index"
"""Folder of a corpus directory that holds its prebuilt index, when it ships one."""
SHIPPED_LEXICAL_DIR = "bm25"
"""Folder inside ``SHIPPED_DIR`` with the prebuilt BM25 index (a built one with another
bm25s version or settings is ignored, and the index is built into the cache instead)."""


class IndexCacheWarning(UserWarning):
    """A cached search index was stale or corrupt and is being rebuilt."""


def package_version() -> str:
    """The installed version of the ``webanchor`` distribution (``0`` when not installed)."""
    from importlib import metadata

    try:
        return metadata.version("webanchor")
    except metadata.PackageNotFoundError:
        return "0"


def default_cache_dir() -> Path:
    """``$WEBANCHOR_CACHE``, else the user's cache folder + ``/webanchor``."""
    if os.environ.get("WEBANCHOR_CACHE"):
        return Path(os.environ["WEBANCHOR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "webanchor"


def corpus_fingerprint(corpus: Corpus, settings: PassageSettings) -> str:
    """Hash of the corpus's pages (the pages file's text, compressed or not) and settings."""
    digest = hashlib.sha256(settings.key().encode())
    if corpus.path is not None:
        path = pages_path(corpus.path)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    else:
        for page in corpus.pages:
            digest.update(json.dumps(page.to_json(), sort_keys=True).encode())
    return digest.hexdigest()


def index_directory(cache_dir: Path, fingerprint: str, model: str, index_type: str) -> Path:
    """The cache directory of one (corpus content, embedder, index type), wherever it lives.

    Parser and package versions are not part of the key: a newer version finds the old
    build in the same place, reports it stale and rebuilds it there.
    """
    tag = hashlib.sha256(f"{fingerprint}\n{model}\n{index_type}".encode()).hexdigest()[:16]
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model).name)[:40]
    return cache_dir / "index" / f"{slug}-{index_type}-{tag}"


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive file lock so parallel processes build one cache, not several.

    Without ``flock`` (Windows) or a writable directory, builds go on unlocked: cache
    writes are atomic either way.
    """
    try:
        import fcntl

        directory.mkdir(parents=True, exist_ok=True)
        fh = open(directory / ".lock", "a+b")  # noqa: SIM115 - closed below
    except (ImportError, OSError):
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


_T = TypeVar("_T")
_Loaded = tuple[list[ParsedPage | list[Any]], list[Passage], faiss.Index, IndexManifest]


def _load_cache(directory: Path, expected: IndexManifest, store: PageStore) -> _Loaded:
    """Read a cache built for ``expected``; raises CacheError('stale ...'/'corrupt ...')."""
    manifest = checked_manifest(directory, expected)
    for name in (TEXT_FILE, INDEX_FILE):
        if name not in manifest.files:
            raise CacheError(f"corrupt (the manifest lists no checksum for {name})")
    try:
        raw = (directory / TEXT_FILE).read_bytes()
    except OSError:
        raise CacheError(f"corrupt ({TEXT_FILE} unreadable)") from None
    if hashlib.sha256(raw).hexdigest() != manifest.files[TEXT_FILE]:
        raise CacheError(f"corrupt ({TEXT_FILE} checksum mismatch)")
    try:
        data = json.loads(gzip.decompress(raw))
        parsed = data["parsed"]  # JSON forms, built into ParsedPage on first use
        if not all(isinstance(p, list) and len(p) == 7 for p in parsed):
            raise ValueError("parsed pages")
        passages = [Passage(page, text, prefix) for page, prefix, text in data["passages"]]
    except (ValueError, KeyError, TypeError, OSError, EOFError):
        raise CacheError(f"corrupt ({TEXT_FILE} unreadable)") from None
    try:
        faiss_index = read_faiss(directory, manifest.files[INDEX_FILE])
    except CacheError as err:
        raise CacheError(f"corrupt ({err})") from None
    if (
        len(parsed) != len(store)
        or len(passages) != faiss_index.ntotal
        or faiss_index.d != manifest.dim
    ):
        raise CacheError("corrupt (counts do not match the manifest)")
    return parsed, passages, faiss_index, manifest


def write_cache(
    directory: Path,
    manifest: IndexManifest,
    parsed: Sequence[ParsedPage],
    passages: Sequence[Passage],
    faiss_index: faiss.Index,
    *,
    compresslevel: int = 1,
) -> IndexManifest:
    """Write the cache files, then the manifest with their checksums (so it comes last)."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "parsed": [p.to_json() for p in parsed],
        "passages": [[p.page, p.prefix_len, p.text] for p in passages],
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw = gzip.compress(text, compresslevel=compresslevel, mtime=0)
    atomic_write(directory / TEXT_FILE, raw)
    files = {TEXT_FILE: hashlib.sha256(raw).hexdigest(), **save_faiss(faiss_index, directory)}
    manifest = IndexManifest(**{**manifest.to_json(), "files": files})
    write_manifest(directory, manifest)
    return manifest


def _load_or_none(load: Callable[[], _T], what: str, directory: Path, *, report: bool) -> _T | None:
    """``load()``, or ``None`` (with a one-line warning if the cache was unusable)."""
    try:
        return load()
    except CacheError as err:
        if report and str(err) != "no manifest":
            warnings.warn(
                f"{what} cache at {directory} is {err}; rebuilding.",
                IndexCacheWarning,
                stacklevel=4,
            )
        return None


def _try_load(
    directory: Path, expected: IndexManifest, store: PageStore, *, report: bool
) -> _Loaded | None:
    """The cache's contents, or ``None`` (with a one-line warning if it was unusable)."""
    load = partial(_load_cache, directory, expected, store)
    return _load_or_none(load, "Search index", directory, report=report)


def _build(
    directory: Path,
    expected: IndexManifest,
    store: PageStore,
    encoder: Encoder,
    settings: PassageSettings,
    show_progress: bool,
    timings: dict[str, float],
) -> _Loaded:
    """Parse every page, cut passages, embed them, index them and write the cache.

    ``timings`` receives the wall-clock seconds of each phase (parse, passages, encode,
    index, write) and, under ``<phase>_cpu``, the process CPU seconds (all threads).
    """
    clock, cpu = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        timings[name], timings[f"{name}_cpu"] = now - clock, now_cpu - cpu
        clock, cpu = now, now_cpu

    parsed = store.parse_all(show_progress=show_progress)
    lap("parse")
    passages = split_pages(parsed, settings)
    lap("passages")
    vectors = encoder.encode([p.text for p in passages], show_progress=show_progress)  # [P, D]
    lap("encode")
    faiss_index = build_faiss(vectors, expected.index_type)
    lap("index")
    manifest = IndexManifest(
        **{**expected.to_json(), "dim": int(vectors.shape[1]), "n_passages": len(passages)}
    )
    try:
        manifest = write_cache(directory, manifest, parsed, passages, faiss_index)
    except OSError as err:
        warnings.warn(
            f"Could not write the search index cache at {directory} ({err.strerror or err}); "
            "the index lives in memory only.",
            IndexCacheWarning,
            stacklevel=3,
        )
    lap("write")
    return parsed, passages, faiss_index, manifest


def expected_manifest(
    corpus: Corpus, settings: PassageSettings, model: str, index_type: str, n_pages: int
) -> IndexManifest:
    """What an index of ``corpus`` built now would record (counts and checksums left out)."""
    return IndexManifest(
        corpus_fingerprint=corpus_fingerprint(corpus, settings),
        model=model,
        dim=0,
        index_type=index_type,
        package_version=package_version(),
        passage_settings=settings.key(),
        parser_version=PARSER_VERSION,
        n_pages=n_pages,
        n_passages=0,
    )


def shipped_index_dir(corpus_dir: Path) -> Path:
    """Where a corpus directory keeps its prebuilt index."""
    return corpus_dir / SHIPPED_DIR


def _try_shipped(corpus: Corpus, expected: IndexManifest, store: PageStore) -> _Loaded | None:
    """The corpus's own prebuilt index when it has one built for ``expected``, else ``None``.

    A shipped index that no longer matches its corpus is reported (the corpus was edited
    without rebuilding it) and skipped, so the index is built into the cache instead.
    """
    if corpus.path is None or expected.index_type != "flat":
        return None
    directory = shipped_index_dir(corpus.path)
    try:
        shipped = read_manifest(directory)
    except CacheError:
        return None
    if (shipped.model, shipped.index_type) != (expected.model, expected.index_type):
        return None  # built for another embedder: not meant for this one
    try:
        return _load_cache(directory, expected, store)
    except CacheError as err:
        warnings.warn(
            f"The prebuilt index at {directory} is {err}; building one in the cache instead "
            f"(refresh it with `python -m webanchor_env.build_index {corpus.path}`).",
            IndexCacheWarning,
            stacklevel=4,
        )
        return None


class WikiBackend:
    """A corpus with its page store and search index: what the Search and Visit tools read."""

    def __init__(
        self,
        corpus: Corpus,
        store: PageStore,
        index: SearchIndex,
        manifest: IndexManifest | None = None,
        cache_path: Path | None = None,
        cache_root: Path | None = None,
    ) -> None:
        self.corpus = corpus
        self.store = store
        self.index = index
        self.manifest = manifest
        self.cache_path = cache_path
        """Where the index cache lives (``None`` when it was built without a cache)."""
        self._lexical: LexicalIndex | None = None
        self._hybrid: HybridSearch | None = None
        self._lexical_lock = threading.Lock()
        self.cache_root = cache_root
        """The cache directory the lexical index is kept in (``None``: built in memory)."""
        self.build_timings: dict[str, float] = {}
        """Seconds per build phase (wall, and ``<phase>_cpu``) when this backend built its
        index; empty when it was loaded from the cache."""

    def __deepcopy__(self, memo: dict) -> WikiBackend:
        """A backend is shared, never copied: Gymnasium deep-copies env specs and kwargs."""
        return self

    @classmethod
    def open(
        cls,
        corpus: str | os.PathLike[str] | Corpus = "default",
        *,
        model: str | None = None,
        index_type: str = "flat",
        cache_dir: str | os.PathLike[str] | None = None,
        show_progress: bool = True,
        settings: PassageSettings | None = None,
        encoder: Encoder | None = None,
        use_shipped: bool = True,
    ) -> WikiBackend:
        """Load a corpus and its index: the corpus's prebuilt one when it ships one that
        matches, else from the cache, building (and caching) it if needed.

        Unlike :func:`get_backend` this is not memoized: tests and benchmarks use it to
        load the same cache twice. ``encoder`` overrides the shared encoder of ``model``;
        ``use_shipped=False`` ignores a prebuilt index (to rebuild or measure it).
        """
        if index_type not in INDEX_TYPES:
            raise ValueError(f"Expected an index type among {INDEX_TYPES}, got {index_type!r}.")
        if not isinstance(corpus, Corpus):
            corpus = wiki_corpus.load(corpus)
        settings = settings or PassageSettings()
        encoder = encoder or get_encoder(model)
        store = PageStore(corpus.pages)
        expected = expected_manifest(corpus, settings, encoder.name, index_type, len(store))
        cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        directory = index_directory(
            cache_root, expected.corpus_fingerprint, encoder.name, index_type
        )
        timings: dict[str, float] = {}
        loaded = _try_shipped(corpus, expected, store) if use_shipped else None
        if loaded is not None:
            directory = shipped_index_dir(corpus.path)  # type: ignore[arg-type]
        else:
            loaded = _try_load(directory, expected, store, report=True)
        if loaded is None:
            with _build_lock(directory):
                loaded = _try_load(directory, expected, store, report=False)
                if loaded is None:
                    loaded = _build(
                        directory, expected, store, encoder, settings, show_progress, timings
                    )
        parsed, passages, faiss_index, manifest = loaded
        store.set_parsed(parsed)
        labels = [(p.id, p.title, p.url) for p in store.pages]
        index = SearchIndex(faiss_index, passages, labels, encoder)
        backend = cls(corpus, store, index, manifest, directory, cache_root)
        backend.build_timings = timings
        return backend

    # ----------------------------------------------------------------- tools

    def search(
        self, queries: str | Sequence[str], top_k: int = 5, *, mode: str = BACKEND_SEARCH_MODE
    ) -> list[list[Hit]]:
        """Top-k distinct pages per query, by ``mode`` (``"dense"``, ``"bm25"``, ``"hybrid"``)."""
        return self.searcher(mode).search(queries, top_k)

    def search_call(self, args: SearchArgs, *, top_k: int, mode: str = BACKEND_SEARCH_MODE) -> str:
        """The Search tool's response body for a checked call (the environment's path)."""
        return tools.search(self.searcher(mode), args, top_k)  # type: ignore[arg-type]

    def search_text(
        self, queries: object, top_k: object = 5, *, mode: str = BACKEND_SEARCH_MODE
    ) -> str:
        """The Search tool's response body for raw values: one query or a list (never raises)."""
        return tools.search_text(self.searcher(mode), queries, top_k)  # type: ignore[arg-type]

    def searcher(self, mode: str = BACKEND_SEARCH_MODE) -> PageSearch:
        """The index that answers searches in ``mode``; the lexical one is opened on first use."""
        if check_search_mode(mode) == "dense":
            return self.index
        with self._lexical_lock:
            if self._lexical is None:
                self._lexical = self._open_lexical(show_progress=False)
                self._hybrid = HybridSearch(self.index, self._lexical)
            return self._lexical if mode == "bm25" else self._hybrid  # type: ignore[return-value]

    def _open_lexical(self, *, show_progress: bool) -> LexicalIndex:
        """The BM25 index over this index's passages: from the cache, keyed by content like
        the dense index, else built (and cached when there is a cache)."""
        from webanchor_env.lexical import (
            LexicalIndex,
            LexicalSettings,
            lexical_manifest,
            load_lexical,
        )

        index, settings = self.index, LexicalSettings()
        if self.manifest is None:
            return LexicalIndex.build(index.passages, index.pages, settings)
        expected = lexical_manifest(self.manifest, settings)
        if self.corpus.path is not None:  # a corpus that ships its BM25 index too
            shipped = shipped_index_dir(self.corpus.path) / SHIPPED_LEXICAL_DIR
            read = partial(load_lexical, shipped, expected, index.passages, index.pages, settings)
            lexical = _load_or_none(read, "BM25 index", shipped, report=False)
            if lexical is not None:
                return lexical
        if self.cache_root is None:
            return LexicalIndex.build(index.passages, index.pages, settings)
        directory = index_directory(
            self.cache_root, expected.corpus_fingerprint, expected.model, expected.index_type
        )

        def load(report: bool) -> LexicalIndex | None:
            read = partial(load_lexical, directory, expected, index.passages, index.pages, settings)
            return _load_or_none(read, "BM25 index", directory, report=report)

        lexical = load(report=True)
        if lexical is None:
            with _build_lock(directory):
                lexical = load(report=False)
                if lexical is None:
                    lexical = LexicalIndex.build(index.passages, index.pages, settings)
                    try:
                        lexical.save(directory, expected)
                    except OSError as err:
                        warnings.warn(
                            f"Could not write the BM25 index cache at {directory} "
                            f"({err.strerror or err}); the index lives in memory only.",
                            IndexCacheWarning,
                            stacklevel=5,
                        )
        return lexical

    def visit_call(self, args: VisitArgs, *, max_chars: int, goal_mode: bool = False) -> str:
        """The Visit tool's response body for a checked call (the environment's path)."""
        return tools.visit(self.store, self.index, args, max_chars=max_chars, goal_mode=goal_mode)

    def visit_text(
        self,
        urls: object,
        goal: object = None,
        *,
        offset: object = 0,
        max_chars: object = 4000,
        goal_mode: bool = False,
    ) -> str:
        """The Visit tool's response body for raw values: one URL or a list (never raises,
        opens nothing)."""
        return tools.visit_text(
            self.store,
            self.index,
            urls,
            goal,
            offset=offset,
            max_chars=max_chars,
            goal_mode=goal_mode,
        )


_BACKENDS: dict[tuple[str, str, str, str | None], WikiBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def get_backend(
    corpus: str | os.PathLike[str] = "default",
    *,
    model: str | None = None,
    index_type: str = "flat",
    cache_dir: str | os.PathLike[str] | None = None,
    show_progress: bool = True,
) -> WikiBackend:
    """The process's shared backend for (corpus, model, index type, cache dir).

    ``corpus`` is a bundled name (``"default"``) or a corpus directory. The first call
    loads the corpus and its cached index (building them if needed); later calls with the
    same arguments return the same object.
    """
    key = (
        str(resolve(corpus).resolve()),
        model_name(model),
        index_type,
        str(Path(cache_dir).expanduser().resolve()) if cache_dir is not None else None,
    )
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = WikiBackend.open(
                corpus,
                model=model,
                index_type=index_type,
                cache_dir=cache_dir,
                show_progress=show_progress,
            )
            _BACKENDS[key] = backend
        return backend
