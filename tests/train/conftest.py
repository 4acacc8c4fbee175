"""The training tests' dataset: four questions, registered once for every test module here."""

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample
from armed.registry import DATASETS

QUESTIONS = [("Is the lung collapsed?", "yes"), ("Is there a fracture?", "no"), ("Which organ is shown?", "liver"),
             ("Is this a CT scan?", "yes")]


@DATASETS.register("test-train-tiny", description="four questions for the training tests")
class _TinyLoader(Loader):
    needs_path = False

    def load(self, path=None, split=None, *, skip_bad=False, **options):
        samples = [Sample(id=str(i), source="tiny", split="train", question=q, answer=a,
                          answer_type="closed" if a in ("yes", "no") else "open")
                   for i, (q, a) in enumerate(QUESTIONS)]
        return samples, LoadReport(rows_read=len(samples), kept=len(samples))
