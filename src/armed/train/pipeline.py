"""Run a multi-stage training pipeline: each stage trains from the previous stage's output folder.

Read top to bottom: :func:`dry_run` checks everything that can be checked without weights; :func:`run`
loads data and model, builds the stage's TRL trainer (``sft.py`` / ``grpo.py``), trains, saves, and records the
stage as complete in ``<output_dir>/pipeline_state.json`` (written atomically), so a killed run restarted with
``resume=True`` skips finished stages and continues the unfinished one from its last complete checkpoint.

Layout of a run folder::

    runs/armed/
      pipeline_state.json      stages done, their outputs, the resolved config
      config.yaml              the resolved config (for reproduction)
      0-sft/checkpoint-N/      TRL/transformers checkpoints (+ armed_rewards.pt, armed_checkpoint.json)
      0-sft/final/             the stage's model: the next stage starts from it
      1-grpo/...
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from armed.registry import DATASETS, REWARDS, RegistryError
from armed.train.config import ConfigError, DataSection, PipelineConfig, StageSection

logger = logging.getLogger(__name__)

STATE_FILE = "pipeline_state.json"
FINAL_DIR = "final"
CHECKPOINT_MARKER = "armed_checkpoint.json"  # written last by RewardStateCallback: the checkpoint is complete


# --- small utilities ---------------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and ``os.replace``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(p and not p.startswith(".") for p in parts) and " " not in name


def resolve_dtype(name: str) -> str:
    """'auto' → 'bfloat16' when the GPU (or the CPU: AVX512-BF16/AMX) supports it, else 'float32'."""
    if name != "auto":
        return name
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    try:
        return "bfloat16" if torch.cpu._is_avx512_bf16_supported() else "float32"
    except AttributeError:  # older torch: no probe, stay safe
        return "float32"


# --- pipeline state ----------------------------------------------------------------------------------------


@dataclass
class PipelineState:
    """Which stages are complete and where their models are; persisted as ``pipeline_state.json``."""

    completed: dict[str, str] = field(default_factory=dict)  # stage name -> final model folder

    @classmethod
    def load(cls, output_dir: Path) -> PipelineState:
        path = output_dir / STATE_FILE
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(completed=dict(data.get("completed", {})))

    def save(self, output_dir: Path, cfg: PipelineConfig) -> None:
        atomic_write_text(output_dir / STATE_FILE, json.dumps(
            {"completed": self.completed, "stages": [s.name for s in cfg.stages], "config": cfg.to_dict()},
            indent=2, default=str))


# --- rewards and data --------------------------------------------------------------------------------------


def _is_reward_callable(obj: Any) -> bool:
    target = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else getattr(obj, "__call__", None)  # noqa: B004
    if target is None or isinstance(obj, type):
        return False
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return True
    return "completions" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()) and len(params) > 1


def build_reward(name: str, kwargs: dict[str, Any] | None = None) -> Any:
    """A reward callable by registry name or import path; ``kwargs`` go to its factory (``get_*`` or class)."""
    obj = REWARDS.get(name)
    if kwargs:
        if _is_reward_callable(obj) and not isinstance(obj, type):
            factory = getattr(obj, "factory", None)
            if factory is None:
                raise ConfigError(f"reward {name!r} takes no parameters (reward_kwargs given: {sorted(kwargs)})")
            obj = factory
        try:
            inspect.signature(obj).bind(**kwargs)
        except TypeError as exc:
            params = [p for p in inspect.signature(obj).parameters if p not in ("self",)]
            raise ConfigError(f"reward_kwargs for {name!r}: {exc}; parameters: {', '.join(params)}") from None
        reward = obj(**kwargs)
    elif _is_reward_callable(obj):
        reward = obj
    else:
        reward = obj()  # a factory or class with defaults
    if not getattr(reward, "__name__", None):
        try:
            reward.__name__ = name.split(":")[-1]
        except (AttributeError, TypeError):
            pass
    return reward


def load_samples(sel: DataSection) -> list:
    """Samples of a data selection: loader → answer-type filter → optional filter → limit."""
    from armed.data import load_dataset

    if sel.samples_file:  # output of `armed data filter` / `armed data distill`
        from armed.data.filter import read_samples
        from armed.data.loader import LoadReport

        samples = read_samples(sel.samples_file)
        report = LoadReport(rows_read=len(samples), kept=len(samples))
    else:
        samples, report = load_dataset(sel.dataset, path=sel.path, split=sel.split, **(sel.loader_options or {}))
    if sel.answer_types:
        samples = [s for s in samples if s.answer_type in sel.answer_types]
    if sel.filter:
        from armed.registry import import_path

        samples = list(import_path(sel.filter)(samples))
    if sel.limit:
        samples = samples[: sel.limit]
    if not samples:
        raise ConfigError(f"dataset {sel.dataset!r} (split {sel.split!r}, answer_types {sel.answer_types}) "
                          f"selected no samples; {report.rows_read} rows read")
    return samples


def sft_completion(sample: Any, target: str) -> str:
    """The assistant text an SFT stage teaches: ``<think>reasoning</think><answer>answer</answer>``.

    Reasoning, in order: the sample's ``cot`` meta (written by ``armed data distill``); the embedded datasets'
    template rationales (:mod:`armed.data.embedded.cot`, built only from what is known about the sample);
    otherwise none is invented and the target is the answer alone in the same format. The final answer is the
    option letter for multiple choice, else the reference text. ``target='answer'`` skips the reasoning.
    """
    from armed.data.embedded.cot import COT_DATASETS, completion_for, wrap

    answer = sample.answer_letter if sample.answer_type == "multiple_choice" and sample.answer_letter \
        else sample.answer
    if target == "answer":
        return f"<answer>{answer}</answer>"
    cot = str(sample.meta.get("cot") or "").strip()
    if cot:
        return wrap(cot, answer)
    if sample.source in COT_DATASETS:
        return completion_for(sample)
    return wrap("", answer)


def build_dataset(samples: list, stage_type: str, sel: DataSection, vision: bool):
    """A ``datasets.Dataset`` for a stage: prompt + reward columns (grpo) or prompt + completion (sft)."""
    from datasets import Dataset

    from armed.data.schema import SYSTEM_PROMPT, to_rows

    rows = to_rows(samples, sel.system_prompt or SYSTEM_PROMPT, vision=vision)
    if stage_type == "sft":
        for row, sample in zip(rows, samples, strict=True):
            row["completion"] = [{"role": "assistant", "content": sft_completion(sample, sel.sft_target or "cot")}]
    ds = Dataset.from_list(rows)
    if vision and "images" in ds.column_names:
        from datasets import Image, Sequence

        ds = ds.cast_column("images", Sequence(Image()))  # decoded lazily, on access
    return ds


# --- dry run -----------------------------------------------------------------------------------------------


def check_model_name(name: str) -> str:
    from armed.registry import MODELS

    if name in MODELS:
        return f"embedded model {name}"
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ConfigError(f"model.name {name!r}: folder has no config.json (not a transformers model)")
        return f"local folder {path}"
    if is_hub_id(name):
        return f"hub id {name} (resolved when the run starts)"
    raise ConfigError(f"model.name {name!r} is neither an embedded model ({', '.join(MODELS.names())}), an "
                      f"existing folder, nor a hub id of the form 'org/name'")


def check_accelerate_config(path: str | Path) -> str:
    """Parse an accelerate config file and check its keys, without needing DeepSpeed installed."""
    from accelerate.commands.config.config_args import ClusterConfig

    from armed.train.config import unknown_message

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"accelerate config {str(path)!r} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    allowed = sorted(ClusterConfig.__dataclass_fields__)
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{path}: " + unknown_message(key, allowed, "accelerate key", list_all=False))
    ds = data.get("deepspeed_config") or {}
    for key in ds:
        if key not in DEEPSPEED_KEYS:
            raise ConfigError(f"{path}: " + unknown_message(key, sorted(DEEPSPEED_KEYS), "deepspeed_config key"))
    if ds and ds.get("zero_stage") not in (0, 1, 2, 3):
        raise ConfigError(f"{path}: deepspeed_config.zero_stage must be 0, 1, 2 or 3, got {ds.get('zero_stage')!r}")
    fsdp = data.get("fsdp_config") or {}
    for key in fsdp:
        if not key.startswith("fsdp_"):
            raise ConfigError(f"{path}: fsdp_config key {key!r} must start with 'fsdp_'")
    if fsdp and fsdp.get("fsdp_version", 1) not in (1, 2):
        raise ConfigError(f"{path}: fsdp_config.fsdp_version must be 1 or 2")
    try:
        cfg = ClusterConfig.from_yaml_file(str(path))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if cfg.num_machines > 1 and not data.get("main_process_ip") and cfg.machine_rank == 0:
        logger.info("%s: multi-node config without main_process_ip; pass --main_process_ip at launch", path)
    return f"{cfg.distributed_type.value}, {cfg.num_processes} processes x {cfg.num_machines} machines"


# Keys accelerate's DeepSpeed plugin reads from `deepspeed_config` (accelerate/utils/dataclasses.py).
DEEPSPEED_KEYS = frozenset({
    "zero_stage", "gradient_accumulation_steps", "gradient_clipping", "offload_optimizer_device",
    "offload_param_device", "offload_optimizer_nvme_path", "offload_param_nvme_path", "zero3_init_flag",
    "zero3_save_16bit_model", "deepspeed_config_file", "deepspeed_multinode_launcher", "deepspeed_hostfile",
    "deepspeed_exclusion_filter", "deepspeed_inclusion_filter", "transformer_moe_cls_names",
    "enable_msamp", "msamp_opt_level",
})


def trainer_config(stage: StageSection, cfg: PipelineConfig, stage_dir: Path, dtype: str):
    """The stage's TRL ``SFTConfig`` / ``GRPOConfig``: recipe arguments + what the pipeline manages."""
    import torch
    from trl import GRPOConfig, SFTConfig

    args: dict[str, Any] = {
        "logging_steps": cfg.logging.logging_steps,
        "save_strategy": "steps",
        "save_steps": 50,
        "save_total_limit": 2,  # resume needs the newest marked checkpoint; a full-FT one is 3x the weights
        "disable_tqdm": cfg.logging.progress,  # the rich progress bar replaces tqdm
    }
    args.update(stage.args)
    args.update(output_dir=str(stage_dir), seed=cfg.seed,
                report_to=[r for r in cfg.logging.report_to if r != "none"] or "none")
    # TRL defaults bf16=True; on a CPU without AVX512-BF16 that autocast is emulated and ~10x slower, so the
    # mixed-precision flags always follow the resolved model dtype unless a stage sets them itself.
    args.setdefault("bf16", dtype == "bfloat16")
    args.setdefault("fp16", dtype == "float16" and torch.cuda.is_available())
    if not torch.cuda.is_available():
        args.setdefault("use_cpu", True)
        if "gradient_checkpointing" not in args:  # TRL turns it on; on CPU memory is cheap and time is not
            args.setdefault("activation_checkpointing", False)
    if stage.type == "grpo":
        args.setdefault("log_completions", cfg.logging.log_completions)
        args.setdefault("num_completions_to_print", cfg.logging.num_completions_to_print)
        if stage.reward_weights is not None:
            args["reward_weights"] = list(stage.reward_weights)
        cls = GRPOConfig
    else:
        cls = SFTConfig
    if cfg.launch.deepspeed_config:
        args.setdefault("deepspeed", cfg.launch.deepspeed_config)
    try:
        return cls(**args)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"stage {stage.name!r} ({cls.__name__}): {exc}") from None


