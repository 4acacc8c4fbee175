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
import re
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
_OPENERS = ("Looking at the image,", "First, what the image itself tells me:", "Let me go through what is known.",
            "Start from the image and its acquisition.", "Consider how this image was produced.")
_LINKS = ("Also,", "In addition,", "Moreover,", "Next,", "Furthermore,")
_CLOSERS = ("So the answer is {a}.", "Therefore: {a}.", "This gives {a}.", "Hence the answer: {a}.",
            "That points to {a}.")
_QTYPE_LEADS = {
    "modality_open": "The question asks for the imaging modality.",
    "modality_closed": "The question asks whether the image is of a given modality.",
    "modality_choice": "The question offers two imaging modalities to choose from.",
    "plane_open": "The question asks for the imaging plane.",
    "plane_closed": "The question asks whether the slice is in a given plane.",
    "region_open": "The question asks which body region is imaged.",
    "organ_open": "The question asks which organ is shown.",
    "region_closed": "The question asks whether a given body region is shown.",
    "lesion_presence": "The question asks about a focal hyperintense (bright) lesion.",
    "lesion_side": "The question asks on which side of the patient the lesion lies, in radiological "
                   "convention (the patient's left is displayed on the image's right).",
    "laterality": "The question asks which eye the fundus photograph shows.",
}


def medscan_rationale(sample: Sample) -> str:
    facts = [f for f in sample.meta.get("rationale_facts", []) if f]
    qtype = sample.meta.get("question_type", "")
    key = sample.id
    parts = [_QTYPE_LEADS.get(qtype, "")]
    for i, fact in enumerate(facts):
        sentence = _sentence(fact)
        lead = _pick(_OPENERS, key + ":o") if i == 0 else _pick(_LINKS, key + f":l{i}")
        if lead.endswith(","):
            sentence = sentence[:1].lower() + sentence[1:]
        parts.append(f"{lead} {sentence}")
    if sample.meta.get("synthetic"):
        parts.append("(The bright disc is a synthetic overlay added to a real scan.)")
    parts.append(_pick(_CLOSERS, key + ":c").format(a=sample.answer))
    return " ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------------- MMLU
def _ask_sentence(question: str) -> str:
    """The sentence that states what is asked (the last one), trimmed."""
    text = " ".join(question.split())
    sentences = [s for s in re.split(r"(?<=[.?!:])\s+(?=[A-Z])", text) if s.strip()]
    ask = sentences[-1] if sentences else text
    return ask if len(ask) <= 240 else ask[:237].rsplit(" ", 1)[0] + "..."


def _vignette(question: str) -> str:
    text = " ".join(question.split())
    sentences = [s for s in re.split(r"(?<=[.?!])\s+(?=[A-Z])", text) if s.strip()]
    if len(sentences) < 3:
        return ""
    first = sentences[0]
    return first if len(first) <= 200 else first[:197].rsplit(" ", 1)[0] + "..."


def mmlu_rationale(sample: Sample) -> str:
    subject = sample.meta.get("subject", sample.organ or "medicine")
    key = sample.id
    ask = _ask_sentence(sample.question)
    vignette = _vignette(sample.question)
    parts = [_pick((f"This is a {subject} question.", f"Subject: {subject}.",
                    f"The question comes from {subject}."), key + ":s")]
    if vignette:
        parts.append(_pick(("The case starts:", "Key context:", "The stem begins:"), key + ":v") + f" {vignette}")
    parts.append(_pick(("What is asked:", "The question is:", "It asks:"), key + ":a") + f" {ask}")
    if sample.answer_type == "multiple_choice":
        letter = sample.answer_letter
        others = ", ".join(k for k in sample.options if k != letter)
        parts.append(_pick((
            f"Option {letter} (\"{sample.answer}\") is the one that answers this; options {others} do not.",
            f"Comparing the options, {letter}, \"{sample.answer}\", fits what is asked, while {others} do not.",
            f"The option that matches the question is {letter}: \"{sample.answer}\"; {others} are distractors.",
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
