"""Collapse monitor on synthetic logs; per-reward group statistics through TRL's log_metric hook."""

from __future__ import annotations

import asyncio
import pickle
from types import SimpleNamespace

import pytest

from armed.train.callbacks import CollapseMonitor, MonitoredReward, group_stats, wrap_rewards


def _state(step):
    return SimpleNamespace(global_step=step, is_world_process_zero=True)


def test_group_stats_per_group_not_per_batch():
    # Batch std is large, but every group is constant: complete collapse within groups.
    assert group_stats([0, 0, 1, 1], 2) == {"group_std": 0.0, "frac_zero_std": 1.0}
    stats = group_stats([1, 0, 0.5, 0.5, None, 1, 1, 1], 2)
    assert stats["frac_zero_std"] == pytest.approx(2 / 3)  # None-only-one group skipped; 2 of 3 constant
    assert stats["group_std"] == pytest.approx(0.5 / 3)
    assert group_stats([1, 0, 1], 2) is None  # slice cuts a group: nothing reported rather than a wrong number
    assert group_stats([], 4) is None


def test_monitor_warns_once_when_collapse_persists_and_resets():
    monitor = CollapseMonitor(threshold=0.5, patience=3)
    fracs = [0.75, 1.0, 0.5, 0.9, 0.25, 0.6, 0.6]
    for step, frac in enumerate(fracs, 1):
        monitor.on_log(None, _state(step), None, logs={
            "frac_reward_zero_std": frac, "collapse/armed/group_std": 0.01, "adaptive/armed/tau": 0.62})
    assert len(monitor.warnings) == 1  # steps 1-3 trigger once; 4 continues the streak; 5 resets; 6-7 too short
    assert "step 3" in monitor.warnings[0] and "armed 0.01" in monitor.warnings[0]
    assert monitor.history[0]["tau"] == {"armed": 0.62}
    monitor.on_log(None, _state(8), None, logs={"loss": 1.0})  # logs without GRPO metrics are ignored
    assert len(monitor.history) == len(fracs)


class _Adaptive:
    def __init__(self):
        self.scaler = SimpleNamespace(stats=lambda: {"tau": 0.4, "size": 12, "flag": True},
                                      state_dict=lambda: {}, load_state_dict=lambda s: None)

    def __call__(self, prompts, completions, **kwargs):
        return [1.0 if "yes" in c else 0.0 for c in completions]


async def _judge(prompts, completions, **kwargs):
    return [0.5 for _ in completions]


def test_monitored_reward_logs_through_log_metric_and_keeps_name_and_scaler():
    logged = {}
    reward = MonitoredReward(_Adaptive(), "armed", num_generations=2)
    out = reward(prompts=["p"] * 4, completions=["yes", "no", "yes", "yes"],
                 log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == [1.0, 0.0, 1.0, 1.0]
    assert reward.__name__ == "armed" and reward.scaler is not None
    assert logged == {"collapse/armed/group_std": 0.25, "collapse/armed/frac_zero_std": 0.5,
                      "adaptive/armed/tau": 0.4, "adaptive/armed/size": 12.0}
    assert reward(prompts=["p"], completions=["x"]) == [0.0]  # outside a trainer: no log_metric, no error


def test_async_rewards_stay_async_and_wrappers_pickle():
    from trl.trainer.utils import is_async_callable

    sync, judge = wrap_rewards([("accuracy", _Adaptive()), ("judge_semantic", _judge)], 2)
    assert not is_async_callable(sync) and is_async_callable(judge)
    logged = {}
    out = asyncio.run(judge(prompts=["p"] * 2, completions=["a", "b"], log_metric=lambda k, v: logged.update({k: v})))
    assert out == [0.5, 0.5] and logged["collapse/judge_semantic/frac_zero_std"] == 1.0
    assert pickle.loads(pickle.dumps(MonitoredReward(len, "n", 2))).__name__ == "n"
