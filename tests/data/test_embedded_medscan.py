"""medscan-vqa: honest labels, disjoint splits, aliases, image files; a fast subset build and a slow full one."""

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from armed.data import get_loader
from armed.data.embedded import medscan
from armed.data.schema import Sample


@pytest.fixture(scope="module")
def subset(tmp_path_factory):
    """The first 8 images of each source (DICOM, volumes, scikit-image), built into a temporary folder."""
    root = tmp_path_factory.mktemp("medscan") / medscan.BUILD_VERSION
    medscan.build(root, limit_per_source=8, progress=False)
    rows = [json.loads(line) for line in (root / "samples.jsonl").read_text().splitlines()]
    return root, rows


def _check_split_disjoint(rows):
    split_of_group = defaultdict(set)
    for r in rows:
        split_of_group[r["meta"]["group"]].add(r["split"])
    shared = {g: s for g, s in split_of_group.items() if len(s) > 1}
    assert not shared, f"sources shared across splits: {shared}"
    image_split = defaultdict(set)
    for r in rows:
        image_split[r["image"]].add(r["split"])
    assert all(len(s) == 1 for s in image_split.values())


def test_subset_build_rows_are_valid_samples_with_existing_images(subset):
    root, rows = subset
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["version"] == medscan.BUILD_VERSION and manifest["samples"] == len(rows) > 50
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert (root / r["image"]).is_file()
        Sample(id=r["id"], source="medscan-vqa", split=r["split"], question=r["question"], answer=r["answer"],
               answer_type=r["answer_type"], images=[str(root / r["image"])], aliases=r["aliases"])
        assert r["split"] in medscan.SPLITS
        assert r["answer"] not in r["aliases"]
    _check_split_disjoint(rows)


def test_modality_aliases_and_header_labels(subset):
    _, rows = subset
    modality_open = [r for r in rows if r["meta"]["question_type"] == "modality_open"]
    answers = {r["answer"] for r in modality_open}
    assert {"CT", "MRI"} <= answers
    for r in modality_open:
        if r["answer"] == "CT":
            assert "computed tomography" in r["aliases"]
        if r["answer"] == "MRI":
            assert {"MR", "magnetic resonance imaging"} <= set(r["aliases"])
    # every yes/no question's answer is yes or no, with aliases
    for r in rows:
        if r["meta"]["question_type"].endswith("_closed") or r["meta"]["question_type"] == "lesion_presence":
            assert r["answer"] in ("yes", "no") and r["aliases"]


def test_synthetic_lesions_are_flagged_and_on_the_stated_side(subset):
    root, rows = subset
    sides = [r for r in rows if r["meta"]["question_type"] == "lesion_side"]
    assert sides
    for r in sides:
        assert r["meta"]["synthetic"] is True and r["answer"] in ("left", "right")
        lesion = np.asarray(Image.open(root / r["image"]), dtype=np.float32)
        base = np.asarray(Image.open(root / r["image"].replace(f"-lesion-{r['answer']}", "")), dtype=np.float32)
        diff = np.abs(lesion - base)
        assert diff.max() > 50
        cx = (np.nonzero(diff > 20)[1]).mean()
        # radiological convention: the patient's left is shown on the image's right
        on_image_right = cx > lesion.shape[1] / 2
        assert on_image_right == (r["answer"] == "left"), r["image"]
    real = [r for r in rows if r["meta"]["question_type"] == "modality_open"]
    assert all(r["meta"]["synthetic"] is False for r in real)


def test_split_assignment_ignores_input_order():
    def item(group, modality):
        return medscan.Item(image_id=group, group=group, pixels=np.zeros((1, 1), np.uint8), modality=modality,
                            source="", license="")

    items = [item(f"dicom:{i}", m) for i in range(9) for m in ("CT", "US")]
    forward, backward = medscan.assign_splits(items), medscan.assign_splits(items[::-1])
    assert forward == backward
    assert set(forward[f"dicom:{i}"] for i in range(9)) == {"train", "validation", "test"}
    assert forward["volume:mni152"] == "train" and forward["volume:anatomical"] == "test"