def dry_run(cfg: PipelineConfig) -> list[str]:
    """Validate everything without loading weights: names, rewards, data, TRL arguments, launch files.

    Returns a human-readable report (one line per check). Raises ConfigError / RegistryError naming the key.
    """
    lines = [f"model: {check_model_name(cfg.model.name)} (dtype {cfg.model.dtype} -> on this machine "
             f"{resolve_dtype(cfg.model.dtype)}{f', LoRA r={cfg.model.lora.r}' if cfg.model.lora.enabled else ''}"
             f"{', QLoRA 4-bit' if cfg.model.lora.qlora else ''})"]
    if cfg.model.lora.qlora:
        import importlib.util

        if importlib.util.find_spec("bitsandbytes") is None:
            lines.append("  note: QLoRA needs bitsandbytes and a GPU at run time (not installed here)")
    for i, stage in enumerate(cfg.stages):
        sel = cfg.stage_data(i)
        where = f"stages.{i} ({stage.name})"
        try:
            DATASETS.get(sel.dataset)
        except RegistryError as exc:
            raise ConfigError(f"{where}.data.dataset: {exc}") from None
        if sel.samples_file and not Path(sel.samples_file).is_file():
            lines.append(f"  note: {where}.data.samples_file {sel.samples_file} does not exist yet; write it with "
                         f"`armed data filter` (or distill) before training")
        rewards = []
        for name in stage.rewards:
            try:
                rewards.append(build_reward(name, stage.reward_kwargs.get(name)))
            except RegistryError as exc:
                raise ConfigError(f"{where}.rewards: {exc}") from None
        with tempfile.TemporaryDirectory() as tmp:
            targs = trainer_config(stage, cfg, Path(tmp), resolve_dtype(cfg.model.dtype))
        detail = ""
        if stage.type == "grpo":
            detail = (f", G={targs.num_generations}, loss={targs.loss_type}, scale_rewards={targs.scale_rewards}, "
                      f"beta={targs.beta}, max_completion_length={targs.max_completion_length}"
                      f"{', vLLM ' + targs.vllm_mode if targs.use_vllm else ''}")
        lines.append(f"{where}: {stage.type} on {sel.dataset}"
                     f"{' ' + str(sel.answer_types) if sel.answer_types else ''} split={sel.split} "
                     f"limit={sel.limit}; rewards={stage.rewards or '-'}"
                     f"{' weights=' + str(stage.reward_weights) if stage.reward_weights else ''}; "
                     f"max_steps={targs.max_steps}, lr={targs.learning_rate}{detail}")
    if cfg.launch.accelerate_config:
        lines.append(f"launch: {check_accelerate_config(cfg.launch.accelerate_config)}")
    if cfg.launch.deepspeed_config:
        p = Path(cfg.launch.deepspeed_config)
        if not p.is_file():
            raise FileNotFoundError(f"launch.deepspeed_config {str(p)!r} does not exist")
        try:
            json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"launch.deepspeed_config {p}: not valid JSON ({exc})") from None
        lines.append(f"launch: DeepSpeed config {p}")
    lines.append(f"output: {cfg.output_dir} (seed {cfg.seed}, report_to {cfg.logging.report_to})")
    return lines


