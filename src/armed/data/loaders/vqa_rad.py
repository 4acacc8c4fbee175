"""VQA-RAD: 3,515 clinician-written questions on 315 radiology images (head CT/MRI, chest X-ray, abdominal CT).

Lau et al., "A dataset of clinically generated visual questions and answers about radiology images",
Scientific Data 5, 180251 (2018). https://osf.io/89kps/ (CC0 1.0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from armed.data.aliases import natural_aliases
from armed.data.io import Record, find_one, find_split_files, iter_json_list, iter_table
from armed.data.loader import Exclude, FileLoader, Row, answer_type_from_field, closed_if_yes_no
from armed.data.schema import Sample
from armed.registry import DATASETS

RELEASE_JSON = "VQA_RAD Dataset Public.json"
ORGANS = {"HEAD": "head", "CHEST": "chest", "ABD": "abdomen"}


@DATASETS.register("vqa-rad", description="VQA-RAD radiology VQA (315 images, 3,515 QA; OSF release or HF parquet)")
class VQARADLoader(FileLoader):
    """VQA-RAD from the OSF release JSON (+ image folder), or from the Hugging Face parquet release."""

    name = "vqa-rad"
    description = "VQA-RAD radiology VQA: closed (yes/no, left/right…) and open questions on CT, MRI, X-ray"
    splits = ("train", "test")
    default_split = "test"
    source_url = "https://osf.io/89kps/ (HF parquet: flaviagiammarino/vqa-rad)"
    license = "CC0 1.0"
    citation = "Lau et al., Sci Data 5:180251 (2018)"
    layout = (f"DIR/'{RELEASE_JSON}' + DIR/'VQA_RAD Image Folder'/synpicNNNN.jpg (OSF release); or "
              "DIR/trainset.json, testset.json + DIR/images/ (MEVF split); or DIR/**/train-*.parquet, "
              "test-*.parquet (HF flaviagiammarino/vqa-rad)")
    # The common split (MEVF, Nguyen et al. 2019): phrase_type test_freeform / test_para are the 451 test
    # questions; train is the other 1,797 entries plus their 1,267 rephrased questions (question_rephrase).
    expected_counts: ClassVar[dict[str, int]] = {"train": 3064, "test": 451}
    option_defaults: ClassVar[dict[str, Any]] = {"rephrasings": True}
    option_choices: ClassVar[dict[str, tuple]] = {"rephrasings": (True, False)}
    answer_type_rule = ("release field answer_type: CLOSED → closed, OPEN → open; the parquet release has no "
                        "such field, there yes/no answers → closed, others open (as for PathVQA)")

    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        release = find_one(root, RELEASE_JSON)
        if release is not None:
            self._image_dir = _image_dir(release.parent, "VQA_RAD Image Folder", "images")
            self._mode = "release"
            for rec in iter_json_list(release):
                yield rec
                rephrase = str((rec.data or {}).get("question_rephrase") or "").strip()
                is_test = str((rec.data or {}).get("phrase_type", "")).lower().startswith("test")
                if options["rephrasings"] and split == "train" and not is_test and rephrase not in ("", "NULL"):
                    # The rephrased question is a training question of its own (same image and answer).
                    yield Record(rec.file, rec.row, {**rec.data, "question": rephrase, "_rephrase": True})
            return
        split_json = find_one(root, f"{split}set.json")
        if split_json is not None:
            self._image_dir = _image_dir(split_json.parent, "images", "VQA_RAD Image Folder")
            self._mode = "split-json"
            yield from iter_json_list(split_json)
            return
        files = find_split_files(root, [split])
        if not files:
            raise self.missing(root, f"'{RELEASE_JSON}', '{split}set.json' or {split} parquet files")
        self._mode = "parquet"
        for f in files:
            yield from iter_table(f)

    def make_sample(self, row: Row) -> Sample:
        question, answer = row.text("question"), row.text("answer")
        if self._mode == "parquet":
            image = row.embedded_image(row.get("image"), "image")
            answer_type = closed_if_yes_no(answer)
            return Sample(id=f"{row.split}-{row.file.stem}-{row.row}", source=self.name, split=row.split, question=question,
                          answer=answer, answer_type=answer_type, images=[image], aliases=natural_aliases(answer))
        if self._mode == "release":
            phrase_type = row.text("phrase_type")
            in_test = phrase_type.lower().startswith("test")
            if in_test != (row.split == "test"):
                raise Exclude(f"phrase_type {'test_*' if in_test else 'not test_*'} (other split)")
        image = row.image(self._image_dir / row.text("image_name"), "image_name")
        organ = row.text("image_organ", "")
        qid = row.text("qid") + ("-rephrase" if row.data.get("_rephrase") else "")
        return Sample(
            id=qid, source=self.name, split=row.split, question=question, answer=answer,
            answer_type=answer_type_from_field(row.get("answer_type"), row), images=[image],
            aliases=natural_aliases(answer), organ=ORGANS.get(organ.upper(), organ.lower()),
            meta={"rephrased": bool(row.data.get("_rephrase")),
                  **{k: row.data[k] for k in ("question_type", "phrase_type", "image_name") if k in row.data}},
        )


def _image_dir(base: Path, *names: str) -> Path:
    for name in names:
        if (base / name).is_dir():
            return base / name
    return base
