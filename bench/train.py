"""GRPO step time of the `armed` recipe's GRPO stage vs bare TRL GRPOTrainer (same model, data, settings).

    python bench/train.py                       # embedded SmolLM2, CPU variant of the recipe
    python bench/train.py --steps 3 --recipe grpo

Each side runs in its own child process (clean peak RSS, no shared caches): a warm-up step, then ``--steps``
timed optimizer steps (on_step_begin → on_step_end; wall time and the process's CPU time, which other jobs on a
shared machine do not inflate). Both sides use the recipe stage's GRPOConfig with
``min_new_tokens = max_completion_length`` so every step generates the same number of tokens (generation
dominates step time; early EOS would otherwise make the comparison noise). The difference is exactly what armed
adds: its rewards (the recipe's, e.g. format_partial + accuracy + armed with MiniLM), the per-reward monitor
wrapper, the collapse monitor and the reward-state callback; bare TRL gets one trivial reward (completion
length). Completion logging is off on both sides. Rewards are called once on reference answers before training,
so lazily loaded models (MiniLM) count as start-up (``reward_warmup_s``), not as per-step overhead. Writes ``bench/results/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
RESULTS = Path(__file__).resolve().parent / "results" / "train.json"


def trivial_reward(prompts, completions, **kwargs):
    """Bare-TRL baseline reward: completion length in characters / 100."""
    return [len(str(c)) / 100 for c in completions]


class _TimedReward:
    """Measures the time armed's reward path (wrapper + reward) takes inside each step; same name for TRL."""

    spent: list[float] = [0.0, 0.0]  # wall, cpu seconds since the last step end

    def __init__(self, func):
        self.func, self.__name__ = func, func.__name__

    def __call__(self, *args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        try:
            return self.func(*args, **kwargs)
        finally:
            self.spent[0] += time.perf_counter() - t
            self.spent[1] += time.process_time() - c


def _warm_up(funcs: list, dataset) -> None:
    """Call each reward once on reference answers of every answer type, so lazily loaded models are loaded."""
    rows = dataset.select(range(min(len(dataset), 32)))
    columns = {k: rows[k] for k in rows.column_names if k not in ("prompt", "images")}
    completions = [[{"role": "assistant", "content": f"<think>.</think><answer>{a}</answer>"}] for a in rows["answer"]]
    for func in funcs:
        func(prompts=rows["prompt"], completions=completions, **columns)


def _child(side: str, recipe: str, variant: str, steps: int, overrides: list[str]) -> dict:
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from armed.train.callbacks import CollapseMonitor, RewardStateCallback, wrap_rewards
    from armed.train.config import load_config
    from armed.train.pipeline import (
        build_dataset,
        build_reward,
        load_policy,
        load_samples,
        resolve_dtype,
        trainer_config,
    )

    cfg = load_config(recipe, ["logging.report_to=[none]", "logging.log_completions=false",
                               "logging.progress=false", *overrides], variant=variant)
    index = max(i for i, s in enumerate(cfg.stages) if s.type == "grpo")
    stage = cfg.stages[index]
    max_len = stage.args.get("max_completion_length", 256)
    stage.args.update(max_steps=steps + 1, save_strategy="no", logging_steps=1,
                      generation_kwargs={"min_new_tokens": max_len})
    dtype = resolve_dtype(cfg.model.dtype)

    class Timer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.cpu: list[float] = []
            self.reward: list[tuple[float, float]] = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter() - self.t0)
            self.cpu.append(time.process_time() - self.c0)
            self.reward.append(tuple(_TimedReward.spent))
            _TimedReward.spent[:] = [0.0, 0.0]

    timer = Timer()
    sel = cfg.stage_data(index)
    samples = load_samples(sel)
    model, processor, is_vlm = load_policy(cfg.model.name, cfg, dtype)
    dataset = build_dataset(samples, "grpo", sel, vision=is_vlm)
    with tempfile.TemporaryDirectory() as tmp:
        args = trainer_config(stage, cfg, Path(tmp), dtype)
        if side == "armed":
            rewards = [(n, build_reward(n, stage.reward_kwargs.get(n))) for n in stage.rewards]
            funcs = wrap_rewards(rewards, args.num_generations)
            t0 = time.perf_counter()
            _warm_up(funcs, dataset)  # lazy model loads (MiniLM) are start-up cost, not per-step overhead
            reward_warmup_s = time.perf_counter() - t0
            funcs = [_TimedReward(f) for f in funcs]
            callbacks = [timer, RewardStateCallback(rewards),
                         CollapseMonitor(cfg.logging.collapse_threshold, cfg.logging.collapse_patience)]
        else:
            funcs, callbacks, reward_warmup_s = [trivial_reward], [timer], 0.0
            args.reward_weights = None
        trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
                              processing_class=processor, callbacks=callbacks)
        trainer.train()
    timed, cpu = timer.times[1:], timer.cpu[1:]  # drop the warm-up step
    return {
        "side": side, "model": cfg.model.name, "dtype": dtype, "rewards": stage.rewards if side == "armed"
        else ["trivial_reward"], "step_times_s": timed, "mean_step_s": statistics.mean(timed),
        "step_cpu_s": cpu, "mean_step_cpu_s": statistics.mean(cpu),
        "warmup_step_s": timer.times[0], "reward_warmup_s": reward_warmup_s,
        "reward_path_s_per_step": statistics.mean(r[0] for r in timer.reward[1:]),
        "reward_path_cpu_s_per_step": statistics.mean(r[1] for r in timer.reward[1:]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "settings": {k: args.to_dict()[k] for k in ("num_generations", "per_device_train_batch_size",
                                                     "max_completion_length", "temperature", "loss_type",
                                                     "learning_rate", "bf16")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="armed")
    parser.add_argument("--variant", default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per side (after 1 warm-up step)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--child", choices=["armed", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="key=value recipe overrides (e.g. data.limit=16)")
    a = parser.parse_args()
    if a.child:
        print("BENCH_RESULT " + json.dumps(_child(a.child, a.recipe, a.variant, a.steps, a.overrides)))
        return
    sides = {}
    for side in ("bare", "armed"):
        print(f"[bench/train] {side} ...", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child", side, "--recipe", a.recipe, "--variant",
                               a.variant, "--steps", str(a.steps), *a.overrides],
                              capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_RESULT ")]
        if proc.returncode or not lines:
            sys.exit(f"{side} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        sides[side] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    bare, armed = sides["bare"]["mean_step_s"], sides["armed"]["mean_step_s"]
    bare_cpu, armed_cpu = sides["bare"]["mean_step_cpu_s"], sides["armed"]["mean_step_cpu_s"]
    from armed.eval.harness import git_info, package_versions

    # armed's own per-step cost measured directly (its rewards + wrappers), relative to the bare step: immune to
    # the step-to-step noise of generation on a shared machine
    direct = sides["armed"]["reward_path_cpu_s_per_step"] / bare_cpu
    result = {
        "benchmark": "GRPO step time, armed recipe stage vs bare TRL GRPOTrainer",
        "config": {"recipe": a.recipe, "variant": a.variant, "timed_steps": a.steps, "overrides": a.overrides},
        "ratio": armed / bare, "overhead_pct": 100 * (armed / bare - 1), "target_overhead_pct": 10.0,
        # CPU seconds of the process per step: robust to other jobs sharing the machine (wall time is not)
        "cpu_ratio": armed_cpu / bare_cpu, "cpu_overhead_pct": 100 * (armed_cpu / bare_cpu - 1),
        "reward_path_overhead_pct": 100 * direct,
        "bare": sides["bare"], "armed": sides["armed"],
        "git": git_info(), "packages": package_versions(), "cpu_count": os.cpu_count(),
        "load_avg_at_end": os.getloadavg(),
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2))
    print(f"bare {bare:.2f} s/step, armed {armed:.2f} s/step: ratio {result['ratio']:.3f} "
          f"({result['overhead_pct']:+.1f}%); CPU time ratio {result['cpu_ratio']:.3f} "
          f"({result['cpu_overhead_pct']:+.1f}%); armed reward path {100 * direct:.2f}% of a bare step; peak RSS bare {sides['bare']['peak_rss_mb']:.0f} MB, "
          f"armed {sides['armed']['peak_rss_mb']:.0f} MB -> {a.out}")


if __name__ == "__main__":
    main()
