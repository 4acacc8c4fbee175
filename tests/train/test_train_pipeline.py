"""Pipeline on a tiny random Llama (SmolLM2 tokenizer): stage chaining, kill + resume, reward state restored."""

from __future__ import annotations

import json

import pytest
from transformers import TrainerCallback

from armed.registry import REWARDS
from armed.train.config import load_config
from armed.train.pipeline import STATE_FILE, last_complete_checkpoint, run


class _Scaler:
    """Adaptive-reward state stand-in: counts the scores it has seen (like ARMed's history buffer)."""

    def __init__(self):
        self.seen = 0

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state["seen"]

    def stats(self):
        return {"tau": 0.5, "buffer": float(self.seen)}


INSTANCES: list = []


@REWARDS.register("test_train_counting", description="length-graded reward with a scaler (tests)")
class _CountingReward:
    def __init__(self):
        self.scaler = _Scaler()
        self.__name__ = "test_train_counting"
        INSTANCES.append(self)

    def __call__(self, prompts, completions, **kwargs):
        self.scaler.seen += len(completions)
        return [float(len(str(c)) % 3) for c in completions]


class _Steps(TrainerCallback):
    def __init__(self, kill_at=None):
        self.steps, self.kill_at = [], kill_at

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)
        if self.kill_at is not None and state.global_step == self.kill_at:
            raise KeyboardInterrupt("simulated kill")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from armed.models import resolve

    folder = tmp_path_factory.mktemp("tiny-llama")
    tok = AutoTokenizer.from_pretrained(resolve("smollm2-135m-instruct"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _config(model, out, stages):
    return load_config({
        "model": {"name": model, "dtype": "float32"},
        "data": {"dataset": "test-train-tiny", "split": "train"},
        "logging": {"report_to": ["none"], "progress": False, "log_completions": False},
        "output_dir": str(out), "stages": stages,
    })


GRPO = {"type": "grpo", "name": "grpo", "rewards": ["test_train_counting"], "num_generations": 2,
        "per_device_train_batch_size": 2, "max_completion_length": 8, "learning_rate": 1e-3, "save_steps": 2}


def test_stages_chain_kill_and_resume_at_the_same_step_with_reward_state(tiny_model, tmp_path, monkeypatch):
    """sft -> grpo; killed during grpo step 2; --resume skips sft, continues grpo after its last checkpoint
    with the adaptive reward's state restored; a finished run refuses to start again without --resume."""
    import torch

    from armed.train import pipeline
    from armed.train.config import ConfigError

    loaded, real = [], pipeline.load_policy
    monkeypatch.setattr(pipeline, "load_policy", lambda src, *a, **k: loaded.append(str(src)) or real(src, *a, **k))
    cfg = _config(tiny_model, tmp_path, [
        {"type": "sft", "name": "sft", "max_steps": 1, "per_device_train_batch_size": 2, "max_length": 256},
        {**GRPO, "max_steps": 3, "save_steps": 1}])
    INSTANCES.clear()
    killer = _Steps(kill_at=2)
    with pytest.raises(KeyboardInterrupt):  # killed after grpo step 2's update, before its checkpoint exists
        run(cfg, extra_callbacks=[killer])
    assert killer.steps == [1, 1, 2]  # sft step 1, then grpo steps 1 and 2
    sft_final = str(tmp_path / "sft" / "final")
    assert loaded == [tiny_model, sft_final]  # grpo started from the sft stage's saved model
    assert json.loads((tmp_path / STATE_FILE).read_text())["completed"] == {"sft": sft_final}
    ckpt = last_complete_checkpoint(tmp_path / "grpo")
    assert ckpt is not None and ckpt.name == "checkpoint-1"
    per_step = 2  # completions scored per step: 1 prompt x 2 generations
    assert INSTANCES[0].scaler.seen == 2 * per_step
    saved = torch.load(ckpt / "armed_rewards.pt", weights_only=False)
    assert saved == {"test_train_counting": {"seen": per_step}}

    with pytest.raises(ConfigError, match="--resume"):
        run(cfg)
    resumed = _Steps()
    run(cfg, resume=True, extra_callbacks=[resumed])
    assert loaded[2:] == [sft_final]  # sft not re-run
    assert resumed.steps == [2, 3]  # continues after checkpoint-1, not from 0
    fresh = INSTANCES[-1]
    assert fresh is not INSTANCES[0]
    assert fresh.scaler.seen == per_step + 2 * per_step  # restored from the checkpoint, then 2 more steps
    trainer_state = json.loads((tmp_path / "grpo" / "checkpoint-3" / "trainer_state.json").read_text())
    assert trainer_state["global_step"] == 3
    assert set(json.loads((tmp_path / STATE_FILE).read_text())["completed"]) == {"sft", "grpo"}
    assert (tmp_path / "grpo" / "final" / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="--resume"):
        run(cfg)


def test_fresh_start_refuses_stale_checkpoints(tmp_path):
    from armed.train.config import ConfigError

    (tmp_path / "grpo" / "checkpoint-7").mkdir(parents=True)
    cfg = _config("unused-model-never-loaded", tmp_path, [{**GRPO, "max_steps": 1}])
    with pytest.raises(ConfigError, match="unfinished run"):  # a later --resume would mix two runs' checkpoints
        run(cfg)


def test_lora_stage_saves_a_merged_model(tiny_model, tmp_path):
    cfg = _config(tiny_model, tmp_path, [{**GRPO, "max_steps": 1}])
    cfg.model.lora.enabled, cfg.model.lora.r, cfg.model.lora.target_modules = True, 4, ["q_proj", "v_proj"]
    run(cfg)
    final = tmp_path / "grpo" / "final"
    assert (final / "model.safetensors").exists() and not (final / "adapter_config.json").exists()
    from safetensors import safe_open

    with safe_open(str(final / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "lora" in k]  # merged into the base weights
