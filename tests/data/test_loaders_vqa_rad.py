"""VQA-RAD loader on fixtures in the OSF release format (one JSON + image folder) and the HF parquet format."""

from __future__ import annotations

import json

import benchfmt
import pytest

from armed.data import SampleError, load_dataset

RELEASE = "VQA_RAD Dataset Public.json"
IMAGES = "VQA_RAD Image Folder"


def _row(qid, image, question, answer, answer_type, phrase_type, organ="HEAD"):
    return {"qid": qid, "phrase_type": phrase_type, "qid_linked_id": f"link-{qid}", "image_case_url": "",
            "image_name": image, "image_organ": organ, "evaluation": "given", "question": question,
            "question_rephrase": "NULL", "question_relation": "NULL", "question_frame": "NULL",
            "question_type": "PRES", "answer": answer, "answer_type": answer_type}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMED_HOME", str(tmp_path / "home"))


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "vqa-rad"
    benchfmt.image(root / IMAGES / "synpic100.jpg")
    benchfmt.image(root / IMAGES / "synpic200.jpg")
    rows = [
        _row(0, "synpic100.jpg", "Is there a mass?", "Yes", "CLOSED", "freeform"),
        _row(1, "synpic100.jpg", "What imaging modality is this?", "ct", "OPEN", "freeform"),
        _row(2, "synpic200.jpg", "How many lesions are there?", 2, "OPEN", "para", organ="ABD"),
        _row(3, "synpic200.jpg", "Is the lesion on the left?", "No", "CLOSED ", "test_freeform", organ="ABD"),
        _row(4, "synpic100.jpg", "Where is the mass?", "right frontal lobe", "OPEN", "test_para"),
    ]
    benchfmt.write_json(root / RELEASE, rows)
    return root


def test_release_splits_answer_types_and_fields(release):
    train, rep = load_dataset("vqa-rad", release, "train")
    test, rep_test = load_dataset("vqa-rad", release, "test")
    assert [s.id for s in train] == ["0", "1", "2"] and [s.id for s in test] == ["3", "4"]
    assert [s.answer_type for s in train] == ["closed", "open", "open"]
    assert [s.answer_type for s in test] == ["closed", "open"]  # "CLOSED " with a stray space
    assert train[2].answer == "2" and train[2].organ == "abdomen" and train[0].organ == "head"
    assert "computed tomography" in train[1].aliases
    assert train[0].images[0].endswith(f"{IMAGES}/synpic100.jpg") and train[0].images[0].startswith("/")
    assert rep.rows_read == rep.kept == 3 and rep.excluded == {"phrase_type test_* (other split)": 2}
    assert rep_test.kept == 2 and sum(rep_test.excluded.values()) == 3
    assert train[0].meta["question_type"] == "PRES"


def _errors(root, mutate, split="train"):
    rows = json.loads((root / RELEASE).read_text())
    mutate(rows)
    (root / RELEASE).write_text(json.dumps(rows))
    with pytest.raises(SampleError) as excinfo:
        load_dataset("vqa-rad", root, split)
    samples, report = load_dataset("vqa-rad", root, split, skip_bad=True)
    assert report.rows_read == report.kept + len(report.skipped) == len(samples) + len(report.skipped)
    return excinfo.value, samples, report


def test_missing_image_names_file_row_field(release):
    (release / IMAGES / "synpic200.jpg").unlink()
    err, samples, report = _errors(release, lambda rows: None)
    assert err.file.endswith(RELEASE) and err.row == 3 and err.field == "image_name"
    assert "image not found" in str(err) and "row 3" in str(err)
    assert len(samples) == 2 and report.reasons() == {"image not found": 1}


def test_unreadable_image_is_reported(release):
    (release / IMAGES / "synpic200.jpg").write_bytes(b"not a jpeg at all")
    err, _, report = _errors(release, lambda rows: None)
    assert err.field == "image_name" and "unreadable image" in err.reason
    assert report.reasons() == {"unreadable image": 1}


def test_unknown_answer_type(release):
    err, samples, report = _errors(release, lambda rows: rows[1].update(answer_type="MAYBE"))
    assert (err.row, err.field) == (2, "answer_type") and "MAYBE" in err.reason
    assert [s.id for s in samples] == ["0", "2"] and len(report.skipped) == 1


