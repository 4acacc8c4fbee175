"""Training callbacks: the reward-collapse monitor, adaptive-reward state in checkpoints, rich progress.

GRPOTrainer already logs, per logging step, ``reward``, ``reward_std``, ``rewards/<name>/mean|std`` (std over the
whole batch) and ``frac_reward_zero_std`` (fraction of groups whose *combined* reward has zero variance). What
it does not log is the within-group spread of *each* reward and an adaptive reward's threshold τ: a reward can
collapse (every completion in a group scored alike) while the weighted sum still varies. :class:`MonitoredReward`
wraps each reward and reports those through TRL's ``log_metric`` hook, so they reach TensorBoard/W&B with the
built-in metrics:

* ``collapse/<reward>/group_std``      mean over groups of the reward's within-group std
* ``collapse/<reward>/frac_zero_std``  fraction of groups where this reward has zero variance
* ``adaptive/<reward>/<stat>``         ``reward.scaler.stats()`` (τ, buffer size, ...) for adaptive rewards

:class:`CollapseMonitor` reads the logs and warns when ``frac_reward_zero_std`` stays at or above a threshold
for N consecutive logging steps (zero-variance groups give zero advantage, so zero gradient).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from armed.train.pipeline import CHECKPOINT_MARKER

logger = logging.getLogger(__name__)

REWARD_STATE_FILE = "armed_rewards.pt"
_ZERO = 1e-6


def group_stats(values: Sequence[float | None], num_generations: int) -> dict[str, float] | None:
    """Mean within-group std and fraction of zero-variance groups, over consecutive groups of ``num_generations``.

    ``None`` (abstain) values are ignored; groups with fewer than 2 scored completions are skipped. Returns None
    when the batch is not a whole number of groups (a process's slice can cut a group under multi-GPU).

    >>> group_stats([1, 1, 0, 1], 2)
    {'group_std': 0.25, 'frac_zero_std': 0.5}
    """
    n = len(values)
    if num_generations < 2 or n == 0 or n % num_generations:
        return None
    stds = []
    for start in range(0, n, num_generations):
        group = [float(v) for v in values[start:start + num_generations]
                 if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if len(group) < 2:
            continue
        mean = sum(group) / len(group)
        stds.append(math.sqrt(sum((v - mean) ** 2 for v in group) / len(group)))
    if not stds:
        return None
    return {"group_std": sum(stds) / len(stds), "frac_zero_std": sum(s < _ZERO for s in stds) / len(stds)}


def _scaler_of(reward: Any) -> Any:
    scaler = getattr(reward, "scaler", None)
    return scaler if scaler is not None and hasattr(scaler, "state_dict") else None


class MonitoredReward:
    """A reward with the same signature and name that also logs its within-group spread and adaptive stats.

    Picklable (plain attributes); the wrapped reward stays reachable as ``.reward`` (and its ``scaler``).
    """

    def __init__(self, reward: Any, name: str, num_generations: int):
        self.reward = reward
        self.__name__ = name
        self.num_generations = num_generations

    @property
    def scaler(self) -> Any:
        return getattr(self.reward, "scaler", None)

    def _log(self, values: Sequence[float | None], kwargs: dict[str, Any]) -> None:
        log_metric = kwargs.get("log_metric")
        if log_metric is None:
            return
        stats = group_stats(values, self.num_generations)
        for key, value in (stats or {}).items():
            log_metric(f"collapse/{self.__name__}/{key}", value)
        scaler = self.scaler
        if scaler is not None and hasattr(scaler, "stats"):
            for key, value in scaler.stats().items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    log_metric(f"adaptive/{self.__name__}/{key}", float(value))

    def __call__(self, prompts=None, completions=None, **kwargs):
        values = self.reward(prompts=prompts, completions=completions, **kwargs)
        self._log(values, kwargs)
        return values

    def __repr__(self) -> str:
        return f"MonitoredReward({self.__name__!r})"


class AsyncMonitoredReward(MonitoredReward):
    """:class:`MonitoredReward` for ``async`` rewards (LLM judges), which TRL awaits concurrently."""

    async def __call__(self, prompts=None, completions=None, **kwargs):
        values = await self.reward(prompts=prompts, completions=completions, **kwargs)
        self._log(values, kwargs)
        return values


def _is_async(reward: Any) -> bool:
    return inspect.iscoroutinefunction(reward) or inspect.iscoroutinefunction(getattr(reward, "__call__", None))  # noqa: B004


def wrap_rewards(named: Sequence[tuple[str, Any]], num_generations: int) -> list[MonitoredReward]:
    """Wrap ``(name, reward)`` pairs; TRL logs each under ``rewards/<name>/...`` (the registry name)."""
    return [(AsyncMonitoredReward if _is_async(r) else MonitoredReward)(r, name, num_generations)
            for name, r in named]


class CollapseMonitor(TrainerCallback):
    """Warns (logger + rich console) when the fraction of zero-variance groups stays >= ``threshold``
    for ``patience`` consecutive logging steps. ``history`` keeps ``(step, frac, per-reward group std)``."""

    def __init__(self, threshold: float = 0.5, patience: int = 3):
        self.threshold = threshold
        self.patience = patience
        self.streak = 0
        self.warnings: list[str] = []
        self.history: list[dict[str, Any]] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        frac = logs.get("frac_reward_zero_std")
        if frac is None:
            return
        per_reward = {k.split("/")[1]: v for k, v in logs.items()
                      if k.startswith("collapse/") and k.endswith("/group_std") and v is not None}
        taus = {k.split("/")[1]: v for k, v in logs.items() if k.startswith("adaptive/") and k.endswith("/tau")}
        self.history.append({"step": state.global_step, "frac_reward_zero_std": frac, "group_std": per_reward,
                             "tau": taus})
        self.streak = self.streak + 1 if frac >= self.threshold else 0
        if self.streak == self.patience:  # once per streak, not every step after
            spread = ", ".join(f"{k} {v:.3g}" for k, v in sorted(per_reward.items())) or "n/a"
            msg = (f"reward collapse: {frac:.0%} of groups have zero reward variance for {self.streak} logging "
                   f"steps (step {state.global_step}); within-group std per reward: {spread}. Zero-variance "
                   f"groups give zero advantage: raise temperature or num_generations, add a graded reward "
                   f"(format_partial, adaptive_semantic) or filter out too-easy/too-hard prompts.")
            self.warnings.append(msg)
            logger.warning(msg)
            if state.is_world_process_zero:
                from rich.console import Console

                Console(stderr=True).print(f"[bold yellow]warning:[/] {msg}", highlight=False)


class RewardStateCallback(TrainerCallback):
    """Saves each adaptive reward's ``scaler.state_dict()`` into every checkpoint and restores it on resume.

    Also writes ``armed_checkpoint.json`` last, marking the checkpoint complete: the pipeline resumes only
    from marked checkpoints, so a kill during a save never resumes from half a checkpoint.
    """

    def __init__(self, rewards: Sequence[tuple[str, Any]] | Sequence[Any], resume_from: str | Path | None = None):
        self.rewards = [(r if isinstance(r, tuple) else (getattr(r, "__name__", str(i)), r))
                        for i, r in enumerate(rewards)]
        self.resume_from = Path(resume_from) if resume_from else None
        self.restored: list[str] = []

    def _scalers(self) -> dict[str, Any]:
        out = {}
        for name, reward in self.rewards:
            scaler = _scaler_of(reward) or _scaler_of(getattr(reward, "reward", None))
            if scaler is not None:
                out[name] = scaler
        return out

    def on_train_begin(self, args, state, control, **kwargs):
        if self.resume_from is None:
            return
        path = self.resume_from / REWARD_STATE_FILE
        scalers = self._scalers()
        if not scalers:
            return
        if not path.exists():
            logger.warning("checkpoint %s has no adaptive-reward state; adaptive rewards start fresh",
                           self.resume_from)
            return
        import torch

        saved = torch.load(path, weights_only=False)
        for name, scaler in scalers.items():
            if name in saved:
                scaler.load_state_dict(saved[name])
                self.restored.append(name)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        import torch

        from armed.train.pipeline import atomic_write_text

        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        scalers = self._scalers()
        if scalers:
            tmp = folder / f".{REWARD_STATE_FILE}.tmp"
            torch.save({name: s.state_dict() for name, s in scalers.items()}, tmp)
            os.replace(tmp, folder / REWARD_STATE_FILE)
        atomic_write_text(folder / CHECKPOINT_MARKER, json.dumps(
            {"global_step": state.global_step, "reward_state": sorted(scalers)}))


class RichProgressCallback(TrainerCallback):
    """A rich progress bar (steps, ETA, last reward/loss) replacing transformers' tqdm bar."""

    def __init__(self, title: str = "train"):
        self.title = title
        self.progress = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from rich.progress import TextColumn

        from armed.progress import progress_bar

        self.progress = progress_bar(True, TextColumn("{task.fields[info]}"), transient=False)
        self.progress.start()
        self.task = self.progress.add_task(self.title, total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        parts = [f"{k} {logs[k]:.3g}" for k in ("reward", "loss", "frac_reward_zero_std")
                 if isinstance(logs.get(k), (int, float))]
        self.progress.update(self.task, info="  ".join(parts))

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
