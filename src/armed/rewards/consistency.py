"""CAPO's perception-consistency reward: is the policy's answer grounded in the image?

CAPO (Jiang et al., arXiv 2506.12849) rewards a VLM for being more likely to reach its (correct) answer with the
original image than with a perturbed one. armed's form of it, per completion ``c`` of prompt ``x`` with image ``I``:

    Δ = mean log p(a | x, I, r) − mean log p(a | x, Ĩ, r)     (per-token means over the answer span ``a``,
                                                                   ``r`` = the reasoning before it, Ĩ = perturb(I))
    reward = clip(scale · Δ, 0, 1)      (``mode="clip"``, default)   or   sigmoid(scale · Δ)   (``mode="sigmoid"``)

for completions whose answer is correct (a registered reward ≥ ``threshold``, default ``accuracy`` ≥ 0.5), 0.0
for wrong answers, and ``None`` (abstain) for rows without an image. The answer span is the text inside
``<answer>…</answer>``; without the tags the whole completion is scored. Perturbations: Gaussian ``noise``,
Gaussian ``blur`` or random ``mask`` (grey patches over a fraction of the image), seeded per row.

The reward needs the policy, so it is an object with model access rather than a pure function: attach the model
with :meth:`PerceptionConsistencyReward.attach` or pass ``attach_policy_callback(reward)`` to the trainer's callbacks
(it attaches ``model`` and ``processing_class`` at ``on_train_begin``). Scoring runs under ``torch.no_grad`` in
eval mode (the train/eval mode is restored); scored completions go ``batch_size`` at a time (2 sequences
each: original and perturbed image) through one forward pass of the policy.
Pickling drops the attached model. Under DeepSpeed ZeRO-3 every rank must call the reward the same number of
times (a sharded forward is collective), which holds because TRL calls rewards on every rank each step.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

from armed.registry import REWARDS
from armed.rewards.columns import column
from armed.rewards.extract import completion_to_text

PERTURBATIONS = ("noise", "blur", "mask")
MODES = ("clip", "sigmoid")


def perturb_image(image: Any, kind: str = "noise", strength: float = 0.5, seed: int = 0):
    """A perturbed copy of a PIL image: ``noise`` (σ = strength·255), ``blur`` (radius = strength·10% of the short
    side) or ``mask`` (grey 1/8-size patches over ``strength`` of the area)."""
    import numpy as np
    from PIL import Image, ImageFilter

    image = image.convert("RGB")
    rng = np.random.default_rng(seed)
    if kind == "noise":
        arr = np.asarray(image, dtype=np.float32)
        arr = arr + rng.normal(0.0, strength * 255.0, arr.shape)
        return Image.fromarray(np.clip(arr, 0, 255).astype("uint8"))
    if kind == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=max(1.0, strength * 0.1 * min(image.size))))
    if kind == "mask":
        arr = np.asarray(image).copy()
        h, w = arr.shape[:2]
        ph, pw = max(1, h // 8), max(1, w // 8)
        cells = [(r, c) for r in range(0, h, ph) for c in range(0, w, pw)]
        n = max(1, round(strength * len(cells)))
        for idx in rng.choice(len(cells), size=min(n, len(cells)), replace=False):
            r, c = cells[idx]
            arr[r:r + ph, c:c + pw] = 128
        return Image.fromarray(arr)
    from armed.registry import did_you_mean

    raise ValueError(did_you_mean(kind, PERTURBATIONS, "perturbation"))


def _load_image(value: Any):
    from PIL import Image

    if isinstance(value, Image.Image):
        return value
    if isinstance(value, dict) and value.get("bytes"):  # datasets' Image feature, undecoded
        import io

        return Image.open(io.BytesIO(value["bytes"]))
    if isinstance(value, dict) and value.get("path"):
        value = value["path"]
    return Image.open(str(value))


def _fill_images(messages: list[dict], images: list[Any]) -> list[dict]:
    """Messages with every image block carrying its image: placeholders filled in order (TRL's convention), and a
    block of images prepended to the first user message when the prompt has no placeholders."""
    queue = list(images)
    out: list[dict] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks = []
        for part in content or []:
            if part.get("type") == "image" and "image" not in part and queue:
                part = {"type": "image", "image": queue.pop(0)}
            blocks.append(part)
        out.append({**message, "content": blocks})
    if queue:
        for message in out:
            if message["role"] == "user":
                message["content"] = [{"type": "image", "image": im} for im in queue] + message["content"]
                break
    return out


def _answer_span(text: str) -> tuple[int, int]:
    import re

    m = re.search(r"<\s*answer\s*>(.*?)(?:<\s*/\s*answer\s*>|$)", text, re.S | re.I)
    if m and m.group(1).strip():
        return m.start(1), m.end(1)
    return 0, len(text)


class PerceptionConsistencyReward:
    """CAPO perception consistency (see module doc). Build with :func:`get_perception_consistency_reward`."""

    def __init__(self, perturbation: str = "noise", strength: float = 0.5, scale: float = 1.0, mode: str = "clip",
                 correctness: str = "accuracy", threshold: float = 0.5, seed: int = 0, batch_size: int = 4):
        if perturbation not in PERTURBATIONS:
            from armed.registry import did_you_mean

            raise ValueError(did_you_mean(perturbation, PERTURBATIONS, "perturbation"))
        if mode not in MODES:
            from armed.registry import did_you_mean

            raise ValueError(did_you_mean(mode, MODES, "mode"))
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"invalid strength {strength!r}: must be in (0, 1]")
        self.perturbation, self.strength, self.scale, self.mode = perturbation, strength, scale, mode
        self.correctness, self.threshold, self.seed = correctness, threshold, seed
        if batch_size < 1:
            raise ValueError(f"invalid batch_size {batch_size!r}: must be >= 1")
        self.batch_size = batch_size  # completions per forward pass (2 sequences each)
        self.__name__ = "perception_consistency"
        self.model: Any = None
        self.processor: Any = None

    def attach(self, model: Any, processing_class: Any) -> PerceptionConsistencyReward:
        """Give the reward the policy (any VLM) and its processor. Returns self."""
        if not hasattr(processing_class, "image_processor"):
            raise ValueError("perception_consistency needs a VLM processor (with an image_processor), got "
                             f"{type(processing_class).__name__}")
        self.model, self.processor = model, processing_class
        return self

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "model": None, "processor": None}

    def log_likelihoods(self, prompt: list[dict], completion: str, images: list[Any], seed: int
                        ) -> tuple[float, float]:
        """Mean per-token log-probability of the completion's answer span with the original and perturbed images."""
        return self.batch_log_likelihoods([(prompt, completion, images, seed)])[0]

    def batch_log_likelihoods(self, items: list[tuple[list[dict], str, list[Any], int]]
                              ) -> list[tuple[float, float]]:
        """:meth:`log_likelihoods` of many ``(prompt, completion, images, seed)`` rows, ``batch_size`` rows (2 ×
        ``batch_size`` sequences, right-padded) per forward pass."""
        if self.model is None:
            raise RuntimeError("perception_consistency has no model: call .attach(model, processor) or add "
                               "attach_policy_callback(reward) to the trainer's callbacks")
        out: list[tuple[float, float]] = []
        for start in range(0, len(items), self.batch_size):
            out.extend(self._score_chunk(items[start:start + self.batch_size]))
        return out

    def _score_chunk(self, items: list[tuple[list[dict], str, list[Any], int]]) -> list[tuple[float, float]]:
        import torch

        originals, perturbed, prefixes, fulls = [], [], [], []
        for prompt, completion, images, seed in items:
            imgs = [_load_image(im).convert("RGB") for im in images]
            originals.append(imgs)
            perturbed.append([perturb_image(im, self.perturbation, self.strength, seed + k)
                              for k, im in enumerate(imgs)])
            prompt_text = self.processor.apply_chat_template(
                _fill_images(prompt, [None] * len(images)), add_generation_prompt=True, tokenize=False)
            start, end = _answer_span(completion)
            prefixes.append(prompt_text + completion[:start])
            fulls.append(prompt_text + completion[:end])
        kw = {"return_tensors": "pt", "add_special_tokens": False}
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        old_side = tokenizer.padding_side
        tokenizer.padding_side = "right"  # every row starts at position 0, so spans index the same way
        try:
            n_prefix = [int(self.processor(images=imgs, text=[text], **kw)["attention_mask"].sum())
                        for imgs, text in zip(originals, prefixes, strict=True)]
            batch = self.processor(images=originals + perturbed, text=fulls + fulls, padding=True, **kw)
        finally:
            tokenizer.padding_side = old_side
        model = self.model
        device = next(model.parameters()).device
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                logits = model(**batch, use_cache=False).logits
        finally:
            model.train(was_training)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        means = []
        for row in range(len(fulls) * 2):
            lo, hi = n_prefix[row % len(fulls)], int(lengths[row])
            if hi <= lo:
                means.append(0.0)
                continue
            logp = torch.log_softmax(logits[row, lo - 1:hi - 1].float(), dim=-1)
            target = batch["input_ids"][row, lo:hi]
            means.append(float(logp.gather(-1, target.unsqueeze(-1)).mean()))
        n = len(fulls)
        return [(means[i], means[n + i]) for i in range(n)]

    def __call__(self, prompts=None, completions=None, images=None, **kwargs) -> list[float | None]:
        completions = list(completions or [])
        n = len(completions)
        image_lists = column({"images": images}, "images", n, default=None)
        correct = REWARDS.get(self.correctness)(prompts, completions, **kwargs)
        rewards: list[float | None] = [None] * n
        todo: list[int] = []
        items = []
        for i, completion in enumerate(completions):
            imgs = image_lists[i]
            if not imgs:
                continue  # no image: abstain
            score = correct[i]
            if score is None or score < self.threshold:
                rewards[i] = 0.0
                continue
            text = completion_to_text(completion)
            seed = self.seed + zlib.crc32(text.encode("utf-8", "replace")) % 100_000
            prompt = prompts[i] if prompts is not None else [{"role": "user", "content": ""}]
            if isinstance(prompt, str):
                prompt = [{"role": "user", "content": prompt}]
            todo.append(i)
            items.append((prompt, text, list(imgs), seed))
        for i, (lp_orig, lp_pert) in zip(todo, self.batch_log_likelihoods(items) if items else [], strict=True):
            delta = self.scale * (lp_orig - lp_pert)
            if self.mode == "sigmoid":
                rewards[i] = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, delta))))
            else:
                rewards[i] = min(1.0, max(0.0, delta))
        return rewards

    def __repr__(self) -> str:
        return (f"PerceptionConsistencyReward(perturbation={self.perturbation!r}, strength={self.strength}, "
                f"scale={self.scale}, mode={self.mode!r}, correctness={self.correctness!r})")


