"""The main job: the whole ARMed pipeline on the embedded defaults, end to end, on a laptop CPU.

    base eval -> SFT on chain-of-thought -> GRPO with the `armed` reward -> eval -> comparison table + report

Default: the embedded VLM (``smolvlm-tiny``: SmolLM2-135M + a small vision tower) on the embedded image VQA set
(``medscan-vqa``, real scans from PyPI packages). ``text=True`` runs the same pipeline with the text policy
(``smollm2-135m-instruct``) on the MMLU medical questions asked open-ended (``mmlu-med-open``).

Everything is the library's own machinery (``armed.train.pipeline.run`` with the ``armed`` recipe,
``armed.eval.evaluate``, ``armed.eval.report.render_report``); this module only picks the sizes that fit the
time budget on 2 CPU cores and lays out the run folder::

    runs/demo/<mode>-seed<seed>/
      base/                 eval of the untrained policy (results.json, samples.jsonl)
      train/0-sft/ ...      the recipe's stages (checkpoints, trainer_state.json, final/)
      train/sft/eval/       eval after SFT   (report reads training logs from the stage folder)
      train/grpo/eval/      eval after GRPO
      report/report.html    comparison tables, training curves, reward-collapse panel, answers side by side
      demo.json             the comparison, the config and the timings

Rerunning the same command resumes: finished evaluations and stages are skipped, a killed stage continues from
its last checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of one demo mode. Chosen so the full demo fits 20 minutes and ``--quick`` 5 on 2 CPU cores."""

    policy: str
    dataset: str
    task: str
    train_limit: int
    eval_limit: int
    sft_steps: int
    grpo_steps: int
    num_generations: int
    max_completion_length: int
    eval_max_new_tokens: int
    overrides: tuple[str, ...] = field(default=())

    def recipe_overrides(self, output_dir: Path, seed: int) -> list[str]:
        return [
            f"model.name={self.policy}",
            f"data.dataset={self.dataset}",
            f"data.limit={self.train_limit}",
            f"output_dir={output_dir}",
            f"seed={seed}",
            f"stages.0.max_steps={self.sft_steps}",
            f"stages.1.max_steps={self.grpo_steps}",
            f"stages.1.num_generations={self.num_generations}",
            f"stages.1.max_completion_length={self.max_completion_length}",
            *DEMO_GRPO,
            *self.overrides,
        ]


# Measured on 2 idle cores (smolvlm-tiny): SFT ~10 s/step at batch 4, GRPO ~47 s/step with the KL reference model
# (~32 s without: 8 completions of <= 64 tokens + rewards), eval ~1.5 s/question at batch 16.
# Full: 1,043 s (seeds 0 and 1, docs/demo.md). Quick measured 313 s with the reference model, 12 eval questions
# and 2 GRPO steps (the first GRPO step, with the reward model loads and a 1.6 GB checkpoint, took 60 s), and
# 304 s with beta 0 and 10 questions; so quick runs one GRPO step without the KL term (no second policy copy).
QUICK = ("stages.1.beta=0.0",)
# The demo's GRPO batch and learning rate, fixed here for its time budget and its measured results
# (docs/demo.md): 2 prompts x 4 completions per step at lr 2e-6. The recipe's cpu variant trains on 4 prompts
# per step at 3e-5 for 30 steps and probes the reward before/after (configs/armed.yaml, docs/training.md).
DEMO_GRPO = ("stages.1.per_device_train_batch_size=8", "stages.1.learning_rate=2e-6", "logging.reward_probe=0")
PLANS: dict[tuple[str, bool], DemoPlan] = {
    ("vlm", False): DemoPlan("smolvlm-tiny", "medscan-vqa", "medscan-vqa", train_limit=512, eval_limit=48,
                             sft_steps=32, grpo_steps=10, num_generations=4, max_completion_length=64,
                             eval_max_new_tokens=80),
    ("vlm", True): DemoPlan("smolvlm-tiny", "medscan-vqa", "medscan-vqa", train_limit=128, eval_limit=10,
                            sft_steps=8, grpo_steps=1, num_generations=4, max_completion_length=64,
                            eval_max_new_tokens=64, overrides=QUICK),
    ("text", False): DemoPlan("smollm2-135m-instruct", "mmlu-med-open", "mmlu-med-open", train_limit=512,
                              eval_limit=48, sft_steps=32, grpo_steps=10, num_generations=4,
                              max_completion_length=64, eval_max_new_tokens=80),
    ("text", True): DemoPlan("smollm2-135m-instruct", "mmlu-med-open", "mmlu-med-open", train_limit=128,
                             eval_limit=10, sft_steps=8, grpo_steps=1, num_generations=4,
                             max_completion_length=64, eval_max_new_tokens=64, overrides=QUICK),
}

HEADLINE = ("closed_accuracy", "exact_match", "token_recall", "f1", "rouge1", "bleu1", "embedding_cosine", "armed")


