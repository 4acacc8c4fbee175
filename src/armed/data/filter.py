"""Difficulty filtering (CAPO's mixed-difficulty filter, AlphaMed's informativeness filter).

For each question, sample ``k`` responses from a policy at temperature ``T``, score each with a registered reward,
count the correct ones (score ≥ ``threshold``) and keep the question when ``min_correct ≤ correct ≤ max_correct``
(default ``1 ≤ correct ≤ k−1``: drop questions the policy always or never gets right — they give GRPO groups
with zero reward variance and so no gradient). CAPO: k = 10 at T = 0.9 from the base model.

Writes, in the output folder:

* ``results.jsonl`` — one line per question as soon as it is scored (id, correct, k, pass_rate, scores,
  completions). A restart skips the ids already there, so a killed run resumes where it stopped.
* ``filtered.jsonl`` — the kept samples (:class:`~armed.data.schema.Sample` dicts, ``meta.pass_rate`` added);
  read back with :func:`read_samples`.
* ``pass_rates.json`` — config, git commit, package versions, counts (questions, kept, all-correct,
  all-wrong), the histogram of correct counts, and ``pass_rates`` (id → rate) for curricula
  (:mod:`armed.data.curriculum`).
* ``pass_rates.png`` — the histogram, rendered from the JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from armed.data.schema import SYSTEM_PROMPT, Sample, to_rows
from armed.progress import progress_bar

# The reward columns TRL would pass; repeated k times per question.
COLUMNS = ("answer", "aliases", "answer_type", "options", "answer_letter", "id", "source", "question",
           "modality", "organ")


@dataclass
class FilterConfig:
    """Settings of ``armed data filter``; recorded in ``pass_rates.json``."""

    dataset: str = field(default="", metadata={"help": "Registered dataset name (armed ls datasets)."})
    path: str | None = field(default=None, metadata={"help": "Folder with the release files (benchmarks)."})
    split: str | None = field(default=None, metadata={"help": "Split to filter (default: the loader's)."})
    model: str = field(default="smollm2-135m-instruct",
                       metadata={"help": "Policy that samples: armed model name, folder or hub id."})
    k: int = field(default=8, metadata={"help": "Responses sampled per question."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature (CAPO: 0.9)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass."})
    max_new_tokens: int = field(default=256, metadata={"help": "Tokens per response at most."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per generate call (questions × k)."})
    reward: str = field(default="accuracy", metadata={"help": "Registered reward that scores a response."})
    threshold: float = field(default=0.5, metadata={"help": "A response is correct when its score ≥ this."})
    min_correct: int = field(default=1, metadata={"help": "Keep questions with at least this many correct."})
    max_correct: int | None = field(default=None,
                                    metadata={"help": "Keep questions with at most this many correct (default k−1)."})
    limit: int | None = field(default=None, metadata={"help": "Only the first N questions (smoke runs)."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16."})
    backend: str = field(default="auto", metadata={"help": "auto, transformers or vllm."})
    system_prompt: str = field(default=SYSTEM_PROMPT, metadata={"help": "System message of every prompt."})

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"invalid k {self.k}: must be >= 1")
        if self.max_correct is None:
            self.max_correct = max(self.k - 1, 0)
        if not 0 <= self.min_correct <= self.max_correct <= self.k:
            raise ValueError(f"invalid bounds min_correct={self.min_correct}, max_correct={self.max_correct}: "
                             f"need 0 <= min_correct <= max_correct <= k={self.k}")
        if self.temperature <= 0:
            raise ValueError(f"invalid temperature {self.temperature}: must be > 0")
        if self.batch_size < 1:
            raise ValueError(f"invalid batch_size {self.batch_size}: must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"invalid limit {self.limit}: must be >= 1")

    def keeps(self, correct: int) -> bool:
        return self.min_correct <= correct <= int(self.max_correct)  # type: ignore[arg-type]


# A generator: (prompts, image path lists) -> one completion string per prompt (sampled).
GenerateFn = Callable[[list[list[dict]], list[list[str]]], list[str]]


def read_done(results: Path) -> dict[str, dict[str, Any]]:
    """The per-question results already written (a torn last line from a kill is ignored)."""
    done: dict[str, dict[str, Any]] = {}
    if not results.exists():
        return done
    with results.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "id" in rec:
                done[str(rec["id"])] = rec
    return done


def _truncate_torn_tail(path: Path) -> None:
    """Drop a partial last line (a kill mid-write) so appended records start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def score_group(reward: Callable[..., list[float | None]], prompt: list[dict], row: dict[str, Any],
                completions: Sequence[str], threshold: float) -> tuple[list[float | None], int]:
    """Scores of one question's completions with ``reward`` (TRL signature) and how many are correct."""
    n = len(completions)
    columns = {c: [row.get(c)] * n for c in COLUMNS if c in row}
    scores = reward([prompt] * n, [[{"role": "assistant", "content": c}] for c in completions], **columns)
    scores = [None if s is None or (isinstance(s, float) and math.isnan(s)) else float(s) for s in scores]
    return scores, sum(1 for s in scores if s is not None and s >= threshold)


