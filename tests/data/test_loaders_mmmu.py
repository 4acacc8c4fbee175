"""MMMU Health & Medicine loader on fixtures in the HF parquet layout (<Subject>/validation-*.parquet)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMED_HOME", str(tmp_path / "home"))


def _row(sid, question="Which finding is shown in <image 1>?", options="['Edema', 'Fibrosis', 'Necrosis']",
         answer="B", qtype="multiple-choice", images=1):
    row = {"id": sid, "question": question, "options": options, "explanation": "", "answer": answer,
           "img_type": "['Pathology']", "topic_difficulty": "Medium", "question_type": qtype,
           "subfield": "Pathology"}
    for i in range(1, 8):
        row[f"image_{i}"] = benchfmt.hf_image("PNG", (i * 30, 0, 0)) if i <= images else None
    return row


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "MMMU"
    benchfmt.write_parquet(root / "Clinical_Medicine" / "validation-00000-of-00001.parquet", [
        _row("validation_Clinical_Medicine_1"),
        _row("validation_Clinical_Medicine_2", images=2, answer="A"),
        _row("validation_Clinical_Medicine_3", question="Dose in mg?", options="[]", answer="25", qtype="open"),
    ])
    benchfmt.write_parquet(root / "Art" / "validation-00000-of-00001.parquet", [_row("validation_Art_1")])
    benchfmt.write_parquet(root / "Pharmacy" / "dev-00000-of-00001.parquet", [_row("dev_Pharmacy_1")])
    return root


def test_medical_subjects_only_with_images(root):
    samples, report = load_dataset("mmmu-med", root)
    assert [s.id for s in samples] == [f"validation_Clinical_Medicine_{i}" for i in (1, 2, 3)]
    assert report.excluded == {"not a Health & Medicine subject": 1}
    assert [s.answer_type for s in samples] == ["multiple_choice", "multiple_choice", "open"]
    assert (samples[0].answer, samples[0].answer_letter) == ("Fibrosis", "B")
    assert len(samples[1].images) == 2 and samples[2].answer == "25"
    assert samples[0].meta["subject"] == "Clinical_Medicine"
    assert len(load_dataset("mmmu-med", root, "dev")[0]) == 1


def test_bad_options_literal(root):
    benchfmt.write_parquet(root / "Clinical_Medicine" / "validation-00000-of-00001.parquet", [
        _row("validation_Clinical_Medicine_1", options="['Edema', 'Fib"),
        _row("validation_Clinical_Medicine_2", answer="F")])
    with pytest.raises(SampleError, match="options is not a list literal") as excinfo:
        load_dataset("mmmu-med", root)
    assert (excinfo.value.row, excinfo.value.field) == (1, "options")
    _, report = load_dataset("mmmu-med", root, skip_bad=True)
    assert report.kept == 0 and [e.field for e in report.skipped] == ["options", "answer"]