def test_duplicate_id(release):
    err, samples, report = _errors(release, lambda rows: rows[2].update(qid=0))
    assert (err.row, err.field) == (3, "id") and "duplicate id '0'" in err.reason and "row 1" in err.reason
    assert len(samples) == 2 and report.reasons() == {"duplicate id": 1}


def test_malformed_rows(release):
    def mutate(rows):
        rows[0] = ["not", "an", "object"]
        del rows[1]["question"]

    err, samples, report = _errors(release, mutate)
    assert err.row == 1 and "malformed row" in err.reason
    assert {(e.row, e.field) for e in report.skipped} == {(1, ""), (2, "question")}
    assert len(samples) == 1 and report.rows_read == 3


def test_broken_json_file_names_the_file(release):
    (release / RELEASE).write_text("[{\"qid\": 1,")
    with pytest.raises(SampleError, match="not valid JSON") as excinfo:
        load_dataset("vqa-rad", release, "train", skip_bad=True)
    assert excinfo.value.file.endswith(RELEASE)


def test_rephrased_questions_join_train_only(release):
    rows = json.loads((release / RELEASE).read_text())
    rows[0]["question_rephrase"] = "Is a mass present?"
    rows[3]["question_rephrase"] = "Is the lesion left-sided?"  # a test entry: never expanded
    (release / RELEASE).write_text(json.dumps(rows))
    train, report = load_dataset("vqa-rad", release, "train")
    assert [s.id for s in train] == ["0", "0-rephrase", "1", "2"] and report.rows_read == 4
    assert train[1].question == "Is a mass present?" and train[1].answer == "Yes" and train[1].meta["rephrased"]
    assert len(load_dataset("vqa-rad", release, "test")[0]) == 2
    assert len(load_dataset("vqa-rad", release, "train", rephrasings=False)[0]) == 3


def test_bad_split_and_missing_path(tmp_path):
    with pytest.raises(ValueError, match="invalid vqa-rad split 'tset'.*Did you mean 'test'"):
        load_dataset("vqa-rad", tmp_path, "tset")
    with pytest.raises(ValueError, match="VQA_RAD Dataset Public.json"):
        load_dataset("vqa-rad")
    with pytest.raises(FileNotFoundError, match="Expected layout"):
        load_dataset("vqa-rad", tmp_path)


def test_hf_parquet_release_caches_images(tmp_path):
    root = tmp_path / "hf"
    same = benchfmt.hf_image("JPEG", (1, 2, 3), "a.jpg")
    benchfmt.write_parquet(root / "data" / "test-00000-of-00001.parquet", [
        {"image": same, "question": "is there a fracture?", "answer": "no"},
        {"image": same, "question": "what organ is shown?", "answer": "brain"},
        {"image": benchfmt.hf_image("PNG"), "question": "which plane?", "answer": "axial"},
    ])
    benchfmt.write_parquet(root / "data" / "train-00000-of-00001.parquet", [
        {"image": benchfmt.hf_image(), "question": "is this a ct?", "answer": "yes"}])
    samples, report = load_dataset("vqa-rad", root, "test")
    assert [s.answer_type for s in samples] == ["closed", "open", "open"]
    assert samples[0].images == samples[1].images and samples[0].images[0].endswith(".jpg")
    assert samples[2].images[0].endswith(".png") and "transverse" in samples[2].aliases
    cache = tmp_path / "home" / "data" / "vqa-rad" / "images"
    assert len(list(cache.iterdir())) == 2 and all(p.startswith(str(cache)) for s in samples for p in s.images)
    assert len(load_dataset("vqa-rad", root, "train")[0]) == 1


def test_hf_parquet_bad_image_bytes(tmp_path):
    root = tmp_path / "hf"
    benchfmt.write_parquet(root / "test-00000.parquet", [
        {"image": {"bytes": b"garbage", "path": "x.png"}, "question": "q?", "answer": "yes"},
        {"image": benchfmt.hf_image(), "question": "q2?", "answer": "no"}])
    with pytest.raises(SampleError, match="unreadable image bytes") as excinfo:
        load_dataset("vqa-rad", root, "test")
    assert (excinfo.value.row, excinfo.value.field) == (1, "image")
    samples, report = load_dataset("vqa-rad", root, "test", skip_bad=True)
    assert len(samples) == 1 and report.rows_read == 2
