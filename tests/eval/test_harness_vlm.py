"""The harness with a (tiny random) VLM: image placeholders, processor chat template, images loaded from paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample
from armed.eval.harness import build_messages, evaluate, load_samples
from armed.eval.tasks import Task
from armed.registry import DATASETS

VISION_DATASET = "eval-fixture-vqa"


@DATASETS.register(VISION_DATASET, description="(tests) four image questions; images written to the path given")
class VisionFixtureLoader(Loader):
    name = VISION_DATASET

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        rng = np.random.default_rng(0)
        samples = []
        for i in range(4):
            image = f"{path}/scan{i}.png"
            Image.fromarray((rng.random((40 + 10 * i, 50)) * 255).astype("uint8")).save(image)
            samples.append(Sample(f"v{i}", VISION_DATASET, "test", "Which modality is this?", "CT", "open",
                                  images=[image], modality="CT", meta={"qtype": "modality"}))
        return samples, LoadReport(rows_read=4, kept=4)


@pytest.fixture(scope="module")
def tiny_vlm(tiny_chat_lm, tmp_path_factory):
    from armed.vlm import build_tiny_llava

    return build_tiny_llava(tiny_chat_lm, tmp_path_factory.mktemp("llava") / "vlm", vision_hidden=32, vision_layers=1,
                            vision_heads=2)


def test_messages_put_one_image_placeholder_per_image():
    s = Sample("x", "t", "test", "What plane?", "axial", "open", images=["a.png", "b.png"])
    task = Task(name="t", dataset="t", metrics={"open": ("f1",)}, template="Q: {stem}")
    vision = build_messages(task, s, vision=True)[1]["content"]
    assert [p["type"] for p in vision] == ["image", "image", "text"] and vision[-1]["text"] == "Q: What plane?"
    assert build_messages(task, s, vision=False)[1]["content"] == "Q: What plane?"


@pytest.mark.slow  # builds a LLaVA with SmolLM2's tokenizer (~30 s on 2 busy cores)
def test_vlm_generation_batched_equals_batch_one(tiny_vlm, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    task = Task(name="vqa-fixture", dataset=VISION_DATASET, path=str(data), metrics={"open": ("exact_match", "f1")})
    res = evaluate(str(tiny_vlm), [task], out_dir=tmp_path / "b2", batch_size=2, max_new_tokens=5,
                   dtype="float32", backend="transformers", progress=False)
    assert res["config"]["is_vlm"] is True and res["tasks"]["vqa-fixture"]["n"] == 4
    evaluate(str(tiny_vlm), [task], out_dir=tmp_path / "b1", batch_size=1, max_new_tokens=5, dtype="float32",
             backend="transformers", progress=False)
    rows2 = {r["id"]: r for r in load_samples(tmp_path / "b2")}
    rows1 = {r["id"]: r["completion"] for r in load_samples(tmp_path / "b1")}
    assert {k: r["completion"] for k, r in rows2.items()} == rows1
    assert rows2["v0"]["prompt"][1]["content"][0] == {"type": "image"}
    assert rows2["v0"]["images"] == [str(data / "scan0.png")]
