"""PMC-VQA: multiple-choice VQA on figures from PubMed Central papers (Zhang et al., 2023).

"PMC-VQA: Visual Instruction Tuning for Medical Visual Question Answering", arXiv:2305.10415.
https://huggingface.co/datasets/xmcmic/PMC-VQA (CC BY-SA 4.0 per the dataset card).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, iter_csv
from armed.data.loader import FileLoader, Row, option_answer
from armed.data.schema import Sample
from armed.registry import DATASETS

LETTERS = ("A", "B", "C", "D")
# The release writes choices as "A:CT scan" (sometimes with spaces or a period); the prefix is not the text.
_PREFIX = re.compile(r"^\s*\(?([A-D])\s*[:.)]\s*")
FILES = {  # (version 1 file, version 2 file)
    "train": ("train.csv", "train_2.csv"),
    "test": ("test.csv", "test_2.csv"),
    "test_clean": ("test_clean.csv", "test_clean.csv"),
}


@DATASETS.register("pmc-vqa", description="PMC-VQA multiple-choice VQA on PubMed Central figures (CSV + images)")
class PMCVQALoader(FileLoader):
    """PMC-VQA from the release CSVs (v1 ``train.csv``/``test.csv``/``test_clean.csv`` or v2 ``*_2.csv``)."""

    name = "pmc-vqa"
    description = "PMC-VQA: 4-option multiple-choice questions on biomedical paper figures"
    splits = ("train", "test", "test_clean")
    split_aliases: ClassVar[dict[str, str]] = {"test-clean": "test_clean", "clean": "test_clean"}
    default_split = "test_clean"
    source_url = "https://huggingface.co/datasets/xmcmic/PMC-VQA"
    license = "CC BY-SA 4.0"
    citation = "Zhang et al., arXiv:2305.10415 (2023)"
    layout = ("DIR/train.csv, DIR/test.csv, DIR/test_clean.csv (v2: train_2.csv, test_2.csv) with columns "
              "Figure_path, Question, Answer, Choice A-D, Answer_label + DIR/images/<Figure_path> "
              "(or DIR/figures/)")
    expected_counts: ClassVar[dict[str, int]] = {"test_clean": 2000}
    answer_type_rule = "multiple_choice (four options A-D; Answer_label is the key)"
    option_defaults: ClassVar[dict[str, Any]] = {"version": 1}
    option_choices: ClassVar[dict[str, tuple]] = {"version": (1, 2)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        name = FILES[split][options["version"] - 1]
        path = find_one(root, name)
        if path is None:
            raise self.missing(root, name)
        base = path.parent
        self._image_dirs = [d for d in (base / "images", base / "figures", base / "images_2", base) if d.is_dir()]
        yield from iter_csv(path)

    def make_sample(self, row: Row) -> Sample:
        options = {}
        for letter in LETTERS:
            text = row.text(f"Choice {letter}", "")
            if text:
                options[letter] = _PREFIX.sub("", text, count=1).strip()
        label = row.text("Answer_label", "")
        if not label:  # older CSVs: only the answer text, matched against the options
            text = _PREFIX.sub("", row.text("Answer"), count=1).strip().lower()
            label = next((k for k, v in options.items() if v.lower() == text), "")
        answer = option_answer(row, options, label, "Answer_label")
        figure = row.text("Figure_path")
        image_dir = next((d for d in self._image_dirs if (d / figure).exists()), self._image_dirs[0])
        index = row.text("index", "") or row.text("", "") or str(row.row)  # pandas writes the index as ""
        return Sample(
            id=f"{row.split}-{index}", source=self.name, split=row.split, question=row.text("Question"),
            answer=answer, answer_type="multiple_choice", options=options,
            images=[row.image(image_dir / figure, "Figure_path")],
            meta={"answer_letter": label.strip().upper(), "figure": figure},
        )
