"""Reports rendered from run-dir JSON alone: tables, plots, collapse panel, samples; Markdown and HTML."""

from __future__ import annotations

import base64
import re

import pytest
from evalfixtures import make_run_dirs

from armed.eval.report import (
    collapse_stats,
    comparison_tables,
    load_run,
    metric_mean,
    render_report,
    write_run_meta,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_run_dirs(tmp_path_factory.mktemp("runs"))


def test_load_run_finds_latest_trainer_state(runs):
    run = load_run(runs[1])
    assert run.label == "GRPO"
    assert list(run.logs) == ["grpo"] and len(run.logs["grpo"]) == 5  # checkpoint-5 beats checkpoint-2
    assert load_run(runs[0]).logs == {}


def test_comparison_table_values_and_delta(runs):
    tables = {t.title: t for t in comparison_tables([load_run(p) for p in runs])}
    fixture = tables["fixture"]
    assert fixture.header[-1] == "Δ GRPO − base"
    row = next(r for r in fixture.rows if r[:2] == ["closed", "closed_accuracy"])
    # base says "right lung" to everything: closed 0/3; GRPO: q1 correct, q2 wrong, q8 unanswered -> 1/3
    assert row[2:] == ["0.0", "33.3", "+33.3"]
    em = next(r for r in fixture.rows if r[:2] == ["open", "exact_match"])
    assert em[2:] == ["0.0", "25.0", "+25.0"]
    groups = tables["groups (macro average over tasks)"]
    assert next(r for r in groups.rows if r[:3] == ["in-domain", "open", "exact_match"])[3:] == ["0.0", "25.0", "+25.0"]


def test_metric_mean_accessor(runs):
    results = load_run(runs[1]).results
    assert metric_mean(results, "fixture", "open", "exact_match") == 0.25
    assert metric_mean(results, "fixture", "overall", "closed_accuracy") == 0.5  # 2 of 4 closed + MC rows
    assert metric_mean(results, "fixture", "open", "nope") is None


def test_collapse_stats_separate_raw_from_armed(runs):
    stats = collapse_stats([load_run(runs[1])])[0]
    assert stats["armed"]["auc"] == 1.0
    assert stats["embedding_cosine"]["std"] < stats["armed"]["std"]


def test_render_writes_markdown_and_self_contained_html(runs, tmp_path):
    out = render_report(runs, tmp_path / "report")
    assert out["sections"] == ["Runs", "Results (×100)", "Per question type (×100)", "Training curves",
                               "Reward collapse", "Answers side by side"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| closed | closed_accuracy | 0.0 | **33.3** | +33.3 |" in md
    assert "![Training curves](plots/training-curves.png)" in md
    assert (tmp_path / "report" / "plots" / "reward-collapse.png").stat().st_size > 1000
    assert "left pleural effusion" in page  # a GRPO answer in the side-by-side table


def test_report_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results.json"):
        render_report([tmp_path], tmp_path / "out")
    with pytest.raises(ValueError, match="at least one"):
        render_report([], tmp_path / "out")


def test_training_only_run_dir(runs, tmp_path):
    import shutil

    train_only = tmp_path / "train-only"
    shutil.copytree(runs[1] / "grpo", train_only / "grpo")
    write_run_meta(train_only, "GRPO training", stage="grpo", seed=0)
    out = render_report([runs[0], train_only], tmp_path / "rep")
    assert "Training curves" in out["sections"] and out["runs"] == ["base", "GRPO training"]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "GRPO training" in page and "grpo: 5 logs" in page


def test_thumbnails_of_sample_images(tmp_path):
    from PIL import Image

    from armed.eval.report import _thumbnail_b64

    Image.new("I;16", (300, 200), 40000).save(tmp_path / "scan.png")  # 16-bit, like exported DICOM slices
    png = base64.b64decode(_thumbnail_b64(str(tmp_path / "scan.png")))
    from io import BytesIO

    with Image.open(BytesIO(png)) as im:
        assert max(im.size) == 112
    assert _thumbnail_b64(str(tmp_path / "missing.png")) is None  # moved data: the report still renders
