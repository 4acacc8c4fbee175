"""Tests of the ``armed`` composite reward. The embedding is replaced by a stub in fast tests."""

from __future__ import annotations

import pickle

import pytest

import armed.rewards.compose as compose
from armed.registry import REWARDS
from armed.rewards.compose import ArmedReward, get_armed_reward


@pytest.fixture
def collapsed_cosine(monkeypatch):
    """Simulate reward collapse: every answer embeds at 0.9 from its reference."""
    calls = []

    def fake(cands, refs, model="minilm-l6", device=None):
        calls.append(list(cands))
        return [0.9 if c else 0.0 for c in cands]

    monkeypatch.setattr(compose, "cosine_scores", fake)
    return calls


def _open(reward, answers, ref, question=""):
    n = len(answers)
    return reward(["q"] * n, answers, answer=[ref] * n, answer_type=["open"] * n, question=[question] * n)


def test_caps_contradictions_however_close_the_embedding(collapsed_cosine):
    reward = get_armed_reward(adaptive=False)
    scores = _open(reward, ["<answer>right pneumothorax</answer>", "right collapsed lung", "left pneumothorax",
                            "no pneumothorax", "right pleural effusion"], "right pneumothorax")
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] >= 0.9  # synonym lifts despite zero token overlap
    assert scores[2] <= 0.1 and scores[3] <= 0.1  # laterality, negation: capped although cosine is 0.9
    assert 0.1 < scores[4] < scores[1]
    assert collapsed_cosine  # the semantic component was computed


def test_closed_and_multiple_choice_rows_use_exact_accuracy(collapsed_cosine):
    reward = get_armed_reward(adaptive=False)
    out = reward(None, ["<answer>No, there isn't</answer>", "<answer>C</answer>", "<answer>B</answer>",
                        "<answer>collapsed lung</answer>"],
                 answer=["no", "MRI", "MRI", "pneumothorax"], answer_type=["closed", "multiple_choice",
                                                                           "multiple_choice", "open"],
                 options=["", '{"A": "CT", "B": "X-ray", "C": "MRI"}', '{"A": "CT", "B": "X-ray", "C": "MRI"}', ""],
                 answer_letter=["", "C", "C", ""])
    assert out[:3] == [1.0, 1.0, 0.0]
    assert out[3] >= 0.9
    assert collapsed_cosine == [["collapsed lung"]]  # only open rows reach the embedding


def test_abstains_without_reference_and_never_raises(collapsed_cosine):
    reward = get_armed_reward(adaptive=False)
    out = reward(None, [None, "", "x" * 1_000_000, "\ud800", "<answer><answer>"], answer=[None, "a", "a", "a", "a"])
    assert out[0] is None and all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in out[1:])


def test_logs_components_with_trl_log_metric(collapsed_cosine):
    reward = get_armed_reward(min_history=2)
    logged = {}
    _open(reward, ["pneumothorax", "no pneumothorax", "effusion"], "pneumothorax")
    reward(None, ["pneumothorax", "left"], answer=["pneumothorax", "right"], answer_type=["open", "open"],
           log_metric=lambda k, v: logged.__setitem__(k, v))
    assert {"armed/textual", "armed/semantic_raw", "armed/semantic_adapted", "armed/medical",
            "armed/capped_fraction", "armed/tau"} <= set(logged)
    assert logged["armed/capped_fraction"] == pytest.approx(0.5)
    assert reward.scaler.state_dict()["buffer"]  # the history is exposed for checkpointing


def test_weights_validated_and_normalised():
    r = get_armed_reward(weights={"textual": 1, "semantic": 1, "medical": 2})
    assert r.weights == {"textual": 0.25, "semantic": 0.25, "medical": 0.5}
    with pytest.raises(ValueError, match="medicall"):
        get_armed_reward(weights={"medicall": 1.0})
    with pytest.raises(ValueError):
        get_armed_reward(weights={"textual": -1})
    with pytest.raises(ValueError):
        get_armed_reward(cap=2.0)


def test_registered_picklable_and_named():
    reward = REWARDS.get("armed")
    assert isinstance(reward, ArmedReward) and reward.__name__ == "armed"
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "armed" and clone.weights == reward.weights


def test_without_lift_synonym_scores_lower(collapsed_cosine):
    lifted = _open(get_armed_reward(adaptive=False), ["collapsed lung"], "pneumothorax")[0]
    plain = _open(get_armed_reward(adaptive=False, lift=False), ["collapsed lung"], "pneumothorax")[0]
    assert lifted > plain


@pytest.mark.slow
def test_real_minilm_fixes_the_issue_example():
    """MiniLM alone: "no pneumothorax" 0.91 > "collapsed lung" 0.49; armed must invert that."""
    reward = get_armed_reward(adaptive=False)
    s = _open(reward, ["collapsed lung", "no pneumothorax", "pleural effusion", "pneumothorax"], "pneumothorax")
    assert s[3] > 0.9 and s[0] > 0.8 and s[1] <= 0.1 and s[2] < 0.5
