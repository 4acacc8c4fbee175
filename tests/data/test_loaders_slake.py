"""SLAKE loader on fixtures in the release format: train.json / validate.json / test.json + imgs/."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


def _q(qid, img, question, answer, answer_type, lang="en", modality="CT", location="Lung"):
    return {"img_id": int(img.split("/")[0][5:]), "img_name": img, "question": question, "answer": answer,
            "q_lang": lang, "location": location, "modality": modality, "answer_type": answer_type,
            "base_type": "vqa", "content_type": "Modality", "triple": ["vhead", "_", "_"], "qid": qid}


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "Slake1.0"
    for n in (1, 2, 3):
        benchfmt.image(root / "imgs" / f"xmlab{n}" / "source.jpg")
    benchfmt.write_json(root / "train.json", [
        _q(0, "xmlab1/source.jpg", "What modality is used to take this image?", "CT", "OPEN"),
        _q(1, "xmlab1/source.jpg", "Is this a study of the abdomen?", "No", "CLOSED"),
        _q(2, "xmlab1/source.jpg", "这张图片的成像方式是什么?", "CT", "OPEN", lang="zh"),
    ])
    benchfmt.write_json(root / "validate.json", [
        _q(10, "xmlab2/source.jpg", "Which organ is abnormal?", "Left Lung", "OPEN", modality="X-Ray"),
        _q(11, "xmlab2/source.jpg", "图中哪个器官不正常?", "左肺", "OPEN", lang="zh", modality="X-Ray"),
    ])
    benchfmt.write_json(root / "test.json", [
        _q(20, "xmlab3/source.jpg", "Does the picture contain the liver?", "Yes", "CLOSED", modality="MRI"),
        _q(21, "xmlab3/source.jpg", "What is the scanning plane?", "Transverse Plane", "OPEN", modality="MRI"),
        _q(22, "xmlab3/source.jpg", "是否包含肝脏?", "是", "CLOSED", lang="zh", modality="MRI"),
    ])
    return root


def test_english_default_counts_and_fields(root):
    train, report = load_dataset("slake", root, "train")
    assert [s.answer_type for s in train] == ["open", "closed"]
    assert train[0].modality == "CT" and train[0].organ == "Lung" and train[0].meta["lang"] == "en"
    assert "computed tomography" in train[0].aliases
    assert train[0].images[0].endswith("imgs/xmlab1/source.jpg")
    assert report.rows_read == 2 and report.excluded == {"q_lang zh (lang=en)": 1}
    assert len(load_dataset("slake", root)[0]) == 2  # default split: test
    val, _ = load_dataset("slake", root, "val")  # alias of validation
    assert [s.split for s in val] == ["validation"] and val[0].answer == "Left Lung"


def test_chinese_option(root):
    test, report = load_dataset("slake", root, "test", lang="zh")
    assert [(s.id, s.answer, s.answer_type) for s in test] == [("22", "是", "closed")]
    assert report.excluded == {"q_lang en (lang=zh)": 2}
    with pytest.raises(ValueError, match="invalid slake option lang 'fr'"):
        load_dataset("slake", root, "test", lang="fr")
    with pytest.raises(ValueError, match="invalid slake option 'language'.*Did you mean 'lang'"):
        load_dataset("slake", root, "test", language="zh")


def test_bad_rows_are_named_and_skippable(root):
    rows = [
        _q(20, "xmlab3/source.jpg", "Is it normal?", "Yes", "CLOSED"),
        _q(20, "xmlab3/source.jpg", "Is it abnormal?", "No", "CLOSED"),  # duplicate qid
        _q(21, "xmlab9/source.jpg", "Which plane?", "Coronal Plane", "OPEN"),  # image missing
        _q(23, "xmlab3/source.jpg", "Which organ?", "Liver", "FREE"),  # unknown answer type
        {"qid": 24, "q_lang": "en", "question": "no answer", "img_name": "xmlab3/source.jpg", "answer_type": "OPEN"},
    ]
    benchfmt.write_json(root / "test.json", rows)
    with pytest.raises(SampleError) as excinfo:
        load_dataset("slake", root, "test")
    assert (excinfo.value.row, excinfo.value.field) == (2, "id")
    samples, report = load_dataset("slake", root, "test", skip_bad=True)
    assert len(samples) == 1 and report.rows_read == 5
    assert [(e.row, e.field) for e in report.skipped] == [(2, "id"), (3, "img_name"), (4, "answer_type"),
                                                          (5, "answer")]
    assert report.reasons() == {"duplicate id": 1, "image not found": 1, "unknown answer type": 1,
                                "missing field": 1}
    assert all(e.file.endswith("test.json") for e in report.skipped)


def test_missing_split_file_gives_layout(root):
    (root / "validate.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"validate.json or validation.json not found.*imgs/xmlabN/source.jpg"):
        load_dataset("slake", root, "validation")
    benchfmt.write_json(root / "validation.json", [_q(5, "xmlab2/source.jpg", "Which organ?", "Liver", "OPEN")])
    assert [s.id for s in load_dataset("slake", root, "validation")[0]] == ["5"]  # the mirrors' file name
