"""Evaluation tasks: one YAML file per benchmark in this folder, registered in ``armed.registry.TASKS``.

A task names everything that decides a number (lm-evaluation-harness style), so two runs of the same task
version are comparable::

    name: vqa-rad                 # registry key (defaults to the file name)
    description: VQA-RAD test split (451 QA), radiology
    dataset: vqa-rad              # a registered loader (armed ls datasets)
    split: test
    path: null                    # benchmark folder; else --path vqa-rad=DIR or $ARMED_DATA_VQA_RAD
    version: 1                    # bump when anything below changes the numbers
    prompt:
      system: default             # "default" = armed.data.schema.SYSTEM_PROMPT, or the text itself
      template: "{question}"      # user message; {question} has lettered options, {stem} has not
    metrics:                      # metric names per answer type (armed ls metrics)
      closed: [closed_accuracy]
      open: [exact_match, token_recall, f1, bleu1, rouge1, rougeL, bertscore, embedding_cosine, armed]
    groups: [in-domain]           # aggregate groups; override per run with evaluate(groups=...)
    loader_options: {}            # extra keyword arguments for the loader (e.g. language: zh)

Tasks shipped for loaders that read a benchmark release need the folder from the user; embedded sets
(``medscan-vqa``, ``mmlu-med``, ``mmlu-med-open``) run offline.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from armed.data.schema import ANSWER_TYPES, SYSTEM_PROMPT
from armed.registry import TASKS, did_you_mean

TASK_DIR = Path(__file__).parent


@dataclass(frozen=True)
class Task:
    """One benchmark definition: loader, split, prompt, metrics per answer type, version and groups."""

    name: str = field(metadata={"help": "Registry key of the task."})
    dataset: str = field(metadata={"help": "Registered dataset loader (armed ls datasets)."})
    split: str = field(default="test", metadata={"help": "Split passed to the loader."})
    path: str | None = field(default=None, metadata={
        "help": "Benchmark folder; else --path NAME=DIR or $ARMED_DATA_<DATASET> (embedded sets need none)."})
    description: str = field(default="", metadata={"help": "One line shown by `armed ls tasks`."})
    version: int = field(default=1, metadata={"help": "Bumped whenever prompt, split or metrics change."})
    system_prompt: str = field(default=SYSTEM_PROMPT, metadata={"help": "System message of every prompt."})
    template: str = field(default="{question}", metadata={
        "help": "User message; {question} = question with lettered options, {stem} = question alone."})
    metrics: dict[str, tuple[str, ...]] = field(default_factory=dict, metadata={
        "help": "Metric names per answer type (closed, open, multiple_choice)."})
    groups: tuple[str, ...] = field(default=(), metadata={"help": "Aggregate groups the task belongs to."})
    loader_options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra keyword arguments for the loader."})
    citation: str = field(default="", metadata={"help": "How to cite the benchmark."})

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("task needs a 'name'")
        if not self.dataset:
            raise ValueError(f"task {self.name!r}: key 'dataset' is required")
        if not self.metrics:
            raise ValueError(f"task {self.name!r}: key 'metrics' needs at least one answer type")
        for answer_type in self.metrics:
            if answer_type not in ANSWER_TYPES:
                raise ValueError(f"task {self.name!r}: metrics: " + did_you_mean(answer_type, ANSWER_TYPES,
                                                                                 "answer type"))
        try:
            self.template.format(question="", stem="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"task {self.name!r}: template {self.template!r} may only use "
                             f"{{question}} and {{stem}} ({exc})") from exc

    def validate_metrics(self) -> None:
        """Check every metric name against the METRICS registry (needs armed.eval.metrics importable)."""
        from armed.registry import METRICS

        known = METRICS.names()
        for answer_type, names in self.metrics.items():
            for metric in names:
                if metric not in METRICS:
                    raise ValueError(f"task {self.name!r}: metrics.{answer_type}: "
                                     + did_you_mean(metric, known, "metric"))

    @property
    def env_var(self) -> str:
        return "ARMED_DATA_" + self.dataset.upper().replace("-", "_")

    def resolve_path(self) -> str | None:
        """The folder to load from: ``path``, else ``$ARMED_DATA_<DATASET>``; None for embedded sets."""
        from armed.registry import DATASETS

        if self.path:
            return self.path
        if os.environ.get(self.env_var):
            return os.environ[self.env_var]
        loader = DATASETS.get(self.dataset)
        if getattr(loader, "needs_path", True):
            raise ValueError(
                f"task {self.name!r} needs the {self.dataset} release folder: pass --path {self.name}=DIR "
                f"(Python: evaluate(..., paths={{{self.name!r}: DIR}})) or set {self.env_var}"
            )
        return None

    def load_samples(self, limit: int | None = None) -> list:
        """The task's samples in loader order (the first ``limit`` of them)."""
        return self.load_samples_with_report(limit)[0]

    def load_samples_with_report(self, limit: int | None = None) -> tuple[list, dict[str, Any]]:
        """Samples (the first ``limit``) and the loader's counts: rows read, kept, skipped with reasons."""
        from armed.data import load_dataset

        samples, report = load_dataset(self.dataset, self.resolve_path(), self.split, **self.loader_options)
        samples = list(samples)
        counts = {"rows_read": report.rows_read, "kept": report.kept, "skipped": len(report.skipped)}
        return (samples[:limit] if limit is not None else samples), counts

    def metrics_for(self, answer_type: str) -> tuple[str, ...]:
        return tuple(self.metrics.get(answer_type, ()))

    def with_overrides(self, **changes: Any) -> Task:
        """A copy with fields replaced (``task.path=DIR`` on the command line)."""
        allowed = [f.name for f in fields(self)]
        for key in changes:
            if key not in allowed:
                raise ValueError(f"task {self.name!r}: " + did_you_mean(key, allowed, "task key"))
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["metrics"] = {k: list(v) for k, v in self.metrics.items()}
        d["groups"] = list(self.groups)
        return d


