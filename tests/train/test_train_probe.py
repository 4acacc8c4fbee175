"""Reward probe: fixed-prompt before/after scoring of a GRPO stage, frozen adaptive state, RNG isolation."""

from __future__ import annotations

import json
import math

import pytest

from armed.registry import REWARDS
from armed.rewards.adaptive import AdaptiveScaler
from armed.train.config import load_config
from armed.train.probe import BEFORE_FILE, RESULT_FILE, describe, paired_summary, probe_indices, score_groups


def test_probe_indices_are_a_seeded_subset():
    assert probe_indices(10, 4, 0) == probe_indices(10, 4, 0)
    assert probe_indices(10, 4, 0) != probe_indices(10, 4, 1)
    assert len(set(probe_indices(10, 4, 0))) == 4
    assert probe_indices(3, 8, 0) == [0, 1, 2]


def test_paired_summary_is_paired_by_prompt():
    # every prompt rises by exactly 0.5 although prompts differ a lot: the paired SE is 0
    s = paired_summary([0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.5, 3.5])
    assert s["diff"] == 0.5 and s["se"] == 0.0 and s["prompts"] == 4
    # a prompt with no finite score on either side is left out of both means
    s = paired_summary([1.0, float("nan"), 3.0], [2.0, 5.0, 3.0])
    assert (s["before"], s["after"], s["prompts"]) == (2.0, 2.5, 2)
    assert math.isclose(s["se"], 0.5)


def test_score_groups_weights_abstentions_like_grpo():
    rows = [{"prompt": [{"role": "user", "content": "q1"}], "answer": "a", "id": "1"},
            {"prompt": [{"role": "user", "content": "q2"}], "answer": "b", "id": "2"}]
    seen = {}

    def exact(prompts, completions, answer, completion_ids=None, **kw):
        seen.update(answer=answer, content=completions[0][0]["content"], ids=completion_ids)
        return [1.0 if c[0]["content"] == a else 0.0 for c, a in zip(completions, answer, strict=True)]

    def judge(prompts, completions, **kw):  # abstains on prompt 2
        return [0.5, 0.5, None, None]

    out = score_groups([("exact", exact), ("judge", judge)], [1.0, 2.0], rows, ["a", "x", "b", "b"], 2,
                       completion_ids=[[1], [2], [3], [4]])
    assert seen == {"answer": ["a", "a", "b", "b"], "content": "a", "ids": [[1], [2], [3], [4]]}
    assert out["exact"] == [0.5, 1.0]
    assert out["judge"][0] == 0.5 and math.isnan(out["judge"][1])
    assert out["reward"] == [(2.0 + 1.0) / 2, 1.0]  # weighted nansum per completion, then the prompt mean
    with pytest.raises(ValueError, match="2 x 2"):
        score_groups([("exact", exact)], [1.0], rows, ["a"], 2)


def test_frozen_scaler_maps_with_the_current_state_and_learns_nothing():
    scaler = AdaptiveScaler(min_history=2, distributed=False)
    scaler.update_and_transform([0.1, 0.2, 0.3, 0.4])
    state, stats = scaler.state_dict(), scaler.stats()
    with scaler.frozen():
        frozen = scaler.update_and_transform([0.9, 0.9])
    assert frozen == scaler.transform([0.9, 0.9])
    assert scaler.state_dict() == state and scaler.stats() == stats
    scaler.update_and_transform([0.9, 0.9])  # outside: learns again
    assert len(scaler.buffer) == 6


@REWARDS.register("test_probe_adaptive", description="length-based raw score through an AdaptiveScaler (tests)")
class _AdaptiveLength:
    def __init__(self):
        self.scaler = AdaptiveScaler(min_history=2, distributed=False)
        self.__name__ = "test_probe_adaptive"
        _AdaptiveLength.last = self

    def __call__(self, prompts, completions, **kwargs):
        raw = [len(str(c)) % 7 / 6 for c in completions]  # varies within a group: non-zero advantages
        return self.scaler.update_and_transform(raw)


def _final_weights(folder, final="final"):
    from safetensors.torch import load_file

    return load_file(str(folder / final / "model.safetensors"))


