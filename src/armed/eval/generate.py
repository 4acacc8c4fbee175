"""Batched generation for evaluation: transformers (CPU or GPU) and, when installed on a GPU, vLLM.

A generator turns conversational prompts (the ``prompt`` column of :func:`armed.data.schema.to_rows`) plus the
sample's image paths into completion strings. Greedy decoding is the default, so a result is a function of the
model, the prompt and the dtype alone; sampling settings and the seed are recorded in ``results.json``.

Batched transformers generation pads on the left, so every prompt in a batch ends at the same position and the
new tokens are ``output[:, prompt_len:]``. Images are opened with PIL only when their batch is generated.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DTYPES = ("auto", "float32", "bfloat16", "float16")
BACKENDS = ("auto", "transformers", "vllm")


@dataclass
class GenerationConfig:
    """Decoding settings shared by every backend (recorded in ``results.json``)."""

    max_new_tokens: int = field(default=256, metadata={"help": "Tokens generated per answer at most."})
    do_sample: bool = field(default=False, metadata={"help": "Sample instead of greedy decoding."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (only with do_sample)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (only with do_sample)."})
    seed: int = field(default=0, metadata={"help": "Seed for sampling and any stochastic layer."})

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


class Generator(Protocol):
    """What the harness needs from a backend."""

    name: str  # model name or path, recorded in results
    backend: str
    is_vlm: bool
    dtype: str

    def generate(self, prompts: list[list[dict]], images: list[list[str]], config: GenerationConfig
                 ) -> list[str]: ...


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` → bfloat16 on a GPU that supports it, float32 elsewhere (greedy CPU results stay bit-stable)."""
    if dtype not in DTYPES:
        from armed.registry import did_you_mean

        raise ValueError(did_you_mean(dtype, DTYPES, "dtype"))
    if dtype != "auto":
        return dtype
    if device.startswith("cuda"):
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "float32"


def _load_images(images: list[Any]) -> list[Any]:
    """RGB PIL images from paths (or from PIL images, as a ``datasets.Image`` column decodes them)."""
    from PIL import Image

    out = []
    for p in images:
        if isinstance(p, Image.Image):
            out.append(p.convert("RGB"))
            continue
        with Image.open(p) as im:
            out.append(im.convert("RGB"))
    return out


class TransformersGenerator:
    """Left-padded batched ``model.generate`` for causal LMs and VLMs (processor chat template with images)."""

    backend = "transformers"

    def __init__(self, model: Any, processor: Any, *, is_vlm: bool, name: str = "", dtype: str = "float32"):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.is_vlm = is_vlm
        self.name = name or str(getattr(model.config, "_name_or_path", "model"))
        self.dtype = dtype
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.tokenizer, "chat_template", None) is None and \
                getattr(processor, "chat_template", None) is None:
            raise ValueError(f"model {self.name!r} has no chat template; armed evaluates chat/instruct models")

    def _render(self, prompts: list[list[dict]]) -> list[str]:
        target = self.processor if self.is_vlm else self.tokenizer
        return [target.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]

    def generate(self, prompts: list[list[dict]], images: list[list[str]], config: GenerationConfig
                 ) -> list[str]:
        kwargs: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "do_sample": config.do_sample}
        if config.do_sample:
            kwargs.update(temperature=config.temperature, top_p=config.top_p)
        else:  # silence "temperature is set but do_sample=False" from models' generation_config defaults
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return self.generate_with(prompts, images, **kwargs)

    def generate_with(self, prompts: list[list[dict]], images: list[list[Any]], **generate_kwargs: Any
                      ) -> list[str]:
        """Completions for chat prompts with ``model.generate(**generate_kwargs)`` (e.g. a trainer's own
        ``generation_config``); images are paths or PIL images, one list per prompt."""
        return self.tokenizer.batch_decode(self.generate_ids(prompts, images, **generate_kwargs),
                                           skip_special_tokens=True)

    def generate_ids(self, prompts: list[list[dict]], images: list[list[Any]], *,
                     eos_token_ids: Sequence[int] | None = None, **generate_kwargs: Any) -> list[list[int]]:
        """The new token ids of each completion up to and including its first end-of-sequence token, padding
        dropped: what GRPOTrainer passes its rewards as ``completion_ids``. ``eos_token_ids`` default to the
        tokenizer's and the model's generation config's, as GRPOTrainer collects them."""
        import torch

        texts = self._render(prompts)
        old_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        try:
            if self.is_vlm and any(images):
                inputs = self.processor(text=texts, images=[_load_images(p) for p in images],
                                        return_tensors="pt", padding=True)
            elif self.is_vlm:
                inputs = self.processor(text=texts, return_tensors="pt", padding=True)
            else:
                inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = old_side
        device = next(self.model.parameters()).device
        inputs = inputs.to(device)
        if "generation_config" not in generate_kwargs:  # a full config (a trainer's) carries its own
            generate_kwargs.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **generate_kwargs)
        eos = set(self._eos_token_ids() if eos_token_ids is None else eos_token_ids)
        rows = []
        for seq in out[:, inputs["input_ids"].shape[1]:].tolist():
            end = next((i + 1 for i, token in enumerate(seq) if token in eos), len(seq))
            rows.append(seq[:end])
        return rows

    def _eos_token_ids(self) -> list[int]:
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = [configured] if isinstance(configured, int) else list(configured or [])
        return [self.tokenizer.eos_token_id, *ids]