def task_from_dict(data: dict[str, Any], source: str = "") -> Task:
    """Build a :class:`Task` from parsed YAML, naming the file and the key in errors."""
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ValueError(f"{where}a task file must be a mapping")
    data = dict(data)
    allowed = [f.name for f in fields(Task) if f.name not in ("system_prompt", "template")] + ["prompt"]
    for key in data:
        if key not in allowed:
            raise ValueError(where + did_you_mean(key, allowed, "task key"))
    for key in ("name", "dataset"):
        if not data.get(key):
            raise ValueError(f"{where}task {data.get('name', '?')!r}: key {key!r} is required")
    prompt = data.pop("prompt", None) or {}
    if not isinstance(prompt, dict):
        raise ValueError(f"{where}'prompt' must be a mapping with 'system' and/or 'template'")
    for key in prompt:
        if key not in ("system", "template"):
            raise ValueError(where + did_you_mean(key, ["system", "template"], "prompt key"))
    system = prompt.get("system", "default")
    data["system_prompt"] = SYSTEM_PROMPT if system in (None, "default") else str(system)
    data["template"] = str(prompt.get("template", "{question}"))
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise ValueError(f"{where}'metrics' must map answer types to lists of metric names")
    data["metrics"] = {str(k): tuple(v if isinstance(v, list) else [v]) for k, v in metrics.items()}
    data["groups"] = tuple(data.get("groups") or ())
    data["loader_options"] = dict(data.get("loader_options") or {})
    try:
        return Task(**data)
    except TypeError as exc:
        raise ValueError(f"{where}{exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{where}{exc}") from exc


def load_task_file(path: str | Path) -> Task:
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if isinstance(data, dict):
        data.setdefault("name", path.stem)
    return task_from_dict(data, str(path))


def get_task(name_or_path: str) -> Task:
    """A registered task by name, or a task YAML file by path."""
    if name_or_path.endswith((".yaml", ".yml")) and Path(name_or_path).exists():
        return load_task_file(name_or_path)
    return TASKS.get(name_or_path)


def _register_builtin() -> None:
    for file in sorted(TASK_DIR.glob("*.yaml")):
        task = load_task_file(file)
        TASKS.add(task.name, task, task.description)


_register_builtin()
