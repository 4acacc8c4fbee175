"""Open-ended textual correctness as the medical VQA papers report it.

Plain scoring functions ``(prediction, reference) -> float`` in [0, 1], reused by the evaluation metrics, and
registered rewards that extract the final answer of each completion and take the **maximum over the reference
and its aliases**. All work on :func:`armed.rewards.extract.tokens` — NFKC, lower case, punctuation and articles
dropped, hyphens split — so "The X-ray" and "x ray" agree.

=================  ======================================================================================
function           formula (p = prediction tokens, r = reference tokens, overlap clipped per token)
=================  ======================================================================================
``exact_match``    1 if normalise(p) == normalise(r) else 0
``token_recall``   |p ∩ r| / |r|  (VQA-RAD / SLAKE open-ended "recall" as in LLaVA-Med's evaluation)
``token_f1``       2·P·R / (P + R) with P = |p ∩ r| / |p|, R = |p ∩ r| / |r|  (SQuAD F1)
``bleu1``          BP · |p ∩ r| / |p|, BP = 1 if |p| > |r| else exp(1 − |r|/|p|)  (Papineni et al. 2002)
``rouge1``         unigram F1 (Lin 2004); equals ``token_f1`` on our tokens
``rouge_l``        LCS F1: P = LCS/|p|, R = LCS/|r|, F = 2PR/(P + R)  (Lin 2004, β = 1 as in rouge-score)
=================  ======================================================================================

Differences from the maintained implementations (checked in tests/rewards/test_textual.py): rouge-score
tokenises on ``[a-z0-9]+`` and keeps articles, sacrebleu/nltk BLEU tokenise differently and sacrebleu smooths
sentence BLEU; on the same token lists our ``bleu1`` equals ``nltk.translate.bleu_score.sentence_bleu`` with
``weights=(1,)`` and our ``rouge1`` / ``rouge_l`` equal rouge-score's F-measures (no stemming).
Multiple references are scored one at a time and the best is kept (not multi-reference BLEU).

>>> token_recall("right pleural effusion", "pleural effusion")
1.0
>>> round(token_f1("right pleural effusion", "pleural effusion"), 3)
0.8
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from armed.registry import REWARDS
from armed.rewards.columns import column, references
from armed.rewards.extract import extract_answer, normalize, tokens

MAX_LCS_TOKENS = 512  # LCS is O(|p|·|r|): a runaway answer is cut here (a final answer is a few words)


def _overlap(p: list[str], r: list[str]) -> int:
    return sum((Counter(p) & Counter(r)).values())


def exact_match(pred: Any, ref: Any) -> float:
    """1.0 when the normalised texts are equal and non-empty."""
    p, r = normalize(pred), normalize(ref)
    return float(bool(r) and p == r)


def token_recall(pred: Any, ref: Any) -> float:
    """Fraction of reference tokens present in the prediction (clipped counts)."""
    p, r = tokens(pred), tokens(ref)
    if not r or not p:
        return 0.0
    return _overlap(p, r) / len(r)


def token_f1(pred: Any, ref: Any) -> float:
    """SQuAD-style token F1."""
    p, r = tokens(pred), tokens(ref)
    common = _overlap(p, r) if p and r else 0
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def bleu1(pred: Any, ref: Any) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty (no smoothing)."""
    p, r = tokens(pred), tokens(ref)
    if not p or not r:
        return 0.0
    precision = _overlap(p, r) / len(p)
    bp = 1.0 if len(p) > len(r) else math.exp(1 - len(r) / len(p))
    return bp * precision


def rouge1(pred: Any, ref: Any) -> float:
    """ROUGE-1 F-measure (unigram overlap F1)."""
    return token_f1(pred, ref)


def _lcs(a: list[str], b: list[str]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(pred: Any, ref: Any) -> float:
    """ROUGE-L F-measure from the longest common subsequence of tokens."""
    p, r = tokens(pred)[:MAX_LCS_TOKENS], tokens(ref)[:MAX_LCS_TOKENS]
    if not p or not r:
        return 0.0
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


SCORERS: dict[str, Callable[[Any, Any], float]] = {
    "exact_match": exact_match,
    "token_recall": token_recall,
    "token_f1": token_f1,
    "bleu1": bleu1,
    "rouge1": rouge1,
    "rouge_l": rouge_l,
}


def best_over_references(score: Callable[[Any, Any], float], pred: Any, refs: list[str]) -> float:
    """``max(score(pred, ref) for ref in refs)``, 0.0 when there is no reference."""
    return max((score(pred, ref) for ref in refs), default=0.0)


class TextualReward:
    """A registered textual reward: ``scorer(final answer, reference)`` maximised over ``answer`` + ``aliases``.

    Returns 0.0 when no answer can be extracted and None (abstain) for a row without any reference.
    """

    def __init__(self, metric: str):
        if metric not in SCORERS:
            from armed.registry import did_you_mean

            raise ValueError(did_you_mean(metric, list(SCORERS), "textual metric"))
        self.metric = metric
        self.__name__ = metric

    def __call__(self, prompts=None, completions=None, answer=None, aliases=None, **kwargs) -> list[float | None]:
        completions = list(completions or [])
        n = len(completions)
        answers = column({"answer": answer}, "answer", n)
        alias_col = column({"aliases": aliases}, "aliases", n)
        score = SCORERS[self.metric]
        out: list[float | None] = []
        for completion, ref, al in zip(completions, answers, alias_col, strict=True):
            refs = references(ref, al)
            if not refs:
                out.append(None)
                continue
            pred = extract_answer(completion)
            out.append(best_over_references(score, pred, refs) if pred else 0.0)
        return out

    def __repr__(self) -> str:
        return f"TextualReward({self.metric!r})"


def get_textual_reward(metric: str = "token_f1") -> TextualReward:
    """A reward scoring the extracted final answer with one of :data:`SCORERS`.

    >>> get_textual_reward("token_recall")(None, ["<answer>left pleural effusion</answer>"], answer=["effusion"])
    [1.0]
    """
    return TextualReward(metric)


exact_match_reward = REWARDS.add(
    "exact_match", get_textual_reward("exact_match"),
    "Normalised exact match of the final answer with the reference or an alias (0/1)")
token_recall_reward = REWARDS.add(
    "token_recall", get_textual_reward("token_recall"),
    "Fraction of reference tokens found in the final answer (VQA-RAD/SLAKE open-ended recall)")
token_f1_reward = REWARDS.add(
    "token_f1", get_textual_reward("token_f1"), "Token-level F1 of the final answer against the reference")
bleu1_reward = REWARDS.add(
    "bleu1", get_textual_reward("bleu1"), "Sentence BLEU-1 (clipped unigram precision × brevity penalty)")
rouge1_reward = REWARDS.add(
    "rouge1", get_textual_reward("rouge1"), "ROUGE-1 F-measure of the final answer against the reference")
rouge_l_reward = REWARDS.add(
    "rouge_l", get_textual_reward("rouge_l"), "ROUGE-L (longest common subsequence) F-measure")
