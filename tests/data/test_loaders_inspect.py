"""``armed data inspect`` end to end on a small VQA-RAD release folder."""

from __future__ import annotations

import json

import benchfmt
import pytest
from typer.testing import CliRunner

from armed.cli import app, main
from armed.data.inspect import inspect_dataset


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "vqa-rad"
    for name in ("synpic1.jpg", "synpic2.jpg", "synpic3.jpg"):
        benchfmt.image(root / "VQA_RAD Image Folder" / name)
    rows = []
    for qid, (img, answer, atype, phrase) in enumerate([
            ("synpic1.jpg", "Yes", "CLOSED", "freeform"), ("synpic1.jpg", "MRI", "OPEN", "freeform"),
            ("synpic2.jpg", "No", "CLOSED", "para"), ("synpic3.jpg", "left", "CLOSED", "test_freeform"),
            ("synpic3.jpg", "liver [segment 4]", "OPEN", "test_para")]):
        rows.append({"qid": qid, "image_name": img, "image_organ": "CHEST", "question": f"q{qid} [x]?",
                     "answer": answer, "answer_type": atype, "phrase_type": phrase, "question_type": "PRES"})
    benchfmt.write_json(root / "VQA_RAD Dataset Public.json", rows)
    return root


def test_inspect_json(root):
    (root / "VQA_RAD Image Folder" / "synpic2.jpg").unlink()
    result = CliRunner().invoke(app, ["data", "inspect", "--dataset", "vqa-rad", "--path", str(root), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["splits"] == {"train": 3, "test": 2}
    assert out["answer_types"] == {"closed": 3, "open": 2}
    assert out["missing_images"] == 1 and out["images"] == 3 and out["images_found"] == 2
    assert out["samples_with_bad_images"] == 1 and out["missing_image_examples"][0].endswith("synpic2.jpg")
    assert out["rows_read"] == 5 and out["skipped"] == 0 and len(out["examples"]) == 3
    assert out["expected_counts"] == {"train": 3064, "test": 451}


def test_inspect_one_split_and_rich_output(root):
    summary = inspect_dataset("vqa-rad", root, "test")
    assert summary["splits"] == {"test": 2} and summary["answer_types"] == {"closed": 1, "open": 1}
    result = CliRunner().invoke(app, ["data", "inspect", "-d", "vqa-rad", "--path", str(root)])
    assert result.exit_code == 0, result.output
    assert "q0 [x]?" in result.output and "3064" in result.output  # markup-like text survives


def test_inspect_skip_bad_reports_reasons(root):
    rows = json.loads((root / "VQA_RAD Dataset Public.json").read_text())
    rows[0]["answer_type"] = "BOTH"
    rows[1]["qid"] = 2
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(rows))
    summary = inspect_dataset("vqa-rad", root, skip_bad=True)
    assert summary["skipped"] == 2 and summary["splits"] == {"train": 1, "test": 2}
    assert summary["skip_reasons"] == {"unknown answer type": 1, "duplicate id": 1}
    assert summary["rows_read"] == summary["kept"] + summary["skipped"] == 5


def test_cli_errors_are_one_line(root, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["data", "inspect", "--dataset", "slake"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "--path" in err and "train.json" in err and "Traceback" not in err
    rows = json.loads((root / "VQA_RAD Dataset Public.json").read_text())
    rows[1]["answer_type"] = "BOTH"
    (root / "VQA_RAD Dataset Public.json").write_text(json.dumps(rows))
    with pytest.raises(SystemExit):
        main(["data", "inspect", "--dataset", "vqa-rad", "--path", str(root)])
    assert "row 2, field 'answer_type': unknown answer type 'BOTH'" in capsys.readouterr().err.replace("\n", "")


def test_inspect_reports_exclusions_per_split(root):
    summary = inspect_dataset("vqa-rad", root)
    assert summary["excluded"] == {"train": {"phrase_type test_* (other split)": 2},
                                   "test": {"phrase_type not test_* (other split)": 3}}
