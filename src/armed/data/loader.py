"""The loader protocol: a registered object that reads one benchmark's release files into samples.

Loaders never drop a row silently: every row read is either kept or reported (file, row, field, reason).
With ``skip_bad=False`` (the default) the first bad row raises :class:`armed.data.schema.SampleError`.

Two bases:

* :class:`Loader` — the protocol: class attributes describing the benchmark and ``load()``. Embedded datasets
  subclass it directly.
* :class:`FileLoader` — for releases on disk. A subclass says which raw rows belong to a split
  (:meth:`FileLoader.records`, using the readers in :mod:`armed.data.io`) and how one raw row becomes a
  :class:`Sample` (:meth:`FileLoader.make_sample`). Everything else — split and option validation, image
  checks, duplicate ids, error wrapping, ``skip_bad`` and the report — happens once, here.

Rows that are outside the selection by design (another language of SLAKE, a non-medical MMMU subject) are
not "read": they are counted by reason in :attr:`LoadReport.excluded`, never silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from armed.data.io import ImageStore, Record
from armed.data.schema import Sample, SampleError
from armed.registry import did_you_mean


@dataclass
class LoadReport:
    """What a load did: ``rows_read == kept + len(skipped)`` always holds.

    ``excluded`` counts rows of the release outside the requested selection, by reason (not part of
    ``rows_read``).
    """

    rows_read: int = 0
    kept: int = 0
    skipped: list[SampleError] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)

    def reasons(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for err in self.skipped:
            key = _reason_kind(err.reason)
            out[key] = out.get(key, 0) + 1
        return out

    def check(self) -> None:
        """Raise AssertionError if a row went unaccounted for."""
        if self.rows_read != self.kept + len(self.skipped):
            raise AssertionError(
                f"rows read ({self.rows_read}) != kept ({self.kept}) + skipped ({len(self.skipped)})")

    def merge(self, other: LoadReport) -> None:
        self.rows_read += other.rows_read
        self.kept += other.kept
        self.skipped.extend(other.skipped)
        for k, v in other.excluded.items():
            self.excluded[k] = self.excluded.get(k, 0) + v

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "kept": self.kept,
            "skipped": len(self.skipped),
            "skip_reasons": self.reasons(),
            "skip_examples": [str(e) for e in self.skipped[:examples]],
            "excluded": dict(self.excluded),
        }


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only by the offending value ("image not found: /a.png" -> "image not found")."""
    head = reason.split(":", 1)[0].split(" (", 1)[0]
    return re.sub(r"\s*'[^']*'", "", head).strip()


