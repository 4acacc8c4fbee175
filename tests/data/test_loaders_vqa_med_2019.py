"""VQA-Med 2019 loader on fixtures in the ImageCLEF layout (pipe-separated files per category + test file)."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data import SampleError, load_dataset


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "VQA-Med-2019"
    train = root / "ImageClef-2019-VQA-Med-Training"
    for name in ("synpic100", "synpic200"):
        benchfmt.image(train / "Train_images" / f"{name}.jpg")
    qa = train / "QAPairsByCategory"
    qa.mkdir(parents=True)
    (qa / "C1_Modality_train.txt").write_text(
        "synpic100|what modality was used to take this image?|ct\nsynpic200|is this a t1 weighted image?|yes\n")
    (qa / "C2_Plane_train.txt").write_text("synpic100|which plane is this image taken?|axial\n")
    (qa / "C3_Organ_train.txt").write_text("synpic100|what organ system is shown?|skull and contents\n")
    (qa / "C4_Abnormality_train.txt").write_text(
        "synpic100|is this image abnormal?|yes\nsynpic200|what is abnormal in the ct scan?|meningioma\n")
    test = root / "VQAMed2019Test"
    benchfmt.image(test / "VQAMed2019_Test_Images" / "synpic900.jpg")
    (test / "VQAMed2019_Test_Questions_w_Ref_Answers.txt").write_text(
        "synpic900|modality|what kind of image is this?|mr - flair\n"
        "synpic900|abnormality|is this image normal?|no\n"
        "synpic900|plane|what plane was used?|coronal\n")
    return root


def test_train_categories_and_answer_types(root):
    samples, report = load_dataset("vqa-med-2019", root, "train")
    assert len(samples) == 6 and report.rows_read == 6
    cats = [s.meta["category"] for s in samples]
    assert cats == ["modality", "modality", "plane", "organ", "abnormality", "abnormality"]
    assert [s.answer_type for s in samples] == ["open", "closed", "open", "open", "closed", "open"]
    assert "computed tomography" in samples[0].aliases and samples[0].modality == "ct"
    assert "transverse" in samples[2].aliases and samples[3].organ == "skull and contents"
    assert samples[0].images[0].endswith("Train_images/synpic100.jpg")


def test_test_file_with_category_column(root):
    samples, _ = load_dataset("vqa-med-2019", root)
    assert [(s.meta["category"], s.answer_type) for s in samples] == [
        ("modality", "open"), ("abnormality", "closed"), ("plane", "open")]


def test_bad_lines(root):
    path = root / "VQAMed2019Test" / "VQAMed2019_Test_Questions_w_Ref_Answers.txt"
    path.write_text("synpic900|modality|q?|ct\nsynpic900|q without category|ct\nsynpic900|colour|q?|red\n"
                    "synpic901|plane|q?|axial\n")
    with pytest.raises(SampleError, match="malformed row: 3 '\\|'-separated cells") as excinfo:
        load_dataset("vqa-med-2019", root, "test")
    assert excinfo.value.row == 2
    samples, report = load_dataset("vqa-med-2019", root, "test", skip_bad=True)
    assert len(samples) == 1 and report.rows_read == 4
    assert [(e.row, e.field) for e in report.skipped] == [(2, ""), (3, "category"), (4, "image")]
    with pytest.raises(FileNotFoundError, match="C\\*_<Category>_val.txt"):
        load_dataset("vqa-med-2019", root, "val")
