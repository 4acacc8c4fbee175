"""The evaluation harness: generate answers for registered tasks, score them, aggregate, write a run dir.

>>> from armed.eval import evaluate
>>> results = evaluate("smollm2-135m-instruct", ["mmlu-med-open"], limit=20, out_dir="runs/eval/base")  # doctest: +SKIP

A run dir holds (see docs/evaluation.md):

* ``samples.jsonl`` — one line per scored sample, appended batch by batch: task, id, prompt, completion,
  extracted answer, reference, per-metric scores. On a restart with the same ``out_dir`` the samples already
  there are skipped, so an interrupted evaluation resumes where it stopped.
* ``eval_config.json`` — the settings that decide the numbers (model, decoding, dtype, task versions), written
  first; a restart with different settings is refused rather than mixing two runs in one file.
* ``results.json`` — config, git hash, package versions, counts and metrics per task, per answer type, per
  question type and modality, and per group (in-domain / out-of-domain …), recomputed from ``samples.jsonl``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from armed.data.schema import Sample, format_question
from armed.eval.generate import GenerationConfig, Generator, load_generator
from armed.eval.tasks import Task, get_task
from armed.progress import progress_bar
from armed.rewards.extract import parse

SAMPLES_FILE = "samples.jsonl"
RESULTS_FILE = "results.json"
CONFIG_FILE = "eval_config.json"
# settings that change the numbers: a resumed run must match them
FINGERPRINT_KEYS = ("model", "max_new_tokens", "do_sample", "temperature", "top_p", "seed", "dtype")


# --------------------------------------------------------------------------------------------- prompts / rows


def build_messages(task: Task, sample: Sample, vision: bool) -> list[dict]:
    """System + user message for one sample; image placeholders first when the model sees images."""
    text = task.template.format(question=format_question(sample), stem=sample.question.strip())
    content: Any = ([{"type": "image"} for _ in sample.images] + [{"type": "text", "text": text}]
                    if vision and sample.images else text)
    return [{"role": "system", "content": task.system_prompt}, {"role": "user", "content": content}]


def sample_columns(samples: Sequence[Sample]) -> dict[str, list[Any]]:
    """The dataset columns rewards and metrics read (as TRL passes them), for a batch of samples."""
    return {
        "answer": [s.answer for s in samples],
        "aliases": [list(s.aliases) for s in samples],
        "answer_type": [s.answer_type for s in samples],
        "options": [json.dumps(s.options) if s.options else "" for s in samples],
        "answer_letter": [s.answer_letter for s in samples],
        "id": [s.id for s in samples],
        "source": [s.source for s in samples],
        "question": [s.question for s in samples],
        "modality": [s.modality for s in samples],
        "organ": [s.organ for s in samples],
    }


def question_type(sample: Sample) -> str:
    """The benchmark's question type from the sample's meta (``qtype``, ``question_type`` …), else ``""``."""
    for key in ("qtype", "question_type", "content_type", "category", "subject"):
        value = sample.meta.get(key)
        if value:
            return str(value)
    return ""


def score_batch(task: Task, samples: Sequence[Sample], prompts: list[list[dict]], completions: list[str]
                ) -> list[dict[str, float | None]]:
    """Per-sample scores of the metrics the task lists for each sample's answer type."""
    from armed.registry import METRICS

    scores: list[dict[str, float | None]] = [{} for _ in samples]
    by_type: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_type[s.answer_type].append(i)
    for answer_type, idx in by_type.items():
        sub = [samples[i] for i in idx]
        cols = sample_columns(sub)
        for name in task.metrics_for(answer_type):
            values = METRICS.get(name)([prompts[i] for i in idx], [completions[i] for i in idx], **cols)
            for i, v in zip(idx, values, strict=True):
                scores[i][name] = None if v is None else float(v)
    return scores


