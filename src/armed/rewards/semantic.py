"""Semantic reward: cosine similarity of sentence embeddings of the final answer and the reference.

ARMed's model-based reward (arXiv 2508.12957): ``r = max(0, cos(E(answer), E(reference)))`` with any
sentence-transformers model (default: the embedded all-MiniLM-L6-v2, ``minilm-l6``), maximised over the
reference and its aliases. Raw cosine *collapses* on medical answers — "pleural effusion" scores 0.59 against
"pneumothorax" while its synonym "collapsed lung" scores 0.49, and "no pneumothorax" 0.91 — which is why
:mod:`armed.rewards.adaptive` and :mod:`armed.rewards.medical` exist; this module is the fast raw signal.

Speed, because GRPO scores groups of near-identical answers every step:

* one model load per process and model name (:func:`armed.models.load_sentence_encoder`);
* the repeated texts of a batch are encoded once (a group of 8 often holds 2–3 distinct answers, one of
  them usually the reference itself);
* embeddings are kept in an LRU cache keyed by text (8,192 entries by default): each prompt's reference
  recurs in every one of its G completions and every epoch, and short answers ("yes", "CT", "pneumothorax")
  recur across steps;
* everything left is encoded in one batched call, embeddings L2-normalised so cosine is a dot product.

Example (loads the embedded MiniLM on first call)::

    cosine_scores(["collapsed lung", "", "CT scan"], ["pneumothorax", "CT", ["CT", "computed tomography"]])
    # -> [0.49..., 0.0, 0.8...]
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from armed.registry import REWARDS
from armed.rewards.columns import column, references
from armed.rewards.extract import clean_text, extract_answer

DEFAULT_MODEL = "minilm-l6"
MAX_TEXT_CHARS = 2_000  # the encoder truncates at 256 tokens anyway; cut before tokenising a 1 MB answer


def _default_device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{torch.cuda.current_device()}"
    except Exception:  # pragma: no cover - torch is a hard dependency
        pass
    return "cpu"


class Embedder:
    """A sentence encoder with an LRU cache of text embeddings. One per (model, device) per process."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None, batch_size: int = 64,
                 cache_size: int = 8192):
        self.model = model
        self.device = device or _default_device()
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._encoder: Any = None
        self.encoded = 0  # texts sent to the model (for tests and benchmarks)
        self.cache_hits = 0

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from armed.models import load_sentence_encoder

            self._encoder = load_sentence_encoder(self.model, device=self.device)
        return self._encoder

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings of ``texts`` (unique texts are encoded once), shape (len(texts), dim)."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return np.zeros((0, 0), dtype=np.float32)
        self.encoded += len(unique)
        emb = self.encoder.encode(
            unique, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
        index = {t: i for i, t in enumerate(unique)}
        return emb[[index[t] for t in texts]]

    def encode_cached(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Embeddings of the distinct ``texts`` through the LRU cache (missing ones encoded in one call)."""
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for t in dict.fromkeys(texts):
                if t in self._cache:
                    self._cache.move_to_end(t)
                    out[t] = self._cache[t]
                    self.cache_hits += 1
        missing = [t for t in dict.fromkeys(texts) if t not in out]
        if missing:
            emb = self.encode(missing)
            with self._lock:
                for t, e in zip(missing, emb, strict=True):
                    out[t] = e
                    self._cache[t] = e
                    self._cache.move_to_end(t)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def cache_info(self) -> dict[str, int]:
        return {"size": len(self._cache), "max_size": self.cache_size, "hits": self.cache_hits,
                "encoded": self.encoded}

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_EMBEDDERS: dict[tuple[str, str | None], Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(model: str = DEFAULT_MODEL, device: str | None = None) -> Embedder:
    """The process-wide :class:`Embedder` for ``model`` (created on first use; the model loads lazily)."""
    key = (model, device)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder(model, device)
        return _EMBEDDERS[key]


def _clip_text(value: Any) -> str:
    if value is None:
        return ""
    return clean_text(value)[:MAX_TEXT_CHARS].strip()


def _reference_list(ref: Any) -> list[str]:
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    return [t for t in (_clip_text(r) for r in refs) if t]


def cosine_scores(candidates: Sequence[Any], references: Sequence[str | Sequence[str] | None],
                  model: str = DEFAULT_MODEL, device: str | None = None) -> list[float]:
    """Cosine similarity of each candidate with its reference (max over a list of aliases), clipped to [0, 1].

    An empty or None candidate or reference scores 0.0. Each distinct text is encoded at most once per batch
    and not again while it stays in the embedder's LRU cache.
    """
    cands = [_clip_text(c) for c in candidates]
    refs = [_reference_list(r) for r in references]
    if len(refs) != len(cands):
        raise ValueError(f"cosine_scores: {len(cands)} candidates but {len(refs)} references")
    live = [i for i, (c, r) in enumerate(zip(cands, refs, strict=True)) if c and r]
    scores = [0.0] * len(cands)
    if not live:
        return scores
    embedder = get_embedder(model, device)
    # One encode call for every distinct text of the batch (a candidate equal to its reference, the usual
    # correct answer, is encoded once), through the LRU cache so references and recurring answers of later
    # steps are not encoded again.
    emb = embedder.encode_cached([t for i in live for t in refs[i]] + [cands[i] for i in live])
    for i in live:
        sims = np.stack([emb[t] for t in refs[i]]) @ emb[cands[i]]
        scores[i] = float(min(1.0, max(0.0, float(np.max(sims)))))
    return scores


class SemanticReward:
    """TRL reward: cosine of the extracted final answer with ``answer``/``aliases`` (see module doc).

    Holds only names and settings — the model lives in a process-wide cache — so it pickles small and loads
    the model lazily on first call in each process. Rows without a reference abstain (None); completions
    without an answer score 0.0.
    """

    def __init__(self, model: str = DEFAULT_MODEL, device: str | None = None):
        self.model = model
        self.device = device
        self.__name__ = "semantic"

    def raw_scores(self, completions: Sequence[Any], answer: Any = None, aliases: Any = None
                   ) -> list[float | None]:
        """Raw clipped cosine per completion (None where the row has no reference)."""
        completions = list(completions or [])
        n = len(completions)
        refs = [references(a, al) for a, al in zip(column({"a": answer}, "a", n), column({"a": aliases}, "a", n),
                                                      strict=True)]
        preds = [extract_answer(c) or "" for c in completions]
        scores = cosine_scores(preds, refs, self.model, self.device)
        return [None if not r else s for s, r in zip(scores, refs, strict=True)]

    def __call__(self, prompts=None, completions=None, answer=None, aliases=None, **kwargs) -> list[float | None]:
        return self.raw_scores(completions, answer, aliases)

    def __repr__(self) -> str:
        return f"SemanticReward(model={self.model!r})"


def get_semantic_reward(model: str = DEFAULT_MODEL, device: str | None = None) -> SemanticReward:
    """A semantic (embedding cosine) reward for any sentence-transformers model name or folder.

    Example (loads the embedded MiniLM)::

        reward = get_semantic_reward("minilm-l6")
        reward(None, ["<answer>collapsed lung</answer>"], answer=["pneumothorax"])  # [0.49...]
    """
    return SemanticReward(model, device)


semantic = REWARDS.add(
    "semantic", get_semantic_reward(),
    "Embedding cosine of the final answer with the reference (sentence-transformers, default MiniLM)")
