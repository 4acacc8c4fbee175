"""AdaptiveScaler: threshold, spread, sigmoid, warm-up, checkpoint round trip, identical buffers across ranks."""

import doctest
import json
import math
import os
import pickle
import random

import numpy as np
import pytest

from armed.rewards import adaptive
from armed.rewards.adaptive import AdaptiveScaler, adaptive_map, get_adaptive_semantic_reward


def test_doctests():
    assert doctest.testmod(adaptive).failed == 0


def test_warm_up_passes_raw_scores_through():
    scaler = AdaptiveScaler(min_history=16)
    assert scaler.update_and_transform([0.3, 0.7, None]) == [0.3, 0.7, None]
    assert not scaler.ready and len(scaler.buffer) == 2  # None is not history


def test_threshold_is_the_quantile_and_maps_to_half():
    scaler = AdaptiveScaler(min_history=4, quantile=0.25)
    scaler.update([0.1, 0.2, 0.3, 0.4, 0.5])
    assert scaler.threshold() == pytest.approx(0.2)
    assert scaler.transform([0.2])[0] == pytest.approx(0.5)
    assert scaler.transform([0.25])[0] > 0.5 > scaler.transform([0.15])[0]


def test_scale_formula_iqr_and_std():
    rng = np.random.default_rng(0)
    data = list(rng.normal(0.7, 0.05, 5000))
    iqr = AdaptiveScaler(buffer_size=5000)
    iqr.update(data)
    std = AdaptiveScaler(buffer_size=5000, spread="std")
    std.update(data)
    assert iqr.scale() == pytest.approx(0.05, rel=0.05)  # IQR/1.349 estimates sigma
    assert std.scale() == pytest.approx(0.05, rel=0.05)
    fixed = AdaptiveScaler(temperature_from_spread=False, temperature=0.2)
    fixed.update(data[:100])
    assert fixed.scale() == 0.2
    # sigmoid(k (r - tau) / s) by hand
    tau, s = iqr.threshold(), iqr.scale()
    assert iqr.transform([0.75])[0] == pytest.approx(1 / (1 + math.exp(-2 * (0.75 - tau) / s)))


def test_identical_history_uses_min_scale():
    scaler = AdaptiveScaler(min_history=2)
    scaler.update([0.8] * 10)
    assert scaler.scale() == scaler.min_scale
    assert scaler.transform([0.8]) == [0.5]


def test_collapsed_raw_scores_gain_spread_and_keep_order():
    """ARMed's point: raw scores bunched in a narrow band come out with a much larger spread, same order."""
    rng = random.Random(1)
    scaler = AdaptiveScaler(buffer_size=1024, min_history=16)
    adapted_stds, raw_stds = [], []
    for _ in range(20):  # 20 steps of 8 groups × 8 completions, raw cosine ~ 0.65 ± 0.05
        raw = [min(1.0, max(0.0, rng.gauss(0.65, 0.05))) for _ in range(64)]
        out = scaler.update_and_transform(raw)
        raw_stds.append(np.std(raw))
        adapted_stds.append(np.std(out))
        order = np.argsort(raw, kind="stable")
        assert all(out[order[i]] <= out[order[i + 1]] for i in range(63))  # monotone
    assert np.mean(raw_stds) < 0.06
    assert np.mean(adapted_stds[2:]) > 4 * np.mean(raw_stds)
    assert 0.2 < np.mean(adapted_stds[2:]) < 0.4
    stats = scaler.stats()
    assert stats["adapted_std"] > stats["raw_std"]
    assert stats["tau"] == pytest.approx(0.65, abs=0.02)
    assert stats["buffer_size"] == 1024


def test_buffer_is_bounded_fifo():
    scaler = AdaptiveScaler(buffer_size=4, min_history=1)
    scaler.update([1, 2, 3])
    scaler.update([4, 5])
    assert list(scaler.buffer) == [2, 3, 4, 5]


def test_non_finite_scores_are_ignored():
    scaler = AdaptiveScaler(min_history=1)
    out = scaler.update_and_transform([float("nan"), 0.5, float("inf"), None])
    assert out[1] == pytest.approx(0.5) and out[0] is None and out[2] is None and out[3] is None
    assert list(scaler.buffer) == [0.5]


def test_state_round_trip(tmp_path):
    a = AdaptiveScaler(buffer_size=64, min_history=4)
    rng = random.Random(2)
    for _ in range(10):
        a.update_and_transform([rng.random() for _ in range(16)])
    path = tmp_path / "scaler.json"
    path.write_text(json.dumps(a.state_dict()))  # JSON-serialisable
    b = AdaptiveScaler(buffer_size=64, min_history=4)
    b.load_state_dict(json.loads(path.read_text()))
    probe = [0.1, 0.4, 0.5, 0.9]
    assert b.transform(probe) == a.transform(probe)
    assert list(b.buffer) == list(a.buffer) and b.steps == a.steps == 10
    small = AdaptiveScaler(buffer_size=8)
    small.load_state_dict(a.state_dict())
    assert list(small.buffer) == list(a.buffer)[-8:]
    with pytest.raises(ValueError):
        b.load_state_dict({"nope": 1})


@pytest.mark.parametrize("kwargs", [{"buffer_size": 0}, {"quantile": 1.0}, {"spread": "iqrr"}, {"sharpness": 0},
                                    {"min_history": 0}])
def test_invalid_config(kwargs):
    with pytest.raises(ValueError):
        AdaptiveScaler(**kwargs)


def test_adaptive_map_is_pure():
    assert adaptive_map([0.5, None, float("nan")], tau=0.5, scale=0.1) == [0.5, None, None]


def test_reward_instance_pickles_without_a_model():
    reward = get_adaptive_semantic_reward(min_history=2)
    reward.scaler.update([0.1, 0.2, 0.3])
    clone = pickle.loads(pickle.dumps(reward))
    assert clone.__name__ == "adaptive_semantic"
    assert list(clone.scaler.buffer) == [0.1, 0.2, 0.3]
    assert len(pickle.dumps(reward)) < 5_000


def _rank_main(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    scaler = AdaptiveScaler(min_history=4)
    rng = random.Random(rank)
    outs = []
    for step in range(3):  # each rank sees a different slice, of a different length
        raw = [rng.random() for _ in range(5 + rank + step)]
        outs.append(scaler.update_and_transform(raw))
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"state": scaler.state_dict(), "stats": scaler.stats()}, f)
    dist.destroy_process_group()


@pytest.mark.slow  # spawns two torch processes (~12 s on 2 shared cores); no model is loaded
def test_buffer_identical_on_every_process(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_rank_main, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True,
                       start_method="spawn")
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["state"]["buffer"] == r1["state"]["buffer"]
    assert len(r0["state"]["buffer"]) == (5 + 6) + (6 + 7) + (7 + 8)  # both ranks' slices, every step
    assert r0["stats"]["tau"] == r1["stats"]["tau"]
