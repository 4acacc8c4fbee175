"""SLAKE: a bilingual (English/Chinese) radiology VQA set with semantic labels, 642 images, 14,028 QA.

Liu et al., "SLAKE: A Semantically-Labeled Knowledge-Enhanced Dataset for Medical Visual Question
Answering", ISBI 2021. https://www.med-vqa.com/slake/ (HF mirror: BoKelvin/SLAKE)..
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.aliases import natural_aliases
from armed.data.io import Record, find_one, iter_json_list
from armed.data.loader import Exclude, FileLoader, Row, answer_type_from_field
from armed.data.schema import Sample
from armed.registry import DATASETS

# The original release names the validation file validate.json; some mirrors call it validation.json.
SPLIT_FILES = {"train": ("train.json",), "validation": ("validate.json", "validation.json"), "test": ("test.json",)}


@DATASETS.register("slake", description="SLAKE radiology VQA (English by default; lang='zh' for Chinese)")
class SLAKELoader(FileLoader):
    """SLAKE from its release JSONs; ``lang`` selects English (default) or Chinese questions."""

    name = "slake"
    description = "SLAKE bilingual radiology VQA with organ/modality labels (English default, lang=zh)"
    splits = ("train", "validation", "test")
    split_aliases: ClassVar[dict[str, str]] = {"val": "validation", "validate": "validation", "dev": "validation"}
    default_split = "test"
    source_url = "https://www.med-vqa.com/slake/ (HF: BoKelvin/SLAKE)"
    license = "CC BY 4.0 (per the HF dataset card)"
    citation = "Liu et al., ISBI 2021"
    layout = "DIR/train.json, DIR/validate.json, DIR/test.json + DIR/imgs/xmlabN/source.jpg"
    expected_counts: ClassVar[dict[str, int]] = {"train": 4919, "validation": 1053, "test": 1061}  # English
    answer_type_rule = "release field answer_type: CLOSED → closed, OPEN → open"
    option_defaults: ClassVar[dict[str, Any]] = {"lang": "en"}
    option_choices: ClassVar[dict[str, tuple]] = {"lang": ("en", "zh")}

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        path = next((p for p in (find_one(root, n) for n in SPLIT_FILES[split]) if p is not None), None)
        if path is None:
            raise self.missing(root, " or ".join(SPLIT_FILES[split]))
        self._image_dir = path.parent / "imgs" if (path.parent / "imgs").is_dir() else path.parent
        yield from iter_json_list(path)

    def make_sample(self, row: Row) -> Sample:
        lang = row.text("q_lang")
        if lang != row.options["lang"]:
            raise Exclude(f"q_lang {lang} (lang={row.options['lang']})")
        answer = row.text("answer")
        return Sample(
            id=row.text("qid"), source=self.name, split=row.split, question=row.text("question"), answer=answer,
            answer_type=answer_type_from_field(row.get("answer_type"), row),
            images=[row.image(self._image_dir / row.text("img_name"), "img_name")],
            aliases=natural_aliases(answer), modality=row.text("modality", ""), organ=row.text("location", ""),
            meta={"lang": lang, **{k: row.data[k] for k in ("img_id", "content_type", "base_type") if k in row.data}},
        )
