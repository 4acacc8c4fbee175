"""PathVQA: 32,799 QA pairs on 4,998 pathology images from textbooks and PEIR.

He et al., "PathVQA: 30000+ Questions for Medical Visual Question Answering", arXiv:2003.10286 (2020).
https://github.com/UCSD-AI4H/PathVQA (MIT); parquet release on HF: flaviagiammarino/path-vqa.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.aliases import natural_aliases
from armed.data.io import Record, find_split_files, iter_table
from armed.data.loader import FileLoader, Row, closed_if_yes_no
from armed.data.schema import Sample
from armed.registry import DATASETS

FILE_NAMES = {"train": ["train"], "validation": ["validation", "val"], "test": ["test"]}


@DATASETS.register("pathvqa", description="PathVQA pathology VQA (HF parquet or datasets cache; yes/no = closed)")
class PathVQALoader(FileLoader):
    """PathVQA from the Hugging Face parquet release or a ``datasets`` cache folder of it."""

    name = "pathvqa"
    description = "PathVQA pathology VQA: yes/no (closed) and open questions on 4,998 images"
    splits = ("train", "validation", "test")
    split_aliases: ClassVar[dict[str, str]] = {"val": "validation", "dev": "validation"}
    default_split = "test"
    source_url = "https://huggingface.co/datasets/flaviagiammarino/path-vqa (orig. github.com/UCSD-AI4H/PathVQA)"
    license = "MIT"
    citation = "He et al., arXiv:2003.10286 (2020)"
    layout = ("DIR/**/train-*.parquet, validation-*.parquet, test-*.parquet (HF flaviagiammarino/path-vqa), or a "
              "datasets cache folder with path-vqa-train*.arrow …; columns image{bytes,path}, question, answer")
    expected_counts: ClassVar[dict[str, int]] = {"train": 19654, "validation": 6259, "test": 6719}
    answer_type_rule = "answer yes/no → closed, everything else → open (the PathVQA paper's split)"

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        files = find_split_files(root, FILE_NAMES[split])
        if not files:
            raise self.missing(root, f"{split} parquet/arrow files")
        for f in files:
            yield from iter_table(f)

    def make_sample(self, row: Row) -> Sample:
        answer = row.text("answer")
        return Sample(
            id=f"{row.split}-{row.file.name}-{row.row}", source=self.name, split=row.split,
            question=row.text("question"), answer=answer, answer_type=closed_if_yes_no(answer),
            images=[row.embedded_image(row.get("image"), "image")], aliases=natural_aliases(answer),
        )
