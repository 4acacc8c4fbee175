"""MMLU medical subsets from a local copy of MMLU (the original CSV release or the HF parquet).

Hendrycks et al., "Measuring Massive Multitask Language Understanding", ICLR 2021.
https://github.com/hendrycks/test (MIT); HF: cais/mmlu. The same five subjects ship embedded as ``mmlu-med``
(no download); this loader is for a user's own MMLU folder, with MMLU's own dev/validation/test splits.
With ``open_ended=true`` it asks the stem without options using the embedded set's rules
(:mod:`armed.data.embedded.mmlu_med`), skipping and reporting stems that need their options.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_split_files, iter_csv, iter_table
from armed.data.loader import Exclude, FileLoader, Row, option_answer
from armed.data.schema import Sample
from armed.registry import DATASETS

LETTERS = ("A", "B", "C", "D")
MEDICAL = ("anatomy", "clinical_knowledge", "college_medicine", "medical_genetics", "professional_medicine")
SUBJECT_SETS = {"medical": MEDICAL, "multimedqa": (*MEDICAL, "college_biology")}  # MultiMedQA adds biology
TEST_COUNTS = {"anatomy": 135, "clinical_knowledge": 265, "college_medicine": 173, "medical_genetics": 100,
               "professional_medicine": 272, "college_biology": 144}
CSV_DIRS = {"test": "test", "validation": "val", "dev": "dev"}


@DATASETS.register("mmlu", description="MMLU medical subjects from a local MMLU folder (CSV or HF parquet)")
class MMLUMedicalLoader(FileLoader):
    """MMLU's medical subjects from ``data/{dev,val,test}/<subject>_<split>.csv`` or ``cais/mmlu`` parquet."""

    name = "mmlu"
    description = "MMLU medical subjects (anatomy, clinical knowledge, college medicine, genetics, prof. medicine)"
    splits = ("dev", "validation", "test")
    split_aliases: ClassVar[dict[str, str]] = {"val": "validation"}
    default_split = "test"
    source_url = "https://github.com/hendrycks/test (HF: cais/mmlu)"
    license = "MIT"
    citation = "Hendrycks et al., ICLR 2021"
    layout = ("DIR/data/test/anatomy_test.csv … (no header: question, A, B, C, D, answer letter), "
              "DIR/data/val/*_val.csv, DIR/data/dev/*_dev.csv; or DIR/<subject>/test-*.parquet / "
              "DIR/all/test-*.parquet (HF cais/mmlu: question, subject, choices, answer 0-3)")
    expected_counts: ClassVar[dict[str, int]] = {"dev": 25, "validation": 107, "test": 945}
    answer_type_rule = "multiple_choice (A-D); open_ended=true → open, reference = the correct option's text"
    option_defaults: ClassVar[dict[str, Any]] = {"subjects": "medical", "open_ended": False}
    option_choices: ClassVar[dict[str, tuple]] = {"subjects": tuple(SUBJECT_SETS), "open_ended": (True, False)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        subjects = SUBJECT_SETS[options["subjects"]]
        tag = CSV_DIRS[split]
        csvs = [p for s in subjects for p in sorted(root.rglob(f"{s}_{tag}.csv"))]
        if csvs:
            for p in csvs:
                for rec in iter_csv(p, fieldnames=["question", "A", "B", "C", "D", "answer"]):
                    if rec.data is not None:
                        rec.data["subject"] = p.name[: -len(f"_{tag}.csv")]
                    yield rec
            return
        files = find_split_files(root, [split, tag], exts=("parquet",))
        if not files:
            raise self.missing(root, f"<subject>_{tag}.csv files or {split} parquet files")
        # The hub repo holds every question twice: per subject (anatomy/…) and in all/. Read one copy.
        per_subject = [f for f in files if f.relative_to(root).parts[0] in subjects]
        files = per_subject or [f for f in files if f.relative_to(root).parts[0] == "all"] or files
        for f in files:
            folder = f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else ""
            for rec in iter_table(f):
                if rec.data is not None and not rec.data.get("subject") and folder in TEST_COUNTS:
                    rec.data["subject"] = folder
                yield rec

    def make_sample(self, row: Row) -> Sample:
        subject = row.text("subject", "")
        if subject not in SUBJECT_SETS[row.options["subjects"]]:
            raise Exclude(f"subject {subject or '(none)'} not in subjects={row.options['subjects']}")
        if "choices" in row.data:  # HF parquet: choices list + answer index 0-3
            choices = row.get("choices")
            if not isinstance(choices, list) or len(choices) != 4:
                raise row.error("choices must list four options", "choices")
            options = {k: str(v).strip() for k, v in zip(LETTERS, choices, strict=True)}
            raw = row.get("answer")
            letter = LETTERS[int(raw)] if str(raw).isdigit() and int(raw) < 4 else str(raw)
        else:
            options = {k: row.text(k, "") for k in LETTERS}
            letter = row.text("answer")
        answer = option_answer(row, options, letter, "answer")
        letter = letter.strip().upper()
        question = row.text("question")
        sid = f"{row.split}-{subject}-{row.file.stem}-{row.row}"
        meta = {"subject": subject, "answer_letter": letter}
        if row.options["open_ended"]:
            from armed.data.embedded.mmlu_med import open_ended_problem, open_stem

            why = open_ended_problem(question, options, letter)
            if why:
                raise row.error(why, "question")
            return Sample(id=sid, source=self.name, split=row.split, question=open_stem(question), answer=answer,
                          answer_type="open", organ=subject.replace("_", " "), meta={**meta, "options": options})
        return Sample(id=sid, source=self.name, split=row.split, question=question, answer=answer,
                      answer_type="multiple_choice", options=options, organ=subject.replace("_", " "), meta=meta)
