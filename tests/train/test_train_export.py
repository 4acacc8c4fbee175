"""`armed export verl`: verl's RL parquet schema and a reward module that scores with armed's rewards."""

from __future__ import annotations

import importlib.util
import json

import pytest

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample
from armed.registry import DATASETS
from armed.train.config import ConfigError, load_config
from armed.train.export_verl import export_verl


@DATASETS.register("test-export-tiny", description="two samples, one with an image (export tests)")
class _ExportLoader(Loader):
    needs_path = False
    image = ""

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        samples = [
            Sample(id="a", source="tiny-vqa", split="train", question="Is there a pneumothorax?", answer="yes",
                   answer_type="closed", images=[type(self).image], modality="CR"),
            Sample(id="b", source="tiny-qa", split="train", question="Which vessel?", answer="aorta",
                   answer_type="multiple_choice", options={"A": "vena cava", "B": "aorta"}, aliases=["Ao"]),
        ]
        return samples, LoadReport(rows_read=2, kept=2)


def test_export_writes_verl_rows_and_a_weighted_reward_module(tmp_path):
    from PIL import Image

    png = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(png)
    _ExportLoader.image = str(png)
    cfg = load_config({"data": {"dataset": "test-export-tiny"}, "stages": [
        {"type": "grpo", "name": "rl", "rewards": ["format_partial", "accuracy"], "reward_weights": [0.5, 2.0],
         "num_generations": 4}]})
    summary = export_verl(cfg, tmp_path / "out", recipe="tiny")
    assert summary["rows"] == 2 and summary["stage"] == "rl"

    import pandas as pd

    df = pd.read_parquet(tmp_path / "out" / "train.parquet")
    assert {"data_source", "prompt", "ability", "reward_model", "extra_info", "images"} <= set(df.columns)
    first, second = df.iloc[0], df.iloc[1]
    assert first.data_source == "tiny-vqa" and first.ability == "medical_vqa"
    assert first.prompt[1]["content"].startswith("<image>") and first.prompt[0]["role"] == "system"
    assert first.images[0]["bytes"] == png.read_bytes()
    assert dict(first.reward_model) == {"style": "rule", "ground_truth": "yes"}
    assert second.extra_info["answer_letter"] == "B" and json.loads(second.extra_info["options"])["B"] == "aorta"

    spec = importlib.util.spec_from_file_location("armed_reward_test", tmp_path / "out" / "armed_reward.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.REWARDS == [("format_partial", 0.5), ("accuracy", 2.0)]
    extra = {k: (list(v) if hasattr(v, "tolist") else v) for k, v in second.extra_info.items()}
    right = module.compute_score("tiny-qa", "<think>aorta</think><answer>B</answer>", "aorta", extra)
    wrong = module.compute_score("tiny-qa", "<think>hm</think><answer>A</answer>", "aorta", extra)
    assert right == pytest.approx(wrong + 2.0)  # same format credit, accuracy 1 vs 0 weighted by 2
    batch = module.compute_score_batch(["tiny-qa"] * 2, ["<think>aorta</think><answer>B</answer>", "<answer>A"],
                                       ["aorta"] * 2, [extra] * 2)
    assert batch[0] == pytest.approx(right) and batch[1] < batch[0]
    assert "custom_reward_function.name=compute_score_batch" in (tmp_path / "out" / "run_verl.sh").read_text()


def test_export_needs_a_grpo_stage():
    cfg = load_config({"data": {"dataset": "test-export-tiny"}, "stages": [{"type": "sft"}]})
    with pytest.raises(ConfigError, match="no grpo stage"):
        export_verl(cfg, "/tmp/unused")