def sample_record(task: Task, sample: Sample, prompt: list[dict], completion: str,
                  scores: dict[str, float | None]) -> dict[str, Any]:
    parsed = parse(completion)
    return {
        "task": task.name, "task_version": task.version, "dataset": task.dataset, "split": task.split,
        "id": sample.id, "answer_type": sample.answer_type,
        "qtype": question_type(sample), "modality": sample.modality, "organ": sample.organ,
        "images": list(sample.images), "prompt": prompt, "completion": completion,
        "extracted": parsed.answer, "format_ok": parsed.strict,
        "reference": sample.answer, "aliases": list(sample.aliases), "options": dict(sample.options),
        "scores": scores,
    }


# --------------------------------------------------------------------------------------------- aggregation


def _stat(values: Iterable[float | None]) -> dict[str, float] | None:
    xs = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return None
    mean = sum(xs) / len(xs)
    var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
    return {"mean": mean, "stderr": math.sqrt(var / len(xs)), "n": len(xs)}


def _metric_table(rows: list[dict]) -> dict[str, dict[str, float]]:
    names = list(dict.fromkeys(m for r in rows for m in r["scores"]))  # the task's metric order
    out = {}
    for name in names:
        stat = _stat(r["scores"].get(name) for r in rows)
        if stat is not None:
            out[name] = stat
    return out


def _breakdown(rows: list[dict], key: str) -> dict[str, Any]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get(key):
            groups[str(r[key])].append(r)
    return {k: {"n": len(v), "metrics": _metric_table(v)} for k, v in sorted(groups.items())}


def aggregate_task(rows: list[dict]) -> dict[str, Any]:
    """Counts and metric means (± standard error) per answer type, question type and modality."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_type[r["answer_type"]].append(r)
    return {
        "n": len(rows),
        "counts": {t: len(v) for t, v in sorted(by_type.items())},
        "metrics": {t: _metric_table(v) for t, v in sorted(by_type.items())},
        "overall": _metric_table(rows),
        "format_rate": sum(bool(r.get("format_ok")) for r in rows) / len(rows) if rows else 0.0,
        "answer_rate": sum(r.get("extracted") is not None for r in rows) / len(rows) if rows else 0.0,
        "by_qtype": _breakdown(rows, "qtype"),
        "by_modality": _breakdown(rows, "modality"),
    }


def aggregate_groups(task_results: dict[str, dict], groups: dict[str, list[str]]) -> dict[str, Any]:
    """Macro average over each group's tasks (as papers average benchmarks), per answer type and metric."""
    out: dict[str, Any] = {}
    for group, members in sorted(groups.items()):
        present = [t for t in members if t in task_results]
        if not present:
            continue
        acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for t in present:
            for answer_type, table in task_results[t]["metrics"].items():
                for metric, stat in table.items():
                    acc[answer_type][metric].append(stat["mean"])
        out[group] = {
            "tasks": present,
            "n": sum(task_results[t]["n"] for t in present),
            "metrics": {at: {m: {"mean": sum(v) / len(v), "tasks": len(v)} for m, v in ms.items()}
                        for at, ms in sorted(acc.items())},
        }
    return out


def default_groups(tasks: Sequence[Task]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for t in tasks:
        for g in t.groups:
            groups[g].append(t.name)
    return dict(groups)


# --------------------------------------------------------------------------------------------- provenance


def git_info(start: Path | None = None) -> dict[str, Any]:
    """Commit hash and dirty flag of the armed checkout (empty for an installed wheel)."""
    where = start or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                    capture_output=True, text=True, timeout=10).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("armed", "torch", "transformers", "trl", "sentence-transformers", "numpy", "vllm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


# --------------------------------------------------------------------------------------------- the run


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip("/")).strip("-")[-80:] or "model"