class Exclude(Exception):  # noqa: N818  (control flow, not an error)
    """Raised by :meth:`FileLoader.make_sample` for a row outside the selection (counted, not an error)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Loader:
    """Base for dataset loaders. Subclasses set the class attributes and implement :meth:`load`.

    Register with ``@DATASETS.register("name")`` on the class; the registry holds the class and
    :func:`armed.data.get_loader` instantiates it.
    """

    name: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("train", "test")
    default_split: str = "test"
    needs_path: bool = True  # False for embedded datasets that ship with armed
    source_url: str = ""
    license: str = ""
    citation: str = ""
    layout: str = ""  # expected folder layout, shown when --path is missing or wrong
    expected_counts: ClassVar[dict[str, int]] = {}  # split -> rows in the official release (default options)
    answer_type_rule: str = ""  # how answer_type is decided, in the benchmark papers' terms
    checks_images: bool = False  # True when load() accepts check_images= ("verify" | "exists" | "none")

    def load(self, path: str | Path | None = None, split: str | None = None, *, skip_bad: bool = False,
             **options) -> tuple[list[Sample], LoadReport]:
        raise NotImplementedError


@dataclass
class Row:
    """One parsed raw row with what a converter needs to read fields and report problems precisely."""

    data: dict[str, Any]
    file: Path
    row: int
    split: str
    root: Path
    images: ImageStore
    options: dict[str, Any]

    def error(self, message: str, field: str = "") -> SampleError:
        return SampleError(message, file=str(self.file), row=self.row, field=field)

    def get(self, key: str, default: Any = ...) -> Any:
        """The raw value of ``key``; missing or null raises a SampleError naming the field unless a default is given."""
        value = self.data.get(key)
        if value is None:
            if default is ...:
                raise self.error("missing field", key)
            return default
        return value

    def text(self, key: str, default: Any = ...) -> str:
        """``key`` as stripped text; missing or empty raises unless a default is given."""
        value = self.get(key, default)
        text = str(value).strip() if value is not None else ""
        if not text and default is ...:
            raise self.error("empty field", key)
        return text

    def image(self, path: str | Path, field: str) -> str:
        """Absolute, checked path of an image file (relative paths are relative to the release root)."""
        p = Path(path)
        return self.images.path(p if p.is_absolute() else self.root / p, file=self.file, row=self.row, field=field)

    def embedded_image(self, value: Any, field: str) -> str:
        """Path of an image embedded in the row (parquet bytes), written once to the image cache."""
        if value is None:
            raise self.error("missing image", field)
        if isinstance(value, dict) and not value.get("bytes") and value.get("path"):
            return self.image(value["path"], field)
        return self.images.embedded(value, file=self.file, row=self.row, field=field)


def _coerce(value: str, kind: type, what: str) -> Any:
    if kind is bool:
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"invalid {what} {value!r}: expected true or false")
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"invalid {what} {value!r}: expected {kind.__name__}") from None


def option_map(row: Row, field: str = "options") -> dict[str, str]:
    """A release's ``{"A": text, ...}`` options object, keys upper-cased; fewer than two choices is an error."""
    raw = row.get(field)
    if not isinstance(raw, dict) or len(raw) < 2:
        raise row.error("options must be an object with at least two choices", field)
    return {str(k).strip().upper(): str(v).strip() for k, v in raw.items()}


def option_answer(row: Row, options: dict[str, str], letter: Any, field: str) -> str:
    """The text of the labelled option; a label that names no option is an error on ``field``."""
    key = str(letter).strip().upper()
    if key not in options:
        raise row.error(f"answer {letter!r} is not one of the options ({', '.join(options) or 'none'})", field)
    if not options[key].strip():
        raise row.error(f"the labelled option {key} is empty", field)
    return options[key]


def closed_if_yes_no(answer: str, yes_no: tuple[str, ...] = ("yes", "no")) -> str:
    """The PathVQA / VQA-Med convention: yes/no answers are closed questions, all others open."""
    return "closed" if answer.strip().lower().rstrip(".") in yes_no else "open"


def answer_type_from_field(value: Any, row: Row, field: str = "answer_type") -> str:
    """VQA-RAD / SLAKE convention: the release's answer_type CLOSED → closed, OPEN → open."""
    mapped = {"CLOSED": "closed", "OPEN": "open"}.get(str(value).strip().upper())
    if mapped is None:
        raise row.error(f"unknown answer type {value!r} (expected OPEN or CLOSED)", field)
    return mapped


