"""Difficulty filtering: bounds, outputs, resume after a kill, real sampling with a tiny model, the CLI."""

from __future__ import annotations

import json

import pytest

from armed.data.filter import FilterConfig, filter_by_difficulty, read_done, read_samples
from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample


def _samples(n: int = 5) -> list[Sample]:
    return [Sample(id=f"q{i}", source="toy", split="test", question=f"Is finding {i} present?",
                   answer="yes" if i % 2 == 0 else "no", answer_type="closed") for i in range(n)]


class ScriptedPolicy:
    """Question q{i} gets i correct answers out of k: q0 never right, q4 (k=4) always right."""

    def __init__(self, samples: list[Sample], k: int, fail_after_calls: int | None = None):
        self.by_question = {s.question: s for s in samples}
        self.k, self.calls, self.fail_after = k, 0, fail_after_calls
        self.seen: list[str] = []

    def __call__(self, prompts, images):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # a kill in the middle of a run
        self.calls += 1
        out = []
        for j, prompt in enumerate(prompts):
            sample = self.by_question[prompt[-1]["content"].split("\n")[0]]
            self.seen.append(sample.id)
            i = int(sample.id[1:])
            wrong = "no" if sample.answer == "yes" else "yes"
            out.append(f"<think>…</think><answer>{sample.answer if j % self.k < i else wrong}</answer>")
        return out


def test_config_validates_bounds():
    assert FilterConfig(k=8).max_correct == 7
    with pytest.raises(ValueError, match="min_correct"):
        FilterConfig(k=4, min_correct=3, max_correct=2)
    with pytest.raises(ValueError, match="max_correct"):
        FilterConfig(k=4, max_correct=5)


def test_keeps_mixed_difficulty_and_writes_all_outputs(tmp_path):
    samples = _samples(5)
    cfg = FilterConfig(dataset="toy", k=4, reward="closed_accuracy", batch_size=8)
    summary = filter_by_difficulty(samples, cfg, tmp_path, ScriptedPolicy(samples, 4), progress=False)
    assert summary["kept_ids"] == ["q1", "q2", "q3"]  # 0 < correct < 4
    assert summary["counts"] == {"questions": 5, "kept": 3, "all_correct": 1, "all_wrong": 1, "responses": 20}
    assert summary["histogram"] == {"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
    assert summary["pass_rates"]["q3"] == 0.75
    on_disk = json.loads((tmp_path / "pass_rates.json").read_text())
    assert on_disk["config"]["reward"] == "closed_accuracy" and "packages" in on_disk["provenance"]
    kept = read_samples(tmp_path / "filtered.jsonl")
    assert [s.id for s in kept] == ["q1", "q2", "q3"] and kept[1].meta["pass_rate"] == 0.5
    assert (tmp_path / "pass_rates.png").read_bytes()[:4] == b"\x89PNG"
    assert len(read_done(tmp_path / "results.jsonl")["q2"]["completions"]) == 4


def test_bounds_and_threshold_are_configurable(tmp_path):
    samples = _samples(5)
    cfg = FilterConfig(k=4, reward="closed_accuracy", min_correct=2, max_correct=4)
    summary = filter_by_difficulty(samples, cfg, tmp_path, ScriptedPolicy(samples, 4), progress=False)
    assert summary["kept_ids"] == ["q2", "q3", "q4"]
    strict = FilterConfig(k=4, reward="closed_accuracy", threshold=1.5)  # nothing can reach 1.5
    summary = filter_by_difficulty(samples, strict, tmp_path / "strict", ScriptedPolicy(samples, 4), progress=False)
    assert summary["counts"]["all_wrong"] == 5 and summary["kept_ids"] == []


def test_resumes_after_a_kill_without_resampling_done_questions(tmp_path):
    samples = _samples(5)
    cfg = FilterConfig(k=4, reward="closed_accuracy", batch_size=8)  # 2 questions per generate call
    with pytest.raises(KeyboardInterrupt):
        filter_by_difficulty(samples, cfg, tmp_path, ScriptedPolicy(samples, 4, fail_after_calls=1), progress=False)
    assert sorted(read_done(tmp_path / "results.jsonl")) == ["q0", "q1"]
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"id": "q2", "k": 4, "corr')  # torn line from a kill mid-write
    policy = ScriptedPolicy(samples, 4)
    summary = filter_by_difficulty(samples, cfg, tmp_path, policy, progress=False)
    assert sorted(set(policy.seen)) == ["q2", "q3", "q4"]
    assert summary["kept_ids"] == ["q1", "q2", "q3"]
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(line) for line in lines)


def test_duplicate_ids_are_refused(tmp_path):
    samples = _samples(2)
    samples[1].id = "q0"
    with pytest.raises(ValueError, match="duplicate sample id 'q0'"):
        filter_by_difficulty(samples, FilterConfig(k=2), tmp_path, ScriptedPolicy(samples, 2), progress=False)


class ToyLoader(Loader):
    """Five yes/no questions, for the CLI test (found by import path)."""

    name = "toy"
    needs_path = False

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        samples = _samples(3)
        return samples, LoadReport(rows_read=3, kept=3)


def test_cli_filter_samples_with_a_real_model(tiny_chat_lm, tmp_path):
    from typer.testing import CliRunner

    from armed.cli import app

    out = tmp_path / "filtered"
    args = ["data", "filter", "--dataset", "test_filter:ToyLoader", "--model", str(tiny_chat_lm), "--k", "3",
            "--max-new-tokens", "4", "--reward", "closed_accuracy", "--dtype", "float32", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    done = read_done(out / "results.jsonl")
    assert sorted(done) == ["q0", "q1", "q2"] and all(len(r["completions"]) == 3 for r in done.values())
    summary = json.loads((out / "pass_rates.json").read_text())
    assert summary["counts"]["questions"] == 3 and summary["counts"]["responses"] == 9
    assert "kept" in result.output
    again = CliRunner().invoke(app, args)  # everything done: resumes to the same result without sampling
    assert again.exit_code == 0 and json.loads((out / "pass_rates.json").read_text())["pass_rates"] == \
        summary["pass_rates"]