def _read_samples(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    with path.open() as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:  # a line cut by a kill mid-write: that sample is simply redone
                continue
    return rows


def _end_with_newline(path: Path) -> None:
    """A line cut by a kill mid-write must not swallow the next row appended after it."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")


def _check_resume(out_dir: Path, fingerprint: dict[str, Any]) -> None:
    path = out_dir / CONFIG_FILE
    if not path.exists():
        return
    old = json.loads(path.read_text())
    diffs = [f"{k}: {old.get(k)!r} → {fingerprint.get(k)!r}" for k in FINGERPRINT_KEYS
             if old.get(k) != fingerprint.get(k)]
    if diffs:
        raise ValueError(f"{out_dir} holds an evaluation with other settings ({'; '.join(diffs)}); "
                         f"use another --out directory to start a new run")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)


def resolve_tasks(tasks: str | Task | Sequence[str | Task], paths: dict[str, str] | None = None) -> list[Task]:
    """Task objects from names, YAML paths or Task instances; ``paths`` sets a task's data folder."""
    if isinstance(tasks, (str, Task)):
        tasks = [t for t in tasks.split(",") if t.strip()] if isinstance(tasks, str) else [tasks]
    out = [t if isinstance(t, Task) else get_task(t.strip()) for t in tasks]
    if not out:
        raise ValueError("no task given; see `armed ls tasks`")
    paths = dict(paths or {})
    for key in paths:
        if key not in [t.name for t in out]:
            from armed.registry import did_you_mean

            raise ValueError("--path: " + did_you_mean(key, [t.name for t in out], "task"))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError(f"task listed twice: {names}")
    for t in out:
        t.validate_metrics()
    return [t.with_overrides(path=str(paths[t.name])) if t.name in paths else t for t in out]


def evaluate(
    model: str | Generator,
    tasks: str | Task | Sequence[str | Task],
    *,
    limit: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    seed: int = 0,
    dtype: str = "auto",
    backend: str = "auto",
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    paths: dict[str, str] | None = None,
    groups: dict[str, list[str]] | None = None,
    label: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``tasks`` and write a run dir; returns the ``results.json`` content.

    Args:
        model: armed model name, folder or hub id (loaded only if some sample is still to do), or a generator
            from :func:`armed.eval.generate.load_generator` / :class:`~armed.eval.generate.TransformersGenerator`.
        tasks: task names (``"vqa-rad,slake"``), task YAML paths or :class:`Task` objects.
        limit: evaluate the first ``limit`` samples of each task (loader order).
        out_dir: the run dir (default ``runs/eval/<model>``); rerunning with the same one resumes.
        batch_size: prompts per ``generate`` call.
        max_new_tokens, do_sample, temperature, top_p, seed: decoding (greedy by default).
        dtype: ``auto`` (bf16 on a GPU that has it, float32 on CPU), ``float32``, ``bfloat16``, ``float16``.
        backend: ``auto`` (vLLM if installed on a GPU), ``transformers`` or ``vllm``.
        paths: ``{task: folder}`` for benchmarks read from disk.
        groups: ``{group: [task, ...]}`` replacing the groups declared in the task files.
        label: a name for this run in reports (default: the out dir's name).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    gen_config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                                  top_p=top_p, seed=seed)
    task_list = resolve_tasks(tasks, paths)
    model_name = model if isinstance(model, str) else model.name
    out = Path(out_dir) if out_dir is not None else Path("runs") / "eval" / _slug(str(model_name))
    out.mkdir(parents=True, exist_ok=True)
    generator: Generator | None = None if isinstance(model, str) else model
    resolved_dtype = generator.dtype if generator is not None else _planned_dtype(dtype)
    fingerprint = {"model": str(model_name), "max_new_tokens": max_new_tokens, "do_sample": do_sample,
                   "temperature": temperature, "top_p": top_p, "seed": seed, "dtype": resolved_dtype}
    _check_resume(out, fingerprint)
    _write_json(out / CONFIG_FILE, fingerprint)

    samples_path = out / SAMPLES_FILE
    existing = _read_samples(samples_path)
    for row in existing:
        task = next((t for t in task_list if t.name == row.get("task")), None)
        if task is None:
            continue
        then = (row.get("task_version"), row.get("dataset", task.dataset), row.get("split", task.split))
        if then != (task.version, task.dataset, task.split):
            raise ValueError(f"{samples_path} holds {task.name} as (version, dataset, split) = {then} but the task "
                             f"is now {(task.version, task.dataset, task.split)}; use another --out directory")
    done = {(r["task"], r["id"]) for r in existing}

    selected: dict[str, list[Sample]] = {}
    load_reports: dict[str, Any] = {}
    for task in task_list:
        selected[task.name], report = _load(task, limit)
        load_reports[task.name] = report
    todo = {t.name: [s for s in selected[t.name] if (t.name, s.id) not in done] for t in task_list}
    n_todo = sum(len(v) for v in todo.values())

    started = time.time()
    gen_seconds = 0.0
    if n_todo:
        if generator is None:
            generator = load_generator(str(model), backend=backend, dtype=dtype, seed=seed)
        seed_everything(seed)
        _end_with_newline(samples_path)
        with progress_bar(progress) as bar, samples_path.open("a") as fh:
            for task in task_list:
                pending = sorted(todo[task.name], key=lambda s: len(format_question(s)), reverse=True)
                if not pending:
                    continue
                job = bar.add_task(task.name, total=len(selected[task.name]),
                                   completed=len(selected[task.name]) - len(pending))
                for start in range(0, len(pending), batch_size):
                    batch = pending[start:start + batch_size]
                    vision = generator.is_vlm
                    prompts = [build_messages(task, s, vision) for s in batch]
                    images = [list(s.images) if vision else [] for s in batch]
                    t0 = time.time()
                    completions = generator.generate(prompts, images, gen_config)
                    gen_seconds += time.time() - t0
                    scores = score_batch(task, batch, prompts, completions)
                    for s, p, c, sc in zip(batch, prompts, completions, scores, strict=True):
                        fh.write(json.dumps(sample_record(task, s, p, c, sc), ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                    bar.advance(job, len(batch))

    rows = _read_samples(samples_path)
    wanted = {(t.name, s.id) for t in task_list for s in selected[t.name]}
    latest: dict[tuple[str, str], dict] = {}
    for r in rows:  # one row per sample, the last written wins
        if (r["task"], r["id"]) in wanted:
            latest[(r["task"], r["id"])] = r
    task_results = {}
    for t in task_list:
        t_rows = [latest[(t.name, s.id)] for s in selected[t.name] if (t.name, s.id) in latest]
        task_results[t.name] = {"version": t.version, "dataset": t.dataset, "split": t.split, "path": t.path,
                                "groups": list(t.groups), "load": load_reports[t.name], **aggregate_task(t_rows)}
    group_map = groups if groups is not None else default_groups(task_list)
    results = {
        "label": label or out.name,
        "run_dir": str(out),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": {
            **fingerprint, "tasks": [t.name for t in task_list], "task_configs": {t.name: t.to_dict()
                                                                                  for t in task_list},
            "limit": limit, "batch_size": batch_size,
            "backend": generator.backend if generator is not None else backend,
            "is_vlm": generator.is_vlm if generator is not None else None, "groups": group_map,
        },
        "git": git_info(),
        "packages": package_versions(),
        "tasks": task_results,
        "groups": aggregate_groups(task_results, group_map),
        "timing": {"new_samples": n_todo, "resumed_samples": len(wanted) - n_todo,
                   "wall_s": round(time.time() - started, 3), "generation_s": round(gen_seconds, 3),
                   "samples_per_s": round(n_todo / gen_seconds, 3) if gen_seconds else None},
    }
    _write_json(out / RESULTS_FILE, results)
    return results


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and (if loaded) torch, CPU and CUDA, before generating."""
    import random
    import sys

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)  # also seeds every CUDA device


def _planned_dtype(dtype: str) -> str:
    import torch

    from armed.eval.generate import resolve_dtype

    return resolve_dtype(dtype, "cuda" if torch.cuda.is_available() else "cpu")


def _load(task: Task, limit: int | None) -> tuple[list[Sample], dict[str, Any]]:
    samples, report = task.load_samples_with_report(limit)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError(f"task {task.name!r}: the loader returned duplicate sample ids")
    return samples, report


def load_results(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``results.json`` of a run dir."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {RESULTS_FILE} in {run_dir}; run `armed eval --out {run_dir}` first")
    return json.loads(path.read_text())


def load_samples(run_dir: str | os.PathLike[str]) -> list[dict]:
    """The rows of a run dir's ``samples.jsonl`` (empty if absent)."""
    return _read_samples(Path(run_dir) / SAMPLES_FILE)
