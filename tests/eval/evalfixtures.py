"""Shared helpers of the evaluation tests: a registered fixture dataset (eight hand-written QA samples)."""

from __future__ import annotations

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample
from armed.registry import DATASETS

FIXTURE_DATASET = "eval-fixture-qa"

WORDS = ("yes no left right lung liver ct mri x-ray pleural effusion pneumothorax what is the organ shown "
         "answer think a b c d modality plane axial which of following").split()


def fixture_samples() -> list[Sample]:
    opts = {"A": "CT", "B": "MRI", "C": "X-ray", "D": "Ultrasound"}
    return [
        Sample("q1", FIXTURE_DATASET, "test", "Is there a pneumothorax?", "no", "closed", modality="X-ray",
               meta={"qtype": "presence"}),
        Sample("q2", FIXTURE_DATASET, "test", "Is the liver shown?", "yes", "closed", modality="CT",
               meta={"qtype": "presence"}),
        Sample("q3", FIXTURE_DATASET, "test", "What is the organ shown?", "lung", "open", modality="X-ray",
               aliases=["lungs"], meta={"qtype": "organ"}),
        Sample("q4", FIXTURE_DATASET, "test", "Which side is the effusion?", "left", "open", modality="CT",
               meta={"qtype": "position"}),
        Sample("q5", FIXTURE_DATASET, "test", "Which modality is this?", "MRI", "multiple_choice",
               options=opts, modality="MRI", meta={"qtype": "modality"}),
        Sample("q6", FIXTURE_DATASET, "test", "What is the finding?", "pleural effusion", "open", modality="CT",
               meta={"qtype": "abnormality"}),
        Sample("q7", FIXTURE_DATASET, "test", "What plane is this?", "axial", "open", modality="MRI",
               meta={"qtype": "plane"}),
        Sample("q8", FIXTURE_DATASET, "test", "Is this an MRI?", "yes", "closed", modality="MRI",
               meta={"qtype": "modality"}),
    ]


@DATASETS.register(FIXTURE_DATASET, description="(tests) eight hand-written QA samples")
class FixtureLoader(Loader):
    name = FIXTURE_DATASET
    needs_path = False

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        samples = fixture_samples()
        return samples, LoadReport(rows_read=len(samples), kept=len(samples))


class Scripted:
    """A generator that answers from a table (counts calls; can fail after N batches like a killed run)."""

    backend, is_vlm, dtype, name = "scripted", False, "float32", "scripted-model"

    def __init__(self, answers: dict[str, str], fail_after: int | None = None):
        self.answers, self.fail_after, self.calls, self.seen = answers, fail_after, 0, []

    def generate(self, prompts, images, config):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated kill")
        self.calls += 1
        out = []
        for p in prompts:
            question = p[-1]["content"]
            self.seen.append(question)
            out.append(next((a for q, a in self.answers.items() if question.startswith(q)), "no idea"))
        return out


ANSWERS = {
    "Is there a pneumothorax?": "<think>lung edge</think><answer>No, there isn't.</answer>",
    "Is the liver shown?": "Answer: no",
    "What is the organ shown?": "<answer>the lungs</answer>",
    "Which side is the effusion?": "<answer>right</answer>",
    "Which modality is this?": "I think (B).",
    "What is the finding?": "<answer>left pleural effusion</answer>",
}


def make_run_dirs(root):
    """Two eval run dirs (base answers worse than grpo), grpo with TRL logs and synthetic semantic scores."""
    import json

    from armed.eval.harness import evaluate
    from armed.eval.tasks import Task

    metrics = {"closed": ("closed_accuracy",), "multiple_choice": ("closed_accuracy",),
               "open": ("exact_match", "token_recall", "f1")}
    tasks = [Task(name="fixture", dataset=FIXTURE_DATASET, metrics=metrics, groups=("in-domain",)),
             Task(name="fixture-copy", dataset=FIXTURE_DATASET, metrics=metrics, groups=("in-domain",))]
    base_answers = {q: "<answer>right lung</answer>" for q in ANSWERS}
    evaluate(Scripted(base_answers), tasks, out_dir=root / "base", progress=False, label="base")
    evaluate(Scripted(ANSWERS), tasks, out_dir=root / "grpo", progress=False, label="GRPO")
    for run in ("base", "grpo"):  # what the embedding_cosine / armed metrics would add
        path = root / run / "samples.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        for i, r in enumerate(rows):
            if r["answer_type"] == "open":
                good = r["scores"]["exact_match"] == 1.0
                r["scores"]["embedding_cosine"] = 0.85 + 0.01 * i if good else 0.78 + 0.01 * i
                r["scores"]["armed"] = 0.95 if good else 0.05
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    history = [{"step": s, "loss": 0.1 / s, "reward": 0.2 + 0.05 * s, "rewards/armed/mean": 0.1 + 0.05 * s,
                "rewards/format_partial/mean": 0.5, "kl": 0.001 * s, "completions/mean_length": 40 + s,
                "frac_reward_zero_std": 0.5 / s, "collapse/semantic/group_std": 0.02,
                "collapse/armed/group_std": 0.3, "adaptive_semantic/raw_std": 0.03,
                "adaptive_semantic/adapted_std": 0.12} for s in range(1, 6)]
    ckpt = root / "grpo" / "grpo" / "checkpoint-5"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": 5, "log_history": history}))
    old = root / "grpo" / "grpo" / "checkpoint-2"
    old.mkdir()
    (old / "trainer_state.json").write_text(json.dumps({"global_step": 2, "log_history": history[:2]}))
    return [root / "base", root / "grpo"]
