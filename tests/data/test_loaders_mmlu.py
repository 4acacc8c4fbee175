"""MMLU medical-subject loader on the original CSV release (no header) and the HF parquet layout."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


@pytest.fixture
def csv_root(tmp_path):
    data = tmp_path / "data"
    benchfmt.write_csv(data / "test" / "anatomy_test.csv", None, [
        ["Which bone is in the forearm?", "Femur", "Radius", "Tibia", "Fibula", "B"],
        ["Which of the following is NOT a carpal bone?", "Scaphoid", "Lunate", "Talus", "Hamate", "C"],
    ])
    benchfmt.write_csv(data / "test" / "college_biology_test.csv", None, [["Q?", "a", "b", "c", "d", "A"]])
    benchfmt.write_csv(data / "test" / "astronomy_test.csv", None, [["Q?", "a", "b", "c", "d", "A"]])
    benchfmt.write_csv(data / "val" / "medical_genetics_val.csv", None, [["Q?", "a", "b", "c", "d", "D"]])
    return tmp_path


def test_csv_release(csv_root):
    samples, _ = load_dataset("mmlu", csv_root)
    assert [(s.answer, s.answer_letter, s.organ) for s in samples] == [("Radius", "B", "anatomy"),
                                                                         ("Talus", "C", "anatomy")]
    assert len(load_dataset("mmlu", csv_root, subjects="multimedqa")[0]) == 3  # + college biology
    assert load_dataset("mmlu", csv_root, "val")[0][0].answer == "d"


def test_open_ended_uses_the_embedded_rules(csv_root):
    samples, report = load_dataset("mmlu", csv_root, open_ended="true", skip_bad=True)
    assert [(s.answer_type, s.answer) for s in samples] == [("open", "Radius")]
    assert len(report.skipped) == 1 and report.skipped[0].field == "question"  # the NOT stem needs its options


def test_hf_parquet(tmp_path):
    benchfmt.write_parquet(tmp_path / "all" / "test-00000-of-00001.parquet", [
        {"question": "Q1?", "subject": "clinical_knowledge", "choices": ["a", "b", "c", "d"], "answer": 3},
        {"question": "Q2?", "subject": "philosophy", "choices": ["a", "b", "c", "d"], "answer": 0},
        {"question": "Q3?", "subject": "professional_medicine", "choices": ["a", "b", "c"], "answer": 0},
    ])
    with pytest.raises(SampleError, match="choices must list four options"):
        load_dataset("mmlu", tmp_path)
    samples, report = load_dataset("mmlu", tmp_path, skip_bad=True)
    assert [s.answer_letter for s in samples] == ["D"] and report.excluded == {
        "subject philosophy not in subjects=medical": 1}


def test_hf_repo_with_both_copies_reads_one(tmp_path):
    row = {"question": "Q1?", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 1}
    benchfmt.write_parquet(tmp_path / "all" / "test-00000-of-00001.parquet", [row])
    benchfmt.write_parquet(tmp_path / "anatomy" / "test-00000-of-00001.parquet", [row])
    benchfmt.write_parquet(tmp_path / "astronomy" / "test-00000-of-00001.parquet", [{**row, "subject": "astronomy"}])
    samples, report = load_dataset("mmlu", tmp_path)
    assert len(samples) == 1 and samples[0].answer == "b" and report.excluded == {}
