"""Length rewards: ECR, CWR, cosine length scaling and DAPO's overlong penalty."""

import doctest
import math
import pickle

import pytest

from armed.registry import REWARDS
from armed.rewards import length
from armed.rewards.length import (
    cos_fn,
    get_cosine_length_reward,
    get_cwr_reward,
    get_ecr_reward,
    get_overlong_penalty,
    measure_lengths,
    reasoning_text,
)


def _completion(n_words: int, answer: str) -> str:
    return "<think>" + " ".join(["w"] * n_words) + f"</think><answer>{answer}</answer>"


def test_doctests():
    assert doctest.testmod(length).failed == 0


def test_registered_and_picklable():
    for name in ("length_ecr", "length_cwr", "cosine_length", "overlong_penalty"):
        reward = REWARDS.get(name)
        assert reward.__name__ == name
        assert pickle.loads(pickle.dumps(reward)).__name__ == name


def test_reasoning_text_and_lengths():
    assert reasoning_text("<think>a b c</think><answer>x</answer>") == "a b c"
    assert reasoning_text("a b c\nAnswer: yes") == "a b c\n"
    assert measure_lengths(["<think>a b c</think><answer>x y</answer>"]) == [3]
    assert measure_lengths(["<think>a b c</think><answer>x y</answer>"], unit="completion") == [4]  # tags glue words
    assert measure_lengths(["text"], completion_ids=[[1, 2, 3, 4, 5]], unit="completion") == [5]
    assert measure_lengths(["text"], completion_ids=[[1, 2, 3, 4, 5]], unit="reasoning") == [1]
    assert measure_lengths([None, ""]) == [0, 0]


def test_ecr_rewards_length_regardless_of_correctness():
    ecr = get_ecr_reward(target_length=10, weight=2.0)
    got = ecr(None, [_completion(0, "no"), _completion(5, "yes"), _completion(50, "wrong")], answer=["yes"] * 3)
    assert got == [0.0, 1.0, 2.0]


def test_cwr_rewards_length_only_when_correct():
    cwr = get_cwr_reward(target_length=10)
    comps = [_completion(5, "yes"), _completion(5, "no"), _completion(20, "yes"), _completion(20, "yes")]
    got = cwr(None, comps, answer=["yes", "yes", "yes", ""], answer_type=["closed"] * 4)
    assert got == [0.5, 0.0, 1.0, None]  # no reference: correctness abstains, so does CWR


def test_cos_fn_endpoints():
    assert cos_fn(0, 100, lo=1.0, hi=2.0) == pytest.approx(2.0)
    assert cos_fn(100, 100, lo=1.0, hi=2.0) == pytest.approx(1.0)
    assert cos_fn(50, 100, lo=1.0, hi=2.0) == pytest.approx(1.5)
    assert cos_fn(500, 100, lo=1.0, hi=2.0) == pytest.approx(1.0)  # clamped


def test_cosine_length_orders_as_in_yeo_et_al():
    reward = get_cosine_length_reward(max_length=100, unit="reasoning")
    comps = [_completion(10, "yes"), _completion(90, "yes"), _completion(10, "no"), _completion(90, "no")]
    short_ok, long_ok, short_bad, long_bad = reward(None, comps, answer=["yes"] * 4)
    assert short_ok > long_ok > long_bad > short_bad
    assert 0.5 <= long_ok <= 1.0 and -1.0 <= short_bad <= -0.5
    paper = get_cosine_length_reward(max_length=100, min_value_wrong=-10, max_value_wrong=0, min_value_correct=1,
                                     max_value_correct=2, exceed_penalty=-10, unit="reasoning")
    assert paper(None, [_completion(0, "yes"), _completion(0, "no"), _completion(101, "yes")],
                 answer=["yes"] * 3) == pytest.approx([2.0, -10.0, -10.0])


def test_dapo_overlong_penalty():
    pen = get_overlong_penalty(max_completion_length=100, soft_cache=20)
    ids = [[0] * n for n in (10, 80, 90, 100, 101)]
    assert pen(None, ["x"] * 5, completion_ids=ids) == pytest.approx([0.0, 0.0, -0.5, -1.0, -1.0])
    assert all(math.isfinite(v) for v in pen(None, ["w " * 200]))


@pytest.mark.parametrize("factory, kwargs", [
    (get_ecr_reward, {"target_length": 0}), (get_ecr_reward, {"unit": "chars"}),
    (get_overlong_penalty, {"max_completion_length": 10, "soft_cache": 20}),
    (get_cosine_length_reward, {"max_length": 0}),
])
def test_invalid_parameters(factory, kwargs):
    with pytest.raises(ValueError):
        factory(**kwargs)