def get_perception_consistency_reward(perturbation: str = "noise", strength: float = 0.5, scale: float = 1.0,
                                      mode: str = "clip", correctness: str = "accuracy", threshold: float = 0.5,
                                      seed: int = 0, batch_size: int = 4) -> PerceptionConsistencyReward:
    """A CAPO perception-consistency reward; attach the policy before training (see the module doc)."""
    return PerceptionConsistencyReward(perturbation, strength, scale, mode, correctness, threshold, seed,
                                       batch_size)


perception_consistency = REWARDS.add(
    "perception_consistency", get_perception_consistency_reward(),
    "CAPO: answer log-likelihood with the original vs a perturbed image (needs the policy attached)")


def _callback_class() -> type:
    from transformers import TrainerCallback  # imported lazily: transformers' trainer stack takes seconds

    class AttachPolicyCallback(TrainerCallback):
        """Attach the trainer's model and processing class to model-aware rewards when training begins."""

        def __init__(self, *rewards: Any):
            self.rewards = rewards

        def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
            for reward in self.rewards:
                reward.attach(model, processing_class)

    return AttachPolicyCallback


_CALLBACK: list[type] = []


def attach_policy_callback(*rewards: Any):
    """A ``TrainerCallback`` that attaches the trainer's model and processing class to each of ``rewards`` (any
    object with ``attach(model, processing_class)``) at ``on_train_begin``::

        reward = get_perception_consistency_reward()
        GRPOTrainer(..., reward_funcs=[accuracy, reward], callbacks=[attach_policy_callback(reward)])
    """
    if not _CALLBACK:
        _CALLBACK.append(_callback_class())
    return _CALLBACK[0](*rewards)


def model_aware(rewards: Any) -> list[Any]:
    """The rewards in ``rewards`` that need the policy attached (they have an ``attach`` method)."""
    return [r for r in rewards if callable(getattr(r, "attach", None))]