class FileLoader(Loader):
    """A loader for a release on disk: subclasses implement :meth:`records` and :meth:`make_sample`.

    ``records`` runs first for each load and may set per-load attributes (the image folder it found, the
    release variant) that ``make_sample`` reads; :func:`armed.data.get_loader` gives a fresh instance.
    """

    split_aliases: ClassVar[dict[str, str]] = {}  # accepted spelling -> canonical split name
    option_defaults: ClassVar[dict[str, Any]] = {}  # load options this loader accepts, with defaults
    option_choices: ClassVar[dict[str, tuple]] = {}  # allowed values of options with a closed set
    checks_images = True

    # ---- what subclasses implement -------------------------------------------------------------------
    def records(self, root: Path, split: str, options: dict[str, Any]) -> Iterator[Record]:
        """The raw rows of ``split``; raise FileNotFoundError (via :meth:`missing`) when its files are absent."""
        raise NotImplementedError

    def make_sample(self, row: Row) -> Sample:
        """One raw row → a Sample; raise ``row.error(...)`` for bad input and :class:`Exclude` to leave it out."""
        raise NotImplementedError

    # ---- shared machinery ----------------------------------------------------------------------------
    def missing(self, root: Path, what: str) -> FileNotFoundError:
        return FileNotFoundError(f"{self.name}: {what} not found under {root}. Expected layout: {self.layout}")

    def resolve_split(self, split: str | None) -> str:
        if split is None:
            return self.default_split
        canonical = self.split_aliases.get(split, split)
        if canonical not in self.splits:
            raise ValueError(did_you_mean(split, [*self.splits, *self.split_aliases], f"{self.name} split"))
        return canonical

    def resolve_options(self, options: dict[str, Any]) -> dict[str, Any]:
        merged = dict(self.option_defaults)
        for key, value in options.items():
            if key not in self.option_defaults:
                allowed = list(self.option_defaults) or ["(none)"]
                raise ValueError(did_you_mean(key, allowed, f"{self.name} option"))
            default = self.option_defaults[key]
            if isinstance(value, str) and isinstance(default, (bool, int)) and not isinstance(default, str):
                value = _coerce(value, type(default), f"{self.name} option {key}")  # CLI --opt gives strings
            choices = self.option_choices.get(key)
            if choices is not None and value not in choices:
                raise ValueError(did_you_mean(str(value), [str(c) for c in choices], f"{self.name} option {key}"))
            merged[key] = value
        return merged

    def resolve_root(self, path: str | Path | None) -> Path:
        if path is None:
            raise ValueError(f"dataset {self.name!r} reads the release files from a folder: pass --path DIR "
                             f"(path=...). Expected layout: {self.layout}")
        root = Path(path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"{self.name}: folder {root} does not exist. Expected layout: {self.layout}")
        return root.resolve()

    def image_cache(self) -> Path:
        """Where images embedded in the release (parquet bytes) are written: ``$ARMED_HOME/data/<name>/images``."""
        from armed.models import armed_home

        return armed_home() / "data" / self.name / "images"

    def load(self, path: str | Path | None = None, split: str | None = None, *, skip_bad: bool = False,
             check_images: str = "verify", **options) -> tuple[list[Sample], LoadReport]:
        """Samples of one split and the report of what was kept, skipped (with reasons) and excluded."""
        split = self.resolve_split(split)
        opts = self.resolve_options(options)
        root = self.resolve_root(path)
        store = ImageStore(check_images, cache_dir=self.image_cache())
        report = LoadReport()
        samples: list[Sample] = []
        first_row: dict[str, str] = {}  # id -> "file F row R" where it first appeared
        for record in self.records(root, split, opts):
            try:
                sample = self._sample(record, Row(record.data or {}, record.file, record.row, split, root, store,
                                                  opts), first_row)
            except Exclude as exc:
                report.excluded[exc.reason] = report.excluded.get(exc.reason, 0) + 1
                continue
            except SampleError as err:
                report.rows_read += 1
                if not skip_bad:
                    raise
                report.skipped.append(err)
                continue
            report.rows_read += 1
            report.kept += 1
            samples.append(sample)
        report.check()
        return samples, report

    def _sample(self, record: Record, row: Row, first_row: dict[str, str]) -> Sample:
        """The sample of one record, its id checked against those seen so far (``first_row``)."""
        if record.data is None:
            raise SampleError(record.error or "malformed row", file=str(record.file), row=record.row)
        sample = self._convert(row)
        if sample.id in first_row:
            raise SampleError(f"duplicate id {sample.id!r} (first seen at {first_row[sample.id]})",
                              file=str(record.file), row=record.row, field="id")
        first_row[sample.id] = f"file {record.file} row {record.row}"
        return sample

    def _convert(self, row: Row) -> Sample:
        """make_sample with every failure turned into a SampleError that names file and row."""
        try:
            return self.make_sample(row)
        except Exclude:
            raise
        except SampleError as err:
            if err.file:
                raise
            raise SampleError(err.reason, file=str(row.file), row=row.row, field=err.field) from err
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise row.error(f"malformed row ({type(exc).__name__}: {exc})") from exc
