"""The harness on a tiny random model and the fixture dataset: batching, scores, resume, results.json."""

from __future__ import annotations

import json

import pytest
from evalfixtures import ANSWERS, FIXTURE_DATASET, Scripted

from armed.eval.generate import GenerationConfig, TransformersGenerator
from armed.eval.harness import aggregate_groups, aggregate_task, evaluate, load_samples
from armed.eval.tasks import Task

FAST_METRICS = {"closed": ("closed_accuracy",), "multiple_choice": ("closed_accuracy",),
                "open": ("exact_match", "token_recall", "f1", "rougeL")}


def fixture_task(version: int = 1, groups=("in-domain",)) -> Task:
    return Task(name="fixture", dataset=FIXTURE_DATASET, version=version, metrics=FAST_METRICS,
                groups=tuple(groups))


def test_scores_and_results_file(tmp_path):
    res = evaluate(Scripted(ANSWERS), [fixture_task()], out_dir=tmp_path, batch_size=3, progress=False)
    rows = {r["id"]: r for r in load_samples(tmp_path)}
    assert len(rows) == 8
    assert rows["q1"]["scores"] == {"closed_accuracy": 1.0}
    assert rows["q1"]["extracted"] == "No, there isn't." and rows["q1"]["format_ok"] is True
    assert rows["q2"]["scores"]["closed_accuracy"] == 0.0
    assert rows["q3"]["scores"]["exact_match"] == 1.0  # alias "lungs"
    assert rows["q4"]["scores"]["exact_match"] == 0.0
    assert rows["q5"]["scores"] == {"closed_accuracy": 1.0}
    assert rows["q6"]["scores"]["token_recall"] == 1.0
    assert rows["q6"]["scores"]["f1"] == pytest.approx(0.8)
    t = res["tasks"]["fixture"]
    assert t["counts"] == {"closed": 3, "multiple_choice": 1, "open": 4}
    assert t["metrics"]["closed"]["closed_accuracy"]["mean"] == pytest.approx(1 / 3)
    assert t["metrics"]["open"]["exact_match"]["mean"] == pytest.approx(1 / 4)
    assert t["by_qtype"]["presence"]["metrics"]["closed_accuracy"]["mean"] == pytest.approx(0.5)
    assert t["by_modality"]["MRI"]["n"] == 3
    assert res["groups"]["in-domain"]["tasks"] == ["fixture"]
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["tasks"]["fixture"]["metrics"] == json.loads(json.dumps(t["metrics"]))
    for key in ("git", "packages", "config"):
        assert on_disk[key]
    assert on_disk["config"]["seed"] == 0 and on_disk["config"]["max_new_tokens"] == 256


