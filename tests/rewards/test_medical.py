"""Table-driven tests of medical-aware correctness (no model)."""

from __future__ import annotations

import pickle

import pytest

from armed.registry import REWARDS
from armed.rewards.medical import (
    CONTRADICTION_CAP,
    analyse,
    contradiction_table_version,
    decompose,
    load_vocabulary,
    medical_correctness,
    medical_score,
)

HIGH = [  # (prediction, reference): same meaning, must score >= 0.9
    ("collapsed lung", "pneumothorax"),
    ("PTX", "pneumothorax"),
    ("heart attack", "myocardial infarction"),
    ("MI", "myocardial infarction"),
    ("MRI", "magnetic resonance imaging"),
    ("computed tomography", "CT"),
    ("kidney stones", "nephrolithiasis"),
    ("enlarged heart", "cardiomegaly"),
    ("the liver is enlarged", "hepatomegaly"),
    ("high blood pressure", "hypertension"),
    ("rapid heart beat", "tachycardia"),  # ICD-10-CM inclusion term (external vocabulary)
    ("low platelets", "thrombocytopenia"),
    ("haemorrhage", "hemorrhage"),
    ("pneumothorax is absent", "no pneumothorax"),
    ("pneumothorax absent", "no pneumothorax"),
    ("normal", "no abnormality"),
    ("right-sided pneumothorax", "right pneumothorax"),
    ("noncaseating granulomas", "non-caseating granuloma"),
    ("acetaminophen", "paracetamol"),
    ("air in the right pleural space", "right pneumothorax"),  # phrase interrupted by a side word
    ("low heart rate", "bradycardia"),  # brady- + -cardia word parts
    ("cerebral infarction", "ischemic stroke"),
    ("shortness of breath", "dyspnea"),
]

LOW = [  # (prediction, reference): contradicting or wrong, must score <= CONTRADICTION_CAP
    ("no pneumothorax", "pneumothorax"),
    ("pneumothorax", "no pneumothorax"),
    ("left", "right"),
    ("left lower lobe pneumonia", "right lower lobe pneumonia"),
    ("T1-weighted", "T2-weighted"),
    ("FLAIR", "T2"),
    ("hypointense", "hyperintense"),
    ("hyperechoic", "hypoechoic"),
    ("benign", "malignant"),
    ("chronic subdural hematoma", "acute subdural hematoma"),
    ("MRI", "CT"),
    ("coronal", "axial"),
    ("proximal radius", "distal radius"),
    ("bradycardia", "tachycardia"),
    ("hypoglycemia", "hyperglycemia"),
    ("caseating granuloma", "noncaseating granuloma"),
    ("pleural effusion", "pneumothorax"),
    ("atrial flutter", "ventricular fibrillation"),
    ("non-enhancing mass", "enhancing mass"),
    ("columnar epithelium", "squamous epithelium"),
    ("gram-positive rods", "gram-positive cocci"),
    ("intra-axial", "extra-axial"),
]


@pytest.mark.parametrize(("pred", "ref"), HIGH)
def test_synonyms_and_paraphrases_score_high(pred, ref):
    assert medical_score(pred, ref).score >= 0.9, medical_score(pred, ref)


@pytest.mark.parametrize(("pred", "ref"), LOW)
def test_contradictions_and_negations_score_low(pred, ref):
    assert medical_score(pred, ref).score <= CONTRADICTION_CAP, medical_score(pred, ref)


@pytest.mark.parametrize(("pred", "ref", "match"), [
    ("30 mm", "3 cm", True), ("15 mm", "1.5 cm", True), ("two", "2", True), ("2 weeks", "14 days", True),
    ("grade IV", "grade 4", True), ("CIN III", "CIN 3", True), ("35 percent", "35%", True),
    ("20 mm", "3 cm", False), ("1.5 mm", "1.5 cm", False), ("three", "2", False),
])
def test_numbers_and_units(pred, ref, match):
    s = medical_score(pred, ref)
    assert s.number_match is match
    assert (s.score >= 0.9) if match else (s.score <= 0.2)


def test_flags_name_the_reason():
    s = medical_score("left pleural effusion", "right pleural effusion")
    assert s.contradiction and any("laterality" in t for t in s.contradicting_terms)
    assert s.concept_match > 0.5 > s.score  # shares most words, still capped
    n = medical_score("no pneumothorax", "pneumothorax")
    assert n.negation_mismatch and n.negated_terms == ("pneumothorax",)


