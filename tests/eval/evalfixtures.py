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
