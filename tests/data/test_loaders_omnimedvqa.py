"""OmniMedVQA loader on fixtures in the release layout (QA_information/<access>/<dataset>.json + Images/)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


def _q(qid, dataset, image, answer, options, modality_key="modality_type"):
    row = {"dataset": dataset, "question_id": qid, "question_type": "Modality Recognition",
           "question": "What modality is used?", "gt_answer": answer, "image_path": image,
           modality_key: "CT(Computed Tomography)"}
    row.update({f"option_{k}": v for k, v in options.items()})
    return row


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "OmniMedVQA"
    benchfmt.image(root / "Images" / "ACRIMA" / "Im001.png")
    benchfmt.image(root / "Images" / "Chest CT Scan" / "c1.png")
    benchfmt.write_json(root / "QA_information" / "Open-access" / "ACRIMA.json", [
        _q("ACRIMA_001", "ACRIMA", "Images/ACRIMA/Im001.png", "Fundus photography",
           {"A": "CT", "B": "Fundus photography", "C": "MR", "D": "X-ray"}),
        _q("ACRIMA_002", "ACRIMA", "Images/ACRIMA/Im001.png", "No", {"A": "Yes", "B": "No"}),
    ])
    benchfmt.write_json(root / "QA_information" / "Open-access" / "Chest CT Scan.json", [
        _q(7, "Chest CT Scan", "Images/Chest CT Scan/c1.png", "CT", {"A": "CT", "B": "MR", "C": "PET"},
           modality_key="modality"),
    ])
    benchfmt.write_json(root / "QA_information" / "Restricted-access" / "Private.json", [
        _q(1, "Private", "Images/ACRIMA/Im001.png", "CT", {"A": "CT", "B": "MR"})])
    return root


def test_open_access_counts_options_and_modality(root):
    samples, report = load_dataset("omnimedvqa", root)
    assert len(samples) == 3 and report.rows_read == 3
    assert [s.answer_letter for s in samples] == ["B", "B", "A"]
    assert samples[1].options == {"A": "Yes", "B": "No"}  # two-option questions keep only their options
    assert samples[2].modality == "CT(Computed Tomography)"  # the file that spells the key "modality"
    assert samples[2].id == "Chest CT Scan/7" and samples[0].meta["dataset"] == "ACRIMA"
    assert len(load_dataset("omnimedvqa", root, access="all")[0]) == 4


def test_answer_not_an_option(root):
    benchfmt.write_json(root / "QA_information" / "Open-access" / "ACRIMA.json", [
        _q("x", "ACRIMA", "Images/ACRIMA/Im001.png", "PET", {"A": "CT", "B": "MR"})])
    with pytest.raises(SampleError, match="gt_answer 'PET' is not one of the options") as excinfo:
        load_dataset("omnimedvqa", root)
    assert excinfo.value.field == "gt_answer" and excinfo.value.file.endswith("ACRIMA.json")
    _, report = load_dataset("omnimedvqa", root, skip_bad=True)
    assert report.kept == 1 and len(report.skipped) == 1
