"""Helpers for fast tests: a tiny random causal LM and the real SmolLM2 tokenizer.

Unit tests across the repository build a randomly initialized Llama with a few thousand
parameters per layer (milliseconds per step on a CPU) on top of the real SmolLM2
tokenizer, so token ids, chat templates and special tokens are those of the default
model while nothing needs the network or the full weights.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from agents.models import load_smollm2_tokenizer

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase


@functools.cache
def smollm2_tokenizer() -> PreTrainedTokenizerBase:
    """The real SmolLM2-135M-Instruct tokenizer, loaded offline once per process.

    The first call on a fresh machine extracts it from the GGUF file and caches it
    (about 7 s); later processes load the cached copy in about 0.2 s. Callers must not
    mutate the returned tokenizer (it is shared).
    """
    return load_smollm2_tokenizer()


def tiny_causal_lm(
    tokenizer: PreTrainedTokenizerBase,
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
) -> LlamaForCausalLM:
    """A randomly initialized Llama over ``tokenizer``'s vocabulary, in eval mode, float32.

    The same ``seed`` gives the same weights. Embeddings are tied to the output layer,
    as in SmolLM2, so the model is small (vocabulary x hidden dominates).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()
