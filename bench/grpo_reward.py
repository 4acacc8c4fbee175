"""Does a recipe's GRPO stage raise its reward? The reward probe of several seeds, summarised side by side.

    python bench/grpo_reward.py --seeds 1 2 3               # `armed train armed seed=N` each (~45 min on 2 cores)
    python bench/grpo_reward.py --runs runs/armed-s*        # summarise finished runs only

Each run is the recipe's own command (``armed train RECIPE seed=N output_dir=OUT/seedN``, with
``logging.reward_probe`` on, as the `armed` CPU variant sets it); rerunning resumes unfinished runs. Per run it
reads the GRPO stage's reward probe (``<stage>/reward_probe.json``: the same training prompts sampled before
step 1 and after the last step, paired difference and SE) and, from the stage's TensorBoard log, the KL at the
end and the collapse monitor (fraction of zero-variance groups, within-group std of each reward). Across runs:
the mean difference with two errors, between runs (std of the run differences / √runs: the one to trust when
seeds differ, since it includes seed-to-seed drift) and within runs (√Σ SE² / runs: prompt sampling only), and
how many runs rose. Writes ``bench/results/grpo_reward.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
RESULTS = Path(__file__).resolve().parent / "results" / "grpo_reward.json"


def train(recipe: str, seed: int, out: Path, overrides: list[str]) -> None:
    cmd = [sys.executable, "-m", "armed.cli", "train", recipe, f"seed={seed}", f"output_dir={out}",
           "logging.progress=false", "logging.log_completions=false", *overrides, "--resume"]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True)


def scalars(stage_dir: Path) -> dict[str, list[float]]:
    """Every per-step scalar of the stage's TensorBoard log (``train/`` prefix dropped), in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[float]] = {}
    for events in sorted((stage_dir / "runs").glob("*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag.removeprefix("train/"), []).extend(e.value for e in acc.Scalars(tag))
    return out


def summarise_run(run: Path) -> dict:
    state = json.loads((run / "pipeline_state.json").read_text())
    grpo = next(s for s in state["config"]["stages"] if s["type"] == "grpo")
    stage = run / grpo["name"]
    probe_file = stage / "reward_probe.json"
    if not probe_file.exists():
        raise SystemExit(f"{probe_file} missing: run the stage with logging.reward_probe=N (N > 0) to the end")
    probe = json.loads(probe_file.read_text())
    logs = scalars(stage)
    zero = logs.get("frac_reward_zero_std", [])
    return {
        "run": str(run), "seed": state["config"]["seed"], "steps": probe["steps"],
        "probe": probe["summary"], "probe_prompts": probe["prompts"], "probe_samples": probe["samples"],
        "kl_end": logs["kl"][-1] if logs.get("kl") else None,
        "frac_reward_zero_std": {"mean": statistics.fmean(zero), "max": max(zero)} if zero else None,
        "group_std": {k.split("/")[1]: {"mean": statistics.fmean(v), "min": min(v), "zero_steps": sum(x == 0 for x in v),
                                        "steps": len(v)}
                      for k, v in logs.items() if k.startswith("collapse/") and k.endswith("/group_std")},
        "stage": {k: grpo.get(k) for k in ("learning_rate", "beta", "num_generations", "per_device_train_batch_size",
                                           "max_steps", "temperature", "rewards", "reward_weights")},
    }


def pooled(runs: list[dict], reward: str) -> dict:
    diffs = [r["probe"][reward]["diff"] for r in runs]
    ses = [r["probe"][reward]["se"] for r in runs]
    k = len(diffs)
    return {"mean_diff": statistics.fmean(diffs), "runs_up": sum(d > 0 for d in diffs), "runs": k,
            "se_between_runs": statistics.stdev(diffs) / math.sqrt(k) if k > 1 else None,
            "se_within_runs": math.sqrt(sum(s * s for s in ses)) / k}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="armed")
    p.add_argument("--seeds", type=int, nargs="*", default=[], help="train these seeds (resumes unfinished ones)")
    p.add_argument("--out", default="runs/grpo-reward", help="run folders: OUT/seedN")
    p.add_argument("--runs", nargs="*", default=[], help="finished run folders to include as they are")
    p.add_argument("--override", nargs="*", default=[], help="key=value recipe overrides for the runs trained here")
    p.add_argument("--results", default=str(RESULTS))
    a = p.parse_args()
    folders = [Path(r) for r in a.runs]
    for seed in a.seeds:
        folders.append(Path(a.out) / f"seed{seed}")
        train(a.recipe, seed, folders[-1], a.override)
    if not folders:
        p.error("give --seeds to train or --runs to summarise")
    runs = [summarise_run(f) for f in folders]
    rewards = list(runs[0]["probe"])
    from armed.eval.harness import git_info, package_versions

    result = {"benchmark": "reward probe of the GRPO stage over seeds", "recipe": a.recipe, "overrides": a.override,
              "runs": runs, "pooled": {name: pooled(runs, name) for name in rewards},
              "git": git_info(), "packages": package_versions(), "cpu_count": os.cpu_count()}
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    Path(a.results).write_text(json.dumps(result, indent=2))
    print(f"{'run':<24} {'seed':>4} {'reward before -> after (diff ± SE)':>36} {'KL end':>7} {'zero-var':>8}  "
          "within-group std per reward: mean / min over steps")
    for r in runs:
        s = r["probe"]["reward"]
        zero = r["frac_reward_zero_std"]
        kl = r["kl_end"] if r["kl_end"] is not None else float("nan")
        stds = ", ".join(f"{k} {v['mean']:.2f} / {v['min']:.2f} ({v['zero_steps']} of {v['steps']} steps 0)"
                         for k, v in r["group_std"].items())
        print(f"{r['run'][-24:]:<24} {r['seed']:>4} {s['before']:>8.3f} -> {s['after']:.3f} "
              f"({s['diff']:+.3f} ± {s['se']:.3f}) {kl:>7.3f} "
              f"{zero['mean'] if zero else float('nan'):>8.0%}  {stds}")
    for name, v in result["pooled"].items():
        between = f"{v['se_between_runs']:.3f}" if v["se_between_runs"] is not None else "n/a"
        print(f"pooled {name}: {v['mean_diff']:+.3f} (SE between runs {between}, within {v['se_within_runs']:.3f});"
              f" rose in {v['runs_up']} of {v['runs']} runs")
    print(f"-> {a.results}")


if __name__ == "__main__":
    main()
