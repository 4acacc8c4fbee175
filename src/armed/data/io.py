"""Reading benchmark release files row by row, and finding and checking their images.

Every reader yields :class:`Record` objects that carry the file and the 1-based row number, so any problem
with a row can be reported as "file F, row R, field X: reason". A row that cannot even be parsed (a broken
JSON line, a CSV row with the wrong number of cells) is yielded with ``error`` set instead of raising, so the
caller decides whether to stop or skip it. Problems with a whole file (missing, not JSON at all) raise
:class:`~armed.data.schema.SampleError` naming the file.

Images are stored in samples as absolute paths and opened lazily by trainers. Parquet releases embed image
bytes; :class:`ImageStore` writes each distinct image once to ``$ARMED_HOME/data/<dataset>/images/``
(named by content hash) so that samples can hold paths there too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from armed.data.schema import SampleError

IMAGE_CHECKS: tuple[str, ...] = ("verify", "exists", "none")


@dataclass
class Record:
    """One raw row of a release file: ``data`` when it parsed, ``error`` (a reason) when it did not."""

    file: Path
    row: int
    data: dict[str, Any] | None
    error: str = ""


def read_json(path: str | Path) -> Any:
    """The parsed content of a JSON file; a missing or broken file raises SampleError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SampleError("file not found", file=str(path))
    try:
        with path.open(encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SampleError(f"not valid JSON ({exc})", file=str(path)) from exc


def iter_json_list(path: str | Path) -> Iterator[Record]:
    """Rows of a JSON file holding a list of objects (row = 1-based position in the list)."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise SampleError(f"expected a JSON list of objects, found {type(data).__name__}", file=str(path))
    for i, item in enumerate(data, start=1):
        if isinstance(item, dict):
            yield Record(path, i, item)
        else:
            yield Record(path, i, None, f"malformed row: expected an object, found {type(item).__name__}")


def _utf8(reader):
    """Decorator: a file that is not UTF-8 text raises SampleError naming it (not a bare UnicodeDecodeError)."""
    import functools

    @functools.wraps(reader)
    def wrapped(path, *args, **kwargs):
        try:
            yield from reader(path, *args, **kwargs)
        except UnicodeDecodeError as exc:
            raise SampleError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=str(path)) from exc

    return wrapped


@_utf8
def iter_jsonl(path: str | Path) -> Iterator[Record]:
    """Rows of a JSON-lines file (row = line number); blank lines are not rows."""
    path = Path(path)
    if not path.is_file():
        raise SampleError("file not found", file=str(path))
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Record(path, i, None, f"malformed row: not valid JSON ({exc.msg})")
                continue
            if isinstance(item, dict):
                yield Record(path, i, item)
            else:
                yield Record(path, i, None, f"malformed row: expected an object, found {type(item).__name__}")


@_utf8
def iter_csv(path: str | Path, *, fieldnames: list[str] | None = None, delimiter: str = ",") -> Iterator[Record]:
    """Rows of a CSV file (row = line number of the record's start, the header being line 1).

    With ``fieldnames`` the file has no header row (MMLU's release). A record with more or fewer cells than
    there are columns is yielded as malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise SampleError("file not found", file=str(path))
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        columns = fieldnames
        if columns is None:
            try:
                columns = [c.strip() for c in next(reader)]
            except StopIteration:
                return
        start = reader.line_num + 1
        for cells in reader:
            row = start
            start = reader.line_num + 1
            if not cells or not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                yield Record(path, row, None,
                             f"malformed row: {len(cells)} cells, expected {len(columns)} ({', '.join(columns)})")
                continue
            yield Record(path, row, dict(zip(columns, cells, strict=True)))


@_utf8
def iter_delimited_text(path: str | Path, columns: list[str], delimiter: str = "|") -> Iterator[Record]:
    """Rows of a plain text file with one record per line, cells separated by ``delimiter`` (VQA-Med)."""
    path = Path(path)
    if not path.is_file():
        raise SampleError("file not found", file=str(path))
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            cells = line.split(delimiter)
            if len(cells) != len(columns):
                yield Record(path, i, None, f"malformed row: {len(cells)} '{delimiter}'-separated cells, "
                                            f"expected {len(columns)} ({delimiter.join(columns)})")
                continue
            yield Record(path, i, dict(zip(columns, (c.strip() for c in cells), strict=True)))


def iter_table(path: str | Path, batch_size: int = 256) -> Iterator[Record]:
    """Rows of a parquet file, or of an Arrow file from a ``datasets`` cache (row = 1-based index)."""
    path = Path(path)
    if not path.is_file():
        raise SampleError("file not found", file=str(path))
    row = 0
    for batch in _arrow_batches(path, batch_size):
        for item in batch.to_pylist():
            row += 1
            yield Record(path, row, item)


def _arrow_batches(path: Path, batch_size: int) -> Iterable[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if path.suffix == ".parquet":
        try:
            return pq.ParquetFile(path).iter_batches(batch_size=batch_size)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SampleError(f"not a readable parquet file ({exc})", file=str(path)) from exc
    # `datasets` writes its cache as Arrow IPC streams; plain Arrow files are accepted too.
    try:
        return list(pa.ipc.open_stream(pa.memory_map(str(path))))
    except pa.ArrowInvalid:
        try:
            reader = pa.ipc.open_file(pa.memory_map(str(path)))
            return [reader.get_batch(i) for i in range(reader.num_record_batches)]
        except pa.ArrowInvalid as exc:
            raise SampleError(f"not a readable Arrow file ({exc})", file=str(path)) from exc


def find_split_files(root: Path, names: Iterable[str], exts: tuple[str, ...] = ("parquet", "arrow")) -> list[Path]:
    """Files under ``root`` that hold one split of a Hugging Face release, sorted.

    Matches the hub layout (``data/train-00000-of-00002.parquet``), the parquet conversion
    (``default/train/0000.parquet``) and the ``datasets`` cache (``path-vqa-train.arrow``,
    ``path-vqa-train-00000-of-00003.arrow``).
    """
    names = [n.lower() for n in names]
    pattern = re.compile(r"(?:^|[-_.])(" + "|".join(map(re.escape, names)) + r")(?:[-_.]|$)")
    found = []
    for ext in exts:
        for p in root.rglob(f"*.{ext}"):
            rel = p.relative_to(root)
            stem = p.name[: -len(ext) - 1].lower()
            if pattern.search(stem) or any(part.lower() in names for part in rel.parts[:-1]):
                found.append(p)
    return sorted(set(found))


def find_one(root: Path, pattern: str) -> Path | None:
    """The first path under ``root`` matching a glob pattern (``**/`` for any depth), or None."""
    direct = sorted(root.glob(pattern))
    if direct:
        return direct[0]
    deep = sorted(root.glob(f"**/{pattern}"))
    return deep[0] if deep else None


class ImageStore:
    """Resolves and checks image paths; writes embedded image bytes to a cache folder once.

    Args:
        check: ``verify`` (exists and PIL can parse it; the default), ``exists``, or ``none``.
        cache_dir: where embedded image bytes are written (default ``$ARMED_HOME/data/<dataset>/images``).
    """

    def __init__(self, check: str = "verify", cache_dir: Path | None = None):
        if check not in IMAGE_CHECKS:
            from armed.registry import did_you_mean

            raise ValueError(did_you_mean(check, IMAGE_CHECKS, "check_images"))
        self.check = check
        self.cache_dir = cache_dir.expanduser().resolve() if cache_dir is not None else None  # once, not per row
        self._verdicts: dict[str, str] = {}  # path -> "" when fine, else the reason

    def path(self, path: str | Path, *, file: Path | str = "", row: int | None = None, field: str = "") -> str:
        """The absolute path of an image file, checked; problems raise SampleError(file, row, field)."""
        p = Path(path).expanduser().resolve()
        key = str(p)
        if key not in self._verdicts:
            self._verdicts[key] = self._problem(p)
        if self._verdicts[key]:
            raise SampleError(self._verdicts[key], file=str(file), row=row, field=field)
        return key

    def _problem(self, p: Path) -> str:
        if self.check == "none":
            return ""
        if not p.is_file():
            return f"image not found: {p}"
        if self.check == "verify":
            reason = unreadable_reason(p)
            if reason:
                return f"unreadable image: {p} ({reason})"
        return ""

    def embedded(self, value: Any, *, file: Path | str = "", row: int | None = None, field: str = "") -> str:
        """Write an embedded image (``{"bytes": ..., "path": ...}`` from parquet, or raw bytes) to the cache.

        Returns the cached file's absolute path; identical images share one file.
        """
        data = value.get("bytes") if isinstance(value, dict) else value
        if isinstance(data, str):
            data = data.encode("latin-1")
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise SampleError("no image bytes", file=str(file), row=row, field=field)
        if self.cache_dir is None:
            raise ValueError("ImageStore needs a cache_dir to store embedded images")
        digest = hashlib.sha1(data).hexdigest()[:24]
        name_hint = value.get("path") if isinstance(value, dict) else None
        target = self.cache_dir / f"{digest}{_image_suffix(bytes(data), name_hint)}"
        key = str(target)
        if key not in self._verdicts:
            if self.check == "verify":
                reason = unreadable_reason(io.BytesIO(data))
                if reason:
                    self._verdicts[key] = f"unreadable image bytes ({reason})"
            if key not in self._verdicts:
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_suffix(target.suffix + ".tmp")
                    tmp.write_bytes(data)
                    tmp.replace(target)
                self._verdicts[key] = ""
        if self._verdicts[key]:
            raise SampleError(self._verdicts[key], file=str(file), row=row, field=field)
        return key


def unreadable_reason(source: Path | io.BytesIO) -> str:
    """Why PIL cannot parse an image ("" when it can). Cheap: header and structure only, no decoding."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return ""


_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"),
          (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"))


def _image_suffix(data: bytes, name_hint: str | None) -> str:
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if name_hint and Path(name_hint).suffix:
        return Path(name_hint).suffix.lower()
    return ".img"
