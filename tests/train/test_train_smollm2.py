"""Slow: two GRPO steps of a shipped recipe on the real embedded SmolLM2 (CPU), with armed's metrics logged."""

from __future__ import annotations

import pytest
from transformers import TrainerCallback


class _Logs(TrainerCallback):
    def __init__(self):
        self.logs = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs.append(dict(logs or {}))


@pytest.mark.slow
def test_grpo_recipe_runs_two_steps_on_smollm2(tmp_path):
    from armed.train import load_config, run

    cfg = load_config("grpo", [
        f"output_dir={tmp_path}", "data.limit=4", "logging.report_to=[none]", "logging.progress=false",
        "logging.log_completions=false", "stages.0.max_steps=2", "stages.0.num_generations=2",
        "stages.0.per_device_train_batch_size=2", "stages.0.max_completion_length=16", "stages.0.save_strategy=no",
        "data.dataset=mmlu-med", "data.split=train"])
    logs = _Logs()
    outputs = run(cfg, extra_callbacks=[logs])
    assert (tmp_path / "grpo" / "final" / "model.safetensors").exists() and "grpo" in outputs
    steps = [entry for entry in logs.logs if "frac_reward_zero_std" in entry]
    assert len(steps) == 2
    for entry in steps:
        assert "rewards/accuracy/mean" in entry and "rewards/format_partial/mean" in entry
        assert 0.0 <= entry["frac_reward_zero_std"] <= 1.0
    assert any(k.startswith("collapse/format_partial/") for entry in steps for k in entry)
    # No checkpoint here (1.6 GB with the optimizer): checkpoints and resume are tested on a tiny model.
    assert not list((tmp_path / "grpo").glob("checkpoint-*"))