@pytest.mark.parametrize("normal, plane", [
    ((0, 0, 1), "axial"), ((0, 1, 0), "coronal"), ((1, 0, 0), "sagittal"), ((0.1, 0.05, -0.99), "axial"),
    ((0.7, 0, 0.7), ""),  # oblique: no label rather than a guess
])
def test_plane_from_normal(normal, plane):
    assert medscan._plane_from_normal(np.array(normal)) == plane


def test_unknown_split_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="allowed|Allowed"):
        medscan.load_medscan(tmp_path, "tset")


@pytest.mark.slow
def test_full_build_meets_the_targets():
    """Builds (or reuses) the cached full set in $ARMED_HOME: about 20 s on 2 CPU cores."""
    samples, report = get_loader("medscan-vqa").load(None, None, progress=False)
    report.check()
    assert len(samples) >= 2000
    images = {s.images[0] for s in samples}
    assert len(images) >= 500 and all(Path(p).is_file() for p in images)
    types = {s.meta["question_type"] for s in samples}
    assert {"modality_open", "modality_closed", "plane_open", "region_open", "lesion_presence",
            "lesion_side"} <= types
    assert {s.split for s in samples} == set(medscan.SPLITS)
    rows = [{"meta": s.meta, "split": s.split, "image": s.images[0]} for s in samples]
    _check_split_disjoint(rows)
    for split in medscan.SPLITS:  # every split has real (non-synthetic) modality questions and findings
        in_split = [s for s in samples if s.split == split]
        assert any(s.meta["question_type"] == "modality_open" for s in in_split)
        assert any(s.meta["question_type"] == "lesion_side" for s in in_split)


@pytest.mark.parametrize("value, expected", [("true", True), ("False", False), ("0", False), (True, True),
                                             (None, False), ("yes", True)])
def test_loader_flag_options_parse_cli_strings(value, expected):
    assert medscan._flag(value) is expected


def test_dicom_labels_match_the_source_headers(subset):
    import pydicom

    _, rows = subset
    checked = 0
    for r in rows:
        qtype, source_file = r["meta"]["question_type"], r["meta"]["source_file"]
        if not source_file or qtype not in ("modality_open", "region_open"):
            continue
        ds = pydicom.dcmread(medscan.dicom_path(source_file), stop_before_pixels=True, force=True)
        if qtype == "modality_open":
            assert r["answer"] == medscan.MODALITY[ds.Modality][0]
        else:
            header = " ".join(str(ds.get(k, "")) for k in ("BodyPartExamined", "StudyDescription",
                                                            "SeriesDescription")).upper()
            keys = [k for k, region, _ in medscan.HEADER_REGIONS if region == r["answer"]]
            assert any(k in header for k in keys), (source_file, r["answer"], header)
        checked += 1
    assert checked >= 8


def test_modality_choice_offers_the_true_modality(subset):
    _, rows = subset
    choices = [r for r in rows if r["meta"]["question_type"] == "modality_choice"]
    assert choices
    for r in choices:
        named = r["question"].removeprefix("Was this image acquired with ").removesuffix("?").split(" or ")
        assert r["answer"] in named and len(set(named)) == 2 and r["answer_type"] == "closed"


def test_build_is_deterministic(subset, tmp_path):
    root, _ = subset
    again = medscan.build(tmp_path / "again", limit_per_source=8, progress=False)
    assert (again / "samples.jsonl").read_bytes() == (root / "samples.jsonl").read_bytes()
    pngs = sorted(p.name for p in (root / "images").iterdir())
    assert pngs == sorted(p.name for p in (again / "images").iterdir())
    assert all((root / "images" / n).read_bytes() == (again / "images" / n).read_bytes() for n in pngs)