def _config(model, out, probe, save_steps=10):
    stage = {"type": "grpo", "name": "grpo", "rewards": ["test_probe_adaptive", "format_partial"],
             "reward_weights": [1.0, 0.5], "num_generations": 2, "per_device_train_batch_size": 2,
             "max_completion_length": 8, "learning_rate": 1e-3, "max_steps": 2, "save_steps": save_steps}
    return load_config({
        "model": {"name": str(model), "dtype": "float32"},
        "data": {"dataset": "test-train-tiny", "split": "train"},
        "logging": {"report_to": ["none"], "progress": False, "log_completions": False, "reward_probe": probe},
        "output_dir": str(out), "stages": [stage],
    })


def test_grpo_stage_writes_the_probe_and_trains_exactly_as_without_it(tiny_chat_lm, tmp_path):
    import torch
    from transformers import AutoTokenizer

    from armed.train.pipeline import run

    run(_config(tiny_chat_lm, tmp_path / "plain", 0))
    assert not (tmp_path / "plain" / "grpo" / RESULT_FILE).exists()
    run(_config(tiny_chat_lm, tmp_path / "probed", 3))
    reward = _AdaptiveLength.last
    assert len(reward.scaler.buffer) == 2 * 2  # training's 2 steps x 2 completions; the probe added none

    result = json.loads((tmp_path / "probed" / "grpo" / RESULT_FILE).read_text())
    assert (result["prompts"], result["samples"], result["steps"]) == (3, 2, [0, 2])
    assert set(result["summary"]) == {"test_probe_adaptive", "format_partial", "reward"}
    assert result["weights"] == {"test_probe_adaptive": 1.0, "format_partial": 0.5}
    assert [len(r["completions_before"]) for r in result["rows"]] == [2, 2, 2]
    before = json.loads((tmp_path / "probed" / "grpo" / BEFORE_FILE).read_text())
    assert [c for r in result["rows"] for c in r["completions_before"]] == before["completions"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_lm)  # the generated ids, as GRPOTrainer passes them
    assert tokenizer.batch_decode(before["completion_ids"], skip_special_tokens=True) == before["completions"]
    assert describe(result).startswith("reward probe (3 training prompts x 2 samples, step 0 -> 2): reward ")
    # sampling ran under a forked RNG: the trained weights are bit-identical to the run without the probe
    a, b = _final_weights(tmp_path / "plain" / "grpo"), _final_weights(tmp_path / "probed" / "grpo")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    init = _final_weights(tiny_chat_lm, final="")
    assert any(not torch.equal(init[k], a[k]) for k in a.keys() & init.keys())  # and training did move them


def test_resumed_stage_keeps_the_probe_of_its_first_policy(tiny_chat_lm, tmp_path):
    from transformers import TrainerCallback

    from armed.train.pipeline import run

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt("simulated kill")

    cfg = _config(tiny_chat_lm, tmp_path, 2, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, extra_callbacks=[Kill()])
    before = json.loads((tmp_path / "grpo" / BEFORE_FILE).read_text())
    assert before["step"] == 0 and not (tmp_path / "grpo" / RESULT_FILE).exists()
    run(cfg, resume=True)  # continues after checkpoint-1; the step-0 samples are not redrawn
    result = json.loads((tmp_path / "grpo" / RESULT_FILE).read_text())
    assert result["steps"] == [0, 2]
    assert [c for r in result["rows"] for c in r["completions_before"]] == before["completions"]


def test_probe_samples_with_the_trainers_settings(tmp_path):
    from types import SimpleNamespace

    from armed.train.probe import RewardProbe

    args = SimpleNamespace(num_generations=2, max_completion_length=8, temperature=0.9, top_p=0.95, top_k=0,
                           min_p=None, repetition_penalty=1.1)
    trainer = SimpleNamespace(args=args, train_dataset=[{"prompt": f"q{i}", "id": str(i)} for i in range(5)])
    probe = RewardProbe(trainer, [], None, prompts=3, output_dir=tmp_path, seed=0)
    assert [r["id"] for r in probe.rows] == [str(i) for i in probe_indices(5, 3, 0)]
    # generation in vLLM (no trainer.generation_config): the same settings for transformers' generate
    assert probe._generation_kwargs() == {"max_new_tokens": 8, "do_sample": True, "temperature": 0.9,
                                          "top_p": 0.95, "top_k": 0, "min_p": None, "repetition_penalty": 1.1}
    trainer.generation_config = config = object()  # transformers generation: the trainer's own config
    assert probe._generation_kwargs() == {"generation_config": config}


def test_reward_probe_must_not_be_negative():
    from armed.train.config import ConfigError

    with pytest.raises(ConfigError, match="reward_probe"):
        load_config("armed", ["logging.reward_probe=-1"], variant="cpu")
