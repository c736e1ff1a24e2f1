"""The torch-only BERT encoder gives sentence-transformers' embeddings of the default model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from webanchor_env import bert
from webanchor_env.embedding import Encoder, default_model_path

TEXTS = [
    "Who designed Lumen Tower?",
    "",
    "Café naïve — 東京 ½ ²",
    "The tower rises 212 metres over 58 floors. " * 60,  # past the 256-token window
    "a",
]


def test_default_model_runs_on_the_bert_encoder() -> None:
    assert bert.supports(default_model_path())
    encoder = Encoder()
    encoder.encode(["warm up"])
    assert isinstance(encoder.model, bert.BertSentenceEncoder)
    assert encoder.dim == 384


@pytest.mark.slow
def test_embeddings_match_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    path = str(default_model_path())
    reference = SentenceTransformer(path, local_files_only=True).encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True
    )  # [N, D]
    ours = Encoder().encode(TEXTS)  # [N, D]
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)
    # batches are sorted by length: the order of the input must not matter
    np.testing.assert_allclose(Encoder().encode(TEXTS[::-1])[::-1], ours, atol=1e-5, rtol=0)


def test_other_pooling_goes_to_sentence_transformers(tmp_path: Path) -> None:
    copy = Path(shutil.copytree(default_model_path(), tmp_path / "model"))
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    assert not bert.supports(copy)
    assert not bert.supports(tmp_path / "missing")
