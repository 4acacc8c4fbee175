"""MMMU, Health & Medicine discipline: college-level multimodal questions in five medical subjects.

Yue et al., "MMMU: A Massive Multi-discipline Multimodal Understanding and Reasoning Benchmark for Expert
AGI", CVPR 2024. https://huggingface.co/datasets/MMMU/MMMU (Apache-2.0). Test answers are hidden, so only
dev and validation load.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_split_files, iter_table
from armed.data.loader import Exclude, FileLoader, Row, option_answer
from armed.data.schema import Sample
from armed.registry import DATASETS

SUBJECTS = ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
            "Public_Health")
LETTERS = "ABCDEFGHIJ"


@DATASETS.register("mmmu-med", description="MMMU Health & Medicine subjects (HF parquet; dev + validation)")
class MMMUMedLoader(FileLoader):
    """The five Health & Medicine subjects of MMMU from the Hugging Face parquet release."""

    name = "mmmu-med"
    description = "MMMU Health & Medicine: multimodal college-level questions (5 subjects, images embedded)"
    splits = ("dev", "validation")
    split_aliases: ClassVar[dict[str, str]] = {"val": "validation"}
    default_split = "validation"
    source_url = "https://huggingface.co/datasets/MMMU/MMMU"
    license = "Apache-2.0"
    citation = "Yue et al., CVPR 2024"
    layout = ("DIR/<Subject>/dev-*.parquet, validation-*.parquet for Subject in " + ", ".join(SUBJECTS)
              + " (HF MMMU/MMMU; other subjects in DIR are excluded and counted)")
    expected_counts: ClassVar[dict[str, int]] = {"dev": 25, "validation": 150}
    answer_type_rule = ("question_type multiple-choice → multiple_choice (options A.., answer a letter); "
                        "question_type open → open")

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        files = find_split_files(root, [split], exts=("parquet",))
        if not files:
            raise self.missing(root, f"{split}-*.parquet")
        for f in files:
            yield from iter_table(f)

    def make_sample(self, row: Row) -> Sample:
        sid = row.text("id")  # "validation_Clinical_Medicine_12"
        subject = next((s for s in SUBJECTS if f"_{s}_" in f"_{sid}_" or s in row.file.parts), "")
        if not subject:
            raise Exclude("not a Health & Medicine subject")
        images = [row.embedded_image(row.data[k], k) for k in (f"image_{i}" for i in range(1, 8))
                  if row.data.get(k) is not None]
        qtype = row.text("question_type", "multiple-choice")
        meta = {"subject": subject, "subfield": row.text("subfield", ""), "img_type": row.text("img_type", ""),
                "topic_difficulty": row.text("topic_difficulty", "")}
        if qtype == "open":
            return Sample(id=sid, source=self.name, split=row.split, question=row.text("question"),
                          answer=row.text("answer"), answer_type="open", images=images, meta=meta)
        try:
            listed = ast.literal_eval(row.text("options"))
        except (ValueError, SyntaxError) as exc:
            raise row.error(f"options is not a list literal ({exc})", "options") from exc
        if not isinstance(listed, list) or len(listed) < 2:
            raise row.error("options must list at least two choices", "options")
        options = {LETTERS[i]: str(v).strip() for i, v in enumerate(listed)}
        letter = row.text("answer")
        answer = option_answer(row, options, letter, "answer")
        return Sample(id=sid, source=self.name, split=row.split, question=row.text("question"), answer=answer,
                      answer_type="multiple_choice", options=options, images=images,
                      meta={**meta, "answer_letter": letter.upper()})
