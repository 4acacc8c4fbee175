"""ARMed's adaptive semantic reward: a moving-quantile sigmoid that restores spread to collapsed scores.

Raw embedding cosines of medical answers bunch together (MiniLM gives most answers 0.4–0.9 against any
reference), so GRPO's group-relative advantages carry little signal. ARMed (arXiv 2508.12957) keeps a history
of raw scores and maps each new score through a sigmoid centred on a moving quantile of that history; the
paper reports the semantic reward's variance rising from 0.029 to over 0.104.

The map (our parameterisation; the paper gives no code)::

    H      = the last ``buffer_size`` raw scores seen by *all* processes (including the current batch)
    τ      = quantile(H, q)                                    (q = ``quantile``, default the median)
    s      = max(IQR(H) / 1.349, min_scale)                    (robust standard deviation of H;
                                                                std(H) with ``spread="std"``;
                                                                the fixed ``temperature`` when
                                                                ``temperature_from_spread=False``)
    r'     = sigmoid(k · (r − τ) / s)                          (k = ``sharpness``, default 2)

With raw scores roughly normal around τ, k = 2 gives adapted scores a standard deviation near 0.3 whatever
the raw spread was. The map is monotone: it stretches differences, it cannot fix an *ordering* error (an
answer with the wrong side embeds as close as the right one) — :mod:`armed.rewards.medical` handles those.
Until the history holds ``min_history`` scores the raw scores pass through unchanged.

Under ``torch.distributed`` each process scores only its slice of the batch, so the raw scores are
all-gathered before the history is updated: every process holds the identical buffer and the same τ and s.
The buffer is checkpointed with :meth:`AdaptiveScaler.state_dict` / :meth:`AdaptiveScaler.load_state_dict`.

>>> scaler = AdaptiveScaler(min_history=4)
>>> [round(x, 2) for x in scaler.update_and_transform([0.60, 0.62, 0.64, 0.66, 0.68])]
[0.06, 0.21, 0.5, 0.79, 0.94]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from armed.registry import REWARDS, did_you_mean
from armed.rewards.semantic import DEFAULT_MODEL, SemanticReward

SPREADS = ("iqr", "std")
IQR_TO_STD = 1.349  # IQR of a standard normal: IQR / 1.349 estimates σ robustly


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def adaptive_map(raw: Sequence[float | None], tau: float, scale: float, sharpness: float = 2.0
                 ) -> list[float | None]:
    """``sigmoid(sharpness · (r − τ) / scale)`` for each raw score; None and non-finite values stay None."""
    out: list[float | None] = []
    for r in raw:
        if r is None or not math.isfinite(r):
            out.append(None)
        else:
            out.append(_sigmoid(sharpness * (float(r) - tau) / scale))
    return out


def _finite(values: Sequence[Any]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out.append(f)
    return out


def gather_scores(values: list[float]) -> list[float]:
    """All processes' ``values`` concatenated in rank order (``values`` itself without torch.distributed)."""
    try:
        import torch.distributed as dist
    except Exception:  # pragma: no cover - torch is a hard dependency
        return values
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return values
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, values)  # slices may differ in length: object gather handles that
    return [v for part in gathered for v in (part or [])]


