"""CAPO perception-consistency reward on a tiny random LLaVA (SmolLM2 tokenizer, 1-layer vision tower)."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from armed.models import resolve
from armed.registry import REWARDS
from armed.rewards.consistency import (
    attach_policy_callback,
    get_perception_consistency_reward,
    model_aware,
    perturb_image,
)


@pytest.fixture(scope="module")
def policy(tmp_path_factory, tiny_chat_lm):
    from armed.vlm import build_tiny_llava, load_policy

    root = tmp_path_factory.mktemp("consistency")
    build_tiny_llava(tiny_chat_lm, root / "vlm", vision_hidden=32, vision_layers=1, vision_heads=2)
    model, processor, _ = load_policy(root / "vlm")
    img = root / "scan.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save(img)
    return model, processor, str(img)


PROMPT = [{"role": "system", "content": [{"type": "text", "text": "Answer."}]},
          {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Modality?"}]}]
RIGHT = "<think>looks like a CT</think><answer>CT</answer>"
WRONG = "<think>looks like an MRI</think><answer>MRI</answer>"


@pytest.mark.parametrize("kind", ["noise", "blur", "mask"])
def test_perturbations_change_the_image_deterministically(kind):
    rng = np.random.default_rng(1)
    image = Image.fromarray((rng.random((40, 48, 3)) * 255).astype("uint8"))
    a = np.asarray(perturb_image(image, kind, 0.5, seed=3))
    b = np.asarray(perturb_image(image, kind, 0.5, seed=3))
    assert a.shape == (40, 48, 3) and np.array_equal(a, b)
    assert np.abs(a.astype(int) - np.asarray(image).astype(int)).mean() > 5


def test_bad_settings_name_the_allowed_values():
    with pytest.raises(ValueError, match="Allowed: noise, blur, mask"):
        get_perception_consistency_reward(perturbation="rotate")
    with pytest.raises(ValueError, match="Allowed: clip, sigmoid"):
        get_perception_consistency_reward(mode="tanh")


def test_reward_abstains_without_image_scores_wrong_zero_and_grounds_right(policy):
    model, processor, img = policy
    reward = get_perception_consistency_reward(mode="sigmoid").attach(model, processor)
    out = reward([PROMPT] * 3, [RIGHT, WRONG, RIGHT], images=[[img], [img], []], answer=["CT"] * 3,
                 answer_type=["open"] * 3)
    assert out[1] == 0.0 and out[2] is None
    lp_orig, lp_pert = reward.log_likelihoods(PROMPT, RIGHT, [img], seed=0)
    assert lp_orig < 0 and lp_pert < 0 and lp_orig != lp_pert  # the random tower does see the image
    assert 0.0 < out[0] < 1.0 and out[0] != 0.5


def test_model_that_ignores_the_image_gets_no_consistency_reward(policy):
    import copy

    model, processor, img = policy
    blind = copy.deepcopy(model)
    with torch.no_grad():  # projector outputs 0 for every image: the LM cannot see it
        for p in blind.model.multi_modal_projector.parameters():
            p.zero_()
    reward = get_perception_consistency_reward(mode="clip", scale=100.0).attach(blind, processor)
    lp_orig, lp_pert = reward.log_likelihoods(PROMPT, RIGHT, [img], seed=0)
    assert math.isclose(lp_orig, lp_pert, abs_tol=1e-5)
    assert reward([PROMPT], [RIGHT], images=[[img]], answer=["CT"], answer_type=["open"]) == [0.0]
    sig = get_perception_consistency_reward(mode="sigmoid").attach(blind, processor)
    assert sig([PROMPT], [RIGHT], images=[[img]], answer=["CT"], answer_type=["open"])[0] == pytest.approx(0.5)


def test_registered_pickles_without_model_and_callback_attaches(policy):
    model, processor, _ = policy
    reward = REWARDS.get("perception_consistency")
    assert reward.__name__ == "perception_consistency" and model_aware([reward, len]) == [reward]
    attach_policy_callback(reward).on_train_begin(None, None, None, model=model, processing_class=processor)
    assert reward.model is model
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.model is None and clone.perturbation == reward.perturbation
    with pytest.raises(RuntimeError, match="attach"):
        clone.log_likelihoods(PROMPT, RIGHT, [policy[2]], seed=0)
    with pytest.raises(ValueError, match="VLM processor"):
        clone.attach(model, processor.tokenizer)
    reward.model = reward.processor = None  # leave the shared registry instance as found


def test_batched_scoring_matches_one_at_a_time(policy):
    """Right-padded batches of completions of different lengths give each row's own log-likelihoods."""
    model, processor, img = policy
    reward = get_perception_consistency_reward(batch_size=3).attach(model, processor)
    items = [(PROMPT, RIGHT, [img], 0), (PROMPT, "<think>a much longer line of reasoning about the scan here"
                                                 "</think><answer>CT</answer>", [img], 1),
             (PROMPT, "CT", [img], 2)]
    batched = reward.batch_log_likelihoods(items)
    single = [reward.log_likelihoods(*item) for item in items]
    for (b0, b1), (s0, s1) in zip(batched, single, strict=True):
        assert b0 == pytest.approx(s0, abs=1e-4) and b1 == pytest.approx(s1, abs=1e-4)
    assert len({round(b[0], 4) for b in batched}) == 3  # different rows, different spans


def test_works_with_qwen2_vl_image_only_processor(tmp_path):
    from armed.vlm import build_tiny_qwen_vl, load_policy

    folder = build_tiny_qwen_vl(resolve("smollm2-135m-instruct"), tmp_path / "qwen", model_type="qwen2_vl")
    img = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(0).random((60, 70, 3)) * 255).astype("uint8")).save(img)
    model, processor, _ = load_policy(folder)
    reward = get_perception_consistency_reward(mode="sigmoid", batch_size=2).attach(model, processor)
    items = [(PROMPT, RIGHT, [str(img)], 0), (PROMPT, "<think>longer reasoning</think><answer>CT</answer>",
                                             [str(img)], 1)]
    batched = reward.batch_log_likelihoods(items)
    single = [reward.log_likelihoods(*item) for item in items]
    assert [x for pair in batched for x in pair] == pytest.approx([x for pair in single for x in pair], abs=1e-4)
    assert all(lp < 0 and lo != lp for lo, lp in batched)
