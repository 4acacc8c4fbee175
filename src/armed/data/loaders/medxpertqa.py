"""MedXpertQA: expert-level medical multiple choice, a text subset (10 options) and a multimodal one (5).

Zuo et al., "MedXpertQA: Benchmarking Expert-Level Medical Reasoning and Understanding", ICML 2025,
arXiv:2501.18362. https://huggingface.co/datasets/TsinghuaC3I/MedXpertQA (MIT).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, iter_jsonl
from armed.data.loader import FileLoader, Row, option_answer, option_map
from armed.data.schema import Sample
from armed.registry import DATASETS

# The release repeats the options inside the question text; armed lists them itself (format_question).
_CHOICES = re.compile(r"\s*Answer Choices:\s*\(A\).*\Z", re.S)
SUBSETS = {"text": "Text", "mm": "MM"}


@DATASETS.register("medxpertqa", description="MedXpertQA expert medical MCQ (subset=text default, or mm)")
class MedXpertQALoader(FileLoader):
    """MedXpertQA from ``Text/{dev,test}.jsonl`` or ``MM/{dev,test}.jsonl`` (+ ``images/`` for MM)."""

    name = "medxpertqa"
    description = "MedXpertQA: expert-level medical multiple choice; Text (10 options) or MM (5 options, images)"
    splits = ("dev", "test")
    split_aliases: ClassVar[dict[str, str]] = {"validation": "dev", "val": "dev"}
    default_split = "test"
    source_url = "https://huggingface.co/datasets/TsinghuaC3I/MedXpertQA"
    license = "MIT"
    citation = "Zuo et al., ICML 2025 (arXiv:2501.18362)"
    layout = "DIR/Text/dev.jsonl, DIR/Text/test.jsonl, DIR/MM/dev.jsonl, DIR/MM/test.jsonl + DIR/images/MM-*.jpeg"
    expected_counts: ClassVar[dict[str, int]] = {"dev": 5, "test": 2450}  # Text; MM: dev 5, test 2,000
    answer_type_rule = "multiple_choice: options {A..J} (Text) or {A..E} (MM), label is the key"
    option_defaults: ClassVar[dict[str, Any]] = {"subset": "text"}
    option_choices: ClassVar[dict[str, tuple]] = {"subset": tuple(SUBSETS)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        rel = f"{SUBSETS[options['subset']]}/{split}.jsonl"
        path = root / rel if (root / rel).is_file() else find_one(root, rel)
        if path is None:
            raise self.missing(root, rel)
        images = find_one(root, "images")
        self._images = images if images is not None and images.is_dir() else path.parent
        yield from iter_jsonl(path)

    def make_sample(self, row: Row) -> Sample:
        options = option_map(row)
        label = row.text("label")
        answer = option_answer(row, options, label, "label")
        question = row.text("question")
        names = row.get("images", [])
        if not isinstance(names, list):
            raise row.error("images must be a list of file names", "images")
        return Sample(
            id=row.text("id"), source=self.name, split=row.split, question=_CHOICES.sub("", question) or question,
            answer=answer, answer_type="multiple_choice", options=options,
            images=[row.image(self._images / str(n), "images") for n in names],
            meta={"answer_letter": label.upper(), "subset": row.options["subset"],
                  **{k: row.data[k] for k in ("medical_task", "body_system", "question_type") if k in row.data}},
        )


@DATASETS.register("medxpertqa-mm", description="MedXpertQA multimodal subset (5 options, images)")
class MedXpertQAMMLoader(MedXpertQALoader):
    """MedXpertQA MM: the multimodal subset (``MM/*.jsonl`` + ``images/``)."""

    name = "medxpertqa-mm"
    description = "MedXpertQA MM: expert-level multimodal medical multiple choice (5 options)"
    expected_counts: ClassVar[dict[str, int]] = {"dev": 5, "test": 2000}
    option_defaults: ClassVar[dict[str, Any]] = {"subset": "mm"}