def filter_by_difficulty(samples: Sequence[Sample], cfg: FilterConfig, out_dir: str | Path,
                         generate: GenerateFn, *, vision: bool | None = None, progress: bool = True
                         ) -> dict[str, Any]:
    """Sample, score and filter ``samples`` (resumable through ``out_dir/results.jsonl``); returns the summary
    also written to ``pass_rates.json``. ``vision=False`` (a text-only policy) drops images from the prompts;
    the default takes it from ``generate.is_vlm`` when set, else uses images where samples have them."""
    from armed.registry import REWARDS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = list(samples)[: cfg.limit] if cfg.limit else list(samples)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"duplicate sample id {dup!r}: filtering resumes by id, ids must be unique")
    reward = REWARDS.get(cfg.reward)
    results = out / "results.jsonl"
    _truncate_torn_tail(results)
    done = read_done(results)
    vision = getattr(generate, "is_vlm", None) if vision is None else vision
    rows = to_rows(samples, cfg.system_prompt, vision=None if vision else False)
    todo = [(s, r) for s, r in zip(samples, rows, strict=True) if s.id not in done]
    per_call = max(1, cfg.batch_size // cfg.k)

    with progress_bar(progress) as bar, results.open("a", encoding="utf-8") as fh:
        task = bar.add_task(f"sampling k={cfg.k}", total=len(samples), completed=len(samples) - len(todo))
        for start in range(0, len(todo), per_call):
            chunk = todo[start:start + per_call]
            prompts = [r["prompt"] for _, r in chunk for _ in range(cfg.k)]
            images = [list(r.get("images", [])) for _, r in chunk for _ in range(cfg.k)]
            completions = generate(prompts, images)
            for j, (sample, row) in enumerate(chunk):
                group = completions[j * cfg.k:(j + 1) * cfg.k]
                scores, correct = score_group(reward, row["prompt"], row, group, cfg.threshold)
                rec = {"id": sample.id, "k": cfg.k, "correct": correct, "pass_rate": correct / cfg.k,
                       "scores": scores, "completions": list(group)}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                done[sample.id] = rec
            fh.flush()
            bar.advance(task, len(chunk))

    return write_outputs(samples, done, cfg, out)


def write_outputs(samples: Sequence[Sample], done: dict[str, dict[str, Any]], cfg: FilterConfig, out: Path
                  ) -> dict[str, Any]:
    """``filtered.jsonl``, ``pass_rates.json`` and ``pass_rates.png`` from the per-question results."""
    kept = []
    for s in samples:
        rec = done[s.id]
        if cfg.keeps(int(rec["correct"])):
            d = s.to_dict()
            d["meta"] = {**d.get("meta", {}), "pass_rate": rec["pass_rate"], "correct": rec["correct"], "k": rec["k"]}
            kept.append(d)
    _atomic_write(out / "filtered.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in kept))
    histogram = {str(c): 0 for c in range(cfg.k + 1)}
    for s in samples:
        histogram[str(int(done[s.id]["correct"]))] = histogram.get(str(int(done[s.id]["correct"])), 0) + 1
    summary = {
        "config": asdict(cfg),
        "provenance": _provenance(),
        "counts": {
            "questions": len(samples), "kept": len(kept),
            "all_correct": sum(1 for s in samples if int(done[s.id]["correct"]) == cfg.k),
            "all_wrong": sum(1 for s in samples if int(done[s.id]["correct"]) == 0),
            "responses": len(samples) * cfg.k,
        },
        "histogram": histogram,
        "mean_pass_rate": (sum(done[s.id]["pass_rate"] for s in samples) / len(samples)) if samples else 0.0,
        "pass_rates": {s.id: done[s.id]["pass_rate"] for s in samples},
        "kept_ids": [d["id"] for d in kept],
    }
    _atomic_write(out / "pass_rates.json", json.dumps(summary, indent=2, ensure_ascii=False))
    plot_histogram(summary, out / "pass_rates.png")
    return summary


def plot_histogram(summary: dict[str, Any], path: str | Path) -> Path:
    """Bar chart of questions per number of correct responses, kept bars highlighted; from ``pass_rates.json``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = summary["config"]
    xs = sorted(int(c) for c in summary["histogram"])
    ys = [summary["histogram"][str(x)] for x in xs]
    colors = ["tab:blue" if cfg["min_correct"] <= x <= cfg["max_correct"] else "tab:gray" for x in xs]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(xs, ys, color=colors)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(f"correct responses out of k={cfg['k']} ({cfg['reward']} ≥ {cfg['threshold']})")
    ax.set_ylabel("questions")
    c = summary["counts"]
    ax.set_title(f"{cfg['dataset'] or 'dataset'}: kept {c['kept']}/{c['questions']} (blue), T={cfg['temperature']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def read_samples(path: str | Path) -> list[Sample]:
    """Samples written by ``armed data filter`` / ``armed data distill`` (one ``Sample`` dict per line)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(Sample(**json.loads(line)))
    return out


def transformers_sampler(model: str, cfg: FilterConfig) -> GenerateFn:
    """A sampling ``GenerateFn`` over armed's evaluation generator (transformers, or vLLM on a GPU)."""
    import torch

    from armed.eval.generate import GenerationConfig, load_generator

    generator = load_generator(model, backend=cfg.backend, dtype=cfg.dtype, seed=cfg.seed)
    gen_cfg = GenerationConfig(max_new_tokens=cfg.max_new_tokens, do_sample=True, temperature=cfg.temperature,
                               top_p=cfg.top_p, seed=cfg.seed)
    torch.manual_seed(cfg.seed)

    def generate(prompts: list[list[dict]], images: list[list[str]]) -> list[str]:
        return generator.generate(prompts, images, gen_cfg)

    generate.is_vlm = generator.is_vlm  # type: ignore[attr-defined]
    return generate


def run_filter(cfg: FilterConfig, out_dir: str | Path, *, options: dict[str, Any] | None = None,
               generate: GenerateFn | None = None, progress: bool = True) -> dict[str, Any]:
    """Load ``cfg.dataset`` and filter it with ``cfg.model`` (the library side of ``armed data filter``)."""
    from armed.data import load_dataset

    samples, _ = load_dataset(cfg.dataset, cfg.path, cfg.split, **(options or {}))
    if cfg.limit:
        samples = samples[: cfg.limit]
    if not samples:
        raise ValueError(f"dataset {cfg.dataset!r} split {cfg.split!r} has no samples to filter")
    return filter_by_difficulty(samples, cfg, out_dir, generate or transformers_sampler(cfg.model, cfg),
                                progress=progress)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _provenance() -> dict[str, Any]:
    try:
        from armed.eval.harness import git_info, package_versions

        return {"git": git_info(), "packages": package_versions()}
    except ImportError:  # the evaluation package is optional for data work
        return {}
