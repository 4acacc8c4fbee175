"""Chain-of-thought distillation: write ``<think>…</think><answer>…</answer>`` SFT data from any teacher.

ARMed's stage 1 is SFT on chain-of-thought data. ``armed data distill`` asks a teacher to reason about each
question of any registered dataset, **checks the teacher's final answer against the reference** with a
registered reward (default ``accuracy`` ≥ 0.5, shared with training and evaluation) and keeps only correct
ones; wrong, unanswered and failed requests are dropped and counted. Teachers:

* an OpenAI-compatible endpoint (``--base-url http://host:8000/v1 --teacher MODEL``; vLLM, TGI, OpenAI, …),
  through the LLM-judge reward's HTTP client (:class:`armed.rewards.judge.OpenAIBackend`: concurrency,
  retries with backoff, API key from an environment variable). Images go as data URLs.
* a local transformers model (any armed model name, folder or hub id; text LM or VLM) through armed's
  evaluation generator.

Outputs in the output folder: ``results.jsonl`` (one line per question as soon as it is answered: raw teacher
text, extracted answer, score, verdict — a rerun skips done ids, so a killed run resumes), ``cot.jsonl``
(kept samples as ``Sample`` dicts with ``meta.cot`` = the teacher's reasoning and ``meta.completion`` = the
``<think>…</think><answer>…</answer>`` text; the training pipeline's SFT stage reads ``meta.cot``) and
``summary.json`` (config, provenance, counts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from armed.data.filter import (
    _atomic_write,
    _provenance,
    _truncate_torn_tail,
    read_done,
    score_group,
)
from armed.data.schema import SYSTEM_PROMPT, Sample, to_rows
from armed.progress import progress_bar

TEACHER_SYSTEM_PROMPT = (
    SYSTEM_PROMPT + " Reason carefully and concretely about the findings the question and image give, in a "
    "few sentences, before answering."
)

VERDICTS = ("kept", "wrong", "no_answer", "no_reasoning", "failed")


@dataclass
class DistillConfig:
    """Settings of ``armed data distill``; recorded in ``summary.json``."""

    dataset: str = field(default="", metadata={"help": "Registered dataset name (armed ls datasets)."})
    path: str | None = field(default=None, metadata={"help": "Folder with the release files (benchmarks)."})
    split: str | None = field(default=None, metadata={"help": "Split to distil (default: the loader's)."})
    teacher: str = field(default="smollm2-135m-instruct",
                         metadata={"help": "Teacher: model id at the endpoint, or a local model name/folder."})
    base_url: str | None = field(default=None,
                                 metadata={"help": "OpenAI-compatible endpoint ending in /v1; unset: local model."})
    api_key_env: str = field(default="OPENAI_API_KEY", metadata={"help": "Env variable holding the API key."})
    max_new_tokens: int = field(default=512, metadata={"help": "Tokens per teacher answer at most."})
    temperature: float = field(default=0.0, metadata={"help": "Teacher temperature (0 = greedy)."})
    batch_size: int = field(default=8, metadata={"help": "Questions per batch (local generate / concurrent requests)."})
    check: str = field(default="accuracy", metadata={"help": "Registered reward checking the teacher's answer."})
    threshold: float = field(default=0.5, metadata={"help": "The teacher is right when the check scores ≥ this."})
    limit: int | None = field(default=None, metadata={"help": "Only the first N questions."})
    seed: int = field(default=0, metadata={"help": "Sampling seed (local teacher, temperature > 0)."})
    dtype: str = field(default="auto", metadata={"help": "Local teacher dtype: auto, float32, bfloat16, float16."})
    system_prompt: str = field(default=TEACHER_SYSTEM_PROMPT, metadata={"help": "System message to the teacher."})

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"invalid batch_size {self.batch_size}: must be >= 1")
        if self.max_new_tokens < 1:
            raise ValueError(f"invalid max_new_tokens {self.max_new_tokens}: must be >= 1")
        if self.temperature < 0:
            raise ValueError(f"invalid temperature {self.temperature}: must be >= 0")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"invalid limit {self.limit}: must be >= 1")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"invalid base_url {self.base_url!r}: expected http(s)://host[:port]/v1")


# A teacher: (prompts, image path lists) -> one reply per prompt (None = the request failed).
TeacherFn = Callable[[list[list[dict]], list[list[str]]], list[str | None]]


def split_reasoning(text: str) -> tuple[str | None, str | None]:
    """``(reasoning, answer)`` of a teacher reply: the ``<think>`` block (or the text before ``<answer>``) and
    the final answer from :func:`armed.rewards.extract.parse`."""
    from armed.rewards.extract import parse, tag_spans

    p = parse(text)
    reasoning = p.think
    if not reasoning and p.tagged:
        span = tag_spans(p.text)["answer"]
        before = p.text[: max(0, span[0] - len("<answer>"))] if span else ""
        reasoning = before.replace("<think>", " ").replace("</think>", " ").strip() or None
    return reasoning, p.answer


def distill(samples: Sequence[Sample], cfg: DistillConfig, out_dir: str | Path, teacher: TeacherFn, *,
            vision: bool | None = None, progress: bool = True) -> dict[str, Any]:
    """Ask ``teacher`` about each sample, check and keep correct reasoning (resumable); returns the summary."""
    from armed.registry import REWARDS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = list(samples)[: cfg.limit] if cfg.limit else list(samples)
    check = REWARDS.get(cfg.check)
    results = out / "results.jsonl"
    _truncate_torn_tail(results)
    done = read_done(results)
    vision = getattr(teacher, "is_vlm", None) if vision is None else vision
    rows = to_rows(samples, cfg.system_prompt, vision=None if vision else False)
    todo = [(s, r) for s, r in zip(samples, rows, strict=True) if s.id not in done]

    with progress_bar(progress) as bar, results.open("a", encoding="utf-8") as fh:
        task = bar.add_task("distilling", total=len(samples), completed=len(samples) - len(todo))
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start:start + cfg.batch_size]
            replies = teacher([r["prompt"] for _, r in chunk], [list(r.get("images", [])) for _, r in chunk])
            for (sample, row), reply in zip(chunk, replies, strict=True):
                rec = judge_reply(sample, row, reply, check, cfg.threshold)
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                done[sample.id] = rec
            fh.flush()
            bar.advance(task, len(chunk))

    kept = []
    for s in samples:
        rec = done[s.id]
        if rec["verdict"] == "kept":
            d = s.to_dict()
            d["meta"] = {**d.get("meta", {}), "cot": rec["reasoning"], "teacher_answer": rec["answer"],
                         "completion": f"<think>{rec['reasoning']}</think><answer>{rec['answer']}</answer>",
                         "teacher": cfg.teacher}
            kept.append(d)
    _atomic_write(out / "cot.jsonl", "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in kept))
    counts = {v: sum(1 for s in samples if done[s.id]["verdict"] == v) for v in VERDICTS}
    summary = {"config": {k: v for k, v in asdict(cfg).items()}, "provenance": _provenance(),
               "counts": {"questions": len(samples), **counts}}
    _atomic_write(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def judge_reply(sample: Sample, row: dict[str, Any], reply: str | None, check: Callable[..., Any],
                threshold: float) -> dict[str, Any]:
    """The per-question record: the teacher's reply, its reasoning and answer, the check's score, a verdict."""
    rec: dict[str, Any] = {"id": sample.id, "reply": reply, "reasoning": None, "answer": None, "score": None}
    if reply is None:
        return {**rec, "verdict": "failed"}
    reasoning, answer = split_reasoning(reply)
    rec.update(reasoning=reasoning, answer=answer)
    if answer is None:
        return {**rec, "verdict": "no_answer"}
    scores, correct = score_group(check, row["prompt"], row, [f"<answer>{answer}</answer>"], threshold)
    rec["score"] = scores[0]
    if not correct:
        return {**rec, "verdict": "wrong"}
    if not reasoning:
        return {**rec, "verdict": "no_reasoning"}
    return {**rec, "verdict": "kept"}


# --------------------------------------------------------------------------------------------------------------
# Teachers


def endpoint_teacher(cfg: DistillConfig) -> TeacherFn:
    """A teacher behind an OpenAI-compatible chat-completions endpoint (the LLM judge's HTTP client)."""
    from armed.rewards.judge import OpenAIBackend, _run_sync

    backend = OpenAIBackend(base_url=str(cfg.base_url), model=cfg.teacher, api_key_env=cfg.api_key_env,
                            max_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                            concurrency=cfg.batch_size, timeout=120.0)

    def teach(prompts: list[list[dict]], images: list[list[str]]) -> list[str | None]:
        from armed.eval.generate import _vllm_messages

        messages = [_vllm_messages(p, imgs) for p, imgs in zip(prompts, images, strict=True)]
        return list(_run_sync(backend.complete(messages)))

    teach.is_vlm = True  # type: ignore[attr-defined]  # send images; a text-only server ignores/refuses them
    return teach


def local_teacher(cfg: DistillConfig) -> TeacherFn:
    """A local transformers (or, on a GPU, vLLM) teacher via armed's evaluation generator."""
    import torch

    from armed.eval.generate import GenerationConfig, load_generator

    generator = load_generator(cfg.teacher, dtype=cfg.dtype, seed=cfg.seed)
    gen_cfg = GenerationConfig(max_new_tokens=cfg.max_new_tokens, do_sample=cfg.temperature > 0,
                               temperature=cfg.temperature or 1.0, seed=cfg.seed)
    torch.manual_seed(cfg.seed)

    def teach(prompts: list[list[dict]], images: list[list[str]]) -> list[str | None]:
        return list(generator.generate(prompts, images, gen_cfg))

    teach.is_vlm = generator.is_vlm  # type: ignore[attr-defined]
    return teach


def run_distill(cfg: DistillConfig, out_dir: str | Path, *, options: dict[str, Any] | None = None,
                teacher: TeacherFn | None = None, progress: bool = True) -> dict[str, Any]:
    """Load ``cfg.dataset`` and distil it (the library side of ``armed data distill``)."""
    from armed.data import load_dataset

    samples, _ = load_dataset(cfg.dataset, cfg.path, cfg.split, **(options or {}))
    if cfg.limit:
        samples = samples[: cfg.limit]
    if not samples:
        raise ValueError(f"dataset {cfg.dataset!r} split {cfg.split!r} has no samples to distil")
    if teacher is None:
        teacher = endpoint_teacher(cfg) if cfg.base_url else local_teacher(cfg)
    return distill(samples, cfg, out_dir, teacher, progress=progress)
