"""The embedded-VLM builder, torchvision-free Qwen VL processors and load_policy, on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from armed.models import resolve
from armed.registry import MODELS
from armed.vlm import (
    IMAGE_TOKEN,
    build_tiny_llava,
    build_tiny_qwen_vl,
    chat_template,
    is_vlm,
    load_policy,
)


@pytest.fixture(scope="module")
def tiny_lm(tiny_chat_lm):
    """The suite's tiny random Llama (tests/conftest.py)."""
    return tiny_chat_lm


@pytest.fixture(scope="module")
def tiny_llava(tiny_lm, tmp_path_factory):
    return build_tiny_llava(tiny_lm, tmp_path_factory.mktemp("llava") / "vlm",
                            vision_hidden=32, vision_layers=1, vision_heads=2)


def _image(seed: int = 0, size=(90, 70)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random(size) * 255).astype("uint8"))  # grayscale, like most scans


def _messages(img):
    return [[{"role": "system", "content": [{"type": "text", "text": "Answer briefly."}]},
             {"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": "Modality?"}]}]]


def test_chat_template_renders_images_and_marks_assistant_text():
    from jinja2 import Environment

    env = Environment()
    env.globals["raise_exception"] = lambda m: (_ for _ in ()).throw(ValueError(m))
    # transformers' environment adds the {% generation %} tag; a plain one renders the rest identically.
    text = chat_template("<img>").replace("{% generation %}", "").replace("{% endgeneration %}", "")
    out = env.from_string(text).render(messages=[
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]},
        {"role": "assistant", "content": "A."},
    ], add_generation_prompt=False)
    assert out == ("<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n"
                   "<|im_start|>user\n<img>Q?<|im_end|>\n<|im_start|>assistant\nA.<|im_end|>\n")


def test_tiny_llava_keeps_language_model_weights_and_generates(tiny_lm, tiny_llava):
    from transformers import AutoModelForCausalLM, AutoProcessor

    assert is_vlm(tiny_llava) and not is_vlm(tiny_lm)
    model, processor, vlm = load_policy(tiny_llava)
    assert vlm and type(model).__name__ == "LlavaForConditionalGeneration"
    assert type(AutoProcessor.from_pretrained(tiny_llava)).__name__ == "LlavaProcessor"
    lm = AutoModelForCausalLM.from_pretrained(tiny_lm)
    n = lm.config.vocab_size
    emb = model.get_input_embeddings().weight
    assert torch.equal(emb[:n], lm.get_input_embeddings().weight)  # text weights copied exactly
    assert emb.shape[0] == n + 1  # + <image>
    layer = model.model.language_model.layers[1].mlp.down_proj.weight
    assert torch.equal(layer, lm.model.layers[1].mlp.down_proj.weight)

    batch = processor.apply_chat_template(_messages(_image()), add_generation_prompt=True, tokenize=True,
                                          return_dict=True, return_tensors="pt")
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    assert int((batch["input_ids"] == image_id).sum()) == 49  # (112 / 16)^2 patches
    assert tuple(batch["pixel_values"].shape) == (1, 3, 112, 112)
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 4


def test_load_policy_text_model_returns_tokenizer(tiny_lm):
    model, tokenizer, vlm = load_policy(tiny_lm)
    assert not vlm and type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.pad_token is not None and not hasattr(tokenizer, "image_processor")


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_qwen_vl_image_only_processor_without_torchvision(tiny_lm, tmp_path, model_type):
    import importlib.util

    assert importlib.util.find_spec("torchvision") is None  # the situation this path exists for
    folder = build_tiny_qwen_vl(tiny_lm, tmp_path / model_type, model_type=model_type)
    saved = json.loads((folder / "processor_config.json").read_text())
    assert saved["processor_class"] in ("Qwen2VLProcessor", "Qwen2_5_VLProcessor")  # standard name on disk
    model, processor, vlm = load_policy(folder)
    assert vlm and not hasattr(processor, "video_processor")
    batch = processor.apply_chat_template(_messages(_image()) * 2, add_generation_prompt=True, tokenize=True,
                                          return_dict=True, return_tensors="pt", padding=True)
    assert batch["image_grid_thw"].shape == (2, 3)
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(logits).all()
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 3


