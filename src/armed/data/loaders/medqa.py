"""MedQA (USMLE): board-exam multiple choice from the US medical licensing exam (English part).

Jin et al., "What Disease does this Patient Have? A Large-scale Open Domain Question Answering Dataset from
Medical Exams", Applied Sciences 11(14), 2021. https://github.com/jind11/MedQA (MIT; data on Google Drive).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, iter_jsonl
from armed.data.loader import FileLoader, Row, option_answer, option_map
from armed.data.schema import Sample
from armed.registry import DATASETS


@DATASETS.register("medqa", description="MedQA USMLE multiple choice (jsonl; 5 options, or options=4)")
class MedQALoader(FileLoader):
    """MedQA US from ``questions/US/{train,dev,test}.jsonl`` (5 options) or ``US/4_options/`` (4 options)."""

    name = "medqa"
    description = "MedQA (USMLE): clinical vignette multiple choice, 5 options (or the 4-option version)"
    splits = ("train", "dev", "test")
    split_aliases: ClassVar[dict[str, str]] = {"validation": "dev", "val": "dev"}
    default_split = "test"
    source_url = "https://github.com/jind11/MedQA"
    license = "MIT"
    citation = "Jin et al., Applied Sciences 11(14):6421 (2021)"
    layout = ("DIR/questions/US/train.jsonl, dev.jsonl, test.jsonl (5 options) and/or "
              "DIR/questions/US/4_options/phrases_no_exclude_{train,dev,test}.jsonl (options=4); "
              "also DIR/US/… or DIR/{split}.jsonl")
    expected_counts: ClassVar[dict[str, int]] = {"train": 10178, "dev": 1272, "test": 1273}
    answer_type_rule = "multiple_choice: options {A..E} (or A..D), answer_idx is the key"
    option_defaults: ClassVar[dict[str, Any]] = {"options": 5}
    option_choices: ClassVar[dict[str, tuple]] = {"options": (4, 5)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        candidates = ([f"US/4_options/phrases_no_exclude_{split}.jsonl", f"phrases_no_exclude_{split}.jsonl"]
                      if options["options"] == 4 else [f"US/{split}.jsonl", f"{split}.jsonl"])
        path = next((p for p in (find_one(root, c) for c in candidates) if p is not None), None)
        if path is None:
            raise self.missing(root, " or ".join(candidates))
        yield from iter_jsonl(path)

    def make_sample(self, row: Row) -> Sample:
        options = option_map(row)
        letter = row.text("answer_idx")
        answer = option_answer(row, options, letter, "answer_idx")
        given = row.text("answer", "")
        if given and given.lower() != answer.lower():
            raise row.error(f"answer {given!r} disagrees with option {letter} {answer!r}", "answer")
        return Sample(id=f"{row.split}-{row.row}", source=self.name, split=row.split, question=row.text("question"),
                      answer=answer, answer_type="multiple_choice", options=options,
                      meta={"answer_letter": letter.upper(), "meta_info": row.text("meta_info", "")})
