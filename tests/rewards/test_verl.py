"""verl adapter: verl's compute_score signatures (per sample and batch) over registered armed rewards."""

import doctest
import json
import pickle

import numpy as np
import pytest

from armed.registry import RegistryError
from armed.rewards import verl
from armed.rewards.verl import (
    compute_score,
    compute_score_batch,
    make_batch_compute_score,
    make_compute_score,
)


def test_doctests():
    assert doctest.testmod(verl).failed == 0


def test_per_sample_signature_matches_verl_call():
    score = make_compute_score("token_f1")
    # NaiveRewardManager calls with keywords
    got = score(data_source="slake", solution_str="<think>…</think><answer>left lung</answer>",
                ground_truth="left lung", extra_info={"split": "train", "index": 3})
    assert got == 1.0
    assert isinstance(got, float)
    assert score("slake", "<answer>right lung</answer>", "left lung") == pytest.approx(0.5)


def test_ground_truth_forms_and_extra_info_columns():
    acc = make_compute_score("accuracy")
    opts = json.dumps({"A": "CT", "B": "MRI"})
    assert acc("pmc_vqa", "Answer: B", "MRI",
               {"answer_type": "multiple_choice", "options": opts, "answer_letter": "B"}) == 1.0
    assert acc("x", "<answer>collapsed lung</answer>", ["pneumothorax", "collapsed lung"]) == 1.0
    assert acc("x", "<answer>collapsed lung</answer>", np.array(["pneumothorax", "collapsed lung"], dtype=object)) == 1.0
    assert acc("x", "<answer>absent</answer>", {"answer": "no", "answer_type": "closed"}) == 1.0
    assert acc("x", "<answer>CT</answer>", "computed tomography", {"aliases": np.array(["CT"])}) == 1.0


def test_abstention_becomes_none_value():
    assert make_compute_score("token_f1")("x", "<answer>a</answer>", "") == 0.0
    assert make_compute_score("token_f1", none_value=-1.0)("x", "<answer>a</answer>", None) == -1.0


def test_module_entry_point_reads_extra_info_then_env(monkeypatch):
    monkeypatch.delenv(verl.ENV_VAR, raising=False)
    # default: accuracy (open answer → token F1)
    assert compute_score("x", "<answer>large effusion</answer>", "effusion") == pytest.approx(2 / 3)
    monkeypatch.setenv(verl.ENV_VAR, "format_strict")
    assert compute_score("x", "<answer>effusion</answer>", "effusion") == 0.0
    assert compute_score("x", "<answer>effusion</answer>", "effusion", {"reward": "exact_match"}) == 1.0
    monkeypatch.setenv(verl.ENV_VAR, "no_such_reward")
    with pytest.raises(RegistryError, match="unknown reward"):
        compute_score("x", "a", "a")


def test_batch_form_groups_rows_by_reward():
    batch = make_batch_compute_score("exact_match")
    got = batch(data_sources=np.array(["a", "b", "c"], dtype=object),
                solution_strs=["<answer>CT</answer>", "<answer>MRI</answer>", "Answer: ct"],
                ground_truths=["CT", "CT", "CT"], extra_infos=[None, {}, {"index": 2}])
    assert got == [1.0, 0.0, 1.0]
    mixed = compute_score_batch(["a", "a"], ["<answer>yes</answer>", "<answer>yes</answer>"], ["yes", "no"],
                                [{"reward": "closed_accuracy"}, {"reward": "format_partial"}])
    assert mixed == [1.0, 0.25]


def test_unknown_reward_fails_at_construction_and_adapter_pickles():
    with pytest.raises(RegistryError, match="token_f1"):
        make_compute_score("token_f2")
    clone = pickle.loads(pickle.dumps(make_compute_score("rouge_l")))
    assert clone("x", "<answer>left effusion</answer>", "left effusion") == 1.0
