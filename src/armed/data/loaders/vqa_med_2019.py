"""ImageCLEF VQA-Med 2019: radiology questions in four categories (modality, plane, organ, abnormality).

Ben Abacha et al., "VQA-Med: Overview of the Medical Visual Question Answering Task at ImageCLEF 2019",
CLEF 2019 Working Notes. https://github.com/abachaa/VQA-Med-2019 (data via ImageCLEF / that repository).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.aliases import natural_aliases
from armed.data.io import Record, find_one, iter_delimited_text
from armed.data.loader import FileLoader, Row, closed_if_yes_no
from armed.data.schema import Sample
from armed.registry import DATASETS

CATEGORIES = {"C1": "modality", "C2": "plane", "C3": "organ", "C4": "abnormality"}
SPLIT_TAGS = {"train": ("train", "Train_images"), "validation": ("val", "Val_images")}
TEST_FILE = "VQAMed2019_Test_Questions_w_Ref_Answers.txt"
TEST_IMAGES = "VQAMed2019_Test_Images"


@DATASETS.register("vqa-med-2019", description="ImageCLEF VQA-Med 2019 (pipe-separated QA files + images)")
class VQAMed2019Loader(FileLoader):
    """VQA-Med 2019 from the per-category training/validation files and the test file with references."""

    name = "vqa-med-2019"
    description = "VQA-Med 2019: modality / plane / organ / abnormality questions on radiology images"
    splits = ("train", "validation", "test")
    split_aliases: ClassVar[dict[str, str]] = {"val": "validation", "dev": "validation"}
    default_split = "test"
    source_url = "https://github.com/abachaa/VQA-Med-2019"
    license = "research use per the ImageCLEF 2019 data agreement (images from MedPix)"
    citation = "Ben Abacha et al., CLEF 2019 Working Notes"
    layout = ("DIR/**/QAPairsByCategory/C1_Modality_train.txt … C4_Abnormality_train.txt (image|question|answer) "
              "+ DIR/**/Train_images/<image>.jpg; the same with _val.txt + Val_images/; test: "
              f"DIR/**/{TEST_FILE} (image|category|question|answer) + DIR/**/{TEST_IMAGES}/")
    expected_counts: ClassVar[dict[str, int]] = {"train": 12792, "validation": 2000, "test": 500}
    answer_type_rule = ("yes/no answers → closed (most abnormality questions, a few modality ones); all other "
                        "modality / plane / organ / abnormality answers → open; the category is kept in meta")

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        if split == "test":
            path = find_one(root, TEST_FILE)
            if path is None:
                raise self.missing(root, TEST_FILE)
            self._images = _dir(root, TEST_IMAGES, path.parent)
            yield from iter_delimited_text(path, ["image", "category", "question", "answer"])
            return
        tag, image_folder = SPLIT_TAGS[split]
        files = sorted(p for p in root.rglob(f"C[1-4]_*_{tag}.txt"))
        if not files:
            raise self.missing(root, f"QAPairsByCategory/C*_<Category>_{tag}.txt")
        self._images = _dir(root, image_folder, files[0].parent)
        for f in files:
            yield from iter_delimited_text(f, ["image", "question", "answer"])

    def make_sample(self, row: Row) -> Sample:
        category = row.text("category", "").lower()
        if not category:  # per-category files: C3_Organ_train.txt
            category = CATEGORIES.get(row.file.name[:2], row.file.stem.split("_")[1].lower())
        if category not in CATEGORIES.values():
            raise row.error(f"unknown category {category!r} (expected {', '.join(CATEGORIES.values())})",
                            "category")
        image, answer = row.text("image"), row.text("answer")
        return Sample(
            id=f"{row.split}-{category}-{image}-{row.row}", source=self.name, split=row.split,
            question=row.text("question"), answer=answer, answer_type=closed_if_yes_no(answer),
            images=[row.image(self._images / (image if Path(image).suffix else f"{image}.jpg"), "image")],
            aliases=natural_aliases(answer), modality=answer if category == "modality" else "",
            organ=answer if category == "organ" else "", meta={"category": category},
        )


def _dir(root: Path, name: str, fallback: Path) -> Path:
    found = find_one(root, name)
    return found if found is not None and found.is_dir() else fallback


