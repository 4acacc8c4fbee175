"""PubMedQA loader on fixtures in the release format (ori_pqal.json + test_ground_truth.json)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset
from armed.data.schema import format_question


def _item(decision, question="Do statins reduce mortality?"):
    return {"QUESTION": question, "CONTEXTS": ["We studied 100 patients.", "Mortality fell by 10%."],
            "LABELS": ["METHODS", "RESULTS"], "MESHES": ["Statins"], "YEAR": "2001", "reasoning_required_pred": "yes",
            "reasoning_free_pred": "yes", "final_decision": decision, "LONG_ANSWER": "Statins reduce mortality."}


@pytest.fixture
def root(tmp_path):
    benchfmt.write_json(tmp_path / "ori_pqal.json", {"111": _item("yes"), "222": _item("maybe"), "333": _item("no"),
                                                     "444": _item("yes")})
    benchfmt.write_json(tmp_path / "test_ground_truth.json", {"222": "maybe", "333": "no"})
    return tmp_path


def test_splits_answer_set_and_context(root):
    test, report = load_dataset("pubmedqa", root)
    assert [(s.id, s.answer) for s in test] == [("222", "maybe"), ("333", "no")]
    assert report.excluded == {"PMID in the other split": 2}
    assert [s.id for s in load_dataset("pubmedqa", root, "train")[0]] == ["111", "444"]
    assert len(load_dataset("pubmedqa", root, "all")[0]) == 4
    s = test[0]
    assert s.answer_type == "closed" and "Methods: We studied 100 patients." in s.question
    assert s.meta["long_answer"] == "Statins reduce mortality." and "Statins reduce" not in s.question
    assert format_question(s).endswith("Answer with one of: yes, no, maybe.")


def test_bad_decision_and_missing_ids_file(root):
    data = {"111": _item("perhaps"), "222": _item("maybe"), "333": "oops"}
    benchfmt.write_json(root / "ori_pqal.json", data)
    with pytest.raises(SampleError, match="unknown answer 'perhaps'") as excinfo:
        load_dataset("pubmedqa", root, "all")
    assert (excinfo.value.row, excinfo.value.field) == (1, "final_decision")
    samples, report = load_dataset("pubmedqa", root, "all", skip_bad=True)
    assert len(samples) == 1 and report.rows_read == 3 and len(report.skipped) == 2
    (root / "test_ground_truth.json").unlink()
    with pytest.raises(FileNotFoundError, match="test_ground_truth.json"):
        load_dataset("pubmedqa", root, "test")


def test_hf_parquet_mirror(tmp_path):
    def hf(pubid, decision):
        item = _item(decision)
        return {"pubid": pubid, "question": item["QUESTION"], "long_answer": item["LONG_ANSWER"],
                "final_decision": decision,
                "context": {"contexts": item["CONTEXTS"], "labels": item["LABELS"], "meshes": item["MESHES"]}}

    benchfmt.write_parquet(tmp_path / "pqa_labeled" / "train-00000-of-00001.parquet",
                           [hf(111, "yes"), hf(222, "maybe"), hf(333, "no")])
    benchfmt.write_parquet(tmp_path / "pqa_unlabeled" / "train-00000-of-00001.parquet", [hf(9, "yes")])
    samples, _ = load_dataset("pubmedqa", tmp_path, "all")
    assert [(s.id, s.answer) for s in samples] == [("111", "yes"), ("222", "maybe"), ("333", "no")]
    assert "Results: Mortality fell by 10%." in samples[0].question
    benchfmt.write_json(tmp_path / "test_ground_truth.json", {"333": "no"})
    assert [s.id for s in load_dataset("pubmedqa", tmp_path, "test")[0]] == ["333"]
