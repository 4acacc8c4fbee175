"""The sample schema: validation, prompts and the datasets columns TRL passes to rewards."""

from __future__ import annotations

import json

import pytest

from armed.data.schema import Sample, SampleError, build_prompt, format_question, parse_options, to_hf_dataset


def _mc(**kw):
    base = dict(id="1", source="t", split="test", question="Which?", answer="Liver", answer_type="multiple_choice",
                options={"A": "Lung", "B": "liver ", "C": "Heart"})
    return Sample(**{**base, **kw})


def test_validation_errors_name_the_field():
    with pytest.raises(SampleError, match="unknown answer type 'free'") as e:
        Sample(id="x", source="t", split="test", question="q", answer="a", answer_type="free")
    assert e.value.field == "answer_type"
    with pytest.raises(SampleError, match="empty question"):
        Sample(id="x", source="t", split="test", question=" ", answer="a", answer_type="open")
    with pytest.raises(SampleError, match="matches no option"):
        _mc(answer="Kidney")


def test_answer_letter_and_prompt():
    s = _mc()
    assert s.answer_letter == "B"
    text = format_question(s)
    assert "A. Lung\nB. liver \nC. Heart" in text and text.endswith("letter of the correct option.")
    vqa = Sample(id="2", source="t", split="test", question="Is there a mass?", answer="no", answer_type="closed",
                 images=["/a.png", "/b.png"])
    prompt = build_prompt(vqa)
    assert prompt[0]["role"] == "system" and [c["type"] for c in prompt[1]["content"]] == ["image", "image", "text"]
    assert build_prompt(vqa, vision=False)[1]["content"] == "Is there a mass?\nAnswer yes or no."


def test_answer_set_instruction_does_not_depend_on_the_answer():
    texts = {format_question(Sample(id=a, source="pubmedqa", split="test", question="Does X help?", answer=a,
                                    answer_type="closed", meta={"answer_set": ["yes", "no", "maybe"]}))
             for a in ("yes", "no", "maybe")}
    assert texts == {"Does X help?\nAnswer with one of: yes, no, maybe."}


def test_hf_dataset_columns():
    ds = to_hf_dataset([_mc(), Sample(id="2", source="t", split="test", question="Organ?", answer="CT",
                                      answer_type="open", aliases=["computed tomography"])])
    assert {"prompt", "answer", "aliases", "answer_type", "options", "answer_letter", "id", "source"} <= set(
        ds.column_names)
    assert ds[0]["answer_letter"] == "B" and parse_options(ds[0]["options"]) == {"A": "Lung", "B": "liver ",
                                                                                "C": "Heart"}
    assert ds[1]["options"] == "" and parse_options(ds[1]["options"]) == {} and ds[1]["aliases"] == [
        "computed tomography"]
    assert parse_options(json.dumps(["x"])) == {} and parse_options("{broken") == {}


def test_round_trip_and_pickle():
    import pickle

    s = _mc(meta={"answer_letter": "B"}, images=["/x.png"])
    assert Sample.from_dict(s.to_dict()) == s
    with pytest.raises(SampleError, match="unknown sample keys \\['colour'\\]"):
        Sample.from_dict({**s.to_dict(), "colour": "red"})
    err = pickle.loads(pickle.dumps(SampleError("image not found", file="a.json", row=3, field="img")))
    assert (err.file, err.row, err.field, str(err)) == ("a.json", 3, "img", "file a.json, row 3, field 'img': image not found")


def test_labelled_letter_wins_over_repeated_option_text():
    options = {"A": "None of the above", "B": "Edema", "C": "None of the above"}
    s = Sample(id="1", source="t", split="test", question="q", answer="None of the above",
               answer_type="multiple_choice", options=options, meta={"answer_letter": "C"})
    assert s.answer_letter == "C"
    assert Sample(id="1", source="t", split="test", question="q", answer="None of the above",
                  answer_type="multiple_choice", options=options).answer_letter == "A"