@pytest.mark.parametrize("family", ["llava", "qwen2_5_vl"])
def test_one_trl_grpo_step_from_image_paths(family, tiny_lm, tiny_llava, tmp_path):
    """The dataset shape armed's loaders emit (image placeholders + an `images` column of paths) trains, for the
    embedded VLM's architecture and for Qwen2.5-VL without torchvision."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from armed.train.probe import RewardProbe

    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"scan{i}.png"))
        _image(i).save(paths[-1])
    rows = [{"prompt": [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"Q{i}?"}]}],
             "images": [paths[i]], "answer": "CT"} for i in range(2)]
    folder = tiny_llava if family == "llava" else build_tiny_qwen_vl(tiny_lm, tmp_path / "qwen", model_type=family)
    model, processor, _ = load_policy(folder)
    seen = []

    def length_reward(prompts, completions, answer, **kwargs):
        seen.extend(answer)
        return [float(len(c[0]["content"])) for c in completions]

    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, max_steps=1, report_to=[], use_cpu=True, save_strategy="no")
    trainer = GRPOTrainer(model=model, reward_funcs=length_reward, args=args, train_dataset=Dataset.from_list(rows),
                          processing_class=processor)
    probe = RewardProbe(trainer, [("length", length_reward)], None, prompts=2, output_dir=tmp_path / "out")
    trainer.add_callback(probe)  # samples both prompts, with their images, before and after the step
    trainer.train()
    assert seen == ["CT"] * (4 + 2 * 4)  # the training step's 4 completions, then the probe's 2 x (2 x 2)
    assert trainer.state.global_step == 1
    assert probe.result["prompts"] == 2 and probe.result["summary"]["length"]["before"] > 0
    assert [len(r["completions_after"]) for r in probe.result["rows"]] == [2, 2]


def test_smolvlm_tiny_is_registered():
    assert "smolvlm-tiny" in MODELS
    assert "SmolLM2" in MODELS.describe("smolvlm-tiny")


@pytest.mark.slow
def test_embedded_smolvlm_tiny_builds_and_reloads(tmp_path, monkeypatch):
    import time

    smollm2 = resolve("smollm2-135m-instruct")  # the already-converted LM; only the VLM is built fresh
    monkeypatch.setenv("ARMED_HOME", str(tmp_path))
    monkeypatch.setattr("armed.vlm.resolve", lambda name: smollm2 if name == "smollm2-135m-instruct"
                        else resolve(name))
    folder = resolve("smolvlm-tiny")
    assert folder.parent == tmp_path / "models" and (folder / ".complete").exists()
    start = time.perf_counter()
    model, processor, vlm = load_policy("smolvlm-tiny")
    assert vlm and time.perf_counter() - start < 10
    assert model.config.text_config.num_hidden_layers == 30  # SmolLM2-135M
    batch = processor.apply_chat_template(_messages(_image()), add_generation_prompt=True, tokenize=True,
                                          return_dict=True, return_tensors="pt")
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 4



def test_load_policy_idefics3_smolvlm_family_uses_pil_processor(tmp_path):
    """SmolVLM's architecture (Idefics3) loads through AutoProcessor with its PIL image processor."""
    from transformers import (
        AutoTokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct"))
    tokenizer.add_special_tokens({"additional_special_tokens": [
        "<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]})
    text = {"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "pad_token_id": 2}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
              "image_size": 64, "patch_size": 16}
    config = Idefics3Config(text_config=text, vision_config=vision, scale_factor=2,
                            image_token_id=tokenizer.convert_tokens_to_ids("<image>"))
    Idefics3ForConditionalGeneration(config).save_pretrained(tmp_path)
    image_processor = Idefics3ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 64},
                                                max_image_size={"longest_edge": 64})
    Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                      chat_template=chat_template("<image>")).save_pretrained(tmp_path)
    model, processor, vlm = load_policy(tmp_path)
    assert vlm and type(processor.image_processor).__name__ == "Idefics3ImageProcessorPil"
    batch = processor.apply_chat_template(_messages(_image()), add_generation_prompt=True, tokenize=True,
                                          return_dict=True, return_tensors="pt")
    assert int((batch["input_ids"] == config.image_token_id).sum()) == 4
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 3
