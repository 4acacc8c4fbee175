"""Reading dataset columns the way TRL passes them to reward functions: one list per column, maybe missing.

Rewards must never raise on a malformed row, so every accessor here tolerates ``None``, wrong types and
columns shorter than the batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def column(kwargs: dict[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    """Column ``name`` as a list of length ``n`` (padded with ``default``; a scalar is broadcast)."""
    value = kwargs.get(name)
    if value is None:
        return [default] * n
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        return [value] * n
    try:
        values = list(value)
    except Exception:
        return [default] * n
    return (values + [default] * n)[:n]


def as_text(value: Any) -> str:
    """A cell as text ("" for None/NaN); never raises."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from pandas-backed datasets
        return ""
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return ""


def aliases_list(value: Any) -> list[str]:
    """The ``aliases`` cell as a list of strings (accepts a list, a JSON list string, a "|"-joined string)."""
    if value is None:
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays from pandas/verl cells
        try:
            value = value.tolist()
        except Exception:
            return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except (ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, list):
                return [as_text(x) for x in parsed if as_text(x).strip()]
        return [p.strip() for p in text.split("|") if p.strip()]
    if isinstance(value, (list, tuple)):
        return [as_text(x) for x in value if as_text(x).strip()]
    return []


def references(answer: Any, aliases: Any = None) -> list[str]:
    """Reference answers of one row: ``answer`` first, then its aliases, de-duplicated, empty ones dropped.

    >>> references("CT", ["computed tomography", "CT"])
    ['CT', 'computed tomography']
    """
    refs: list[str] = []
    for ref in [as_text(answer), *aliases_list(aliases)]:
        if ref.strip() and ref not in refs:
            refs.append(ref)
    return refs


def options_dict(value: Any) -> dict[str, str]:
    """The ``options`` cell ({"A": text} or its JSON string) as a dict; {} when absent or malformed.

    Same reading as :func:`armed.data.schema.parse_options`, kept here so rewards don't import the data
    package (and all its loaders) and never raise.
    """
    if isinstance(value, dict):
        parsed: Any = value
    elif isinstance(value, str) and value.strip().startswith("{"):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    else:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {as_text(k): as_text(v) for k, v in parsed.items()}


def answer_rows(n: int, answer: Any = None, aliases: Any = None, answer_type: Any = None, options: Any = None,
                answer_letter: Any = None) -> Iterator[tuple[list[str], str, dict[str, str], str]]:
    """Per row of a batch of ``n``: ``(references, answer_type lower-cased, options dict, answer letter)`` from
    the dataset columns TRL passes to a reward (each may be a list, a scalar for the whole batch, or None)."""
    cols = {"answer": answer, "aliases": aliases, "answer_type": answer_type, "options": options,
            "answer_letter": answer_letter}
    for ref, al, kind, opt, letter in zip(column(cols, "answer", n), column(cols, "aliases", n),
                                          column(cols, "answer_type", n, ""), column(cols, "options", n, ""),
                                          column(cols, "answer_letter", n, ""), strict=True):
        yield references(ref, al), as_text(kind).strip().lower(), options_dict(opt), as_text(letter).strip()