def test_negation_scope_ends_at_clause():
    a = analyse("no pneumothorax, small left effusion")
    negated = {c.id for c in a.concepts if c.negated}
    assert "pneumothorax" in negated and "pleural_effusion" not in negated and "effusion" not in negated
    assert medical_score("no pneumothorax but a left effusion", "left pleural effusion").score > 0.5


def test_pseudo_negation_is_not_negation():
    a = analyse("pneumothorax cannot be excluded")
    assert not any(c.negated for c in a.concepts)


def test_partial_answers_rank_between():
    full = medical_score("right lower lobe pneumonia", "right lower lobe pneumonia").score
    part = medical_score("pneumonia", "right lower lobe pneumonia").score
    wrong = medical_score("pulmonary embolism", "right lower lobe pneumonia").score
    assert full > part > wrong


def test_bilateral_vs_one_side_is_partial_not_contradiction():
    s = medical_score("left pleural effusion", "bilateral pleural effusions")
    assert 0.2 < s.score <= 0.5


def test_question_context_supplies_laterality():
    q = "What is seen in the right kidney?"
    assert medical_score("left hydronephrosis", "hydronephrosis", question=q).score <= CONTRADICTION_CAP
    assert medical_score("right hydronephrosis", "hydronephrosis", question=q).score > 0.6
    both = "Is the left or the right kidney affected?"
    assert medical_score("left", "right", question=both).score <= CONTRADICTION_CAP


def test_abbreviations_are_contextual():
    # "PDA" expands only because the reference uses its expansion; alone it is just a token
    assert medical_score("PDA", "patent ductus arteriosus").score >= 0.9
    assert medical_score("PDA", "pneumothorax").score == 0.0


def test_aliases_take_the_best():
    assert medical_score("lung collapse", "pneumothorax", aliases=["atelectasis"]).score >= 0.9


def test_decompose_word_parts():
    assert decompose("cardiomegaly") == "heart enlarged"
    assert decompose("appendicitis") == "appendix inflammation"
    assert decompose("pneumothorax") is None


@pytest.mark.parametrize("bad", [None, "", "   ", "\x00\x01", "a" * 100_000, "\ud800 broken", "<answer><answer>",
                                 "无气胸", 12345])
def test_never_raises_on_malformed_text(bad):
    s = medical_score(bad, "pneumothorax")
    assert 0.0 <= s.score <= 1.0
    assert 0.0 <= medical_score("pneumothorax", bad).score <= 1.0


def test_registered_reward_signature_and_abstention():
    reward = REWARDS.get("medical_correctness")
    assert reward is medical_correctness
    out = reward(["q"] * 4, ["<answer>collapsed lung</answer>", [{"role": "assistant", "content": "no pneumothorax"}],
                             None, "left"], answer=["pneumothorax", "pneumothorax", "pneumothorax", None])
    assert out[0] == 1.0 and out[1] <= CONTRADICTION_CAP and out[2] == 0.0 and out[3] is None
    pickle.loads(pickle.dumps(reward))


def test_vocabulary_is_versioned_and_loaded():
    v = load_vocabulary()
    assert contradiction_table_version() == v.version and v.version.count(".") == 1
    assert len(v.abbreviations) > 2000 and len(v.phrases) > 5000
    assert {"laterality", "mri_sequence", "modality", "signal", "behaviour"} <= {g for p in v.poles.values() for g, _ in p}


def test_docstring_examples_hold():
    import doctest

    import armed.rewards.medical as medical

    result = doctest.testmod(medical)
    assert result.attempted >= 5 and result.failed == 0


def test_never_raises_property():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    words = st.sampled_from(["no", "not", "left", "right", "3", "cm", "mm", "two", "iv", "non-", "hyper", "t2",
                             "absent", ",", ".", "pneumothorax", "-", "cardiomegaly", "bilateral", "ruled out"])
    text = st.one_of(st.text(max_size=200), st.lists(words, max_size=30).map(" ".join))

    @settings(max_examples=200, deadline=None, database=None)
    @given(text, text, text)
    def check(pred, ref, question):
        s = medical_score(pred, ref, question=question)
        assert 0.0 <= s.score <= 1.0 and 0.0 <= s.concept_match <= 1.0

    check()
