"""`armed demo`: the training-trend summary, and the whole pipeline end to end on a tiny policy."""

from __future__ import annotations

import json

import pytest

from armed import demo


def _log(step, reward, fmt, zero):
    return {"step": step, "reward": reward, "rewards/format_partial/mean": fmt, "rewards/armed/mean": reward - fmt,
            "frac_reward_zero_std": zero, "collapse/armed/group_std": 0.25, "completions/clipped_ratio": 0.5}


def test_grpo_trend_compares_halves_and_reports_the_collapse_monitor():
    logs = [_log(1, 0.4, 0.1, 0.0), _log(2, 0.6, 0.3, 0.5), _log(3, 1.0, 0.5, 0.0), _log(4, 1.2, 0.7, 0.5),
            {"train_runtime": 10.0, "step": 4}]  # the trainer's final summary row is not a step
    trend = demo.grpo_trend(logs)
    assert trend["steps"] == 4
    assert trend["first_half"]["reward"] == pytest.approx(0.5)
    assert trend["second_half"]["reward"] == pytest.approx(1.1)
    assert trend["second_half"]["rewards/format_partial/mean"] == pytest.approx(0.6)
    assert trend["frac_reward_zero_std"] == pytest.approx(0.25)
    assert trend["group_std"] == {"armed": pytest.approx(0.25)}
    assert trend["per_step_reward"] == [0.4, 0.6, 1.0, 1.2]
    assert demo.grpo_trend([{"train_runtime": 1.0}]) == {}


@pytest.mark.slow
def test_demo_runs_base_sft_grpo_and_resumes(tmp_path, tiny_chat_lm, monkeypatch):
    plan = demo.DemoPlan(str(tiny_chat_lm), "mmlu-med-open", "mmlu-med-open", train_limit=8, eval_limit=2,
                         sft_steps=1, grpo_steps=2, num_generations=2, max_completion_length=8,
                         eval_max_new_tokens=8, overrides=("stages.1.per_device_train_batch_size=2",))
    monkeypatch.setitem(demo.PLANS, ("text", True), plan)
    summary = demo.run_demo(tmp_path, quick=True, text=True, seed=3)

    root = tmp_path / "text-quick-seed3"
    assert json.loads((root / "demo.json").read_text()) == json.loads(json.dumps(summary))
    assert set(summary["metrics"]) == {"base", "sft", "grpo"}
    for run in summary["metrics"].values():
        assert {"all/format_rate", "open/f1", "open/armed"} <= set(run)
    assert summary["grpo_training"]["steps"] == 2 and summary["seed"] == 3
    assert (root / "report" / "report.html").stat().st_size > 1000
    rows = dict(demo.comparison_rows(summary))
    assert len(rows["open/f1"]) == 3

    # rerunning resumes: evaluations and stages are finished, so nothing is trained or generated again
    monkeypatch.setattr("armed.train.pipeline.load_policy", _fail)
    again = demo.run_demo(tmp_path, quick=True, text=True, seed=3)
    assert again["metrics"] == summary["metrics"]


def _fail(*args, **kwargs):
    raise AssertionError("a finished stage ran again")


@pytest.mark.parametrize("steps", [1, 4])
def test_cli_prints_the_comparison_and_the_training_trend(monkeypatch, steps):
    from typer.testing import CliRunner

    from armed.cli import app

    logs = [_log(i + 1, 0.5 + 0.2 * i, 0.1 * i, 0.0) for i in range(steps)]
    metrics = {"all/format_rate": 0.5, "open/f1": 0.25}
    summary = {"task": "medscan-vqa", "plan": {"eval_limit": 10}, "seed": 0, "report": "r.html",
               "metrics": {"base": metrics, "sft": metrics, "grpo": metrics}, "grpo_training": demo.grpo_trend(logs),
               "timings": {"total_s": 12.0, "train_s": 10.0}}
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: summary)
    res = CliRunner().invoke(app, ["demo", "--quick"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "open/f1" in res.output and "25.0" in res.output
    expected = "0.60 -> 1.00" if steps > 1 else f"{logs[-1]['reward']:.2f}"
    assert "GRPO training reward" in res.output and expected in res.output
