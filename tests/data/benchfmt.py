"""Helpers for the loader tests: tiny files in each benchmark's real release format (json, jsonl, csv, txt,
parquet, Arrow) and tiny real PNG/JPEG images made with PIL."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from PIL import Image


def image(path: Path, fmt: str | None = None, color: tuple[int, int, int] = (90, 90, 90)) -> Path:
    """A real 8x8 image at ``path`` (format from the suffix unless given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path, format=fmt)
    return path


def image_bytes(fmt: str = "PNG", color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format=fmt)
    return buf.getvalue()


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list, raw_lines: dict[int, str] | None = None) -> Path:
    """JSON lines; ``raw_lines`` {index: text} replaces rows by raw (e.g. broken) lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    for i, text in (raw_lines or {}).items():
        lines[i] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_arrow_stream(path: Path, rows: list[dict]) -> Path:
    """An Arrow IPC stream file, the format of a ``datasets`` cache (``name-split.arrow``)."""
    import pyarrow as pa

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def hf_image(fmt: str = "PNG", color: tuple[int, int, int] = (10, 200, 30), name: str = "img.png") -> dict:
    """The struct a Hugging Face ``Image`` feature stores in parquet."""
    return {"bytes": image_bytes(fmt, color), "path": name}
