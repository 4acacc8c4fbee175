"""Evaluation metrics, registered in ``armed.registry.METRICS``.

A metric has the reward signature ``metric(prompts, completions, **columns) -> list[float | None]`` (columns as
in :mod:`armed.data.schema`: ``answer``, ``aliases``, ``answer_type``, ``options``, ``answer_letter`` …), so
training rewards and evaluation metrics share one answer extraction (:mod:`armed.rewards.extract`) and one
implementation of each score. ``None`` means "not applicable to this row" and is left out of the mean.
Every score lies in [0, 1]; tables show them ×100.

==================  =========================================================================================
metric              definition
==================  =========================================================================================
closed_accuracy     closed: yes/no-normalised match ("No, there isn't" = no); multiple choice: option letter
                    or option text (:mod:`armed.rewards.rule`)
exact_match         normalised exact match with the answer or an alias
token_recall        |pred ∩ ref| / |ref| — the VQA-RAD / SLAKE open-ended "recall" (LLaVA-Med convention)
f1                  token F1 (SQuAD)
bleu1               sentence BLEU-1 (= nltk ``sentence_bleu`` with ``weights=(1,)`` on armed's tokens)
rouge1, rougeL      ROUGE-1 / ROUGE-L F-measure (= rouge-score without stemming on armed's tokens)
bertscore           BERTScore F1 (Zhang et al. 2020): greedy cosine matching of contextual token embeddings,
                    no idf, no baseline rescaling; encoder configurable (default embedded MiniLM-L6; ARMed
                    used PubMedBERT, which does not ship offline, so numbers are not comparable to the paper's)
embedding_cosine    cosine of sentence embeddings, clipped to [0, 1] (the raw semantic score that collapses;
                    :mod:`armed.rewards.semantic`, default MiniLM-L6)
armed               medical-aware correctness (:func:`armed.rewards.medical.medical_score`: synonyms,
                    units, negation, contradiction caps) — the deterministic core of the ``armed`` reward;
                    the adaptive semantic part depends on training history and is not a metric
judge               LLM-judge correctness rubric, 0–10 → [0, 1] (optional: configured by ``ARMED_JUDGE_*``
                    variables, see :mod:`armed.rewards.judge`; a failed judgement abstains)
==================  =========================================================================================

All textual metrics score the *extracted final answer* and keep the best score over the reference and its
aliases. Model-backed metrics are created by ``get_*`` factories with a configurable encoder.
"""

from __future__ import annotations

from typing import Any

from armed.registry import METRICS
from armed.rewards.columns import answer_rows, column, references
from armed.rewards.extract import extract_answer
from armed.rewards.judge import EnvJudge
from armed.rewards.medical import medical_correctness
from armed.rewards.rule import closed_correct, mc_correct
from armed.rewards.semantic import get_semantic_reward
from armed.rewards.textual import get_textual_reward


@METRICS.register("closed_accuracy", description="Closed-ended accuracy: yes/no normalised, option letter or text")
def closed_accuracy(prompts=None, completions=None, answer=None, aliases=None, answer_type=None, options=None,
                    answer_letter=None, **kwargs) -> list[float | None]:
    """1/0 per row: multiple choice by option letter or text, other rows by closed-ended match.

    >>> closed_accuracy(None, ["<answer>No, there isn't.</answer>", "Answer: (B)"], answer=["no", "MRI"],
    ...                 answer_type=["closed", "multiple_choice"], options=["", '{"A": "CT", "B": "MRI"}'],
    ...                 answer_letter=["", "B"])
    [1.0, 1.0]
    """
    completions = list(completions or [])
    out: list[float | None] = []
    rows = answer_rows(len(completions), answer, aliases, answer_type, options, answer_letter)
    for completion, (refs, kind, opts, letter) in zip(completions, rows, strict=True):
        pred = extract_answer(completion)
        if kind == "multiple_choice":
            out.append(mc_correct(pred, opts, letter, refs[0] if refs else "") if refs or letter else None)
        else:
            out.append(closed_correct(pred, refs) if refs else None)
    return out


# The textual scores are the rewards' own objects: one implementation, tested against nltk and rouge-score.
for _name, _scorer, _doc in (
    ("exact_match", "exact_match", "Normalised exact match of the final answer with the answer or an alias"),
    ("token_recall", "token_recall", "Fraction of reference tokens in the final answer (VQA-RAD/SLAKE recall)"),
    ("f1", "token_f1", "Token F1 of the final answer against the reference (SQuAD)"),
    ("bleu1", "bleu1", "Sentence BLEU-1: clipped unigram precision × brevity penalty"),
    ("rouge1", "rouge1", "ROUGE-1 F-measure"),
    ("rougeL", "rouge_l", "ROUGE-L (longest common subsequence) F-measure"),
):
    METRICS.add(_name, get_textual_reward(_scorer), _doc)