class VLLMGenerator:
    """vLLM offline engine (GPU only). Messages go through ``LLM.chat`` with the model's chat template."""

    backend = "vllm"

    def __init__(self, path: str, *, is_vlm: bool, name: str, dtype: str, seed: int = 0, **engine_kwargs: Any):
        from vllm import LLM

        self.name, self.is_vlm, self.dtype = name, is_vlm, dtype
        self.llm = LLM(model=path, dtype=dtype, seed=seed, **engine_kwargs)

    def generate(self, prompts: list[list[dict]], images: list[list[str]], config: GenerationConfig
                 ) -> list[str]:
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=config.max_new_tokens, seed=config.seed,
            temperature=config.temperature if config.do_sample else 0.0,
            top_p=config.top_p if config.do_sample else 1.0,
        )
        conversations = [_vllm_messages(p, imgs) for p, imgs in zip(prompts, images, strict=True)]
        outputs = self.llm.chat(conversations, params, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def _vllm_messages(prompt: list[dict], images: list[str]) -> list[dict]:
    """Replace armed's ``{"type": "image"}`` placeholders by OpenAI-style data-URL image parts, in order."""
    urls = iter(_data_url(p) for p in images)
    out = []
    for msg in prompt:
        content = msg["content"]
        if isinstance(content, list):
            content = [{"type": "image_url", "image_url": {"url": next(urls)}} if part.get("type") == "image"
                       else part for part in content]
        out.append({"role": msg["role"], "content": content})
    return out


def _data_url(path: str) -> str:
    import base64
    import io

    buf = io.BytesIO()
    _load_images([path])[0].save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def _load_policy(name: str, dtype: str) -> tuple[Any, Any, bool]:
    """``(model, processor_or_tokenizer, is_vlm)`` for a causal LM or a VLM (see :func:`armed.vlm.load_policy`)."""
    import torch

    from armed.vlm import load_policy

    return load_policy(name, dtype=getattr(torch, dtype))


def load_generator(model: str, *, backend: str = "auto", dtype: str = "auto", device: str | None = None,
                   seed: int = 0) -> Generator:
    """A generator for an armed model name / folder / hub id.

    ``backend="auto"`` picks vLLM when it is installed and a GPU is visible, transformers otherwise.
    """
    import torch

    if backend not in BACKENDS:
        from armed.registry import did_you_mean

        raise ValueError(did_you_mean(backend, BACKENDS, "backend"))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = resolve_dtype(dtype, device)
    if backend == "auto":
        backend = "vllm" if vllm_available() else "transformers"
    if backend == "vllm":
        if not vllm_available():
            raise ValueError("backend 'vllm' needs the vllm package and a CUDA GPU (pip install 'armed[gpu]')")
        from armed.models import resolve
        from armed.vlm import is_vlm as folder_is_vlm

        is_vlm = folder_is_vlm(resolve(model))
        return VLLMGenerator(str(resolve(model)), is_vlm=is_vlm, name=model, dtype=dtype, seed=seed)
    net, processor, is_vlm = _load_policy(model, dtype)
    net.to(device)
    return TransformersGenerator(net, processor, is_vlm=is_vlm, name=model, dtype=dtype)
