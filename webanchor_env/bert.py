"""A BERT sentence encoder that needs only torch, ``tokenizers`` and ``safetensors``.

The default embedder (all-MiniLM-L6-v2) is a 6-layer BERT followed by mean pooling and L2
normalization. Importing sentence-transformers (and through it all of transformers) costs
4–7 s per process before the first query can be embedded; this module loads the same local
weights directly and runs the same computation, so a fresh process answers its first search
in about a second and a half. :func:`supports` says whether a model directory has exactly
that shape (sentence-transformers modules Transformer → mean Pooling → Normalize over a BERT
with absolute positions); anything else is encoded by sentence-transformers itself.
``tests/webanchor_env/test_bert_encoder.py`` checks the embeddings against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def supports(directory: str | Path) -> bool:
    """Whether ``directory`` holds a mean-pooled, normalized BERT sentence encoder."""
    root = Path(directory)
    try:
        modules = [m["type"] for m in _read_json(root / "modules.json")]
        config = _read_json(root / "config.json")
        pooling = _read_json(root / "1_Pooling" / "config.json")
    except (OSError, ValueError, KeyError, TypeError):
        return False
    mean_only = pooling.get("pooling_mode_mean_tokens") is True and not any(
        pooling.get(k)
        for k in (
            "pooling_mode_cls_token",
            "pooling_mode_max_tokens",
            "pooling_mode_mean_sqrt_len_tokens",
        )
    )
    return (
        modules == _MODULES
        and config.get("model_type") == "bert"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act") == "gelu"
        and mean_only
        and (root / "model.safetensors").is_file()
        and (root / "tokenizer.json").is_file()
    )


@dataclass(frozen=True)
class BertShape:
    """The few numbers of a BERT config the forward pass needs."""

    hidden: int
    layers: int
    heads: int
    eps: float
    max_length: int
    """Tokens per text, as sentence-transformers truncates (``max_seq_length``)."""


class BertSentenceEncoder:
    """``encode(texts)`` → L2-normalized mean-pooled embeddings ``[N, D]`` (float32 tensor)."""

    def __init__(self, directory: str | Path, device: str | None = None) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        root = Path(directory)
        config = _read_json(root / "config.json")
        try:
            max_length = int(_read_json(root / "sentence_bert_config.json")["max_seq_length"])
        except (OSError, ValueError, KeyError):
            max_length = int(config["max_position_embeddings"])
        self.shape = BertShape(
            hidden=int(config["hidden_size"]),
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            eps=float(config["layer_norm_eps"]),
            max_length=min(max_length, int(config["max_position_embeddings"])),
        )
        self.device = torch.device(device or "cpu")
        weights = load_file(str(root / "model.safetensors"), device=str(self.device))
        self.w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.shape.max_length)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    @property
    def dim(self) -> int:
        return self.shape.hidden

    def encode(
        self, texts: list[str], batch_size: int = 32, *, show_progress: bool = False
    ) -> torch.Tensor:
        """Embeddings of ``texts`` in order, ``[N, D]``; batches sorted by length."""
        import torch
        from tqdm.auto import tqdm

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.empty(len(texts), self.dim)
        starts = range(0, len(order), batch_size)
        with torch.inference_mode():
            for start in tqdm(starts, desc="Embedding", unit="batch", disable=not show_progress):
                rows = order[start : start + batch_size]
                out[rows] = self._encode_batch([texts[i] for i in rows]).float().cpu()
        return out

    def _encode_batch(self, texts: list[str]) -> torch.Tensor:
        import torch

        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], device=self.device)  # [B, T]
        mask = torch.tensor([e.attention_mask for e in encodings], device=self.device)  # [B, T]
        hidden = self._forward(ids, mask)  # [B, T, H]
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # [B, H]
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """BERT's encoder: embeddings, then ``layers`` post-LayerNorm transformer blocks."""
        import torch.nn.functional as F

        w, s = self.w, self.shape
        B, T = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:T]
            + w["embeddings.token_type_embeddings.weight"][0]
        )  # [B, T, H]
        x = self._norm(x, "embeddings.LayerNorm")
        keep = mask[:, None, None, :].bool()  # [B, 1, 1, T]
        for layer in range(s.layers):
            p = f"encoder.layer.{layer}."

            q, k, v = (self._heads(x, p + f"attention.self.{n}") for n in ("query", "key", "value"))
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # [B, h, T, d]
            attn = attn.transpose(1, 2).reshape(B, T, s.hidden)  # [B, T, H]
            x = self._norm(
                x + self._linear(attn, p + "attention.output.dense"),
                p + "attention.output.LayerNorm",
            )
            inner = F.gelu(self._linear(x, p + "intermediate.dense"))  # [B, T, 4H]
            x = self._norm(x + self._linear(inner, p + "output.dense"), p + "output.LayerNorm")
        return x

    def _heads(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """One projection split into attention heads: ``[B, T, H]`` → ``[B, h, T, d]``."""
        B, T, _ = x.shape
        y = self._linear(x, name)  # [B, T, H]
        return y.view(B, T, self.shape.heads, -1).transpose(1, 2)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        import torch.nn.functional as F

        return F.layer_norm(
            x,
            (self.shape.hidden,),
            self.w[name + ".weight"],
            self.w[name + ".bias"],
            self.shape.eps,
        )
