"""Textual metrics: hand-computed cases and agreement with rouge-score and nltk on the same tokens."""

import doctest
import math
import random

import pytest

from armed.registry import REWARDS
from armed.rewards import textual
from armed.rewards.extract import tokens
from armed.rewards.textual import (
    SCORERS,
    bleu1,
    exact_match,
    get_textual_reward,
    rouge1,
    rouge_l,
    token_f1,
    token_recall,
)


def test_doctests():
    assert doctest.testmod(textual).failed == 0


@pytest.mark.parametrize("pred, ref, em, recall, f1", [
    ("Pneumothorax", "pneumothorax", 1.0, 1.0, 1.0),
    ("The pneumothorax!", "pneumothorax", 1.0, 1.0, 1.0),
    ("right pleural effusion", "pleural effusion", 0.0, 1.0, 0.8),
    ("effusion", "pleural effusion", 0.0, 0.5, 2 / 3),
    ("pneumonia", "pneumothorax", 0.0, 0.0, 0.0),
    ("", "pneumothorax", 0.0, 0.0, 0.0),
    ("anything", "", 0.0, 0.0, 0.0),
    ("", "", 0.0, 0.0, 0.0),
    ("x x x", "x", 0.0, 1.0, 0.5),  # counts are clipped: repeating a word buys nothing
])
def test_em_recall_f1(pred, ref, em, recall, f1):
    assert exact_match(pred, ref) == em
    assert token_recall(pred, ref) == pytest.approx(recall)
    assert token_f1(pred, ref) == pytest.approx(f1)


def test_bleu1_hand_computed():
    # 2 of 3 predicted tokens match; prediction (3) is longer than reference (2): BP = 1
    assert bleu1("right pleural effusion", "pleural effusion") == pytest.approx(2 / 3)
    # short prediction: precision 1, BP = exp(1 - 3/1)
    assert bleu1("effusion", "left pleural effusion") == pytest.approx(math.exp(-2))
    assert bleu1("a", "b") == 0.0


def test_rouge_l_hand_computed():
    # LCS("large left effusion", "left pleural effusion") = 2 ("left effusion")
    assert rouge_l("large left effusion", "left pleural effusion") == pytest.approx(2 / 3)
    assert rouge_l("effusion left", "left effusion") == pytest.approx(0.5)  # order matters, unlike rouge1
    assert rouge1("effusion left", "left effusion") == 1.0


VOCAB = ["left", "right", "pleural", "effusion", "mass", "lung", "upper", "lobe", "no", "large", "small", "t2", "3.5"]


def _random_pairs(n=150, seed=0):
    rng = random.Random(seed)
    for _ in range(n):
        pred = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, 9)))
        ref = " ".join(rng.choice(VOCAB) for _ in range(rng.randint(1, 6)))
        yield pred, ref


def test_rouge_matches_rouge_score_package():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

    class WhitespaceTokenizer:  # score the same tokens: rouge-score's own tokeniser drops "." from "3.5"
        def tokenize(self, text):
            return tokens(text)

    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False, tokenizer=WhitespaceTokenizer())
    for pred, ref in _random_pairs():
        s = scorer.score(ref, pred)  # rouge-score takes (target, prediction)
        assert rouge1(pred, ref) == pytest.approx(s["rouge1"].fmeasure), (pred, ref)
        assert rouge_l(pred, ref) == pytest.approx(s["rougeL"].fmeasure), (pred, ref)


def test_bleu1_matches_nltk():
    bleu = pytest.importorskip("nltk.translate.bleu_score")
    for pred, ref in _random_pairs(seed=1):
        expected = bleu.sentence_bleu([tokens(ref)], tokens(pred), weights=(1.0,))
        assert bleu1(pred, ref) == pytest.approx(expected), (pred, ref)


def test_rewards_registered_and_use_aliases():
    for name in SCORERS:
        assert name in REWARDS
    reward = REWARDS.get("token_recall")
    comps = ["<think>…</think><answer>collapsed lung</answer>", "<answer>effusion</answer>", "no answer tags", None]
    got = reward(None, comps, answer=["pneumothorax"] * 4, aliases=[["collapsed lung"], [], [], []])
    assert got == [1.0, 0.0, 0.0, 0.0]
    assert reward(None, ["x"], answer=[None]) == [None]


def test_unknown_metric_names_close_match():
    with pytest.raises(ValueError, match="token_f1"):
        get_textual_reward("token_f2")


def test_long_prediction_is_bounded():
    long = "effusion " * 50_000
    assert 0.0 <= rouge_l(long, "pleural effusion") <= 1.0
