"""Format and accuracy rewards: table-driven cases on strings and chat messages."""

import doctest
import json

import pytest

from armed.registry import REWARDS
from armed.rewards import rule
from armed.rewards.rule import (
    accuracy,
    choose_option,
    closed_accuracy,
    closed_correct,
    format_partial,
    format_strict,
    mc_accuracy,
    yes_no,
)


def test_doctests():
    assert doctest.testmod(rule).failed == 0


def test_registered():
    for name in ("format_strict", "format_partial", "closed_accuracy", "mc_accuracy", "accuracy"):
        assert name in REWARDS


@pytest.mark.parametrize("completion, strict, partial", [
    ("<think>r</think><answer>yes</answer>", 1.0, 1.0),
    ("  <think>\nr\n</think>\n\n<answer>yes</answer>\n", 1.0, 1.0),
    ("<think>r</think> <answer>yes</answer> trailing", 0.0, 0.75),
    ("<answer>yes</answer><think>r</think>", 0.0, 0.5),
    ("<think>r</think> yes", 0.0, 0.25),
    ("<answer>yes</answer>", 0.0, 0.25),
    ("<think>r</think><answer> </answer>", 1.0, 1.0),  # strict shape even if empty: accuracy judges content
    ("<think>r</think><answer>a</answer><answer>b</answer>", 0.0, 0.75),
    ("yes", 0.0, 0.0),
    (None, 0.0, 0.0),
])
def test_format(completion, strict, partial):
    assert format_strict(None, [completion]) == [strict]
    assert format_partial(None, [completion]) == [partial]
    assert format_partial(None, [[{"role": "assistant", "content": completion}]]) == [partial]


@pytest.mark.parametrize("text, label", [
    ("yes", "yes"), ("Yes, there is.", "yes"), ("Present", "yes"), ("positive", "yes"), ("True", "yes"),
    ("There is a pneumothorax", "yes"),
    ("no", "no"), ("No, there isn't", "no"), ("absent", "no"), ("Negative.", "no"), ("not seen", "no"),
    ("There isn't any effusion", "no"), ("There is no fracture", "no"), ("none", "no"), ("ruled out", "no"),
    ("Right lung", None), ("maybe", None), ("", None), (None, None),
    ("Not sure", None), ("I'm not sure", None), ("Cannot be determined", None), ("unclear", None),
    ("The answer is no", "no"), ("Not present", "no"), ("Nothing abnormal is seen", "no"),
])
def test_yes_no(text, label):
    assert yes_no(text) == label


@pytest.mark.parametrize("pred, refs, expected", [
    ("No, there isn't", ["no"], 1.0),
    ("absent", ["No"], 1.0),
    ("present", ["yes"], 1.0),
    ("negative", ["yes"], 0.0),
    ("maybe", ["yes"], 0.0),
    ("CT", ["ct"], 1.0),
    ("CT scan", ["CT"], 1.0),
    ("not CT", ["CT"], 0.0),
    ("MRI", ["CT"], 0.0),
    ("computed tomography", ["CT", "computed tomography"], 1.0),
    ("the left side of the chest", ["left"], 1.0),
    ("left or right", ["left"], 0.0),  # a hedge names both
    ("it could be on the left, though a very long answer hides the choice", ["left"], 0.0),
    ("", ["yes"], 0.0),
])
def test_closed_correct(pred, refs, expected):
    assert closed_correct(pred, refs) == expected


def test_closed_accuracy_batch():
    comps = ["<answer>No, there isn't.</answer>", "<answer>yes</answer>", "Answer: CT", None]
    got = closed_accuracy(None, comps, answer=["no", "no", "CT", "yes"], aliases=[[], [], ["computed tomography"], []])
    assert got == [1.0, 0.0, 1.0, 0.0]
    assert closed_accuracy(None, ["yes"], answer=[""]) == [None]  # no reference: abstain


OPTS = {"A": "Pneumothorax", "B": "Pleural effusion", "C": "Effusion", "D": "Pneumonia"}


@pytest.mark.parametrize("pred, letter", [
    ("B", "B"), ("(D)", "D"), ("Answer: A", "A"), ("pleural effusion", "B"),
    ("It is a pleural effusion on the left", "B"),  # "effusion" (C) is inside "pleural effusion" (B)
    ("pneumothorax or pneumonia", None),  # two options named
    ("atelectasis", None),
])
def test_choose_option(pred, letter):
    assert choose_option(pred, OPTS) == letter


def test_mc_accuracy_by_letter_or_text():
    opts = json.dumps(OPTS)
    comps = ["<answer>B</answer>", "<answer>Pleural effusion</answer>", "<answer>A</answer>", "blah", "C."]
    got = mc_accuracy(None, comps, answer_letter=["B"] * 5, options=[opts] * 5, answer=["Pleural effusion"] * 5)
    assert got == [1.0, 1.0, 0.0, 0.0, 0.0]
    # no answer_letter column: the correct letter comes from the answer text
    assert mc_accuracy(None, ["(B)"], options=[opts], answer=["Pleural effusion"]) == [1.0]
    # no options, answer is a letter
    assert mc_accuracy(None, ["Answer: C"], answer=["C"]) == [1.0]
    assert mc_accuracy(None, ["Answer: C"]) == [None]


def test_accuracy_dispatch():
    opts = json.dumps(OPTS)
    comps = ["<answer>absent</answer>", "<answer>(B)</answer>", "<answer>large pleural effusion</answer>",
             "<answer>yes</answer>", "<answer>nothing</answer>"]
    got = accuracy(None, comps,
                   answer=["no", "Pleural effusion", "pleural effusion", "yes", ""],
                   aliases=[[], [], [], [], []],
                   answer_type=["closed", "multiple_choice", "open", None, "open"],
                   options=["", opts, "", "", ""], answer_letter=["", "B", "", "", ""])
    assert got[:2] == [1.0, 1.0]
    assert got[2] == pytest.approx(0.8)  # token F1 of 3 predicted vs 2 reference tokens
    assert got[3] == 1.0  # no type given: a yes/no reference is treated as closed
    assert got[4] is None


def test_accuracy_open_uses_aliases():
    got = accuracy(None, ["<answer>collapsed lung</answer>"], answer=["pneumothorax"],
                   aliases=[["collapsed lung"]], answer_type=["open"])
    assert got == [1.0]


def test_rewards_tolerate_missing_and_short_columns():
    comps = ["<answer>yes</answer>"] * 3
    assert len(accuracy(None, comps, answer=["yes"])) == 3
    assert accuracy(None, comps, answer="yes") == [1.0, 1.0, 1.0]  # scalar broadcast
    assert format_strict(None, []) == []
