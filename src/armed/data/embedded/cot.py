"""Chain-of-thought SFT data for the embedded datasets (ARMed stage 1: teach the ``<think>/<answer>`` format).

These are TEMPLATE rationales, not expert-written ones. Each is assembled only from what is known about the
sample, so it never states a fact the data does not support:

* ``medscan-vqa``: the header / geometry facts recorded at build time (``meta["rationale_facts"]``: DICOM
  Modality, ImageOrientationPatient, BodyPartExamined, the volume's known orientation, the synthetic overlay's
  position), joined with varied connective phrasing.
* ``mmlu-med`` / ``mmlu-med-open``: the subject, the sentence that states what is asked, and the keyed
  correct option; no medical explanation is invented.

Format (TRL conversational prompt-completion, the default)::

    {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
     "completion": [{"role": "assistant", "content": "<think>…</think><answer>…</answer>"}],
     "images": [...],            # medscan-vqa only
     "answer": ..., "answer_type": ..., "answer_letter": ..., "id": ..., "source": ...}

``fmt="messages"`` gives ``{"messages": prompt + completion, ...}`` instead (TRL language-modelling format).
The final answer is the option letter for multiple choice and the reference text otherwise, so
``armed.rewards.extract.parse(completion).answer`` equals ``answer_letter`` / ``answer``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from armed.data.schema import SYSTEM_PROMPT, Sample, build_prompt
from armed.registry import did_you_mean

COT_DATASETS: tuple[str, ...] = ("medscan-vqa", "mmlu-med", "mmlu-med-open")
FORMATS: tuple[str, ...] = ("prompt-completion", "messages")


def _pick(options: Sequence[str], key: str) -> str:
    return options[int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % len(options)]


def _sentence(fact: str) -> str:
    fact = fact.strip().rstrip(".")
    return fact[:1].upper() + fact[1:] + "." if fact else ""


def wrap(think: str, answer: str) -> str:
    """The strict ``<think>…</think><answer>…</answer>`` completion text."""
    return f"<think>{think.strip()}</think><answer>{answer.strip()}</answer>"


# ------------------------------------------------------------------------------------------- medscan
# Rationales are kept short on purpose: the CPU recipes generate at most 64 completion tokens in GRPO, and a
# rationale that does not fit never reaches </answer> (format reward 0, answer lost to truncation). Measured with
# the SmolLM2 tokenizer on medscan-vqa train: median 44 / max 62 tokens (was median 82 /
# max 130 when every fact and filler phrases were included).
_LINKS = ("Also,", "And", "Moreover,", "In addition,")
_CLOSERS = ("So the answer is {a}.", "Therefore: {a}.", "This gives {a}.", "Hence: {a}.", "That points to {a}.")
MAX_CHARS = 170


def _facts(sample: Sample) -> list[str]:
    """The last recorded fact (the one that decides this question type: the comparison a closed question needs,
    the decisive appearance), preceded by the first (what the image is) when both fit in ``MAX_CHARS``."""
    facts = [f for f in sample.meta.get("rationale_facts", []) if f]
    if len(facts) <= 1:
        return facts
    return [facts[0], facts[-1]] if len(facts[0]) + len(facts[-1]) <= MAX_CHARS else [facts[-1]]


def medscan_rationale(sample: Sample) -> str:
    key = sample.id
    parts = []
    for i, fact in enumerate(_facts(sample)):
        sentence = _sentence(fact)
        if i:
            lead = _pick(_LINKS, key + f":l{i}")
            sentence = f"{lead} {sentence[:1].lower() + sentence[1:]}"
        parts.append(sentence)
    parts.append(_pick(_CLOSERS, key + ":c").format(a=sample.answer))
    return " ".join(parts)


# ------------------------------------------------------------------------------------------- MMLU
def mmlu_rationale(sample: Sample) -> str:
    """Subject, then the keyed option (multiple choice) or the reference phrase (open): no restated stem, no
    invented medical explanation."""
    subject = sample.meta.get("subject", sample.organ or "medicine")
    key = sample.id
    parts = [_pick((f"This is a {subject} question.", f"Subject: {subject}.",
                    f"The question comes from {subject}."), key + ":s")]
    if sample.answer_type == "multiple_choice":
        letter = sample.answer_letter
        parts.append(_pick((
            f"Option {letter} (\"{sample.answer}\") answers what is asked; the others do not.",
            f"Comparing the options, {letter}, \"{sample.answer}\", fits the question.",
            f"The matching option is {letter}: \"{sample.answer}\"; the rest are distractors.",
        ), key + ":m"))
        parts.append(_pick(_CLOSERS, key + ":c").format(a=letter))
    else:
        parts.append(_pick((
            f"The expected answer is a short phrase naming it: {sample.answer}.",
            f"Answering directly and briefly: {sample.answer}.",
            f"In {subject}, the standard answer to this is: {sample.answer}.",
        ), key + ":m"))
    return " ".join(parts)


# ------------------------------------------------------------------------------------------- API
def completion_for(sample: Sample) -> str:
    """The ``<think>…</think><answer>…</answer>`` text for one sample of an embedded dataset."""
    if sample.source == "medscan-vqa":
        return wrap(medscan_rationale(sample), sample.answer)
    if sample.answer_type == "multiple_choice":
        return wrap(mmlu_rationale(sample), sample.answer_letter)
    return wrap(mmlu_rationale(sample), sample.answer)


def cot_samples(name: str, split: str | None = "train", *, fmt: str = "prompt-completion",
                system_prompt: str = SYSTEM_PROMPT, vision: bool | None = None) -> list[dict[str, Any]]:
    """Template CoT SFT rows for embedded dataset ``name`` (see the module docstring for the format)."""
    from armed.data import get_loader

    if name not in COT_DATASETS:
        raise ValueError(did_you_mean(name, COT_DATASETS, "dataset for template CoT data"))
    if fmt not in FORMATS:
        raise ValueError(did_you_mean(fmt, FORMATS, "CoT format"))
    samples, _ = get_loader(name).load(None, split)
    rows = []
    for s in samples:
        prompt = build_prompt(s, system_prompt, vision)
        completion = [{"role": "assistant", "content": completion_for(s)}]
        row: dict[str, Any] = ({"prompt": prompt, "completion": completion} if fmt == "prompt-completion"
                               else {"messages": prompt + completion})
        if s.images and (vision is None or vision):
            row["images"] = list(s.images)
        row.update({"answer": s.answer, "answer_type": s.answer_type, "answer_letter": s.answer_letter,
                    "id": s.id, "source": s.source})
        rows.append(row)
    return rows


def cot_dataset(name: str, split: str | None = "train", **kwargs):
    """:func:`cot_samples` as a ``datasets.Dataset`` for TRL's ``SFTTrainer``."""
    from datasets import Dataset

    return Dataset.from_list(cot_samples(name, split, **kwargs))
