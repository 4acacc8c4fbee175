"""bench/grpo_reward.py: per-run probe + TensorBoard summary and the pooled errors across runs."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("grpo_reward", Path(__file__).parents[1] / "bench" / "grpo_reward.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _run(folder: Path, seed: int, diff: float, se: float, kl: list[float], zero: list[float]) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    stage = {"type": "grpo", "name": "rl", "learning_rate": 3e-5, "beta": 0.04, "num_generations": 4}
    folder.mkdir(parents=True)
    (folder / "pipeline_state.json").write_text(json.dumps({"config": {"seed": seed, "stages": [
        {"type": "sft", "name": "sft"}, stage]}}))
    (folder / "rl").mkdir()
    summary = {"reward": {"before": 1.0, "after": 1.0 + diff, "diff": diff, "se": se, "prompts": 8}}
    (folder / "rl" / "reward_probe.json").write_text(json.dumps(
        {"prompts": 8, "samples": 4, "steps": [0, 2], "summary": summary, "rows": []}))
    writer = SummaryWriter(str(folder / "rl" / "runs" / "x"))
    for step, (k, z) in enumerate(zip(kl, zero, strict=True), 1):
        writer.add_scalar("train/kl", k, step)
        writer.add_scalar("train/frac_reward_zero_std", z, step)
        writer.add_scalar("train/collapse/armed/group_std", 0.1 * step, step)
    writer.close()
    return folder


def test_runs_are_summarised_from_probe_and_logs_and_pooled_with_both_errors(tmp_path):
    a = bench.summarise_run(_run(tmp_path / "a", 1, 0.3, 0.1, kl=[0.01, 0.2], zero=[0.25, 0.75]))
    b = bench.summarise_run(_run(tmp_path / "b", 2, -0.1, 0.1, kl=[0.02, 0.4], zero=[0.0, 0.5]))
    assert (a["seed"], a["kl_end"], a["stage"]["learning_rate"]) == (1, pytest.approx(0.2), 3e-5)
    assert a["frac_reward_zero_std"] == {"mean": 0.5, "max": 0.75}
    assert a["group_std"] == {"armed": {"mean": pytest.approx(0.15), "min": pytest.approx(0.1), "zero_steps": 0,
                                        "steps": 2}}
    p = bench.pooled([a, b], "reward")
    assert (p["mean_diff"], p["runs_up"], p["runs"]) == (pytest.approx(0.1), 1, 2)
    assert p["se_between_runs"] == pytest.approx(0.2)  # stdev(0.3, -0.1) / sqrt(2)
    assert p["se_within_runs"] == pytest.approx(math.sqrt(0.02) / 2)


def test_a_run_without_the_probe_is_named(tmp_path):
    folder = _run(tmp_path / "a", 1, 0.3, 0.1, kl=[0.1], zero=[0.0])
    (folder / "rl" / "reward_probe.json").unlink()
    with pytest.raises(SystemExit, match="reward_probe.json missing"):
        bench.summarise_run(folder)
