"""Curriculum selection and ordering (MedCCO closed → open, easy → hard by pass rate)."""

from __future__ import annotations

import json

import pytest

from armed.data.curriculum import order, parse_spec, select, stages, validate_select
from armed.data.schema import Sample

TYPES = ["closed", "open", "multiple_choice", "open", "closed"]
RATES = {"s0": 0.125, "s1": 0.5, "s2": 1.0, "s3": 0.75}  # s4 was never filtered


def _samples() -> list[Sample]:
    out = []
    for i, t in enumerate(TYPES):
        options = {"A": "CT", "B": "MRI"} if t == "multiple_choice" else {}
        out.append(Sample(id=f"s{i}", source="vqa-rad" if i < 3 else "slake", split="train", question=f"q{i}?",
                          answer="CT", answer_type=t, options=options, modality="CT" if i % 2 else "MRI"))
    return out


@pytest.fixture
def rates_file(tmp_path):
    path = tmp_path / "pass_rates.json"
    path.write_text(json.dumps({"pass_rates": RATES, "kept_ids": ["s1", "s3"]}))
    return path


@pytest.mark.parametrize("spec, ids", [
    ({"answer_type": "closed"}, ["s0", "s4"]),
    ({"answer_type": ["open", "multiple_choice"]}, ["s1", "s2", "s3"]),
    ("answer_type=closed,open;limit=3", ["s0", "s1", "s3"]),
    ({"source": "slake", "modality": "CT"}, ["s3"]),
    ({"ids": ["s4", "s2"]}, ["s2", "s4"]),
    ({"limit": 2}, ["s0", "s1"]),
])
def test_select_by_fields(spec, ids):
    assert [s.id for s in select(_samples(), spec)] == ids


def test_select_by_pass_rate_and_kept(rates_file):
    assert [s.id for s in select(_samples(), {"pass_rate": [0.25, 0.75], "pass_rates": str(rates_file)})] == \
        ["s1", "s3"]
    assert [s.id for s in select(_samples(), f"pass_rate=0.5:1;pass_rates={rates_file}")] == ["s1", "s2", "s3"]
    assert [s.id for s in select(_samples(), {"kept": str(rates_file)})] == ["s1", "s3"]
    rows = [{"id": s.id, "answer_type": s.answer_type} for s in _samples()]  # row dicts work too
    assert [r["id"] for r in select(rows, {"pass_rate": [0.0, 0.2], "pass_rates": RATES})] == ["s0"]


def test_orders(rates_file):
    assert [s.id for s in order(_samples(), "easy_to_hard", rates_file)] == ["s2", "s3", "s1", "s0", "s4"]
    assert [s.id for s in order(_samples(), "hard_to_easy", RATES)] == ["s0", "s1", "s3", "s2", "s4"]
    assert [s.answer_type for s in order(_samples(), "closed_first")] == \
        ["closed", "closed", "multiple_choice", "open", "open"]
    with pytest.raises(ValueError, match="needs pass_rates"):
        order(_samples(), "easy_to_hard")


def test_medcco_stages_closed_then_open():
    closed, opened = stages(_samples(), [{"answer_type": "closed"}, {"answer_type": "open"}])
    assert [s.id for s in closed] == ["s0", "s4"] and [s.id for s in opened] == ["s1", "s3"]


@pytest.mark.parametrize("spec, message", [
    ({"answer_typ": "closed"}, "Did you mean 'answer_type'"),
    ({"answer_type": "opne"}, "Did you mean 'open'"),
    ({"pass_rate": [0.8, 0.2], "pass_rates": {}}, "0 <= lo <= hi <= 1"),
    ({"pass_rate": [0.2, 0.8]}, "needs pass_rates"),
    ("answer_type", "expected key=value"),
    ({"order": "x"}, "invalid selection key 'order'"),
])
def test_bad_specs_fail_naming_the_key(spec, message):
    with pytest.raises(ValueError, match=message):
        validate_select(spec)


def test_parse_spec_string_forms():
    assert parse_spec("pass_rate=0.25:0.75;limit=10;source=a,b") == \
        {"pass_rate": [0.25, 0.75], "limit": 10, "source": ["a", "b"]}
    with pytest.raises(ValueError, match="Allowed: none, easy_to_hard"):
        order([], "random")