class AdaptiveScaler:
    """History buffer + moving-quantile sigmoid (see the module doc for the formula).

    Args:
        buffer_size: raw scores kept (a deque: the oldest fall out).
        quantile: q of the threshold τ = quantile(history, q), in (0, 1).
        min_history: scores needed before adapting; until then raw scores pass through.
        temperature_from_spread: derive the sigmoid scale from the history's spread (else use ``temperature``).
        spread: ``"iqr"`` (IQR / 1.349, robust to outliers) or ``"std"``.
        sharpness: k in sigmoid(k (r − τ) / s); 2 gives an adapted std near 0.3 for normal-ish raw scores.
        temperature: fixed scale s when ``temperature_from_spread`` is False.
        min_scale: floor on s, so a history of identical scores does not turn float noise into 0/1 flips.
        distributed: all-gather raw scores across processes before updating (when torch.distributed is up).
    """

    def __init__(self, buffer_size: int = 1024, quantile: float = 0.5, min_history: int = 16,
                 temperature_from_spread: bool = True, spread: str = "iqr", sharpness: float = 2.0,
                 temperature: float = 0.1, min_scale: float = 0.01, distributed: bool = True):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        if spread not in SPREADS:
            raise ValueError(did_you_mean(spread, SPREADS, "spread"))
        if sharpness <= 0 or temperature <= 0 or min_scale <= 0:
            raise ValueError("sharpness, temperature and min_scale must be > 0")
        if min_history < 1:
            raise ValueError(f"min_history must be >= 1, got {min_history}")
        self.buffer_size = buffer_size
        self.quantile = quantile
        self.min_history = min_history
        self.temperature_from_spread = temperature_from_spread
        self.spread = spread
        self.sharpness = sharpness
        self.temperature = temperature
        self.min_scale = min_scale
        self.distributed = distributed
        self.buffer: deque[float] = deque(maxlen=buffer_size)
        self.steps = 0
        self._last: dict[str, float] = {}
        self._frozen = False

    # -- the map -------------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return len(self.buffer) >= self.min_history

    def threshold(self) -> float:
        """τ: the ``quantile`` of the history (0.5 while the history is empty)."""
        return float(np.quantile(np.fromiter(self.buffer, float), self.quantile)) if self.buffer else 0.5

    def scale(self) -> float:
        """s: the sigmoid's scale from the history's spread (or the fixed temperature)."""
        if not self.temperature_from_spread:
            return self.temperature
        if len(self.buffer) < 2:
            return max(self.temperature, self.min_scale)
        h = np.fromiter(self.buffer, float)
        if self.spread == "iqr":
            q1, q3 = np.quantile(h, [0.25, 0.75])
            s = float(q3 - q1) / IQR_TO_STD
        else:
            s = float(np.std(h))
        return max(s, self.min_scale)

    def transform(self, raw: Sequence[float | None]) -> list[float | None]:
        """Apply the current map to any raw score list without touching the history (None stays None)."""
        if not self.ready:
            return [None if (r is None or not math.isfinite(r)) else float(r) for r in raw]
        return adaptive_map(raw, self.threshold(), self.scale(), self.sharpness)

    # -- the history ---------------------------------------------------------------------------------------

    def update(self, raw: Sequence[float | None]) -> list[float]:
        """Add the finite raw scores of every process to the history; returns what was added."""
        local = _finite([r for r in raw if r is not None])
        batch = gather_scores(local) if self.distributed else local
        self.buffer.extend(batch)
        self.steps += 1
        return batch

    def update_and_transform(self, raw: Sequence[float | None]) -> list[float | None]:
        """Gather → update the history → map this batch's raw scores (one call per reward step).

        Inside :meth:`frozen` it only maps: the history and the last-batch stats stay as they are.
        """
        if self._frozen:
            return self.transform(raw)
        batch = self.update(raw)
        out = self.transform(raw)
        adapted_batch = _finite(self.transform(batch)) if batch else []
        self._last = {
            "tau": self.threshold(),
            "scale": self.scale(),
            "buffer_size": float(len(self.buffer)),
            "raw_std": float(np.std(batch)) if batch else 0.0,
            "adapted_std": float(np.std(adapted_batch)) if adapted_batch else 0.0,
            "raw_mean": float(np.mean(batch)) if batch else 0.0,
            "adapted_mean": float(np.mean(adapted_batch)) if adapted_batch else 0.0,
        }
        return out

    @contextmanager
    def frozen(self) -> Iterator[AdaptiveScaler]:
        """Score without learning: two sets of completions scored inside get the same τ and scale (the reward
        probe compares a stage's first and last policy this way) and the training history is not touched."""
        self._frozen = True
        try:
            yield self
        finally:
            self._frozen = False

    def stats(self) -> dict[str, float]:
        """τ, scale and history size now, and raw vs adapted std/mean of the last batch (all processes)."""
        return {**self._last, "tau": self.threshold(), "scale": self.scale(), "buffer_size": float(len(self.buffer))}

    # -- checkpoints ---------------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "buffer_size", "quantile", "min_history", "temperature_from_spread", "spread", "sharpness",
            "temperature", "min_scale")}

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state: the history, the step count and the configuration it was built with."""
        return {"version": 1, "buffer": list(self.buffer), "steps": self.steps, "config": self.config()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the history saved by :meth:`state_dict` (the newest ``buffer_size`` scores are kept)."""
        if not isinstance(state, dict) or "buffer" not in state:
            raise ValueError("not an AdaptiveScaler state: expected a dict with a 'buffer' list")
        self.buffer = deque(_finite(state["buffer"]), maxlen=self.buffer_size)
        self.steps = int(state.get("steps", 0))

    def reset(self) -> None:
        self.buffer.clear()
        self.steps = 0
        self._last = {}

    def __repr__(self) -> str:
        return f"AdaptiveScaler({len(self.buffer)}/{self.buffer_size} scores, q={self.quantile})"


class AdaptiveSemanticReward:
    """TRL reward: raw semantic cosine (:mod:`armed.rewards.semantic`) mapped by an :class:`AdaptiveScaler`.

    ``.scaler`` is public so a training callback can save and restore its history with the checkpoint. When TRL
    passes ``log_metric`` (trl ≥ 1.x GRPOTrainer), τ, the scale and the raw/adapted std of the batch are logged
    as ``adaptive_semantic/{tau,scale,raw_std,adapted_std}``.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, scaler: AdaptiveScaler | None = None,
                 **scaler_kwargs: Any):
        self.semantic = SemanticReward(model, device)
        self.scaler = scaler if scaler is not None else AdaptiveScaler(**scaler_kwargs)
        self.__name__ = "adaptive_semantic"

    def __call__(self, prompts=None, completions=None, answer=None, aliases=None,
                 log_metric: Callable[[str, float], Any] | None = None, **kwargs) -> list[float | None]:
        raw = self.semantic.raw_scores(completions, answer, aliases)
        adapted = self.scaler.update_and_transform(raw)
        if callable(log_metric):
            stats = self.scaler.stats()
            for key in ("tau", "scale", "raw_std", "adapted_std"):
                try:
                    log_metric(f"{self.__name__}/{key}", float(stats.get(key, 0.0)))
                except Exception:  # logging must never break a training step
                    pass
        return adapted

    def __repr__(self) -> str:
        return f"AdaptiveSemanticReward(model={self.semantic.model!r}, {self.scaler!r})"


def get_adaptive_semantic_reward(model: str = DEFAULT_MODEL, device: str | None = None,
                                 **scaler_kwargs: Any) -> AdaptiveSemanticReward:
    """ARMed's adaptive semantic reward; ``scaler_kwargs`` go to :class:`AdaptiveScaler`.

    Example (loads the embedded MiniLM)::

        reward = get_adaptive_semantic_reward(buffer_size=1024, quantile=0.5)
        reward(None, completions, answer=answers, log_metric=print)
        torch.save(reward.scaler.state_dict(), "adaptive.pt")
    """
    return AdaptiveSemanticReward(model, device, **scaler_kwargs)


adaptive_semantic = REWARDS.add(
    "adaptive_semantic", get_adaptive_semantic_reward(),
    "ARMed adaptive semantic reward: raw cosine through a sigmoid centred on a moving quantile of its history")
