"""The data layer: one sample schema, registered loaders for the field's benchmarks, embedded datasets.

>>> from armed.data import load_dataset
>>> samples, report = load_dataset("vqa-rad", path="~/data/vqa-rad", split="test")  # doctest: +SKIP

Importing this package registers every loader in :data:`armed.registry.DATASETS`.
"""

from __future__ import annotations

from pathlib import Path

from armed.data import embedded  # noqa: F401,I001  (embedded datasets: mmlu-med, medscan-vqa; registers them)
from armed.data.loader import FileLoader, Loader, LoadReport
from armed.data.loaders import (  # noqa: F401  (importing registers the loaders)
    medmcqa,
    medqa,
    medxpertqa,
    mmlu,
    mmmu,
    omnimedvqa,
    pathvqa,
    pmc_vqa,
    pubmedqa,
    slake,
    vqa_med_2019,
    vqa_rad,
)
from armed.data.schema import ANSWER_TYPES, Sample, SampleError, build_prompt, parse_options, to_hf_dataset
from armed.registry import DATASETS

__all__ = [
    "ANSWER_TYPES", "FileLoader", "LoadReport", "Loader", "Sample", "SampleError", "build_prompt",
    "get_loader", "load_dataset", "parse_options", "to_hf_dataset",
]


def get_loader(name: str) -> Loader:
    """A fresh instance of the loader registered as ``name`` (or at import path "pkg.mod:Class")."""
    obj = DATASETS.get(name)
    return obj() if isinstance(obj, type) else obj


def load_dataset(name: str, path: str | Path | None = None, split: str | None = None, skip_bad: bool = False,
                 **options) -> tuple[list[Sample], LoadReport]:
    """Samples of one split of dataset ``name`` and the load report (kept / skipped with reasons / excluded)."""
    return get_loader(name).load(path, split, skip_bad=skip_bad, **options)
