"""Answer extraction: tagged format, tolerant fallbacks, chat messages, hostile input."""

import doctest

import pytest

from armed.rewards import extract
from armed.rewards.extract import (
    MAX_CHARS,
    clean_text,
    completion_to_text,
    extract_answer,
    extract_option_letter,
    normalize,
    parse,
    tokens,
)


def test_doctests():
    assert doctest.testmod(extract).failed == 0


@pytest.mark.parametrize("completion, expected", [
    ("<think>air in pleural space</think><answer>Pneumothorax</answer>", "Pneumothorax"),
    ("<think>a</think>\n<answer>\n  yes \n</answer>\n", "yes"),
    ("<answer>first</answer> more text <answer>second</answer>", "second"),  # last answer wins
    ("<answer><answer>nested</answer></answer>", "nested"),
    ("<THINK>x</THINK><Answer>Upper</Answer>", "Upper"),
    ("<think>x</think><answer>unclosed answer\nsecond line", "unclosed answer"),
    ("reasoning...\nFinal answer: B) pneumothorax", "B) pneumothorax"),
    ("The lung is dark. Answer: left", "left"),
    ("Hmm. The answer is yes.", "yes."),
    ("We get \\boxed{42} here", "42"),
    ("<think>long reasoning\nAnswer: wrong</think>\nPleural effusion", "Pleural effusion"),
    ("line one\n\nlast line  \n", "last line"),
    ("<think>only reasoning, never closed", "only reasoning, never closed"),
])
def test_extract_answer(completion, expected):
    assert extract_answer(completion) == expected


@pytest.mark.parametrize("completion", [None, "", "   \n\t", "<answer></answer>", "<think></think>", [], {}])
def test_nothing_to_extract_is_none(completion):
    assert extract_answer(completion) is None


def test_chat_messages_and_content_blocks():
    assert completion_to_text([{"role": "assistant", "content": "<answer>CT</answer>"}]) == "<answer>CT</answer>"
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a1"},
            {"role": "tool", "content": "t"}, {"role": "assistant", "content": "a2"}]
    assert completion_to_text(msgs) == "a2"
    blocks = [{"role": "assistant", "content": [{"type": "text", "text": "<answer>MRI"},
                                                 {"type": "image"}, {"type": "text", "text": "</answer>"}]}]
    assert extract_answer(blocks) == "MRI"
    assert extract_answer({"role": "assistant", "content": "Answer: no"}) == "no"
    assert extract_answer(["plain", "strings"]) == "plain\nstrings".splitlines()[-1]
    assert extract_answer(b"<answer>bytes</answer>") == "bytes"


def test_parse_flags():
    p = parse("<think>r</think><answer>yes</answer>")
    assert (p.think, p.answer, p.strict, p.tagged) == ("r", "yes", True, True)
    for loose in ("text <think>r</think><answer>yes</answer>", "<answer>yes</answer><think>r</think>",
                  "<think>r</think><answer>a</answer><answer>b</answer>", "<think><think>r</think><answer>a</answer>"):
        assert not parse(loose).strict, loose
    p = parse("no tags, Answer: no")
    assert (p.strict, p.tagged, p.answer, p.think) == (False, False, "no", None)


def test_hostile_text_is_cleaned_and_bounded():
    text = clean_text("a\x00b\x1b[31mc\ud800d\u200b" + "x" * (2 * MAX_CHARS))
    assert len(text) == MAX_CHARS
    assert "\x00" not in text and "\x1b" not in text and "\u200b" not in text
    text.encode("utf-8")  # lone surrogate replaced: encodable
    big = "<think>" + "y" * 1_000_000 + "</think><answer>z</answer>"
    assert parse(big).answer is not None  # cut at MAX_CHARS, still answers something, fast

    class Hostile:
        def __str__(self):
            raise RuntimeError("boom")

    assert completion_to_text(Hostile()) == ""


@pytest.mark.parametrize("text, expected", [
    ("B", "B"), ("B.", "B"), ("(C)", "C"), ("C) MRI", "C"), ("**D**", "D"), ("(b) lowercase", "B"),
    ("Answer: C", "C"), ("The answer is (A).", "A"), ("option D", "D"), ("I choose (B) because", "B"),
    ("B - effusion", "B"),
    ("A pneumothorax", None),  # an article, not a letter
    ("D-dimer elevated", None),
    ("either (A) or maybe (B) here", None),  # names two letters
    ("E", None),  # not an allowed letter
    ("", None), (None, None),
])
def test_extract_option_letter(text, expected):
    assert extract_option_letter(text, ["A", "B", "C", "D"]) == expected


def test_option_letter_custom_letters():
    assert extract_option_letter("E.", ["A", "B", "C", "D", "E"]) == "E"
    assert extract_option_letter("B", []) is None


@pytest.mark.parametrize("text, expected", [
    ("The X-ray shows a 3.5 cm mass!", "x ray shows 3.5 cm mass"),
    ("  Left   LUNG. ", "left lung"),
    ("ratio 1/2, end.", "ratio 1/2 end"),
    ("ＣＴ", "ct"),  # NFKC folds full-width letters
    ("T2-weighted", "t2 weighted"),
    ("under_score", "under score"),
    (None, ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_tokens():
    assert tokens("An enlarged heart") == ["enlarged", "heart"]


def test_repeated_option_list_is_not_an_answer():
    listing = "Which nerve?\nA. Radial nerve\nB. Ulnar nerve\nC. Median nerve\nD. Axillary nerve"
    assert extract_answer(listing) is None
    assert extract_answer(listing + "\nAnswer: C") == "C"
    assert extract_answer("The nerve is the ulnar nerve.\nB. Ulnar nerve") == "B. Ulnar nerve"
