"""Length rewards: ECR and CWR (2505.13973), cosine length scaling (Yeo et al.) and DAPO's overlong penalty.

Length is counted in tokens: ``len(completion_ids)`` when TRL passes them and the reward measures the whole
completion, otherwise whitespace tokens of the text (of the reasoning only, for ``unit="reasoning"``: the
``<think>`` block, or the text before the answer tag / "Answer:" cue when there is no think block).

* **ECR** — length always rewarded (2505.13973, "excessive"-length baseline)::

      r = weight · min(L / target_length, 1)

* **CWR** — length rewarded only when the answer is correct (2505.13973)::

      r = weight · min(L / target_length, 1) · 1[correct]

  2505.13973 reports that both hurt accuracy on PMC-VQA (GRPO 58.04 → ECR 50.17, CWR 54.68). The paper's
  text available to us gives no closed form, so the capped linear term above is our choice; ``target_length``
  bounds the incentive so it cannot grow without limit.
* **Cosine length scaling** (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning", arXiv
  2502.03373): with ``cos_fn(L) = lo + (hi − lo)·(1 + cos(π·L / max_length)) / 2`` (hi at L = 0, lo at
  L = max_length): correct answers get ``cos_fn`` from ``max_value_correct`` down to ``min_value_correct``
  (short correct > long correct), wrong answers from ``min_value_wrong`` up to ``max_value_wrong`` (long wrong >
  short wrong: keep thinking when unsure), and ``exceed_penalty`` (if set) beyond ``max_length``. Defaults are
  open-r1's (−1, −0.5, 0.5, 1); the paper used (−10, 0, 1, 2) with an exceed penalty of −10.
* **DAPO soft overlong punishment** (Yu et al. 2025, arXiv 2503.14476, eq. 13), with ``L_max`` =
  ``max_completion_length`` and ``L_cache`` = ``soft_cache``::

      r = 0                                  if L ≤ L_max − L_cache
      r = ((L_max − L_cache) − L) / L_cache  if L_max − L_cache < L ≤ L_max
      r = −1                                 if L > L_max

Correctness for CWR and the cosine reward comes from a registered reward (default ``accuracy``) thresholded at
``correct_threshold``; a row that reward abstains on (None) abstains here too.

>>> get_ecr_reward(target_length=4)(None, ["<think>one two</think><answer>x</answer>"])
[0.5]
>>> get_overlong_penalty(max_completion_length=10, soft_cache=4)(None, ["a"], completion_ids=[[0] * 8])
[-0.5]
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from armed.registry import REWARDS, did_you_mean
from armed.rewards.extract import parse

UNITS = ("reasoning", "completion")
_ANSWER_START = re.compile(r"<\s*answer\s*>|\b(?:final answer|answer)\s*[:：]", re.I)


def reasoning_text(completion: Any) -> str:
    """The reasoning part of a completion: the think block, else the text before the answer."""
    p = parse(completion)
    if p.think is not None:
        return p.think
    m = _ANSWER_START.search(p.text)
    return p.text[: m.start()] if m else p.text


def measure_lengths(completions: Sequence[Any], completion_ids: Sequence[Any] | None = None,
                    unit: str = "reasoning") -> list[int]:
    """Token length of each completion (see the module doc for the unit)."""
    out = []
    ids = list(completion_ids) if completion_ids is not None else []
    for i, completion in enumerate(completions):
        if unit == "completion" and i < len(ids) and ids[i] is not None:
            try:
                out.append(len(ids[i]))
                continue
            except TypeError:
                pass
        text = reasoning_text(completion) if unit == "reasoning" else parse(completion).text
        out.append(len(text.split()))
    return out


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise ValueError(did_you_mean(unit, UNITS, "length unit"))


class _Correctness:
    """Thresholded scores of a registered reward (resolved lazily, so instances stay picklable)."""

    def __init__(self, reward: str, threshold: float):
        self.reward = reward
        self.threshold = threshold

    def __call__(self, prompts: Any, completions: Sequence[Any], kwargs: dict[str, Any]) -> list[bool | None]:
        fn = REWARDS.get(self.reward)
        scores = fn(prompts=prompts, completions=completions, **kwargs)
        return [None if s is None or not math.isfinite(s) else s >= self.threshold for s in scores]


class ECRReward:
    """Excessive-length reward (ECR): ``weight · min(L / target_length, 1)`` whatever the answer."""

    def __init__(self, target_length: int = 256, weight: float = 1.0, unit: str = "reasoning"):
        if target_length <= 0:
            raise ValueError(f"target_length must be > 0, got {target_length}")
        _check_unit(unit)
        self.target_length, self.weight, self.unit = target_length, weight, unit
        self.__name__ = "length_ecr"

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
        lengths = measure_lengths(list(completions or []), completion_ids, self.unit)
        return [self.weight * min(n / self.target_length, 1.0) for n in lengths]


class CWRReward:
    """Correct-answer length reward (CWR): the ECR term only for correct answers, 0 otherwise."""

    def __init__(self, target_length: int = 256, weight: float = 1.0, unit: str = "reasoning",
                 correctness: str = "accuracy", correct_threshold: float = 0.5):
        if target_length <= 0:
            raise ValueError(f"target_length must be > 0, got {target_length}")
        _check_unit(unit)
        self.target_length, self.weight, self.unit = target_length, weight, unit
        self.correct = _Correctness(correctness, correct_threshold)
        self.__name__ = "length_cwr"

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float | None]:
        completions = list(completions or [])
        lengths = measure_lengths(completions, completion_ids, self.unit)
        correct = self.correct(prompts, completions, kwargs)
        return [None if ok is None else (self.weight * min(n / self.target_length, 1.0) if ok else 0.0)
                for n, ok in zip(lengths, correct, strict=True)]


def cos_fn(length: float, max_length: float, lo: float, hi: float) -> float:
    """Yeo et al.'s CosFn: ``hi`` at length 0, ``lo`` at ``max_length``, half a cosine in between."""
    t = min(max(length, 0.0), max_length)
    return lo + 0.5 * (hi - lo) * (1.0 + math.cos(math.pi * t / max_length))


