"""PMC-VQA loader on fixtures in the release CSV format (Choice A-D with "A:" prefixes, Answer_label)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset

HEADER = ["", "Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "PMC-VQA"
    benchfmt.image(root / "images" / "PMC1_fig1.jpg")
    benchfmt.image(root / "images" / "PMC2_fig3.png")
    benchfmt.write_csv(root / "test_clean.csv", HEADER, [
        [0, "PMC1_fig1.jpg", "What imaging technique was used?", "B:MRI", "A:CT scan ", " B:MRI", "C:PET",
         "D:Ultrasound", "B"],
        [1, "PMC2_fig3.png", "What does the arrow show?", "D:A cyst", "A:A mass", "B:Edema", "C:A stone",
         "D:A cyst", "D"],
    ])
    return root


def test_options_letters_and_images(root):
    samples, report = load_dataset("pmc-vqa", root)  # default split test_clean
    assert report.kept == 2 and [s.answer_type for s in samples] == ["multiple_choice"] * 2
    first = samples[0]
    assert first.options == {"A": "CT scan", "B": "MRI", "C": "PET", "D": "Ultrasound"}
    assert (first.answer, first.answer_letter, first.id) == ("MRI", "B", "test_clean-0")
    assert samples[1].images[0].endswith("images/PMC2_fig3.png")


def test_bad_label_and_missing_figure(root):
    benchfmt.write_csv(root / "test.csv", HEADER, [
        [0, "PMC1_fig1.jpg", "Q1?", "B:MRI", "A:CT", "B:MRI", "C:PET", "D:US", "E"],
        [1, "PMC9_missing.jpg", "Q2?", "A:CT", "A:CT", "B:MRI", "C:PET", "D:US", "A"],
        [2, "PMC1_fig1.jpg", "Q3?", "A:CT", "A:CT", "B:MRI", "C:PET", "D:US", "A"],
        [3, "PMC1_fig1.jpg", "Q4?", "A:CT"],  # truncated row
    ])
    with pytest.raises(SampleError, match="answer 'E' is not one of the options") as excinfo:
        load_dataset("pmc-vqa", root, "test")
    assert (excinfo.value.row, excinfo.value.field) == (2, "Answer_label")
    samples, report = load_dataset("pmc-vqa", root, "test", skip_bad=True)
    assert [s.question for s in samples] == ["Q3?"] and report.rows_read == 4
    assert [(e.row, e.field) for e in report.skipped] == [(2, "Answer_label"), (3, "Figure_path"), (5, "")]
    assert "malformed row: 4 cells, expected 9" in str(report.skipped[2])
    with pytest.raises(FileNotFoundError, match="train_2.csv"):
        load_dataset("pmc-vqa", root, "train", version="2")
