"""Audit metrics on tiny hand-made groups with known values, the CLI, and (slow) the shipped-set targets."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from armed.audit import (
    auc,
    audit_metrics,
    default_audit_path,
    load_groups,
    pairwise,
    run_audit,
    score_groups,
    spearman,
)
from armed.cli import app, main

ROWS = [
    ("g1", "pneumothorax", "collapsed lung", 1), ("g1", "pneumothorax", "pneumothorax", 1),
    ("g1", "pneumothorax", "small pneumothorax?", 0.5), ("g1", "pneumothorax", "no pneumothorax", 0),
    ("g2", "left", "left", 1), ("g2", "left", "right", 0), ("g2", "left", "both", 0.5),
]
LABEL = {(g, c): lab for g, _, c, lab in ROWS}


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps({"group": g, "question": "q?", "reference": r, "candidate": c, "label": lab})
                              for g, r, c, lab in ROWS) + "\n")
    return path


def oracle(prompts=None, completions=None, answer=None, **kw):
    """A perfect reward: the label itself (answer column + completion identify the row)."""
    refs = {"pneumothorax": "g1", "left": "g2"}
    return [float(LABEL[(refs[a], c)]) for c, a in zip(completions, answer, strict=True)]


def test_metric_primitives_known_values():
    assert spearman([0.1, 0.5, 0.9], [0, 0.5, 1]) == pytest.approx(1.0)
    assert spearman([0.9, 0.5, 0.1], [0, 0.5, 1]) == pytest.approx(-1.0)
    assert spearman([0.5, 0.5, 0.5], [0, 0.5, 1]) == 0.0  # collapse: no signal
    assert spearman([0.1, 0.2], [1, 1]) is None
    assert pairwise([0.9, 0.1, 0.5], [1, 0, 0.5]) == (3.0, 3)
    assert pairwise([0.5, 0.5], [1, 0]) == (0.5, 1)  # a tie counts half
    assert pairwise([0.1, 0.9], [1, 0]) == (0.0, 1)
    assert auc([0.9, 0.8], [0.1, 0.8]) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert auc([], [0.1]) is None


def test_groups_keep_file_order_and_validate(tiny, tmp_path):
    groups = load_groups(tiny)
    assert [g.name for g in groups] == ["g1", "g2"] and groups[0].labels == [1, 1, 0.5, 0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"group": "a", "reference": "x", "candidate": "y", "label": 2}\n')
    with pytest.raises(ValueError, match="label"):
        load_groups(bad)
    with pytest.raises(FileNotFoundError):
        load_groups(tmp_path / "missing.jsonl")


def test_perfect_reward_scores_perfectly(tiny):
    groups = load_groups(tiny)
    scores = score_groups(oracle, groups)
    m = audit_metrics(scores, [g.labels for g in groups])
    assert m["pairwise_accuracy"] == 1.0 and m["auc"] == 1.0 and m["spearman"] == pytest.approx(1.0)
    assert m["gap"] == 1.0 and m["within_group_std"] > 0.3


def test_constant_reward_is_chance(tiny):
    groups = load_groups(tiny)
    m = audit_metrics(score_groups(lambda completions=None, **kw: [0.7] * len(completions), groups),
                      [g.labels for g in groups])
    assert m == pytest.approx({"spearman": 0.0, "pairwise_accuracy": 0.5, "auc": 0.5, "within_group_std": 0.0,
                               "gap": 0.0}, abs=1e-12)


def test_reward_called_once_per_group_with_columns(tiny):
    calls = []

    def spy(prompts=None, completions=None, **cols):
        calls.append((list(completions), cols))
        return [None] * len(completions)  # abstention counts as 0

    scores = score_groups(spy, load_groups(tiny))
    assert len(calls) == 2 and len(calls[0][0]) == 4
    assert calls[0][1]["answer"] == ["pneumothorax"] * 4 and calls[0][1]["answer_type"] == ["open"] * 4
    assert scores[0] == [0.0] * 4


def test_cli_json_and_plot(tiny, tmp_path):
    png = tmp_path / "dist.png"
    res = CliRunner().invoke(app, ["audit", "--groups", str(tiny), "--reward", "medical_correctness",
                                   "--reward", "exact_match", "--json", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) == {"medical_correctness", "exact_match"}
    assert set(data["exact_match"]) == {"spearman", "pairwise_accuracy", "auc", "within_group_std", "gap"}
    assert data["medical_correctness"]["pairwise_accuracy"] > data["exact_match"]["pairwise_accuracy"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_cli_unknown_reward_is_one_line_error(tiny, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "--groups", str(tiny), "--reward", "medical_corectness"])
    assert exc.value.code == 2
    assert "medical_correctness" in capsys.readouterr().err


def test_shipped_audit_sets_are_well_formed():
    main_set = load_groups(default_audit_path())
    heldout = load_groups(default_audit_path("heldout.jsonl")) + load_groups(default_audit_path("heldout2.jsonl"))
    assert len(main_set) >= 40 and sum(len(g.candidates) for g in main_set) >= 300
    assert len(heldout) >= 30 and not {g.name for g in main_set} & {g.name for g in heldout}
    assert len({g.name for g in heldout}) == len(heldout)
    for g in main_set + heldout:
        assert set(g.labels) <= {0.0, 0.5, 1.0} and 1.0 in g.labels and 0.0 in g.labels, g.name
        assert len(set(g.candidates)) == len(g.candidates), g.name


@pytest.mark.slow
def test_armed_meets_targets_on_shipped_set():
    result = run_audit(default_audit_path(), ["armed", "token_f1"])
    armed, f1 = result.metrics["armed"], result.metrics["token_f1"]
    assert armed["pairwise_accuracy"] >= 0.90 and armed["auc"] >= 0.95 and armed["within_group_std"] >= 0.30
    assert armed["pairwise_accuracy"] > f1["pairwise_accuracy"] + 0.15


def test_markdown_table_from_json():
    from armed.audit import markdown_table

    text = markdown_table({"armed": {"spearman": 0.5, "pairwise_accuracy": 0.9, "auc": None,
                                     "within_group_std": 0.3, "gap": 0.7}})
    lines = text.splitlines()
    assert lines[0].startswith("| reward | spearman | pairwise_accuracy") and len(lines) == 3
    assert lines[2] == "| `armed` | 0.500 | 0.900 | – | 0.300 | 0.700 |"
