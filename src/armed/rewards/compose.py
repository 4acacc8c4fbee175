"""The ARMed recipe's reward, registered as ``armed``: textual + adaptive semantic + medical awareness.

ARMed (arXiv 2508.12957) trains open-ended medical VQA with a rule-based textual-correctness reward plus an
adaptive semantic reward. Embedding cosine collapses (MiniLM: "no pneumothorax" 0.91, "collapsed lung" 0.49
against "pneumothorax") and a monotone rescaling cannot fix ordering errors, so this reward adds the
medical-aware correctness of :mod:`armed.rewards.medical` as the dominant term and as a veto.

For an **open** row with final answer ``p`` and references ``R`` (``answer`` + ``aliases``)::

    t = max_r token_f1(p, r)                               (armed.rewards.textual)
    s = A(max_r cos(p, r))                                 (MiniLM cosine through the AdaptiveScaler A;
                                                            raw cosine when adaptive=False)
    m = medical_score(p, R, question).score                (concepts, synonyms, units, negation)
    base   = w_t·t + w_s·s + w_m·m                         (weights normalised to sum 1;
                                                            default 0.15 / 0.25 / 0.60)
    lifted = max(base, m)                                  a concept/synonym match lifts the score however
                                                           far the wording is ("collapsed lung")
    armed  = min(lifted, cap)      if the answer contradicts the reference or the question (left/right, T1/T2,
                                   benign/malignant, …), negates what it asserts, or gives another number
           = min(lifted, 0.5)      for a narrower pole ("left" for "bilateral")
           = lifted                otherwise                (cap default 0.1)

**Closed** and **multiple-choice** rows (``answer_type`` column) are scored by exact accuracy from
:func:`armed.rewards.rule.row_accuracy` (yes/no normalisation, option letter or text); rows without a
reference abstain (None). The adaptive scaler sees only open rows' raw cosines, in call order, and is
exposed as ``.scaler`` (``state_dict``/``load_state_dict``) for checkpointing. When TRL passes
``log_metric``, the batch means of each component are logged as ``armed/{textual,semantic_raw,
semantic_adapted,medical,capped_fraction}`` plus the scaler's ``armed/tau``.

Example (loads the embedded MiniLM)::

    reward = get_armed_reward()
    reward(["q"] * 3, ["<answer>collapsed lung</answer>", "no pneumothorax", "pleural effusion"],
           answer=["pneumothorax"] * 3, answer_type=["open"] * 3)
    # → high, ≤ 0.1 (negation), low
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from armed.registry import REWARDS, did_you_mean
from armed.rewards.adaptive import AdaptiveScaler
from armed.rewards.columns import as_text, column, options_dict, references
from armed.rewards.extract import extract_answer
from armed.rewards.medical import CONTRADICTION_CAP, PARTIAL_CAP, medical_score
from armed.rewards.rule import _is_yes_no_reference, row_accuracy
from armed.rewards.semantic import DEFAULT_MODEL, cosine_scores
from armed.rewards.textual import SCORERS, best_over_references

DEFAULT_WEIGHTS = {"textual": 0.15, "semantic": 0.25, "medical": 0.60}
COMPONENTS = tuple(DEFAULT_WEIGHTS)


class ArmedReward:
    """The ``armed`` composite reward (see module doc). Picklable; holds names, weights and the scaler."""

    def __init__(self, weights: dict[str, float] | None = None, model: str = DEFAULT_MODEL, adaptive: bool = True,
                 textual: str = "token_f1", cap: float = CONTRADICTION_CAP, lift: bool = True,
                 device: str | None = None, scaler: AdaptiveScaler | None = None, **scaler_kwargs: Any):
        merged = {**DEFAULT_WEIGHTS, **(weights or {})}
        for key in merged:
            if key not in COMPONENTS:
                raise ValueError(did_you_mean(key, COMPONENTS, "armed weight"))
        if any(w < 0 for w in merged.values()) or sum(merged.values()) <= 0:
            raise ValueError(f"armed weights must be >= 0 with a positive sum, got {merged}")
        if textual not in SCORERS:
            raise ValueError(did_you_mean(textual, list(SCORERS), "textual metric"))
        if not 0.0 <= cap <= 1.0:
            raise ValueError(f"cap must be in [0, 1], got {cap}")
        total = sum(merged.values())
        self.weights = {k: v / total for k, v in merged.items()}
        self.model = model
        self.adaptive = adaptive
        self.textual = textual
        self.cap = cap
        self.lift = lift
        self.device = device
        self.scaler = (scaler if scaler is not None else AdaptiveScaler(**scaler_kwargs)) if adaptive else None
        self.__name__ = "armed"
        self.last_components: dict[str, list[float | None]] = {}

    def components(self, preds: list[str], refs: list[list[str]], questions: list[str]
                   ) -> dict[str, list[Any]]:
        """Per-answer components for open rows (updates the adaptive history once with this batch)."""
        scorer = SCORERS[self.textual]
        textual = [best_over_references(scorer, p, r) if p else 0.0 for p, r in zip(preds, refs, strict=True)]
        raw = cosine_scores(preds, refs, self.model, self.device) if self.weights["semantic"] > 0 else [0.0] * len(preds)
        adapted = self.scaler.update_and_transform(raw) if self.scaler is not None else list(raw)
        medical = [medical_score(p, r[0], r[1:], question=q) for p, r, q in zip(preds, refs, questions, strict=True)]
        return {"textual": textual, "semantic_raw": raw, "semantic": [a or 0.0 for a in adapted], "medical": medical}

    def combine(self, textual: float, semantic: float, med: Any) -> tuple[float, bool]:
        """The composite of one answer from its components; returns (score, capped)."""
        w = self.weights
        score = w["textual"] * textual + w["semantic"] * semantic + w["medical"] * med.score
        if self.lift:
            score = max(score, med.score)
        hard = med.negation_mismatch or med.number_match is False or (
            med.contradiction and med.score <= CONTRADICTION_CAP)
        if hard:
            return min(score, self.cap), True
        if med.contradiction:
            return min(score, PARTIAL_CAP), True
        return float(min(1.0, max(0.0, score))), False

    def __call__(self, prompts=None, completions=None, answer=None, aliases=None, answer_type=None, options=None,
                 answer_letter=None, question=None, log_metric: Callable[[str, float], Any] | None = None,
                 **kwargs: Any) -> list[float | None]:
        completions = list(completions or [])
        n = len(completions)
        answers, alias_col = column({"a": answer}, "a", n), column({"a": aliases}, "a", n)
        types, opts = column({"a": answer_type}, "a", n, ""), column({"a": options}, "a", n, "")
        letters, questions = column({"a": answer_letter}, "a", n, ""), column({"a": question}, "a", n, "")
        out: list[float | None] = [None] * n
        open_rows: list[int] = []
        preds: list[str] = []
        for i, completion in enumerate(completions):
            refs = references(answers[i], alias_col[i])
            kind = as_text(types[i]).strip().lower()
            if not kind:
                kind = "closed" if refs and _is_yes_no_reference(refs[0]) else "open"
            if not refs and not (kind == "multiple_choice" and as_text(letters[i]).strip()):
                continue
            pred = extract_answer(completion) or ""
            if kind in ("closed", "multiple_choice"):
                out[i] = row_accuracy(pred, kind, refs, options_dict(opts[i]), as_text(letters[i]))
            else:
                open_rows.append(i)
                preds.append(pred)
        self.last_components = {}
        # Always run the components, even with no open row: under torch.distributed the adaptive scaler
        # all-gathers on every call, so skipping it on one process would hang the others.
        refs_open = [references(answers[i], alias_col[i]) for i in open_rows]
        comps = self.components(preds, refs_open, [as_text(questions[i]) for i in open_rows])
        if open_rows:
            capped = []
            for k, i in enumerate(open_rows):
                score, was_capped = self.combine(comps["textual"][k], comps["semantic"][k], comps["medical"][k])
                out[i] = score
                capped.append(float(was_capped))
            self.last_components = {
                "textual": comps["textual"], "semantic_raw": comps["semantic_raw"],
                "semantic_adapted": comps["semantic"], "medical": [m.score for m in comps["medical"]],
                "capped": capped,
            }
            self._log(log_metric)
        return out

    def _log(self, log_metric: Callable[[str, float], Any] | None) -> None:
        if not callable(log_metric):
            return
        values = {f"armed/{k if k != 'capped' else 'capped_fraction'}": float(np.mean(v))
                  for k, v in self.last_components.items() if v}
        if self.scaler is not None:
            values["armed/tau"] = float(self.scaler.stats().get("tau", 0.0))
        for key, value in values.items():
            try:
                log_metric(key, value)
            except Exception:  # logging must never break a training step
                pass

    def __repr__(self) -> str:
        return f"ArmedReward(weights={self.weights}, model={self.model!r}, adaptive={self.adaptive})"


def get_armed_reward(weights: dict[str, float] | None = None, model: str = DEFAULT_MODEL, adaptive: bool = True,
                     textual: str = "token_f1", cap: float = CONTRADICTION_CAP, lift: bool = True,
                     device: str | None = None, **scaler_kwargs: Any) -> ArmedReward:
    """The ``armed`` reward with custom weights (keys: textual, semantic, medical), embedding ``model``,
    adaptive scaling on/off, textual metric, contradiction ``cap``; ``scaler_kwargs`` go to
    :class:`~armed.rewards.adaptive.AdaptiveScaler` (buffer_size, quantile, min_history, …)."""
    return ArmedReward(weights=weights, model=model, adaptive=adaptive, textual=textual, cap=cap, lift=lift,
                       device=device, **scaler_kwargs)


armed = REWARDS.add(
    "armed", get_armed_reward(),
    "ARMed composite: token F1 + adaptive MiniLM cosine + medical awareness (contradiction/negation caps); "
    "closed/MC rows by exact accuracy")
