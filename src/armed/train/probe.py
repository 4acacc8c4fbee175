"""Reward probe: a GRPO stage's own objective on fixed training prompts, before and after the stage.

The ``reward`` GRPOTrainer logs each step is measured on that step's prompts, so with a few prompts per step it
mostly shows which prompts came up (measured on the ``armed`` recipe's CPU variant: per-step std 0.5, larger
than what 30 steps of GRPO change). The probe takes that noise out: it samples ``samples`` completions for the
same ``prompts`` training prompts with the trainer's own generation settings (temperature, top-p/k, length),
once before the first step and once after the last, and scores both sets with the stage's rewards and weights.

* Adaptive rewards (the ``armed`` reward's moving threshold τ) score both sets inside
  :meth:`~armed.rewards.adaptive.AdaptiveScaler.frozen`, from the end-of-stage state: one scale for both, and the
  training history is not touched. The per-step logged reward has no such fixed scale, since τ moves.
* The difference is paired by prompt; its standard error is the std of the per-prompt differences / √prompts.
* Sampling runs under a forked RNG seeded by ``seed``, so the probe changes nothing in the training run.
* On ``--resume`` the "before" completions come from ``reward_probe_before.json`` (written before step 1).

Result: ``<stage>/reward_probe.json`` (before/after means per reward, the weighted total, the paired difference
and its SE, per-prompt rows) and one log line. Switch it on with ``logging.reward_probe=N`` (N prompts).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import random
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

RESULT_FILE = "reward_probe.json"
BEFORE_FILE = "reward_probe_before.json"
SKIP_COLUMNS = ("prompt", "completion")


def probe_indices(n_rows: int, prompts: int, seed: int) -> list[int]:
    """``prompts`` row indices drawn without replacement (all rows when there are fewer), sorted.

    >>> probe_indices(10, 3, 0)
    [5, 6, 8]
    """
    return sorted(random.Random(seed).sample(range(n_rows), min(prompts, n_rows)))


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def paired_summary(before: Sequence[float], after: Sequence[float]) -> dict[str, float]:
    """Means, the mean paired difference and its standard error (sample std of differences / √n).

    >>> s = paired_summary([1.0, 2.0, 3.0], [2.0, 2.5, 3.5])
    >>> s["before"], s["after"], s["diff"], round(s["se"], 3)
    (2.0, 2.6666666666666665, 0.6666666666666666, 0.167)
    """
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if math.isfinite(b) and math.isfinite(a)]
    diffs = [a - b for b, a in pairs]
    n = len(diffs)
    mean = _mean(diffs)
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) if n > 1 else float("nan")
    return {"before": _mean([b for b, _ in pairs]), "after": _mean([a for _, a in pairs]), "diff": mean,
            "se": se, "prompts": n}


def _call(reward: Any, **kwargs: Any) -> list[float | None]:
    values = reward(**kwargs)
    if inspect.isawaitable(values):  # async rewards (LLM judges)
        values = asyncio.run(values)
    return list(values)


def _finite(v: Any) -> float:
    return float(v) if v is not None and math.isfinite(float(v)) else float("nan")


def score_groups(rewards: Sequence[tuple[str, Any]], weights: Sequence[float], rows: Sequence[dict],
                 completions: Sequence[str], samples: int, completion_ids: Sequence[Sequence[int]] | None = None,
                 ) -> dict[str, list[float]]:
    """Per-prompt mean of each reward and of their weighted sum, for ``samples`` completions per row.

    Completions are grouped by prompt (row 0's samples first). A reward's None (abstain) counts as NaN and the
    weighted sum skips it, as GRPOTrainer does (``nansum``); a prompt whose completions all abstain is NaN.
    """
    if len(completions) != len(rows) * samples:
        raise ValueError(f"expected {len(rows)} x {samples} completions, got {len(completions)}")
    repeated = [row for row in rows for _ in range(samples)]
    conversational = bool(repeated) and isinstance(repeated[0]["prompt"], list)
    columns = {k: [row[k] for row in repeated] for k in repeated[0] if k not in SKIP_COLUMNS} if repeated else {}
    prompts = [row["prompt"] for row in repeated]
    texts = [[{"role": "assistant", "content": c}] for c in completions] if conversational else list(completions)
    per_reward: dict[str, list[float]] = {}
    total = [0.0] * len(completions)
    seen = [False] * len(completions)
    for (name, reward), weight in zip(rewards, weights, strict=True):
        values = [_finite(v) for v in _call(reward, prompts=prompts, completions=texts,
                                            completion_ids=completion_ids, **columns)]
        per_reward[name] = [_nanmean(values[i:i + samples]) for i in range(0, len(values), samples)]
        for i, v in enumerate(values):
            if not math.isnan(v):
                total[i] += weight * v
                seen[i] = True
    total = [t if s else float("nan") for t, s in zip(total, seen, strict=True)]
    per_reward["reward"] = [_nanmean(total[i:i + samples]) for i in range(0, len(total), samples)]
    return per_reward


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return _mean(kept)


def _scalers(rewards: Sequence[tuple[str, Any]]) -> list[Any]:
    """The adaptive scalers that can score without learning (:meth:`AdaptiveScaler.frozen`)."""
    from armed.train.callbacks import _scaler_of

    found = [_scaler_of(r) or _scaler_of(getattr(r, "reward", None)) for _, r in rewards]
    return [s for s in found if s is not None and hasattr(s, "frozen")]


class RewardProbe(TrainerCallback):
    """Samples the policy on fixed training prompts at the start and end of a GRPO stage (see module doc).

    ``rewards`` are the stage's ``(name, reward)`` pairs (unwrapped: the probe does not log per-step metrics),
    ``weights`` GRPOTrainer's reward weights. ``batch_size`` prompts are generated together.
    """

    def __init__(self, trainer: Any, rewards: Sequence[tuple[str, Any]], weights: Sequence[float] | None,
                 prompts: int, output_dir: str | Path, seed: int = 0, batch_size: int = 8):
        self.trainer = trainer
        self.rewards = list(rewards)
        self.weights = list(weights) if weights is not None else [1.0] * len(self.rewards)
        self.samples = int(trainer.args.num_generations)
        self.output_dir = Path(output_dir)
        self.seed = seed
        self.batch_size = batch_size
        dataset = trainer.train_dataset
        self.rows = [dataset[i] for i in probe_indices(len(dataset), prompts, seed)]
        self.before: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None

    # -- sampling ------------------------------------------------------------------------------------------

    def _generation_kwargs(self) -> dict[str, Any]:
        config = getattr(self.trainer, "generation_config", None)
        if config is not None:  # the transformers path of GRPOTrainer: the exact sampling settings of training
            return {"generation_config": config}
        args = self.trainer.args  # vLLM generation: the same settings for transformers' generate
        return {"max_new_tokens": args.max_completion_length, "do_sample": True, "temperature": args.temperature,
                "top_p": args.top_p, "top_k": args.top_k, "min_p": args.min_p,
                "repetition_penalty": args.repetition_penalty}

    def sample(self) -> tuple[list[str], list[list[int]]]:
        """``samples`` completions per probe row (grouped by row) and their token ids, cut after the first
        end-of-sequence token with the trainer's own EOS ids, as GRPOTrainer gives them to rewards."""
        import torch
        from trl.models import unwrap_model_for_generation

        from armed.eval.generate import TransformersGenerator

        trainer = self.trainer
        processor = trainer.processing_class
        tokenizer = getattr(processor, "tokenizer", processor)
        was_training = trainer.model.training
        ids: list[list[int]] = []
        with ExitStack() as stack:
            model = stack.enter_context(unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator))
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(self.seed)
            generator = TransformersGenerator(model, processor, is_vlm=processor is not tokenizer)
            kwargs = self._generation_kwargs()
            for start in range(0, len(self.rows), self.batch_size):
                batch = [row for row in self.rows[start:start + self.batch_size] for _ in range(self.samples)]
                ids += generator.generate_ids([r["prompt"] for r in batch], [r.get("images") or [] for r in batch],
                                              eos_token_ids=getattr(trainer, "eos_token_ids", None), **kwargs)
        if was_training:
            trainer.model.train()
        return tokenizer.batch_decode(ids, skip_special_tokens=True), ids

    # -- callback ------------------------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        path = self.output_dir / BEFORE_FILE
        if path.exists():  # resumed: the stage's first policy was sampled before the kill
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("ids") == [r.get("id") for r in self.rows] and saved.get("samples") == self.samples:
                self.before = saved
                return
        texts, ids = self.sample()
        self.before = {"step": state.global_step, "ids": [r.get("id") for r in self.rows],
                       "samples": self.samples, "completions": texts, "completion_ids": ids}
        if state.is_world_process_zero:
            from armed.train.pipeline import atomic_write_text

            self.output_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(self.before))

    def on_train_end(self, args, state, control, **kwargs):
        texts, ids = self.sample()
        with ExitStack() as stack:
            for scaler in _scalers(self.rewards):
                stack.enter_context(scaler.frozen())
            before = score_groups(self.rewards, self.weights, self.rows, self.before["completions"],
                                  self.samples, self.before["completion_ids"])
            after = score_groups(self.rewards, self.weights, self.rows, texts, self.samples, ids)
        summary = {name: paired_summary(before[name], after[name]) for name in before}
        self.result = {
            "prompts": len(self.rows), "samples": self.samples, "seed": self.seed,
            "steps": [self.before["step"], state.global_step],
            "weights": dict(zip([n for n, _ in self.rewards], self.weights, strict=True)),
            "summary": summary,
            "rows": [{"id": row.get("id"), **{f"{name}_before": before[name][i] for name in before},
                      **{f"{name}_after": after[name][i] for name in after},
                      "completions_before": self.before["completions"][i * self.samples:(i + 1) * self.samples],
                      "completions_after": texts[i * self.samples:(i + 1) * self.samples]}
                     for i, row in enumerate(self.rows)],
        }
        if not state.is_world_process_zero:
            return
        from armed.train.pipeline import atomic_write_text

        atomic_write_text(self.output_dir / RESULT_FILE, json.dumps(self.result, indent=2))
        line = describe(self.result)
        logger.info(line)
        from rich.console import Console

        Console(stderr=True).print(line, highlight=False)


def describe(result: dict[str, Any]) -> str:
    """One line: ``reward probe (32 prompts x 4, steps 0->30): reward 1.21 -> 1.48 (+0.27 ± 0.06 SE); ...``."""
    s = result["summary"]
    parts = [f"{name} {v['before']:.3f} -> {v['after']:.3f} ({v['diff']:+.3f} ± {v['se']:.3f} SE)"
             for name, v in sorted(s.items(), key=lambda kv: kv[0] != "reward")]
    first, last = result["steps"]
    return (f"reward probe ({result['prompts']} training prompts x {result['samples']} samples, step {first} -> "
            f"{last}): " + "; ".join(parts))
