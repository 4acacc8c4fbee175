"""MedXpertQA loaders on fixtures in the release format (Text/ and MM/ jsonl + images/)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset

TEN = {k: f"option {k}" for k in "ABCDEFGHIJ"}


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "MedXpertQA"
    q = "A 45-year-old man presents with chest pain. What is the diagnosis?\nAnswer Choices: (A) option A (B) option B"
    benchfmt.write_jsonl(root / "Text" / "test.jsonl", [
        {"id": "Text-0", "question": q, "options": TEN, "label": "C", "medical_task": "Diagnosis",
         "body_system": "Cardiovascular", "question_type": "Reasoning"},
        {"id": "Text-1", "question": "Which drug?", "options": TEN, "label": "J", "medical_task": "Treatment",
         "body_system": "Other", "question_type": "Understanding"},
    ])
    benchfmt.image(root / "images" / "MM-0-a.jpeg")
    benchfmt.image(root / "images" / "MM-0-b.jpeg")
    benchfmt.write_jsonl(root / "MM" / "test.jsonl", [
        {"id": "MM-0", "question": "What is shown?\nAnswer Choices: (A) a (B) b (C) c (D) d (E) e",
         "options": {k: k.lower() for k in "ABCDE"}, "label": "E", "images": ["MM-0-a.jpeg", "MM-0-b.jpeg"],
         "medical_task": "Diagnosis", "body_system": "Skeletal", "question_type": "Reasoning"}])
    return root


def test_text_subset(root):
    samples, _ = load_dataset("medxpertqa", root)
    assert [s.answer_letter for s in samples] == ["C", "J"] and len(samples[0].options) == 10
    assert samples[0].question.endswith("What is the diagnosis?")  # options not repeated in the stem
    assert samples[0].meta["body_system"] == "Cardiovascular" and samples[0].images == []


def test_mm_subset_and_alias_name(root):
    mm, _ = load_dataset("medxpertqa-mm", root)
    same, _ = load_dataset("medxpertqa", root, subset="mm")
    assert [s.id for s in mm] == [s.id for s in same] == ["MM-0"]
    assert mm[0].answer == "e" and len(mm[0].images) == 2 and mm[0].images[1].endswith("MM-0-b.jpeg")


def test_bad_rows(root):
    benchfmt.write_jsonl(root / "Text" / "dev.jsonl", [
        {"id": "Text-d0", "question": "q?", "options": TEN, "label": "K"},
        {"id": "Text-d1", "question": "q?", "options": TEN, "label": "A"},
        {"id": "Text-d1", "question": "q?", "options": TEN, "label": "B"},
    ], raw_lines={0: '{"id": "Text-d0", "question": '})
    with pytest.raises(SampleError, match="not valid JSON") as excinfo:
        load_dataset("medxpertqa", root, "dev")
    assert excinfo.value.row == 1
    samples, report = load_dataset("medxpertqa", root, "validation", skip_bad=True)
    assert [s.id for s in samples] == ["Text-d1"] and report.reasons() == {"malformed row": 1, "duplicate id": 1}