# --- model loading -----------------------------------------------------------------------------------------


def load_policy(name_or_path: str, cfg: PipelineConfig, dtype: str, adapter: str | None = None):
    """``(model, processing_class, is_vlm)`` for a stage: any causal LM or VLM (processor torchvision-free for
    Qwen2-VL/2.5-VL, see :mod:`armed.vlm`), optionally 4-bit (QLoRA) and with a trainable adapter."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from armed import vlm
    from armed.models import resolve

    folder = resolve(name_or_path)
    is_vlm = vlm.is_vlm(folder)
    processor = vlm.load_processor(folder)
    # On CPU, bf16 is autocast over float32 master weights (pure-bf16 weights lose small Adam updates);
    # on GPU the weights are loaded in the training dtype, as TRL's examples do.
    weights = dtype if torch.cuda.is_available() or dtype == "float32" else "float32"
    kwargs: dict[str, Any] = {"dtype": getattr(torch, weights), "trust_remote_code": cfg.model.trust_remote_code}
    if cfg.model.lora.qlora:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=getattr(torch, dtype),
            bnb_4bit_use_double_quant=True)
    auto = AutoModelForImageTextToText if is_vlm else AutoModelForCausalLM
    model = auto.from_pretrained(folder, **kwargs)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return model, processor, is_vlm


def peft_config(cfg: PipelineConfig):
    if not cfg.model.lora.enabled:
        return None
    from peft import LoraConfig

    lora = cfg.model.lora
    return LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                      target_modules=lora.target_modules, task_type="CAUSAL_LM")


def save_final(trainer: Any, processor: Any, final_dir: Path, qlora: bool) -> None:
    """Save the stage's model atomically (tmp folder + rename). LoRA is merged so the next stage loads a
    plain model; QLoRA keeps the adapter (merging into 4-bit weights loses precision)."""
    model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
    if not trainer.args.should_save:
        return
    tmp = final_dir.with_name(f".{final_dir.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    if hasattr(model, "peft_config") and not qlora:
        model = model.merge_and_unload()
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    if final_dir.exists():
        shutil.rmtree(final_dir)
    tmp.rename(final_dir)


def last_complete_checkpoint(stage_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` holding the armed marker (written after everything else)."""
    if not stage_dir.is_dir():
        return None
    done = [p for p in stage_dir.glob("checkpoint-*") if (p / CHECKPOINT_MARKER).exists()
            and p.name.split("-")[-1].isdigit()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


# --- run ---------------------------------------------------------------------------------------------------


def run(cfg: PipelineConfig, *, resume: bool = False, extra_callbacks: list | None = None) -> dict[str, Any]:
    """Run every stage in order; returns ``{stage name: final folder}``. See the module docstring."""
    from armed.train import grpo as grpo_builder
    from armed.train import sft as sft_builder
    from armed.train.callbacks import CollapseMonitor, RewardStateCallback, RichProgressCallback, wrap_rewards

    out = Path(cfg.output_dir)
    state = PipelineState.load(out)
    if not resume and state.completed:
        raise ConfigError(f"{out} already holds a run ({', '.join(state.completed)} complete); pass --resume "
                          f"to continue it or choose another output_dir=...")
    stale = [p for s in cfg.stages for p in (out / s.name).glob("checkpoint-*")] if not resume else []
    if stale:  # a later --resume would pick these up as if they belonged to the new run
        raise ConfigError(f"{out} holds checkpoints of an unfinished run ({stale[0]}); pass --resume to continue "
                          f"it or choose another output_dir=...")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    dtype = resolve_dtype(cfg.model.dtype)
    current = cfg.model.name
    for i, stage in enumerate(cfg.stages):
        stage_dir = out / stage.name
        if stage.name in state.completed:
            current = state.completed[stage.name]
            logger.info("stage %s already complete -> %s", stage.name, current)
            continue
        # QLoRA keeps the 4-bit base and carries the adapter from stage to stage; otherwise the merged model
        adapter = current if cfg.model.lora.qlora and current != cfg.model.name else None
        source = cfg.model.name if adapter else current
        sel = cfg.stage_data(i)
        samples = load_samples(sel)
        model, processor, is_vlm = load_policy(source, cfg, dtype, adapter)
        dataset = build_dataset(samples, stage.type, sel, vision=is_vlm)
        args = trainer_config(stage, cfg, stage_dir, dtype)
        checkpoint = last_complete_checkpoint(stage_dir) if resume else None
        callbacks = list(extra_callbacks or [])
        if cfg.logging.progress:
            callbacks.append(RichProgressCallback(stage.name))
        if stage.type == "sft":
            callbacks.append(RewardStateCallback([]))
            trainer = sft_builder.build(model, processor, dataset, args,
                                        None if adapter else peft_config(cfg), callbacks)
        else:
            rewards = [(n, build_reward(n, stage.reward_kwargs.get(n))) for n in stage.rewards]
            wrapped = wrap_rewards(rewards, args.num_generations)
            callbacks += [RewardStateCallback(rewards, resume_from=checkpoint),
                          CollapseMonitor(cfg.logging.collapse_threshold, cfg.logging.collapse_patience)]
            trainer = grpo_builder.build(model, processor, dataset, wrapped, args,
                                         None if adapter else peft_config(cfg), callbacks)
            if cfg.logging.reward_probe:
                from armed.train.probe import RewardProbe

                trainer.add_callback(RewardProbe(trainer, rewards, stage.reward_weights, cfg.logging.reward_probe,
                                                 stage_dir, seed=cfg.seed))
        logger.info("stage %s: %s from %s%s", stage.name, stage.type, current,
                    f", resuming {checkpoint}" if checkpoint else "")
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        save_final(trainer, processor, stage_dir / FINAL_DIR, cfg.model.lora.qlora)
        current = str(stage_dir / FINAL_DIR)
        state.completed[stage.name] = current
        state.save(out, cfg)
        del trainer, model
    return dict(state.completed)
