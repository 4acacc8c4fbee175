"""PathVQA loader on the Hugging Face parquet release and on a ``datasets`` cache folder (Arrow streams)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMED_HOME", str(tmp_path / "home"))


def _rows(n, start=0):
    answers = ["yes", "no", "hemorrhage", "Yes.", "granuloma"]
    return [{"image": benchfmt.hf_image("JPEG", (i * 20, 10, 10), f"{i}.jpg"), "question": f"question {start + i}?",
             "answer": answers[i % len(answers)]} for i in range(n)]


def test_parquet_splits_and_closed_yes_no(tmp_path):
    root = tmp_path / "path-vqa"
    benchfmt.write_parquet(root / "data" / "train-00000-of-00002.parquet", _rows(3))
    benchfmt.write_parquet(root / "data" / "train-00001-of-00002.parquet", _rows(2, start=3))
    benchfmt.write_parquet(root / "data" / "validation-00000-of-00001.parquet", _rows(4))
    benchfmt.write_parquet(root / "data" / "test-00000-of-00001.parquet", _rows(5))
    train, report = load_dataset("pathvqa", root, "train")
    assert len(train) == 5 and report.rows_read == 5 and len({s.id for s in train}) == 5
    assert [s.answer_type for s in train] == ["closed", "closed", "open", "closed", "closed"]
    assert len(load_dataset("pathvqa", root, "val")[0]) == 4
    test, _ = load_dataset("pathvqa", root)
    assert len(test) == 5 and all(s.images and s.images[0].endswith(".jpg") for s in test)


def test_datasets_cache_arrow_files(tmp_path):
    root = tmp_path / "hf-cache" / "flaviagiammarino___path-vqa" / "default" / "0.0.0" / "abc123"
    benchfmt.write_arrow_stream(root / "path-vqa-test.arrow", _rows(3))
    benchfmt.write_arrow_stream(root / "path-vqa-train-00000-of-00002.arrow", _rows(2))
    benchfmt.write_arrow_stream(root / "path-vqa-train-00001-of-00002.arrow", _rows(2))
    assert len(load_dataset("pathvqa", tmp_path / "hf-cache", "test")[0]) == 3
    train, report = load_dataset("pathvqa", tmp_path / "hf-cache", "train")
    assert len(train) == 4 and report.kept == 4
    with pytest.raises(FileNotFoundError, match="validation parquet/arrow files not found"):
        load_dataset("pathvqa", tmp_path / "hf-cache", "validation")


def test_missing_answer_and_image(tmp_path):
    rows = _rows(3)
    rows[1]["answer"] = "  "
    rows[2]["image"] = None
    benchfmt.write_parquet(tmp_path / "test-00000.parquet", rows)
    with pytest.raises(SampleError, match="empty field") as excinfo:
        load_dataset("pathvqa", tmp_path, "test")
    assert (excinfo.value.row, excinfo.value.field) == (2, "answer")
    samples, report = load_dataset("pathvqa", tmp_path, "test", skip_bad=True)
    assert len(samples) == 1 and report.reasons() == {"empty field": 1, "missing field": 1}
