"""MedMCQA: 194k four-option questions from Indian medical entrance exams (AIIMS / NEET PG).

Pal et al., "MedMCQA: A Large-scale Multi-Subject Multi-Choice Dataset for Medical domain Question
Answering", CHIL 2022. https://medmcqa.github.io (MIT); HF parquet: openlifescienceai/medmcqa.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, find_split_files, iter_jsonl, iter_table
from armed.data.loader import FileLoader, Row, option_answer
from armed.data.schema import Sample
from armed.registry import DATASETS

LETTERS = ("A", "B", "C", "D")
FIELDS = ("opa", "opb", "opc", "opd")


@DATASETS.register("medmcqa", description="MedMCQA 4-option medical exam MCQ (release jsonl or HF parquet)")
class MedMCQALoader(FileLoader):
    """MedMCQA from the release's ``train.json``/``dev.json`` (JSON lines) or the HF parquet files.

    ``cop`` (the correct option) is 1-4 in the original release and 0-3 on the Hugging Face hub; the loader
    picks by file type (``cop_base="auto"``) and a value outside the range is an error, never a guess.
    The public test split has no answers, so it is not offered.
    """

    name = "medmcqa"
    description = "MedMCQA: 4-option questions from AIIMS/NEET-PG exams across 21 subjects"
    splits = ("train", "validation")
    split_aliases: ClassVar[dict[str, str]] = {"dev": "validation", "val": "validation"}
    default_split = "validation"
    source_url = "https://medmcqa.github.io (HF: openlifescienceai/medmcqa)"
    license = "MIT"
    citation = "Pal et al., CHIL 2022 (PMLR 174)"
    layout = ("DIR/train.json, DIR/dev.json (JSON lines; cop 1-4) or DIR/**/train-*.parquet, "
              "validation-*.parquet (HF; cop 0-3)")
    expected_counts: ClassVar[dict[str, int]] = {"train": 182822, "validation": 4183}
    answer_type_rule = "multiple_choice: opa-opd, cop is the key"
    option_defaults: ClassVar[dict[str, Any]] = {"cop_base": "auto"}
    option_choices: ClassVar[dict[str, tuple]] = {"cop_base": ("auto", "0", "1")}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        release = find_one(root, "dev.json" if split == "validation" else "train.json")
        if release is not None:
            self._base = 1 if options["cop_base"] == "auto" else int(options["cop_base"])
            yield from iter_jsonl(release)
            return
        files = find_split_files(root, [split, "dev"] if split == "validation" else [split])
        if not files:
            raise self.missing(root, f"{'dev' if split == 'validation' else split}.json or {split} parquet files")
        self._base = 0 if options["cop_base"] == "auto" else int(options["cop_base"])
        for f in files:
            yield from iter_table(f)

    def make_sample(self, row: Row) -> Sample:
        options = {k: row.text(f, "") for k, f in zip(LETTERS, FIELDS, strict=True)}
        cop = row.get("cop")
        try:
            index = int(cop) - self._base
        except (TypeError, ValueError):
            index = -1
        if not 0 <= index < len(LETTERS):
            lo, hi = self._base, self._base + 3
            raise row.error(f"cop {cop!r} outside {lo}-{hi} (cop_base {self._base})", "cop")
        letter = LETTERS[index]
        answer = option_answer(row, options, letter, "cop")
        return Sample(
            id=row.text("id"), source=self.name, split=row.split, question=row.text("question"), answer=answer,
            answer_type="multiple_choice", options=options,
            meta={"answer_letter": letter, "subject": row.text("subject_name", ""),
                  "topic": row.text("topic_name", ""), "explanation": row.text("exp", ""),
                  "choice_type": row.text("choice_type", "")},
        )
