"""Task YAML files: every shipped task loads and validates; errors name the key; paths resolve; CLI works."""

from __future__ import annotations

import json

import pytest
import yaml
from evalfixtures import FIXTURE_DATASET

from armed.eval.tasks import TASK_DIR, Task, load_task_file, task_from_dict
from armed.registry import DATASETS, TASKS

EMBEDDED = {"medscan-vqa", "mmlu-med", "mmlu-med-open"}
BENCHMARKS = {"vqa-rad", "slake", "pathvqa", "pmc-vqa", "omnimedvqa", "mmmu-med", "vqa-med-2019", "medxpertqa",
              "medxpertqa-mm", "medqa", "medmcqa", "pubmedqa"}


def test_every_shipped_task_is_registered_and_valid():
    files = sorted(TASK_DIR.glob("*.yaml"))
    assert {f.stem for f in files} == EMBEDDED | BENCHMARKS
    for f in files:
        task = TASKS.get(f.stem)
        assert task.name == f.stem and task.description and task.version >= 1
        assert task.dataset in DATASETS, f"{f.name}: dataset {task.dataset!r} is not a registered loader"
        loader = DATASETS.get(task.dataset)
        assert task.split in loader.splits, f"{f.name}: split {task.split!r} not in {loader.splits}"
        task.validate_metrics()
        assert (task.path is None) and (loader.needs_path == (task.name not in EMBEDDED))
    assert set(TASKS.get("vqa-rad").groups) >= {"in-domain"}
    assert set(TASKS.get("vqa-med-2019").groups) >= {"out-of-domain"}


def test_benchmark_path_from_option_or_env(monkeypatch, tmp_path):
    task = TASKS.get("vqa-rad")
    monkeypatch.delenv("ARMED_DATA_VQA_RAD", raising=False)
    with pytest.raises(ValueError, match=r"--path vqa-rad=DIR.*ARMED_DATA_VQA_RAD"):
        task.resolve_path()
    monkeypatch.setenv("ARMED_DATA_VQA_RAD", str(tmp_path))
    assert task.resolve_path() == str(tmp_path)
    assert task.with_overrides(path="/elsewhere").resolve_path() == "/elsewhere"
    assert TASKS.get("mmlu-med").resolve_path() is None


@pytest.mark.parametrize(("data", "message"), [
    ({"name": "x", "dataset": "vqa-rad", "metrcs": {}}, "Did you mean 'metrics'"),
    ({"name": "x", "dataset": "vqa-rad", "metrics": {"opne": ["f1"]}}, "Did you mean 'open'"),
    ({"name": "x", "dataset": "vqa-rad"}, "'metrics' needs at least one answer type"),
    ({"name": "x", "metrics": {"open": ["f1"]}}, "'dataset' is required"),
    ({"name": "x", "dataset": "vqa-rad", "metrics": {"open": ["f1"]}, "prompt": {"template": "{q}"}},
     "may only use"),
    ({"name": "x", "dataset": "vqa-rad", "metrics": {"open": ["f1"]}, "prompt": {"sytem": "hi"}},
     "Did you mean 'system'"),
])
def test_bad_task_files_name_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        task_from_dict(data, "bad.yaml")


def test_unknown_metric_and_override_key():
    task = task_from_dict({"name": "x", "dataset": "vqa-rad", "metrics": {"open": ["rouge_1"]}})
    with pytest.raises(ValueError, match="Did you mean 'rouge1'"):
        task.validate_metrics()
    with pytest.raises(ValueError, match="Did you mean 'split'"):
        task.with_overrides(splt="train")


def test_task_file_prompt_and_defaults(tmp_path):
    f = tmp_path / "my-task.yaml"
    f.write_text(yaml.safe_dump({"dataset": FIXTURE_DATASET, "metrics": {"open": ["f1"]},
                                 "prompt": {"system": "Be brief.", "template": "Q: {stem}"}}))
    task = load_task_file(f)
    assert task.name == "my-task" and task.system_prompt == "Be brief." and task.template == "Q: {stem}"
    assert isinstance(task, Task) and task.load_samples(limit=3)[0].id == "q1"


def test_cli_ls_eval_and_report(tiny_model_dir, tmp_path, capsys):
    from armed.cli import main

    main(["ls", "tasks"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("vqa-rad", "mmlu-med-open", "medscan-vqa"))
    task_file = tmp_path / "fixture.yaml"
    task_file.write_text(yaml.safe_dump({"name": "fixture", "dataset": FIXTURE_DATASET, "version": 1,
                                         "metrics": {"closed": ["closed_accuracy"], "open": ["f1"],
                                                     "multiple_choice": ["closed_accuracy"]}}))
    out = tmp_path / "run"
    main(["eval", "--model", str(tiny_model_dir), "--tasks", str(task_file), "--limit", "3", "--out", str(out),
          "--max-new-tokens", "4", "--batch-size", "2", "--dtype", "float32", "--backend", "transformers"])
    printed = capsys.readouterr().out
    assert "closed_accuracy" in printed and "3 new, 0 resumed" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["tasks"]["fixture"]["n"] == 3 and results["config"]["batch_size"] == 2
    main(["report", str(out), "--out", str(tmp_path / "rep")])
    assert (tmp_path / "rep" / "report.html").exists()
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--model", str(tiny_model_dir), "--tasks", "vqa-rad", "--path", "slake=/x"])
    assert exc.value.code == 2