def _metric_means(results: dict[str, Any], task: str) -> dict[str, float]:
    """``{"<answer_type>/<metric>": mean}`` for ``task``, plus the format and answer-extraction rates."""
    res = results["tasks"][task]
    out = {"all/format_rate": float(res.get("format_rate", 0.0)), "all/answer_rate": float(res.get("answer_rate", 0.0))}
    for answer_type, metrics in res.get("metrics", {}).items():
        for name, stat in metrics.items():
            if stat and stat.get("mean") is not None:
                out[f"{answer_type}/{name}"] = float(stat["mean"])
    return out


def grpo_trend(log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The GRPO stage's training reward, first half of the steps vs second half, per reward component, with
    the collapse monitor's numbers: fraction of groups with zero reward variance and mean within-group std."""
    steps = [h for h in log_history if "reward" in h and "step" in h]
    if not steps:
        return {}
    half = max(1, len(steps) // 2)
    first, second = steps[:half], steps[half:] or steps[-1:]

    def mean(rows: list[dict[str, Any]], key: str) -> float | None:
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    keys = ["reward", *sorted(k for k in steps[0] if k.startswith("rewards/") and k.endswith("/mean"))]
    return {
        "steps": len(steps),
        "first_half": {k: mean(first, k) for k in keys},
        "second_half": {k: mean(second, k) for k in keys},
        "per_step_reward": [round(float(h["reward"]), 4) for h in steps],
        "frac_reward_zero_std": mean(steps, "frac_reward_zero_std"),
        "group_std": {k.split("/")[1]: mean(steps, k) for k in sorted(steps[0])
                      if k.startswith("collapse/") and k.endswith("/group_std")},
        "clipped_ratio": mean(steps, "completions/clipped_ratio"),
    }


def run_demo(out: str | Path = "runs/demo", *, quick: bool = False, text: bool = False, seed: int = 0,
             console: Any = None) -> dict[str, Any]:
    """Run (or resume) the demo; returns the content of ``demo.json``."""
    from armed.eval import evaluate
    from armed.eval.report import load_run, render_report
    from armed.train.config import load_config
    from armed.train.pipeline import run as run_pipeline

    mode = "text" if text else "vlm"
    plan = PLANS[(mode, quick)]
    root = Path(out) / f"{mode}{'-quick' if quick else ''}-seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    say = console.print if console is not None else print
    timings: dict[str, float] = {}

    def timed_eval(name: str, model: str, run_dir: Path, label: str) -> dict[str, Any]:
        say(f"[bold]eval[/] {label}: {model} on {plan.task} (first {plan.eval_limit} test questions)")
        t0 = time.time()
        results = evaluate(model, plan.task, limit=plan.eval_limit, out_dir=run_dir, seed=seed,
                           max_new_tokens=plan.eval_max_new_tokens, batch_size=16, label=label)
        timings[f"eval_{name}_s"] = round(time.time() - t0, 1)
        return results

    started = time.time()
    base = timed_eval("base", plan.policy, root / "base", "base")

    train_dir = root / "train"
    cfg = load_config("armed", plan.recipe_overrides(train_dir, seed), variant="cpu")
    say(f"[bold]train[/] recipe armed: {' -> '.join(s.type for s in cfg.stages)} on {plan.dataset}")
    t0 = time.time()
    stages = run_pipeline(cfg, resume=True)
    timings["train_s"] = round(time.time() - t0, 1)
    sft_name, grpo_name = cfg.stages[0].name, cfg.stages[1].name
    sft_dir, grpo_dir = Path(stages[sft_name]).parent, Path(stages[grpo_name]).parent
    sft = timed_eval("sft", str(stages[sft_name]), sft_dir / "eval", "SFT")
    grpo = timed_eval("grpo", str(stages[grpo_name]), grpo_dir / "eval", "SFT+GRPO")
    timings["total_s"] = round(time.time() - started, 1)

    trend = grpo_trend(next(iter(load_run(grpo_dir).logs.values()), []))
    runs = {"base": base, "sft": sft, "grpo": grpo}
    table = {name: _metric_means(res, plan.task) for name, res in runs.items()}
    report = render_report([root / "base", sft_dir, grpo_dir], root / "report",
                           labels=["base", "SFT", "SFT+GRPO"], title=f"armed demo ({mode}, seed {seed})")
    summary = {
        "mode": mode, "quick": quick, "seed": seed, "plan": asdict(plan), "task": plan.task,
        "metrics": table, "grpo_training": trend, "timings": timings, "report": report["html"],
        "run_dirs": {"base": str(root / "base"), "sft": str(sft_dir), "grpo": str(grpo_dir)},
        "git": base.get("git"), "packages": base.get("packages"),
    }
    (root / "demo.json").write_text(json.dumps(summary, indent=2))
    return summary


def comparison_rows(summary: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Rows ``("<answer_type>/<metric>", [base, SFT, GRPO])`` of the headline metrics, as percentages."""
    metrics = summary["metrics"]
    keys = list(dict.fromkeys(k for run in ("base", "sft", "grpo") for k in metrics[run]))
    keys = [k for k in keys if k.split("/", 1)[1] in HEADLINE or k.startswith("all/")]
    rows = []
    for key in keys:
        cells = [f"{100 * metrics[r][key]:.1f}" if key in metrics[r] else "-" for r in ("base", "sft", "grpo")]
        rows.append((key, cells))
    return rows
