"""MedMCQA loader: the release's JSON-lines files (cop 1-4) and the HF parquet (cop 0-3)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


def _q(qid, cop, **kw):
    row = {"id": qid, "question": "Which nerve supplies the deltoid?", "opa": "Radial", "opb": "Axillary",
           "opc": "Ulnar", "opd": "Median", "cop": cop, "choice_type": "single", "exp": "C5-C6 via axillary",
           "subject_name": "Anatomy", "topic_name": "Upper limb"}
    row.update(kw)
    return row


def test_release_jsonl_is_one_based(tmp_path):
    benchfmt.write_jsonl(tmp_path / "dev.json", [_q("a1", 2), _q("a2", 4), _q("a3", 1, opa="Median")])
    samples, _ = load_dataset("medmcqa", tmp_path)  # default: validation = dev.json
    assert [(s.answer, s.answer_letter) for s in samples] == [("Axillary", "B"), ("Median", "D"), ("Median", "A")]
    assert samples[0].meta["subject"] == "Anatomy" and samples[0].meta["explanation"].startswith("C5")


def test_hf_parquet_is_zero_based(tmp_path):
    benchfmt.write_parquet(tmp_path / "data" / "validation-00000-of-00001.parquet", [_q("h1", 1), _q("h2", 0)])
    samples, _ = load_dataset("medmcqa", tmp_path, "dev")
    assert [s.answer_letter for s in samples] == ["B", "A"]
    forced, _ = load_dataset("medmcqa", tmp_path, "dev", cop_base="1", skip_bad=True)
    assert [s.answer_letter for s in forced] == ["A"]  # cop 0 is out of range when one-based


def test_out_of_range_cop(tmp_path):
    benchfmt.write_jsonl(tmp_path / "train.json", [_q("t1", 5), _q("t2", None), _q("t3", 3)])
    with pytest.raises(SampleError, match="cop 5 outside 1-4") as excinfo:
        load_dataset("medmcqa", tmp_path, "train")
    assert (excinfo.value.row, excinfo.value.field) == (1, "cop")
    samples, report = load_dataset("medmcqa", tmp_path, "train", skip_bad=True)
    assert [s.id for s in samples] == ["t3"] and report.reasons() == {"cop 5 outside 1-4": 1, "missing field": 1}
