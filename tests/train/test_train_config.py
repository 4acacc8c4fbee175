"""Pipeline config: YAML + variants + key=value overrides, typed by field, with did-you-mean errors."""

from __future__ import annotations

import pytest

from armed.train.config import ConfigError, load_config, parse_override

BASE = {
    "model": {"name": "smollm2-135m-instruct"},
    "data": {"dataset": "mmlu-med", "split": "train"},
    "stages": [
        {"type": "sft", "learning_rate": 2e-5},
        {"type": "grpo", "rewards": ["format_partial", "accuracy"], "num_generations": 4},
    ],
    "variants": {"cpu": {"data.limit": 8, "stages.1.max_steps": 3}, "gpu": {"model.name": "Qwen/Qwen2-VL-2B"}},
}


def test_overrides_are_typed_by_the_field_they_land_on():
    cfg = load_config(BASE, ["stages.1.num_generations=8", "stages.1.learning_rate=1e-5", "model.lora.enabled=true",
                             "data.split=2020", "stages.1.loss_type=dr_grpo", "stages.1.scale_rewards=none"])
    grpo = cfg.stages[1]
    assert grpo.args["num_generations"] == 8 and isinstance(grpo.args["num_generations"], int)
    assert grpo.args["learning_rate"] == pytest.approx(1e-5) and isinstance(grpo.args["learning_rate"], float)
    assert grpo.args["loss_type"] == "dr_grpo" and grpo.args["scale_rewards"] == "none"
    assert cfg.model.lora.enabled is True
    assert cfg.data.split == "2020"  # a str field keeps a numeric-looking value as text
    assert [s.name for s in cfg.stages] == ["0-sft", "1-grpo"]


def test_a_yaml_yes_or_no_stays_a_word_in_a_string_trainer_argument():
    # YAML 1.1 reads `no` as False; TRL's save_strategy wants the word.
    cfg = load_config(BASE, ["stages.1.save_strategy=no", "stages.1.bf16=no"])
    assert cfg.stages[1].args["save_strategy"] == "no"
    assert cfg.stages[1].args["bf16"] is False  # a bool field keeps the bool


def test_default_variant_is_cpu_and_variants_apply_before_overrides():
    cpu = load_config(BASE)
    assert cpu.data.limit == 8 and cpu.stages[1].args["max_steps"] == 3
    gpu = load_config(BASE, ["model.name=org/other"], variant="gpu")
    assert gpu.model.name == "org/other" and gpu.data.limit is None
    with pytest.raises(ConfigError, match="Did you mean 'gpu'"):
        load_config(BASE, variant="gpx")


def test_stage_data_inherits_unset_fields():
    cfg = load_config({**{k: v for k, v in BASE.items() if k != "variants"}, "stages": [
        {"type": "grpo", "rewards": ["accuracy"], "data": {"answer_types": ["closed"]}},
        {"type": "grpo", "rewards": ["accuracy"], "data": {"answer_types": ["open"], "split": "val"}}]})
    assert cfg.stage_data(0).dataset == "mmlu-med" and cfg.stage_data(0).split == "train"
    assert cfg.stage_data(1).split == "val" and cfg.stage_data(1).answer_types == ["open"]


@pytest.mark.parametrize(("override", "needle"), [
    ("stages.1.num_generatons=4", "Did you mean 'num_generations'"),
    ("model.nmae=x", "Did you mean 'name'"),
    ("model.dtype=bf16", "Did you mean 'bfloat16'"),
    ("stages.0.type=ppo", "Allowed: sft, grpo"),
    ("stages.1.loss_type=drgrpo", "Did you mean 'dr_grpo'"),
    ("stages.1.num_generations=many", "stages.1.num_generations must be int"),
    ("stages.7.max_steps=1", "index 7 out of range"),
    ("data.answer_types=[opn]", "Did you mean 'open'"),
    ("logging.report_to=[wandbb]", "Did you mean 'wandb'"),
    ("stages.1.reward_weights=[1.0]", "reward_weights has 1 values for 2 rewards"),
    ("stages.1.output_dir=x", "not a field of trl.GRPOConfig"),  # managed by the pipeline
    ("stages.0.num_generations=4", "unknown sft trainer argument"),
    ("nonsense", "key=value"),
])
def test_bad_keys_and_values_name_the_key_and_the_allowed_values(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("(", r"\(")):
        load_config(BASE, [override])


def test_grpo_stage_needs_rewards_and_sft_takes_none():
    base = {k: v for k, v in BASE.items() if k != "variants"}
    with pytest.raises(ConfigError, match="needs at least one reward"):
        load_config({**base, "stages": [{"type": "grpo"}]})
    with pytest.raises(ConfigError, match="takes no rewards"):
        load_config({**base, "stages": [{"type": "sft", "rewards": ["accuracy"]}]})


def test_parse_override_uses_yaml_scalars():
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("x=true") == ("x", True)
    assert parse_override("x=") == ("x", "")


def test_yaml_file_and_launch_paths_relative_to_the_recipe(tmp_path):
    (tmp_path / "accelerate").mkdir()
    (tmp_path / "accelerate" / "ddp.yaml").write_text("distributed_type: MULTI_GPU\n")
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("description: mine\ndata: {dataset: mmlu-med}\nlaunch: {accelerate_config: accelerate/ddp.yaml}\n"
                      "stages:\n  - {type: grpo, rewards: [accuracy], num_generations: 2}\n")
    cfg = load_config(str(recipe))
    assert cfg.launch.accelerate_config == str(tmp_path / "accelerate" / "ddp.yaml")
    assert cfg.to_dict()["stages"][0]["num_generations"] == 2  # args flattened back as in YAML
