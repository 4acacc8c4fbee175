"""Training pipeline configuration: dataclasses, YAML loading, recipe variants and ``key=value`` overrides.

A pipeline is a model, a default data selection and a list of stages (``sft`` or ``grpo``). Each stage may
select its own data and rewards; every other key of a stage is a TRL trainer argument (``SFTConfig`` /
``GRPOConfig`` field), checked against those dataclasses so a typo fails before any weights are loaded::

    model: {name: smollm2-135m-instruct, dtype: auto}
    data: {dataset: medscan-vqa, split: train}
    stages:
      - {type: sft, num_train_epochs: 1}
      - {type: grpo, rewards: [format_partial, armed], num_generations: 4}

Overrides use dotted paths, typed by the field they land on: ``stages.1.num_generations=8``,
``model.lora.enabled=true``, ``data.limit=64``. A recipe YAML may carry ``variants: {cpu: {...}, gpu: {...}}``
whose values are the same dotted overrides; the chosen variant is applied before the command line's.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from armed.registry import did_you_mean

STAGE_TYPES = ("sft", "grpo")
DTYPES = ("auto", "bfloat16", "float16", "float32")
REPORTERS = ("tensorboard", "wandb", "mlflow", "none")
ANSWER_TYPES = ("closed", "open", "multiple_choice")
SFT_TARGETS = ("cot", "answer")


class ConfigError(ValueError):
    """A bad key or value in a pipeline config. The message names the key and the allowed values."""


def _help(text: str, **kw: Any) -> Any:
    return field(metadata={"help": text}, **kw)


@dataclass
class LoraSection:
    """LoRA / QLoRA adapter settings (peft). Off unless ``enabled`` (or ``qlora``) is true."""

    enabled: bool = _help("Train a LoRA adapter instead of all weights.", default=False)
    r: int = _help("LoRA rank (RARL uses 8).", default=16)
    alpha: int = _help("LoRA alpha (scaling = alpha / r).", default=32)
    dropout: float = _help("Dropout on the LoRA branch.", default=0.05)
    target_modules: Any = _help(
        "Modules to adapt: 'all-linear' or a list of module names (q_proj, v_proj, ...).", default="all-linear")
    qlora: bool = _help("Load the base model in 4-bit (bitsandbytes, GPU only) and train LoRA on top.",
                        default=False)

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ConfigError(f"model.lora.r must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.lora.dropout must be in [0, 1), got {self.dropout}")
        if not (isinstance(self.target_modules, str) or (
                isinstance(self.target_modules, list) and all(isinstance(m, str) for m in self.target_modules))):
            raise ConfigError("model.lora.target_modules must be 'all-linear' or a list of module names")
        if self.qlora:
            self.enabled = True


@dataclass
class ModelSection:
    """The policy: an embedded model name, a local folder or a hub id (``org/name``)."""

    name: str = _help("Model name (armed ls models), local folder or hub id.", default="smollm2-135m-instruct")
    dtype: str = _help("Weights dtype; 'auto' = bfloat16 where the GPU/CPU supports it, else float32.",
                       default="auto")
    trust_remote_code: bool = _help("Allow model code from the hub (needed by some VLMs).", default=False)
    lora: LoraSection = _help("LoRA / QLoRA settings.", default_factory=LoraSection)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(did_you_mean(self.dtype, DTYPES, "model.dtype"))
        if not str(self.name).strip():
            raise ConfigError("model.name is empty")


@dataclass
class DataSection:
    """A dataset selection. In a stage, fields left unset (None) fall back to the pipeline's ``data``."""

    dataset: str | None = _help("Dataset name (armed ls datasets).", default=None)
    path: str | None = _help("Folder or file with the dataset's release files (embedded datasets need none).",
                             default=None)
    split: str | None = _help("Split to train on.", default=None)
    limit: int | None = _help("Keep at most this many samples (after filtering, in file order).", default=None)
    answer_types: list[str] | None = _help(
        "Keep only these answer types (closed, open, multiple_choice): curriculum stages select with this.",
        default=None)
    samples_file: str | None = _help(
        "A samples JSONL written by `armed data filter` (filtered.jsonl) or `armed data distill`; replaces the "
        "loader (dataset then only names the source).", default=None)
    loader_options: dict[str, Any] | None = _help(
        "Extra keyword options for the dataset loader (e.g. mmlu-med's form).", default=None)
    filter: str | None = _help("A registered sample filter applied after loading (e.g. difficulty filtering).",
                               default=None)
    system_prompt: str | None = _help("System prompt (default: armed.data.schema.SYSTEM_PROMPT).", default=None)
    sft_target: str | None = _help(
        "SFT completions: 'cot' (<think>reasoning</think><answer>..</answer>, reasoning from the sample's "
        "'cot' meta when present) or 'answer' (<answer> only).", default=None)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"data.limit must be >= 1, got {self.limit}")
        for t in self.answer_types or []:
            if t not in ANSWER_TYPES:
                raise ConfigError(did_you_mean(t, ANSWER_TYPES, "data.answer_types entry"))
        if self.sft_target is not None and self.sft_target not in SFT_TARGETS:
            raise ConfigError(did_you_mean(self.sft_target, SFT_TARGETS, "data.sft_target"))

    def merged_over(self, base: DataSection) -> DataSection:
        """This selection with unset fields taken from ``base``."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in values.items():
            if value is None:
                values[name] = getattr(base, name)
        return DataSection(**values)


@dataclass
class StageSection:
    """One training stage. Keys other than these are TRL trainer arguments, collected in ``args``."""

    type: str = _help("Stage type: sft or grpo.", default="grpo")
    name: str | None = _help("Folder name of the stage's output (default: '<index>-<type>').", default=None)
    data: DataSection = _help("Data selection for this stage (unset fields: the pipeline's data).",
                              default_factory=DataSection)
    rewards: list[str] = _help("Reward names (armed ls rewards) or import paths 'pkg.mod:attr' (grpo only).",
                               default_factory=list)
    reward_weights: list[float] | None = _help("One weight per reward (default: all 1).", default=None)
    reward_kwargs: dict[str, dict] = _help(
        "Keyword arguments for parameterised rewards, by reward name: {length_cwr: {target: 256}}.",
        default_factory=dict)
    args: dict[str, Any] = _help("TRL SFTConfig / GRPOConfig arguments (validated by name).",
                                 default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in STAGE_TYPES:
            raise ConfigError(did_you_mean(self.type, STAGE_TYPES, "stage type"))
        if self.type == "grpo" and not self.rewards:
            raise ConfigError("a grpo stage needs at least one reward in 'rewards' (see `armed ls rewards`)")
        if self.type == "sft" and self.rewards:
            raise ConfigError("an sft stage takes no rewards; remove 'rewards' or make it a grpo stage")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.rewards):
            raise ConfigError(
                f"reward_weights has {len(self.reward_weights)} values for {len(self.rewards)} rewards "
                f"({', '.join(self.rewards)})")
        unknown = sorted(set(self.reward_kwargs) - set(self.rewards))
        if unknown:
            raise ConfigError(did_you_mean(unknown[0], self.rewards, "reward_kwargs key (must name a reward)"))
        allowed = trainer_arg_names(self.type)
        for key in self.args:
            if key not in allowed:
                raise ConfigError(unknown_message(key, sorted(allowed), f"{self.type} trainer argument",
                                           list_all=False)
                                  + f" It is not a field of trl.{_trainer_config_name(self.type)} nor a stage key "
                                  f"({', '.join(STAGE_KEYS)}).")


@dataclass
class LoggingSection:
    """Where metrics go. TensorBoard (offline) by default; W&B and MLflow only when named."""

    report_to: list[str] = _help("Loggers: tensorboard, wandb, mlflow, or none.",
                                 default_factory=lambda: ["tensorboard"])
    logging_steps: int = _help("Log every N optimizer steps.", default=1)
    log_completions: bool = _help("Print and save sample completions each logging step (grpo).", default=True)
    num_completions_to_print: int = _help("Completions printed per logging step.", default=2)
    collapse_threshold: float = _help(
        "Warn when at least this fraction of groups has zero reward variance ...", default=0.5)
    collapse_patience: int = _help("... for this many consecutive logging steps.", default=3)
    progress: bool = _help("Show a rich progress bar with ETA.", default=True)
    reward_probe: int = _help(
        "GRPO stages: sample this many fixed training prompts (num_generations each) before the first and after "
        "the last step and score both with the stage's rewards -> <stage>/reward_probe.json, a low-noise check "
        "that the stage raised its reward (armed.train.probe). 0 = off.", default=0)

    def __post_init__(self) -> None:
        if self.reward_probe < 0:
            raise ConfigError(f"logging.reward_probe must be >= 0 (prompts), got {self.reward_probe}")
        for r in self.report_to:
            if r not in REPORTERS:
                raise ConfigError(did_you_mean(r, REPORTERS, "logging.report_to entry"))
        if not 0.0 < self.collapse_threshold <= 1.0:
            raise ConfigError(f"logging.collapse_threshold must be in (0, 1], got {self.collapse_threshold}")
        if self.collapse_patience < 1 or self.logging_steps < 1:
            raise ConfigError("logging.collapse_patience and logging.logging_steps must be >= 1")


@dataclass
class LaunchSection:
    """How the run is launched. Validated by --dry-run; the launch itself is ``accelerate launch``."""

    accelerate_config: str | None = _help(
        "accelerate config file (configs/accelerate/*.yaml): DDP, DeepSpeed ZeRO-2/3, FSDP2, multi-node.",
        default=None)
    deepspeed_config: str | None = _help("A DeepSpeed JSON config (alternative to accelerate's deepspeed_config).",
                                         default=None)


@dataclass
class PipelineConfig:
    """A whole training pipeline: model, data, stages, logging, launch, output folder and seed."""

    description: str = _help("One line shown by `armed ls recipes`.", default="")
    model: ModelSection = _help("The policy model.", default_factory=ModelSection)
    data: DataSection = _help("Default data selection for every stage.", default_factory=DataSection)
    stages: list[StageSection] = _help("Stages, run in order; each starts from the previous one's output.",
                                       default_factory=list)
    logging: LoggingSection = _help("Logging.", default_factory=LoggingSection)
    launch: LaunchSection = _help("Multi-GPU / multi-node launch settings.", default_factory=LaunchSection)
    output_dir: str = _help("Run folder: one sub-folder per stage, plus pipeline_state.json.",
                            default="runs/armed")
    seed: int = _help("Random seed (data order, sampling, adapter init).", default=42)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("the pipeline has no stages; add at least one under 'stages'")
        if self.data.sft_target is None:
            self.data.sft_target = "cot"
        names = [s.name for s in self.stages if s.name]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"stage names must be unique; repeated: {', '.join(sorted(dup))}")
        for i, stage in enumerate(self.stages):
            if stage.name is None:
                stage.name = f"{i}-{stage.type}"
            if stage.data.merged_over(self.data).dataset is None:
                raise ConfigError(f"stages.{i}: no dataset; set data.dataset or stages.{i}.data.dataset")

    def stage_data(self, index: int) -> DataSection:
        return self.stages[index].data.merged_over(self.data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for stage in out["stages"]:  # flatten args back, as written in YAML
            stage.update(stage.pop("args"))
        return out


STAGE_KEYS = tuple(f.name for f in dataclasses.fields(StageSection) if f.name != "args")


def unknown_message(name: str, allowed: list[str], what: str, *, list_all: bool = True, shown: str | None = None) -> str:
    """'unknown <what> 'x'. Did you mean 'y'? Allowed: ...' (close matches computed on ``shown``)."""
    import difflib

    close = difflib.get_close_matches(shown or name, allowed, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    tail = f" Allowed: {', '.join(allowed)}." if list_all else ""
    return f"unknown {what} {name!r}.{hint}{tail}"


# --- TRL argument names ------------------------------------------------------------------------------------


def _trainer_config_name(stage_type: str) -> str:
    return {"sft": "SFTConfig", "grpo": "GRPOConfig"}[stage_type]


@functools.cache
def _trainer_fields(stage_type: str) -> dict[str, dataclasses.Field]:
    if stage_type == "sft":
        from trl import SFTConfig as cls
    else:
        from trl import GRPOConfig as cls
    return {f.name: f for f in dataclasses.fields(cls)}


# Set by the pipeline from other sections; a stage may not set them itself.
MANAGED_ARGS = frozenset({"output_dir", "seed", "report_to", "reward_weights", "resume_from_checkpoint"})


def trainer_arg_names(stage_type: str) -> set[str]:
    return set(_trainer_fields(stage_type)) - MANAGED_ARGS


# --- building from dicts -----------------------------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from a dict, recursing into nested sections, with key errors named."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    data = dict(data)
    if cls is StageSection:  # every non-stage key is a trainer argument
        args = dict(data.pop("args", None) or {})
        for key in [k for k in data if k not in names]:
            args[key] = data.pop(key)
        data["args"] = args
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(unknown_message(path, names, "key", shown=key))
        kwargs[key] = _convert(hints[key], value, path)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}" if where and where not in str(exc) else str(exc)) from None


def _convert(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, path) if len(args) == 1 else value
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {value!r}")
        return [_convert(item, v, f"{path}.{i}") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path} must be a mapping, got {value!r}")
        return value
    return _scalar(hint, value, path)


def _scalar(hint: Any, value: Any, path: str) -> Any:
    if hint is Any or value is None:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{path} must be {hint.__name__}, got {value!r}")
    if hint is int and isinstance(value, bool):
        raise ConfigError(f"{path} must be int, got {value!r}")
    return value


def from_dict(data: dict[str, Any]) -> PipelineConfig:
    data = {k: v for k, v in data.items() if k != "variants"}
    return _build(PipelineConfig, data, "")


# --- overrides ---------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, Any]:
    """``"stages.1.num_generations=4"`` → ``("stages.1.num_generations", 4)`` (value parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. stages.1.num_generations=4)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` (dotted; list items by index) in a raw config dict, creating mappings as needed.

    Values are retyped later by the dataclass field (or the TRL field for trainer arguments), so
    ``data.split=2020`` stays a string and ``stages.0.learning_rate=1e-5`` becomes a float.
    """
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            node = node[_index(part, node, here)]
            continue
        if part == "stages" and part not in node:
            raise ConfigError(f"override {key!r}: the config has no stages to override")
        nxt = node.setdefault(part, {})
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, (dict, list)):
            raise ConfigError(f"override {key!r}: {here} is a value ({nxt!r}), not a section")
        node = nxt
    last = parts[-1]
    if isinstance(node, list):
        node[_index(last, node, key)] = value
    else:
        node[last] = value


def _index(part: str, items: list, path: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"{path}: expected a list index (0..{len(items) - 1}), got {part!r}") from None
    if not -len(items) <= index < len(items):
        raise ConfigError(f"{path}: index {index} out of range; there are {len(items)} entries (0..{len(items) - 1})")
    return index


# Values TRL checks late (in the trainer, after the model is loaded) or only in prose; checked here up front.
GRPO_CHOICES: dict[str, tuple[str, ...]] = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "scale_rewards": ("group", "batch", "none"),
    "vllm_mode": ("colocate", "server"),
    "importance_sampling_level": ("token", "sequence"),
    "multi_objective_aggregation": ("sum_then_normalize", "normalize_then_sum"),
}


def _coerce_trainer_args(cfg: PipelineConfig) -> None:
    """Type trainer arguments by their TRL field (CLI strings like '8' or 'true' become int/bool)."""
    for i, stage in enumerate(cfg.stages):
        fields = _trainer_fields(stage.type)
        for key, value in list(stage.args.items()):
            path = f"stages.{i}.{key}"
            value = stage.args[key] = _coerce_trl(fields[key], value, path)
            choices = fields[key].metadata.get("choices") or (GRPO_CHOICES.get(key) if stage.type == "grpo" else None)
            if choices and value is not None and value not in choices:
                raise ConfigError(did_you_mean(str(value), [str(c) for c in choices], path))


def _coerce_trl(f: dataclasses.Field, value: Any, path: str) -> Any:
    hint = f.type
    if isinstance(hint, str):  # TRL uses `from __future__ import annotations` in places
        hint = hint.replace(" ", "")
        base = {"int": int, "float": float, "bool": bool, "str": str}
        simple = [base[t] for t in hint.split("|") if t in base]
        allows_none = "None" in hint.split("|")
    else:
        args = typing.get_args(hint) or (hint,)
        simple = [a for a in args if a in (int, float, bool, str)]
        allows_none = type(None) in args
    if value is None:
        if allows_none or not simple:
            return None
        raise ConfigError(f"{path} may not be null")
    if isinstance(value, str) and str not in simple:  # YAML reads "1e-5" as a string
        for t in (int, float):
            if t in simple:
                try:
                    return t(value)
                except ValueError:
                    pass
    if not simple or any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in simple):
        if float in simple and isinstance(value, int) and int not in simple and not isinstance(value, bool):
            return float(value)
        return value
    if float in simple and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if str in simple and isinstance(value, bool):  # YAML 1.1 reads `save_strategy: no` as False
        return "yes" if value else "no"
    if str in simple:
        return str(value)
    choices = ", ".join(t.__name__ for t in simple) + (", null" if allows_none else "")
    raise ConfigError(f"{path} must be {choices}; got {value!r}")


# --- loading -----------------------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline config must be a mapping at the top level")
    return data


def resolve_source(source: str | Path) -> Path:
    """A recipe name (``armed ls recipes``) or a YAML path → the YAML file."""
    text = str(source)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return Path(text)
    from armed.registry import RECIPES

    return Path(RECIPES.get(text).path)


def variants_of(data: dict[str, Any]) -> list[str]:
    return list((data.get("variants") or {}).keys())


def load_config(source: str | Path | dict[str, Any], overrides: list[str] | tuple[str, ...] = (),
                variant: str | None = None) -> PipelineConfig:
    """Load a pipeline from a recipe name, a YAML path or a dict; apply a variant, then ``key=value`` overrides.

    ``variant`` defaults to the recipe's ``default_variant`` (or ``cpu`` when the recipe has variants).
    """
    data = copy.deepcopy(source) if isinstance(source, dict) else read_yaml(resolve_source(source))
    variants = data.pop("variants", None) or {}
    default_variant = data.pop("default_variant", "cpu" if "cpu" in variants else None)
    chosen = variant or default_variant
    if chosen is not None:
        if chosen not in variants:
            raise ConfigError(did_you_mean(chosen, list(variants) or ["(this config has no variants)"], "variant"))
        for key, value in (variants[chosen] or {}).items():
            apply_override(data, key, value)
    for text in overrides:
        apply_override(data, *parse_override(text))
    cfg = from_dict(data)
    _coerce_trainer_args(cfg)
    if not isinstance(source, dict):  # launch files are relative to the recipe's folder unless found from cwd
        base = resolve_source(source).parent
        for key in ("accelerate_config", "deepspeed_config"):
            value = getattr(cfg.launch, key)
            if value and not Path(value).is_absolute() and not Path(value).exists() and (base / value).exists():
                setattr(cfg.launch, key, str(base / value))
    return cfg


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` for a config section (used by docs and ``armed train --help-config``)."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
