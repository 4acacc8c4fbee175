"""OmniMedVQA: 127,995 multiple-choice QA over 118,010 images from 73 medical datasets, 12 modalities.

Hu et al., "OmniMedVQA: A New Large-Scale Comprehensive Evaluation Benchmark for Medical LVLM", CVPR 2024.
https://huggingface.co/datasets/foreverbeliever/OmniMedVQA (the open-access part: 42 datasets, 88,996 QA).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import Record, find_one, iter_json_list
from armed.data.loader import FileLoader, Row
from armed.data.schema import Sample
from armed.registry import DATASETS

LETTERS = ("A", "B", "C", "D", "E", "F")
ACCESS_FOLDERS = {"open": ("Open-access",), "restricted": ("Restricted-access",),
                  "all": ("Open-access", "Restricted-access")}


@DATASETS.register("omnimedvqa", description="OmniMedVQA multiple-choice VQA across 12 modalities (QA_information JSONs)")
class OmniMedVQALoader(FileLoader):
    """OmniMedVQA from ``QA_information/<access>/<dataset>.json`` + ``Images/``; evaluation only (one split)."""

    name = "omnimedvqa"
    description = "OmniMedVQA: 2-4 option multiple choice over 42 open-access medical image datasets"
    splits = ("test",)
    default_split = "test"
    source_url = "https://huggingface.co/datasets/foreverbeliever/OmniMedVQA"
    license = "per source dataset (the open-access part only; see the release README)"
    citation = "Hu et al., CVPR 2024"
    layout = ("DIR/QA_information/Open-access/<dataset>.json (list of {dataset, question_id, question_type, "
              "question, gt_answer, image_path, option_A-D, modality_type}) + DIR/Images/<dataset>/... "
              "(image_path is relative to DIR)")
    expected_counts: ClassVar[dict[str, int]] = {"test": 88996}  # open access
    answer_type_rule = "multiple_choice: gt_answer is the text of one of option_A-D"
    option_defaults: ClassVar[dict[str, Any]] = {"access": "open"}
    option_choices: ClassVar[dict[str, tuple]] = {"access": tuple(ACCESS_FOLDERS)}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        qa = find_one(root, "QA_information")
        if qa is None or not qa.is_dir():
            raise self.missing(root, "QA_information/")
        self._root = qa.parent
        files = [f for folder in ACCESS_FOLDERS[options["access"]] for f in sorted((qa / folder).glob("*.json"))]
        if not files:
            raise self.missing(root, f"QA_information/{'|'.join(ACCESS_FOLDERS[options['access']])}/*.json")
        for f in files:
            yield from iter_json_list(f)

    def make_sample(self, row: Row) -> Sample:
        options = {k: row.text(f"option_{k}", "") for k in LETTERS}
        options = {k: v for k, v in options.items() if v}
        if len(options) < 2:
            raise row.error("fewer than two options", "option_A")
        gt = row.text("gt_answer")
        letter = next((k for k, v in options.items() if v.lower() == gt.lower()), "")
        if not letter:
            raise row.error(f"gt_answer {gt!r} is not one of the options ({', '.join(options.values())})",
                            "gt_answer")
        dataset = row.text("dataset", "") or row.file.stem
        # One file of the release spells the key "modality" instead of "modality_type".
        modality = row.text("modality_type", "") or row.text("modality", "")
        return Sample(
            id=f"{dataset}/{row.text('question_id')}", source=self.name, split=row.split,
            question=row.text("question"), answer=options[letter], answer_type="multiple_choice", options=options,
            images=[row.image(self._root / row.text("image_path"), "image_path")], modality=modality,
            meta={"answer_letter": letter, "dataset": dataset, "question_type": row.text("question_type", "")},
        )
