"""The shared readers: row numbers, malformed rows, and whole-file problems that name the file."""

from __future__ import annotations

import benchfmt
import pytest

from armed.data.io import find_split_files, iter_csv, iter_delimited_text, iter_jsonl, iter_table, read_json
from armed.data.schema import SampleError


def test_row_numbers_and_malformed_rows(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n[1, 2]\n{"a": \n{"a": 4}\n')
    recs = list(iter_jsonl(p))
    assert [(r.row, r.data) for r in recs] == [(1, {"a": 1}), (3, None), (4, None), (5, {"a": 4})]
    assert "expected an object" in recs[1].error and "not valid JSON" in recs[2].error
    c = benchfmt.write_csv(tmp_path / "a.csv", ["x", "y"], [["1", "multi\nline"], ["2"], ["3", "z"]])
    recs = list(iter_csv(c))
    assert [(r.row, r.data) for r in recs] == [(2, {"x": "1", "y": "multi\nline"}), (4, None), (5, {"x": "3", "y": "z"})]
    t = tmp_path / "a.txt"
    t.write_text("i1|q|a\ni2|q\n")
    assert [r.row for r in iter_delimited_text(t, ["image", "question", "answer"]) if r.data] == [1]


def test_whole_file_problems_name_the_file(tmp_path):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"q": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(SampleError, match="not UTF-8 text") as excinfo:
        list(iter_jsonl(bad))
    assert excinfo.value.file == str(bad)
    with pytest.raises(SampleError, match="file not found"):
        read_json(tmp_path / "none.json")
    (tmp_path / "x.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SampleError, match="not a readable parquet file"):
        list(iter_table(tmp_path / "x.parquet"))


def test_find_split_files_layouts(tmp_path):
    for rel in ("data/train-00000-of-00002.parquet", "data/validation-00000-of-00001.parquet",
                "default/test/0000.parquet", "cache/path-vqa-train-00001-of-00002.arrow", "cache/cache-abc.arrow",
                "data/pretrain-x.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = lambda split: [p.relative_to(tmp_path).as_posix() for p in find_split_files(tmp_path, [split])]  # noqa: E731
    assert names("train") == ["cache/path-vqa-train-00001-of-00002.arrow", "data/train-00000-of-00002.parquet"]
    assert names("test") == ["default/test/0000.parquet"] and names("validation") == [
        "data/validation-00000-of-00001.parquet"]