class BertScore:
    """BERTScore F1 with greedy matching of token embeddings (Zhang et al., ICLR 2020), max over aliases.

    Token embeddings come from a sentence-transformers model (``output_value="token_embeddings"``): the last
    layer of its transformer, as ``bert_score.score(model_type=..., num_layers=<last>)`` uses. [CLS]/[SEP] take
    part in the max but carry no weight in the means, as in bert-score; no idf, no baseline rescaling.

    P = mean_i max_j cos(c_i, r_j),  R = mean_j max_i cos(c_i, r_j),  F = 2PR / (P + R).
    """

    def __init__(self, model: str = "minilm-l6", part: str = "f1", batch_size: int = 64):
        if part not in ("precision", "recall", "f1"):
            from armed.registry import did_you_mean

            raise ValueError(did_you_mean(part, ["precision", "recall", "f1"], "bertscore part"))
        self.model, self.part, self.batch_size = model, part, batch_size
        self.__name__ = "bertscore" if part == "f1" else f"bertscore_{part[0]}"

    def _embed(self, texts: list[str]) -> dict[str, Any]:
        from armed.models import load_sentence_encoder

        encoder = load_sentence_encoder(self.model)
        unique = sorted(set(texts))
        embs = encoder.encode(unique, output_value="token_embeddings", batch_size=self.batch_size,
                              convert_to_numpy=False, show_progress_bar=False)
        import torch.nn.functional as F

        return {t: F.normalize(e.float(), dim=-1) for t, e in zip(unique, embs, strict=True)}

    def score_pairs(self, preds: list[str], refs: list[str]) -> list[tuple[float, float, float]]:
        """(precision, recall, F1) for each (prediction, reference) pair; empty prediction → zeros."""
        table = self._embed([t for t in preds + refs if t.strip()])
        out = []
        for p, r in zip(preds, refs, strict=True):
            if not p.strip() or not r.strip():
                out.append((0.0, 0.0, 0.0))
                continue
            cand, ref = table[p], table[r]
            sim = cand @ ref.T
            # rows/cols 0 and -1 are [CLS] and [SEP]: in the max, not in the mean
            precision = sim.max(dim=1).values[1:-1].mean().item() if len(cand) > 2 else 0.0
            recall = sim.max(dim=0).values[1:-1].mean().item() if len(ref) > 2 else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            out.append((precision, recall, f1))
        return out

    def __call__(self, prompts=None, completions=None, answer=None, aliases=None, **kwargs) -> list[float | None]:
        completions = list(completions or [])
        n = len(completions)
        answers, alias_col = column({"a": answer}, "a", n), column({"a": aliases}, "a", n)
        idx = {"precision": 0, "recall": 1, "f1": 2}[self.part]
        pairs: list[tuple[int, str, str]] = []
        out: list[float | None] = [None] * n
        for i, (completion, ref, al) in enumerate(zip(completions, answers, alias_col, strict=True)):
            refs = references(ref, al)
            if not refs:
                continue
            pred = extract_answer(completion) or ""
            out[i] = 0.0
            pairs.extend((i, pred, r) for r in refs)
        if pairs:
            scores = self.score_pairs([p for _, p, _ in pairs], [r for _, _, r in pairs])
            for (i, _, _), s in zip(pairs, scores, strict=True):
                out[i] = max(out[i] or 0.0, s[idx])
        return out

    def __repr__(self) -> str:
        return f"BertScore(model={self.model!r}, part={self.part!r})"


def get_bertscore(model: str = "minilm-l6", part: str = "f1") -> BertScore:
    """A BERTScore metric with any sentence-transformers encoder (armed model name, folder or hub id)."""
    return BertScore(model, part)


METRICS.add("bertscore", get_bertscore(), "BERTScore F1 (greedy token-embedding matching; encoder: minilm-l6)")


METRICS.add("embedding_cosine", get_semantic_reward(),
            "Raw embedding cosine of the final answer with the reference (MiniLM-L6; collapses)")
METRICS.add("armed", medical_correctness,
            "Medical-aware correctness (synonyms, units, negation, contradiction caps) — the armed score")
METRICS.add("judge", EnvJudge("correctness"),
            "LLM-judge answer correctness (ARMED_JUDGE_* endpoint; abstains on failure)")


def metric_names(names: list[str] | tuple[str, ...]) -> list[Any]:
    """The metric objects for ``names`` (registry keys or "module:attr" paths)."""
    return [METRICS.get(n) for n in names]
