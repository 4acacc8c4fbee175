"""Any armed reward as a verl ``compute_score`` function.

verl's reward managers call a custom reward function (``custom_reward_function.path`` / ``.name`` in its
config) with the signature of ``verl.utils.reward_score.default_compute_score``::

    compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> float | dict

(``NaiveRewardManager``, one sample per call) or, with ``reward_model.reward_manager=batch``::

    compute_score(data_sources, solution_strs, ground_truths, extra_infos, **kwargs) -> list[float | dict]

The adapter turns a verl sample into TRL's reward call: ``solution_str`` is the completion, ``ground_truth`` the
``answer`` column (a string; a list is ``[answer, *aliases]``; a dict supplies any columns, e.g.
``{"answer": ..., "aliases": [...], "answer_type": "open"}``), and ``extra_info`` supplies the other columns
(``aliases``, ``answer_type``, ``options``, ``answer_letter``, ``question``...). ``data_source`` becomes the
``source`` column. Prefer the batch form for semantic/adaptive rewards: they encode and adapt per batch.

Which reward: :func:`make_compute_score` fixes it; the module-level :func:`compute_score` /
:func:`compute_score_batch` read ``extra_info["reward"]``, then ``$ARMED_VERL_REWARD``, then ``accuracy``.
verl needs a number, so a reward's abstention (None: no reference) becomes ``none_value`` (default 0.0).

verl config example::

    custom_reward_function:
      path: <site-packages>/armed/rewards/verl.py
      name: compute_score          # or compute_score_batch with reward_model.reward_manager=batch

>>> make_compute_score("closed_accuracy")("vqa_rad", "<answer>No, there isn't</answer>", "no")
1.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from armed.registry import REWARDS

ENV_VAR = "ARMED_VERL_REWARD"
DEFAULT_REWARD = "accuracy"
_RESERVED = ("reward",)


def _row_columns(data_source: Any, ground_truth: Any, extra_info: Any) -> dict[str, Any]:
    """One verl sample's columns in armed's schema names."""
    columns: dict[str, Any] = {}
    if hasattr(ground_truth, "tolist") and not isinstance(ground_truth, str):  # numpy cells from verl's batch
        ground_truth = ground_truth.tolist()
    if isinstance(extra_info, dict):
        columns.update({k: v for k, v in extra_info.items() if k not in _RESERVED})
    if isinstance(ground_truth, dict):
        columns.update(ground_truth)
    elif isinstance(ground_truth, (list, tuple)):
        items = [g for g in ground_truth if g is not None]
        columns["answer"] = items[0] if items else ""
        columns["aliases"] = list(items[1:]) + list(columns.get("aliases") or [])
    else:
        columns["answer"] = "" if ground_truth is None else ground_truth
    columns.setdefault("source", data_source)
    return columns


def _reward_name(extra_info: Any, default: str | None) -> str:
    if default:
        return default
    if isinstance(extra_info, dict) and extra_info.get("reward"):
        return str(extra_info["reward"])
    return os.environ.get(ENV_VAR) or DEFAULT_REWARD


def _as_float(value: Any, none_value: float) -> float:
    if value is None:
        return none_value
    f = float(value)
    return f if math.isfinite(f) else none_value


class VerlComputeScore:
    """A verl ``compute_score`` for one registered reward (or, with ``reward=None``, chosen per sample)."""

    def __init__(self, reward: str | None = None, none_value: float = 0.0):
        if reward is not None:
            REWARDS.get(reward)  # fail now, with did-you-mean, rather than inside a verl worker
        self.reward = reward
        self.none_value = none_value
        self.__name__ = "compute_score"

    def __call__(self, data_source: Any = None, solution_str: Any = None, ground_truth: Any = None,
                 extra_info: Any = None, **kwargs: Any) -> float:
        return self.batch([data_source], [solution_str], [ground_truth], [extra_info])[0]

    def batch(self, data_sources: Sequence[Any], solution_strs: Sequence[Any], ground_truths: Sequence[Any],
              extra_infos: Sequence[Any] | None = None, **kwargs: Any) -> list[float]:
        """Score a batch; rows naming different rewards are scored in one call per reward."""
        n = len(solution_strs)
        extra_infos = list(extra_infos) if extra_infos is not None else [None] * n
        data_sources = list(data_sources) if data_sources is not None else [None] * n
        ground_truths = list(ground_truths)
        by_reward: dict[str, list[int]] = {}
        for i in range(n):
            by_reward.setdefault(_reward_name(extra_infos[i], self.reward), []).append(i)
        out = [self.none_value] * n
        for name, rows in by_reward.items():
            fn = REWARDS.get(name)
            row_cols = [_row_columns(data_sources[i], ground_truths[i], extra_infos[i]) for i in rows]
            keys = sorted({k for cols in row_cols for k in cols})
            columns = {k: [cols.get(k) for cols in row_cols] for k in keys}
            prompts = columns.pop("prompt", None) or columns.get("question") or [""] * len(rows)
            scores = fn(prompts=prompts, completions=[solution_strs[i] for i in rows], **columns)
            for i, s in zip(rows, scores, strict=True):
                out[i] = _as_float(s, self.none_value)
        return out

    def __repr__(self) -> str:
        return f"VerlComputeScore(reward={self.reward!r})"


class _VerlBatch:
    """The batch form of a :class:`VerlComputeScore` (for verl's ``BatchRewardManager``), picklable."""

    def __init__(self, scorer: VerlComputeScore):
        self.scorer = scorer
        self.__name__ = "compute_score_batch"

    def __call__(self, data_sources=None, solution_strs=None, ground_truths=None, extra_infos=None, **kwargs):
        return self.scorer.batch(data_sources, solution_strs or [], ground_truths or [], extra_infos)


def make_compute_score(name: str, none_value: float = 0.0) -> VerlComputeScore:
    """verl ``compute_score(data_source, solution_str, ground_truth, extra_info=None)`` for reward ``name``."""
    return VerlComputeScore(name, none_value)


def make_batch_compute_score(name: str, none_value: float = 0.0) -> _VerlBatch:
    """verl batch ``compute_score(data_sources, solution_strs, ground_truths, extra_infos)`` for ``name``."""
    return _VerlBatch(VerlComputeScore(name, none_value))


_PER_SAMPLE = VerlComputeScore(None)


def compute_score(data_source: Any = None, solution_str: Any = None, ground_truth: Any = None,
                  extra_info: Any = None, **kwargs: Any) -> float:
    """verl entry point: the reward named by ``extra_info["reward"]`` or ``$ARMED_VERL_REWARD`` (else accuracy)."""
    return _PER_SAMPLE(data_source, solution_str, ground_truth, extra_info)


def compute_score_batch(data_sources: Any = None, solution_strs: Any = None, ground_truths: Any = None,
                        extra_infos: Any = None, **kwargs: Any) -> list[float]:
    """verl batch entry point (``reward_model.reward_manager=batch``); reward chosen as in :func:`compute_score`."""
    return _PER_SAMPLE.batch(data_sources, solution_strs or [], ground_truths or [], extra_infos)