class CosineLengthReward:
    """Length-scaled correctness (Yeo et al. 2025): correct short > correct long; wrong long > wrong short."""

    def __init__(self, max_length: int = 1024, min_value_wrong: float = -1.0, max_value_wrong: float = -0.5,
                 min_value_correct: float = 0.5, max_value_correct: float = 1.0, exceed_penalty: float | None = None,
                 unit: str = "completion", correctness: str = "accuracy", correct_threshold: float = 0.5):
        if max_length <= 0:
            raise ValueError(f"max_length must be > 0, got {max_length}")
        _check_unit(unit)
        self.max_length, self.unit, self.exceed_penalty = max_length, unit, exceed_penalty
        self.min_value_wrong, self.max_value_wrong = min_value_wrong, max_value_wrong
        self.min_value_correct, self.max_value_correct = min_value_correct, max_value_correct
        self.correct = _Correctness(correctness, correct_threshold)
        self.__name__ = "cosine_length"

    def score(self, length: int, correct: bool) -> float:
        if self.exceed_penalty is not None and length > self.max_length:
            return self.exceed_penalty
        if correct:  # hi at length 0 → shorter correct answers score more
            return cos_fn(length, self.max_length, self.min_value_correct, self.max_value_correct)
        # wrong: hi = min_value_wrong at length 0, lo = max_value_wrong at max_length → longer scores more
        return cos_fn(length, self.max_length, self.max_value_wrong, self.min_value_wrong)

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float | None]:
        completions = list(completions or [])
        lengths = measure_lengths(completions, completion_ids, self.unit)
        correct = self.correct(prompts, completions, kwargs)
        return [None if ok is None else self.score(n, ok) for n, ok in zip(lengths, correct, strict=True)]


class OverlongPenalty:
    """DAPO's soft overlong punishment (see the module doc); 0 for completions within budget."""

    def __init__(self, max_completion_length: int = 1024, soft_cache: int = 256, unit: str = "completion"):
        if not 0 < soft_cache <= max_completion_length:
            raise ValueError(f"need 0 < soft_cache <= max_completion_length, got {soft_cache}, "
                             f"{max_completion_length}")
        _check_unit(unit)
        self.max_completion_length, self.soft_cache, self.unit = max_completion_length, soft_cache, unit
        self.__name__ = "overlong_penalty"

    def score(self, length: int) -> float:
        start = self.max_completion_length - self.soft_cache
        if length <= start:
            return 0.0
        if length <= self.max_completion_length:
            return (start - length) / self.soft_cache
        return -1.0

    def __call__(self, prompts=None, completions=None, completion_ids=None, **kwargs) -> list[float]:
        return [self.score(n) for n in measure_lengths(list(completions or []), completion_ids, self.unit)]


def get_ecr_reward(target_length: int = 256, weight: float = 1.0, unit: str = "reasoning") -> ECRReward:
    """ECR: reward reasoning length up to ``target_length`` tokens, correct or not."""
    return ECRReward(target_length, weight, unit)


def get_cwr_reward(target_length: int = 256, weight: float = 1.0, unit: str = "reasoning",
                   correctness: str = "accuracy", correct_threshold: float = 0.5) -> CWRReward:
    """CWR: reward reasoning length only when ``correctness`` (a registered reward) ≥ ``correct_threshold``."""
    return CWRReward(target_length, weight, unit, correctness, correct_threshold)


def get_cosine_length_reward(max_length: int = 1024, min_value_wrong: float = -1.0, max_value_wrong: float = -0.5,
                             min_value_correct: float = 0.5, max_value_correct: float = 1.0,
                             exceed_penalty: float | None = None, unit: str = "completion",
                             correctness: str = "accuracy", correct_threshold: float = 0.5) -> CosineLengthReward:
    """Cosine length-scaled correctness reward (Yeo et al. 2025); parameters as in the module doc."""
    return CosineLengthReward(max_length, min_value_wrong, max_value_wrong, min_value_correct, max_value_correct,
                              exceed_penalty, unit, correctness, correct_threshold)


def get_overlong_penalty(max_completion_length: int = 1024, soft_cache: int = 256,
                         unit: str = "completion") -> OverlongPenalty:
    """DAPO soft overlong punishment; set ``max_completion_length`` to the trainer's generation budget."""
    return OverlongPenalty(max_completion_length, soft_cache, unit)


length_ecr = REWARDS.add("length_ecr", get_ecr_reward(),
                         "ECR (2505.13973): reasoning length rewarded always, capped at 256 tokens")
length_cwr = REWARDS.add("length_cwr", get_cwr_reward(),
                         "CWR (2505.13973): reasoning length rewarded only when the answer is correct")
cosine_length = REWARDS.add("cosine_length", get_cosine_length_reward(),
                            "Cosine length-scaled correctness (Yeo et al.): short correct > long correct")
overlong_penalty = REWARDS.add("overlong_penalty", get_overlong_penalty(),
                               "DAPO soft overlong punishment (L_max 1024, cache 256)")
