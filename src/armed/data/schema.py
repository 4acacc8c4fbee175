"""The one sample schema every loader emits and every reward, metric and trainer reads.

A loader turns a benchmark's release files into :class:`Sample` objects; :func:`to_hf_dataset` turns those into a
``datasets.Dataset`` whose columns TRL passes to reward functions as keyword arguments:

=================  ==============================================================================
column             meaning
=================  ==============================================================================
``prompt``         conversational prompt: system + user message (with image placeholders for VLMs)
``images``         list of image paths (absent for text-only datasets); loaded lazily by the trainer
``answer``         the reference answer text (for multiple choice: the correct option's text)
``aliases``        other accepted reference answers (synonyms, "CT" / "computed tomography")
``answer_type``    ``closed`` (yes/no and other closed sets), ``open`` or ``multiple_choice``
``options``        JSON-encoded ``{"A": "...", ...}`` for multiple choice, ``""`` otherwise
``answer_letter``  the correct option letter for multiple choice, ``""`` otherwise
``id``, ``source``, ``question``, ``modality``, ``organ``: provenance and grouping for evaluation
=================  ==============================================================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

AnswerType = Literal["closed", "open", "multiple_choice"]
ANSWER_TYPES: tuple[str, ...] = ("closed", "open", "multiple_choice")

SYSTEM_PROMPT = (
    "You are a careful medical expert. Think step by step about the question, then give the final answer. "
    "Write your reasoning inside <think> </think> and the final answer, as short as possible, inside "
    "<answer> </answer>."
)


class SampleError(ValueError):
    """A row that cannot become a sample. The message names the file, the row and the field."""

    def __init__(self, message: str, *, file: str = "", row: int | str | None = None, field: str = ""):
        where = ", ".join(p for p in (
            f"file {file}" if file else "",
            f"row {row}" if row is not None else "",
            f"field {field!r}" if field else "",
        ) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.row, self.field, self.reason = file, row, field, message

    def __reduce__(self):  # keep file/row/field across processes (datasets.map with num_proc, pools)
        return (_sample_error, (self.reason, self.file, self.row, self.field))


def _sample_error(reason: str, file: str, row: int | str | None, field: str) -> SampleError:
    return SampleError(reason, file=file, row=row, field=field)


@dataclass
class Sample:
    """One question with its reference answer, in the form every part of armed reads."""

    id: str
    source: str
    split: str
    question: str
    answer: str
    answer_type: AnswerType
    images: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)
    modality: str = ""
    organ: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise SampleError(
                f"unknown answer type {self.answer_type!r} (allowed: {', '.join(ANSWER_TYPES)})",
                row=self.id, field="answer_type",
            )
        if not str(self.question).strip():
            raise SampleError("empty question", row=self.id, field="question")
        if self.answer_type == "multiple_choice" and self.answer_letter == "":
            raise SampleError(
                f"multiple-choice answer {self.answer!r} matches no option ({', '.join(self.options)})",
                row=self.id, field="answer",
            )

    @property
    def answer_letter(self) -> str:
        """The letter of the option whose text is the answer (multiple choice), else ``""``.

        A loader that knows the letter (the release's label) sets ``meta["answer_letter"]``; it wins when it
        names an option with the answer's text, so options that repeat a text keep the labelled letter.
        """
        given = self.meta.get("answer_letter") if isinstance(self.meta, dict) else None
        if given in self.options and self.options[given].strip().lower() == self.answer.strip().lower():
            return given
        for letter, text in self.options.items():
            if text.strip().lower() == self.answer.strip().lower():
                return letter
        return ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """The inverse of :meth:`to_dict` (unknown keys are an error naming them, not silently dropped)."""
        known = {f.name for f in fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise SampleError(f"unknown sample keys {extra} (allowed: {', '.join(sorted(known))})",
                              row=data.get("id"))
        return cls(**data)


def format_question(sample: Sample) -> str:
    """The user-facing question text, with lettered options for multiple choice."""
    text = sample.question.strip()
    answer_set = sample.meta.get("answer_set") if isinstance(sample.meta, dict) else None
    if sample.answer_type == "multiple_choice" and sample.options:
        text += "\n" + "\n".join(f"{k}. {v}" for k, v in sample.options.items())
        text += "\nAnswer with the letter of the correct option."
    elif answer_set:
        # A benchmark's fixed answer set (PubMedQA: yes / no / maybe), the same for every question, so the
        # instruction never depends on (and never leaks) this sample's answer.
        text += f"\nAnswer with one of: {', '.join(answer_set)}."
    elif sample.answer_type == "closed" and sample.answer.strip().lower() in ("yes", "no"):
        text += "\nAnswer yes or no."
    return text


def build_prompt(sample: Sample, system_prompt: str = SYSTEM_PROMPT, vision: bool | None = None) -> list[dict]:
    """Conversational prompt for TRL: a system message and a user message (image placeholders first)."""
    vision = bool(sample.images) if vision is None else vision
    question = format_question(sample)
    if vision:  # every message in content-block form: Arrow can't store a column mixing strings and lists
        content: Any = [{"type": "image"} for _ in sample.images] + [{"type": "text", "text": question}]
        system: Any = [{"type": "text", "text": system_prompt}]
    else:
        content, system = question, system_prompt
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def to_rows(samples: Iterable[Sample], system_prompt: str = SYSTEM_PROMPT, vision: bool | None = None
            ) -> list[dict[str, Any]]:
    rows = []
    for s in samples:
        row = {
            "prompt": build_prompt(s, system_prompt, vision),
            "answer": s.answer,
            "aliases": list(s.aliases),
            "answer_type": s.answer_type,
            "options": json.dumps(s.options) if s.options else "",
            "answer_letter": s.answer_letter,
            "id": s.id,
            "source": s.source,
            "question": s.question,
            "modality": s.modality,
            "organ": s.organ,
        }
        if s.images and (vision is None or vision):
            row["images"] = list(s.images)
        rows.append(row)
    return rows


def to_hf_dataset(samples: Sequence[Sample], system_prompt: str = SYSTEM_PROMPT, vision: bool | None = None):
    """A ``datasets.Dataset`` with the columns documented in this module, ready for TRL trainers."""
    from datasets import Dataset

    return Dataset.from_list(to_rows(samples, system_prompt, vision))


def parse_options(value: Any) -> dict[str, str]:
    """The ``options`` column back to a dict (accepts the JSON string, a dict, or empty)."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
