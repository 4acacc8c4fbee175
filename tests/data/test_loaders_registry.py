"""Every benchmark loader is registered, documented, and refuses a missing folder with its layout."""

from __future__ import annotations

import pytest

from armed.data import FileLoader, get_loader
from armed.registry import DATASETS

BENCHMARKS = ["vqa-rad", "slake", "pathvqa", "pmc-vqa", "omnimedvqa", "mmmu-med", "vqa-med-2019", "medxpertqa",
              "medxpertqa-mm", "medqa", "medmcqa", "pubmedqa", "mmlu"]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_documented_and_path_errors(name, tmp_path):
    assert name in DATASETS.names()
    loader = get_loader(name)
    assert isinstance(loader, FileLoader) and loader.name == name
    for attr in ("description", "source_url", "license", "citation", "layout", "answer_type_rule"):
        assert getattr(loader, attr), f"{name}.{attr} is empty"
    assert loader.default_split in loader.splits
    assert set(loader.expected_counts) <= set(loader.splits) and loader.expected_counts
    with pytest.raises(ValueError, match="Expected layout"):
        loader.load()
    with pytest.raises(FileNotFoundError, match="Expected layout"):
        loader.load(tmp_path)  # an empty folder
    with pytest.raises(ValueError, match="Did you mean"):
        loader.load(tmp_path, loader.default_split + "x")


def test_docs_cover_every_benchmark():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "data.md").read_text()
    missing = [n for n in BENCHMARKS if f"`{n}`" not in doc]
    assert not missing, f"docs/data.md lacks {missing}"
