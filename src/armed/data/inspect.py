"""``armed data inspect``: what a dataset folder holds, as armed will read it.

:func:`inspect_dataset` loads every split (or one), then counts samples per split and per answer type,
checks each distinct image once (exists, and PIL can parse it), and picks three example samples. Image
problems are counted here rather than raised, so one run shows all of them; malformed rows still raise
(or, with ``skip_bad``, are counted with their reasons).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from armed.data.io import unreadable_reason
from armed.data.loader import LoadReport
from armed.data.schema import Sample


def inspect_dataset(name: str, path: str | Path | None = None, split: str | None = None, *,
                    skip_bad: bool = False, options: dict[str, Any] | None = None, n_samples: int = 3,
                    check_images: bool = True, progress: bool = False) -> dict[str, Any]:
    """A JSON-ready summary of dataset ``name``: keys ``splits``, ``answer_types``, ``missing_images`` and more."""
    from armed.data import get_loader

    loader = get_loader(name)
    options = dict(options or {})
    if loader.checks_images:
        options["check_images"] = "none"  # images are checked below, all of them, without stopping
    splits = [split] if split else list(loader.splits)
    per_split: dict[str, list[Sample]] = {}
    absent: dict[str, str] = {}
    excluded: dict[str, dict[str, int]] = {}  # per split: each split's load sees the whole release
    report = LoadReport()
    from contextlib import nullcontext

    from rich.console import Console

    stderr = Console(stderr=True)
    for s in splits:
        try:
            with stderr.status(f"reading {name} {s} ...") if progress else nullcontext():
                samples, rep = loader.load(path, s, skip_bad=skip_bad, **options)
        except FileNotFoundError as exc:
            if split:  # the one split asked for: its absence is the answer
                raise
            absent[s] = str(exc)
            continue
        report.merge(rep)
        name_ = getattr(samples[0], "split", s) if samples else s
        per_split[name_] = samples
        if rep.excluded:
            excluded[name_] = dict(rep.excluded)
    if not per_split:
        raise FileNotFoundError(next(iter(absent.values())))
    report.check()
    everything = [x for samples in per_split.values() for x in samples]

    images = sorted({p for x in everything for p in x.images})
    missing, unreadable = [], []
    if check_images:
        todo: Any = images
        if progress and len(images) > 200:  # OmniMedVQA has ~80k images: show it is moving (on stderr)
            from rich.progress import track

            todo = track(images, description="checking images", console=stderr, transient=True)
        for p in todo:
            if not Path(p).is_file():
                missing.append(p)
            elif unreadable_reason(Path(p)):
                unreadable.append(p)
    bad = set(missing) | set(unreadable)

    return {
        "dataset": name,
        "path": str(path) if path is not None else None,
        "options": {k: v for k, v in options.items() if k != "check_images"},
        "splits": {s: len(v) for s, v in per_split.items()},
        "expected_counts": dict(getattr(loader, "expected_counts", {}) or {}),
        "absent_splits": absent,
        "answer_types": dict(Counter(x.answer_type for x in everything)),
        "answer_types_by_split": {s: dict(Counter(x.answer_type for x in v)) for s, v in per_split.items()},
        "images": len(images),
        "images_found": len(images) - len(missing) if check_images else None,
        "missing_images": len(missing),
        "unreadable_images": len(unreadable),
        "samples_with_bad_images": sum(1 for x in everything if any(p in bad for p in x.images)),
        "missing_image_examples": (missing + unreadable)[:5],
        **report.to_dict(),
        "excluded": excluded,
        "examples": [_brief(x) for x in pick_examples(everything, n_samples)],
    }


def pick_examples(samples: list[Sample], n: int = 3) -> list[Sample]:
    """Up to ``n`` samples, one per answer type first (deterministic), then spread over the list."""
    chosen: list[Sample] = []
    seen: set[str] = set()
    for x in samples:
        if x.answer_type not in seen:
            seen.add(x.answer_type)
            chosen.append(x)
    step = max(1, len(samples) // max(n, 1))
    for x in samples[::step]:
        if len(chosen) >= n:
            break
        if x not in chosen:
            chosen.append(x)
    return chosen[:n]


def _brief(sample: Sample) -> dict[str, Any]:
    d = sample.to_dict()
    d["answer_letter"] = sample.answer_letter
    return d


def render(summary: dict[str, Any], console: Any) -> None:
    """Print an inspect summary with rich tables."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    t = Table(title=f"{summary['dataset']}  {summary['path'] or ''}", title_justify="left")
    t.add_column("split", style="cyan")
    t.add_column("samples", justify="right")
    t.add_column("expected", justify="right")
    t.add_column("answer types")
    for s, n in summary["splits"].items():
        expected = summary["expected_counts"].get(s)
        by_type = ", ".join(f"{k} {v}" for k, v in sorted(summary["answer_types_by_split"][s].items()))
        shown = str(n) if expected is None or n == expected else f"[yellow]{n}[/]"  # differs from the release
        t.add_row(s, shown, "" if expected is None else str(expected), by_type)
    for s, why in summary["absent_splits"].items():
        t.add_row(s, "[dim]absent[/]", str(summary["expected_counts"].get(s, "")), f"[dim]{escape(why.split('.')[0])}[/]")
    console.print(t)
    types = ", ".join(f"{k}: {v}" for k, v in sorted(summary["answer_types"].items()))
    console.print(f"answer types: {types}")
    if summary["images"]:
        style = "red" if summary["missing_images"] or summary["unreadable_images"] else "green"
        console.print(f"images: {summary['images']} distinct, [{style}]{summary['images_found']} found, "
                      f"{summary['missing_images']} missing, {summary['unreadable_images']} unreadable[/]"
                      f" ({summary['samples_with_bad_images']} samples affected)")
        for p in summary["missing_image_examples"]:
            console.print(f"  [red]✗[/] {escape(p)}", highlight=False)
    else:
        console.print("images: none (text-only)")
    console.print(f"rows read {summary['rows_read']} = kept {summary['kept']} + skipped {summary['skipped']}")
    for reason, n in summary["skip_reasons"].items():
        console.print(f"  [yellow]skipped {n}[/]: {escape(reason)}", highlight=False)
    for line in summary["skip_examples"]:
        console.print(f"    e.g. {escape(line)}", highlight=False)
    several = len(summary["splits"]) > 1
    for split, reasons in summary["excluded"].items():
        for reason, n in reasons.items():
            if several and "split" in reason:
                continue  # rows of the other splits, shown in their own row above (and in --json)
            console.print(f"  [dim]{escape(split)}: excluded {n} ({escape(reason)})[/]", highlight=False)
    for x in summary["examples"]:
        body = [escape(x["question"])]
        if x["options"]:
            body += [escape(f"  {k}. {v}") for k, v in x["options"].items()]
        letter = f" ({x['answer_letter']})" if x["answer_letter"] else ""
        body.append(f"[bold]answer:[/] {escape(x['answer'])}{letter}")
        if x["aliases"]:
            body.append(f"[dim]aliases: {escape(', '.join(x['aliases']))}[/]")
        if x["images"]:
            body.append(f"[dim]images: {escape(', '.join(x['images']))}[/]")
        title = escape(f"{x['id']} · {x['split']} · {x['answer_type']}")
        console.print(Panel("\n".join(body), title=title,
                            title_align="left"))
