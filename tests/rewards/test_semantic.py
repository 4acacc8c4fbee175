"""Semantic reward on the real embedded MiniLM: scores, de-duplication, reference cache, pickling."""

import pickle

import pytest

from armed.registry import REWARDS
from armed.rewards.semantic import Embedder, cosine_scores, get_embedder, get_semantic_reward

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder():
    e = get_embedder("minilm-l6")
    assert e.encoder is not None  # load once for the module
    return e


def test_known_scores_and_collapse(embedder):
    got = cosine_scores(["pneumothorax", "pleural effusion", "collapsed lung", "no pneumothorax"],
                        ["pneumothorax"] * 4)
    assert got[0] == pytest.approx(1.0, abs=1e-4)
    assert got[1] == pytest.approx(0.59, abs=0.03)
    assert got[2] == pytest.approx(0.49, abs=0.03)
    assert got[3] == pytest.approx(0.91, abs=0.03)  # negation blindness: the reason for armed.rewards.medical


def test_aliases_take_the_max_and_empty_scores_zero(embedder):
    got = cosine_scores(["collapsed lung", "", None, "CT"], [["pneumothorax", "collapsed lung"], "x", "x", ""])
    assert got[0] == pytest.approx(1.0, abs=1e-4)
    assert got[1:] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        cosine_scores(["a"], ["a", "b"])


def test_repeats_are_encoded_once_and_references_cached():
    e = Embedder("minilm-l6")  # a fresh embedder with its own counters (the model itself is shared)
    cands = ["pneumothorax"] * 5 + ["effusion"] * 3
    first = e.encode(cands)
    assert e.encoded == 2 and first.shape[0] == 8
    assert (first[0] == first[4]).all()
    e.encode_cached(["pneumothorax", "pneumothorax", "CT"])
    assert e.encoded == 4 and e.cache_hits == 0
    e.encode_cached(["CT", "pneumothorax"])
    assert e.encoded == 4 and e.cache_hits == 2  # nothing re-encoded
    small = Embedder("minilm-l6", cache_size=2)
    small.encode_cached(["a", "b", "c"])
    assert small.cache_info()["size"] == 2


def test_batch_scores_equal_one_by_one(embedder):
    cands = ["left pleural effusion", "pneumonia", "left pleural effusion", "normal"]
    refs = ["pleural effusion", "pneumonia", ["effusion", "pleural effusion"], "normal chest"]
    batch = cosine_scores(cands, refs)
    single = [cosine_scores([c], [r])[0] for c, r in zip(cands, refs, strict=True)]
    assert batch == pytest.approx(single, abs=1e-5)


def test_reward_extracts_answers_and_pickles_small(embedder):
    reward = REWARDS.get("semantic")
    comps = [[{"role": "assistant", "content": "<think>dark lung</think><answer>Pneumothorax</answer>"}],
             "Final answer: pneumonia", "", None]
    got = reward(None, comps, answer=["pneumothorax"] * 3 + [""], aliases=[[], [], [], []])
    assert got[0] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < got[1] < 0.8
    assert got[2] == 0.0 and got[3] is None
    blob = pickle.dumps(get_semantic_reward("minilm-l6"))
    assert len(blob) < 2_000  # the model is not carried
    clone = pickle.loads(blob)
    assert clone.__name__ == "semantic"
    assert clone(None, ["<answer>pneumothorax</answer>"], answer=["pneumothorax"])[0] == pytest.approx(1.0, abs=1e-4)


def test_adaptive_semantic_logs_and_spreads(embedder):
    from armed.rewards.adaptive import get_adaptive_semantic_reward

    reward = get_adaptive_semantic_reward(min_history=8)
    logged = {}
    answers = ["pneumothorax", "pleural effusion", "collapsed lung", "pneumonia", "atelectasis",
               "no pneumothorax", "tension pneumothorax", "normal"]
    comps = [f"<answer>{a}</answer>" for a in answers]
    out = reward(None, comps, answer=["pneumothorax"] * 8, log_metric=lambda k, v: logged.__setitem__(k, v))
    assert set(logged) == {f"adaptive_semantic/{k}" for k in ("tau", "scale", "raw_std", "adapted_std")}
    assert logged["adaptive_semantic/adapted_std"] > logged["adaptive_semantic/raw_std"]
    raw = reward.semantic(None, comps, answer=["pneumothorax"] * 8)
    assert sorted(range(8), key=lambda i: out[i]) == sorted(range(8), key=lambda i: raw[i])


def test_cosine_scores_encodes_each_distinct_text_once_per_batch_and_caches(embedder):
    e = get_embedder("minilm-l6")
    e.clear_cache()
    before = e.encoded
    cands = ["zz effusion"] * 4 + ["zz pneumothorax"] * 3 + ["zz mass"]
    refs = ["zz pneumothorax"] * 8  # the correct answer is also the reference: encoded once
    first = cosine_scores(cands, refs)
    assert e.encoded - before == 3
    assert cosine_scores(cands, refs) == first
    assert e.encoded - before == 3  # the next step's repeats come from the cache