def test_resume_after_interrupt_skips_finished_samples(tmp_path):
    killed = Scripted(ANSWERS, fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        evaluate(killed, [fixture_task()], out_dir=tmp_path, batch_size=3, progress=False)
    assert len(load_samples(tmp_path)) == 3  # the first batch was written before the kill
    with (tmp_path / "samples.jsonl").open("a") as fh:
        fh.write('{"task": "fixture", "id": "q')  # a row cut mid-write by the kill
    again = Scripted(ANSWERS)
    res = evaluate(again, [fixture_task()], out_dir=tmp_path, batch_size=3, progress=False)
    assert len(again.seen) == 5
    assert res["timing"] == {**res["timing"], "new_samples": 5, "resumed_samples": 3}
    assert res["tasks"]["fixture"]["n"] == 8
    third = Scripted(ANSWERS)
    evaluate(third, [fixture_task()], out_dir=tmp_path, batch_size=3, progress=False)
    assert third.calls == 0
    assert len(load_samples(tmp_path)) == 8


def test_limit_then_extend(tmp_path):
    first = evaluate(Scripted(ANSWERS), [fixture_task()], out_dir=tmp_path, limit=4, progress=False)
    assert first["tasks"]["fixture"]["n"] == 4
    more = Scripted(ANSWERS)
    second = evaluate(more, [fixture_task()], out_dir=tmp_path, progress=False)
    assert len(more.seen) == 4 and second["tasks"]["fixture"]["n"] == 8


def test_resume_refuses_other_settings_or_task_version(tmp_path):
    evaluate(Scripted(ANSWERS), [fixture_task()], out_dir=tmp_path, limit=2, progress=False)
    with pytest.raises(ValueError, match="max_new_tokens"):
        evaluate(Scripted(ANSWERS), [fixture_task()], out_dir=tmp_path, max_new_tokens=8, progress=False)
    with pytest.raises(ValueError, match="version"):
        evaluate(Scripted(ANSWERS), [fixture_task(version=2)], out_dir=tmp_path, limit=2, progress=False)
    with pytest.raises(ValueError, match="split"):
        evaluate(Scripted(ANSWERS), [fixture_task().with_overrides(split="train")], out_dir=tmp_path, limit=2,
                 progress=False)


def test_groups_override_and_macro_average():
    a = aggregate_task([{"answer_type": "open", "scores": {"f1": 1.0}, "qtype": "", "modality": ""}])
    b = aggregate_task([{"answer_type": "open", "scores": {"f1": 0.0}, "qtype": "", "modality": ""},
                        {"answer_type": "open", "scores": {"f1": 0.0}, "qtype": "", "modality": ""}])
    groups = aggregate_groups({"a": a, "b": b}, {"ood": ["a", "b"], "missing": ["zzz"]})
    assert groups["ood"]["metrics"]["open"]["f1"]["mean"] == pytest.approx(0.5)  # macro, not 1/3
    assert "missing" not in groups


def test_tiny_model_batched_equals_batch_one(tiny_model_dir, tmp_path):
    """Left padding must not change greedy answers: batch 4 and batch 1 give the same completions."""
    res = evaluate(str(tiny_model_dir), [fixture_task()], out_dir=tmp_path / "b4", batch_size=4,
                   max_new_tokens=6, dtype="float32", backend="transformers", progress=False)
    assert res["config"]["backend"] == "transformers" and res["tasks"]["fixture"]["n"] == 8
    evaluate(str(tiny_model_dir), [fixture_task()], out_dir=tmp_path / "b1", batch_size=1, max_new_tokens=6,
             dtype="float32", backend="transformers", progress=False)
    b4 = {r["id"]: r["completion"] for r in load_samples(tmp_path / "b4")}
    b1 = {r["id"]: r["completion"] for r in load_samples(tmp_path / "b1")}
    assert b4 == b1
    assert all(isinstance(c, str) and c.strip() for c in b4.values())


def test_generator_direct_left_padding(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    gen = TransformersGenerator(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok, is_vlm=False)
    short = [{"role": "user", "content": "lung ?"}]
    long = [{"role": "user", "content": "what is the organ shown which of following modality plane ?"}]
    cfg = GenerationConfig(max_new_tokens=5)
    together = gen.generate([short, long], [[], []], cfg)
    alone = [gen.generate([short], [[]], cfg)[0], gen.generate([long], [[]], cfg)[0]]
    assert together == alone
    assert tok.padding_side == "right"  # restored after generation


def test_generator_ids_stop_after_the_first_eos_as_grpo_trainer_cuts_them(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    gen = TransformersGenerator(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tok, is_vlm=False)
    prompts = [[{"role": "user", "content": "lung ?"}], [{"role": "user", "content": "which modality is this ?"}]]
    greedy = {"max_new_tokens": 6, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    full = gen.generate_ids(prompts, [[], []], eos_token_ids=[], **greedy)
    assert [len(ids) for ids in full] == [6, 6]
    stop = full[0][2]  # make row 0's third token an end-of-sequence token: generation and the cut stop there
    cut = gen.generate_ids(prompts, [[], []], eos_token_ids=[stop], eos_token_id=stop, **greedy)
    assert cut[0] == full[0][:full[0].index(stop) + 1] and cut[0][-1] == stop
    assert cut[1] == (full[1][:full[1].index(stop) + 1] if stop in full[1] else full[1])  # no padding kept
    assert gen.generate_with(prompts, [[], []], eos_token_id=stop, **greedy) == tok.batch_decode(
        cut, skip_special_tokens=True)
