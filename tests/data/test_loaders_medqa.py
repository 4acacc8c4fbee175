"""MedQA (USMLE) loader on fixtures in the release layout (questions/US/*.jsonl and US/4_options/)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset

FIVE = {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Ciprofloxacin", "D": "Doxycycline", "E": "Nitrofurantoin"}


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "MedQA" / "data_clean"
    us = root / "questions" / "US"
    benchfmt.write_jsonl(us / "test.jsonl", [
        {"question": "A 23-year-old pregnant woman ... Which is the best treatment?", "answer": "Nitrofurantoin",
         "options": FIVE, "meta_info": "step2&3", "answer_idx": "E"},
        {"question": "Q2?", "answer": "Ampicillin", "options": FIVE, "meta_info": "step1", "answer_idx": "A"},
    ])
    benchfmt.write_jsonl(us / "4_options" / "phrases_no_exclude_test.jsonl", [
        {"question": "Q4?", "answer": "Doxycycline", "options": {k: FIVE[k] for k in "ABCD"}, "meta_info": "step1",
         "answer_idx": "D", "metamap_phrases": ["q4"]}])
    return root.parent


def test_five_and_four_options(root):
    samples, report = load_dataset("medqa", root)
    assert [(s.answer, s.answer_letter) for s in samples] == [("Nitrofurantoin", "E"), ("Ampicillin", "A")]
    assert samples[0].answer_type == "multiple_choice" and samples[0].meta["meta_info"] == "step2&3"
    four, _ = load_dataset("medqa", root, "test", options="4")  # CLI strings are coerced
    assert len(four) == 1 and len(four[0].options) == 4 and four[0].answer_letter == "D"
    with pytest.raises(FileNotFoundError, match="US/dev.jsonl"):
        load_dataset("medqa", root, "dev")


def test_answer_disagreeing_with_index(root):
    benchfmt.write_jsonl(root / "data_clean" / "questions" / "US" / "dev.jsonl", [
        {"question": "Q?", "answer": "Ceftriaxone", "options": FIVE, "answer_idx": "A"},
        {"question": "Q?", "answer": "Ampicillin", "options": "A) x", "answer_idx": "A"}])
    with pytest.raises(SampleError, match="disagrees with option A") as excinfo:
        load_dataset("medqa", root, "dev")
    assert excinfo.value.field == "answer"
    _, report = load_dataset("medqa", root, "dev", skip_bad=True)
    assert [e.field for e in report.skipped] == ["answer", "options"]
