"""--dry-run for every shipped recipe (both variants) and every accelerate config, without loading weights."""

from __future__ import annotations

import pytest

from armed.registry import RECIPES
from armed.train.config import ConfigError, load_config, variants_of
from armed.train.pipeline import check_accelerate_config, dry_run
from armed.train.recipes import accelerate_configs_dir, configs_dir

EXPECTED = {"armed", "grpo", "dr-grpo", "length-ecr", "length-cwr", "judge-semantic", "alphamed", "medcco", "capo",
            "rarl"}


def test_every_recipe_is_registered_with_a_description():
    assert EXPECTED <= set(RECIPES.names())
    for name in EXPECTED:
        assert RECIPES.describe(name).strip()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_variants_pass_dry_run(name):
    from armed.train.config import read_yaml

    variants = variants_of(read_yaml(RECIPES.get(name).path))
    assert {"cpu", "gpu"} <= set(variants)
    for variant in variants:
        cfg = load_config(name, [f"output_dir=/tmp/armed-dry-{name}"], variant=variant)
        report = dry_run(cfg)
        assert report[0].startswith("model:") and any("stages.0" in line for line in report)
    cpu = load_config(name, variant="cpu")
    assert cpu.model.name in ("smollm2-135m-instruct", "smolvlm-tiny")  # the embedded defaults
    assert all(s.args.get("max_steps", 10**9) <= 50 for s in cpu.stages)  # CPU variants run in minutes


def test_dr_grpo_recipe_maps_onto_trl_settings():
    cfg = load_config("dr-grpo")
    report = "\n".join(dry_run(cfg))
    assert "loss=dr_grpo" in report and "scale_rewards=none" in report


@pytest.mark.parametrize("path", sorted(p.name for p in (accelerate_configs_dir() or configs_dir()).glob("*.yaml")))
def test_accelerate_configs_parse(path):
    summary = check_accelerate_config(accelerate_configs_dir() / path)
    assert "processes" in summary


def test_bad_accelerate_config_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("distributed_type: DEEPSPEED\nnum_procesess: 4\ndeepspeed_config: {zero_stage: 2}\n")
    with pytest.raises(ConfigError, match="Did you mean 'num_processes'"):
        check_accelerate_config(bad)
    bad.write_text("distributed_type: DEEPSPEED\ndeepspeed_config: {zero_stag: 2}\n")
    with pytest.raises(ConfigError, match="Did you mean 'zero_stage'"):
        check_accelerate_config(bad)
    bad.write_text("distributed_type: DEEPSPEED\ndeepspeed_config: {zero_stage: 4}\n")
    with pytest.raises(ConfigError, match="zero_stage must be 0, 1, 2 or 3"):
        check_accelerate_config(bad)


def test_dry_run_names_unknown_reward_dataset_and_model():
    with pytest.raises(Exception, match="unknown reward 'acuracy'.*Did you mean 'accuracy'"):
        dry_run(load_config("grpo", ["stages.0.rewards=[format_partial, acuracy]"]))
    with pytest.raises(ConfigError, match="unknown dataset 'vqa-rda'.*Did you mean 'vqa-rad'"):
        dry_run(load_config("grpo", ["data.dataset=vqa-rda"]))
    with pytest.raises(ConfigError, match="neither an embedded model"):
        dry_run(load_config("grpo", ["model.name=not a model"]))
    with pytest.raises(ConfigError, match="generation_batch_size"):  # TRL's own check, surfaced by dry run
        dry_run(load_config("grpo", ["stages.0.num_generations=3"]))


def test_mixed_precision_follows_the_resolved_dtype(tmp_path):
    # TRL defaults bf16=True: emulated bf16 autocast on a CPU without AVX512-BF16 made SFT steps ~9x slower.
    from armed.train.pipeline import trainer_config

    cfg = load_config("grpo")
    assert trainer_config(cfg.stages[0], cfg, tmp_path, "float32").bf16 is False
    assert trainer_config(cfg.stages[0], cfg, tmp_path, "bfloat16").bf16 is True
    cfg = load_config("grpo", ["stages.0.bf16=false"])
    assert trainer_config(cfg.stages[0], cfg, tmp_path, "bfloat16").bf16 is False  # a stage's own setting wins


def test_only_the_two_newest_checkpoints_are_kept_unless_a_stage_says_otherwise(tmp_path):
    from armed.train.pipeline import trainer_config

    cfg = load_config("grpo")
    assert trainer_config(cfg.stages[0], cfg, tmp_path, "float32").save_total_limit == 2
    cfg = load_config("grpo", ["stages.0.save_total_limit=5"])
    assert trainer_config(cfg.stages[0], cfg, tmp_path, "float32").save_total_limit == 5
