"""Curricula (MedCCO) and pass-rate selection: small pure functions a pipeline stage applies by config.

MedCCO (arXiv 2505.19213) trains on closed-ended questions first, then open-ended ones, and finds staged
training beats mixing. Difficulty curricula order by the policy's pass rate from ``armed data filter``
(``pass_rates.json``). A *selection spec* is a dict (YAML) or the same as a string ``"key=value;key=value"``:

==============  =====================================================================================
key             meaning
==============  =====================================================================================
answer_type     one of closed / open / multiple_choice, or a list of them
source          dataset source name(s); also ``modality``, ``organ``, ``split``
pass_rate       ``[lo, hi]`` inclusive bounds on the pass rate (needs ``pass_rates``)
pass_rates      path to ``pass_rates.json`` (from ``armed data filter``) or an ``{id: rate}`` dict
kept            path to ``pass_rates.json``: exactly the ids the filter kept
ids             a list of sample ids
limit           at most N samples, applied last
==============  =====================================================================================

>>> select(samples, {"answer_type": "closed"})                                    # doctest: +SKIP
>>> select(samples, "pass_rate=0.25:0.75;pass_rates=runs/filter/pass_rates.json")   # doctest: +SKIP
>>> stages(samples, [{"answer_type": "closed"}, {"answer_type": "open"}])            # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from armed.data.schema import ANSWER_TYPES
from armed.registry import did_you_mean

SELECT_KEYS = ("answer_type", "source", "modality", "organ", "split", "pass_rate", "pass_rates", "kept", "ids",
               "limit")
ORDERS = ("none", "easy_to_hard", "hard_to_easy", "closed_first")
_FIELD_KEYS = ("answer_type", "source", "modality", "organ", "split")
_TYPE_RANK = {"closed": 0, "multiple_choice": 1, "open": 2}


def _get(sample: Any, key: str) -> Any:
    return sample.get(key) if isinstance(sample, dict) else getattr(sample, key, None)


def parse_spec(spec: dict[str, Any] | str | None) -> dict[str, Any]:
    """A selection spec as a dict; the string form is ``key=value;key=value`` with ``a,b`` lists and ``lo:hi``
    ranges (``"answer_type=closed,multiple_choice;limit=100"``)."""
    if spec is None:
        return {}
    if isinstance(spec, dict):
        return dict(spec)
    out: dict[str, Any] = {}
    for part in str(spec).split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise ValueError(f"selection {spec!r}: expected key=value, got {part!r}")
        if key == "pass_rate":
            lo, _, hi = value.partition(":")
            out[key] = [float(lo), float(hi or 1.0)]
        elif key == "limit":
            out[key] = int(value)
        elif key in ("pass_rates", "kept"):
            out[key] = value
        else:
            out[key] = [v.strip() for v in value.split(",")] if "," in value else value
    return out


def validate_select(spec: dict[str, Any] | str | None) -> dict[str, Any]:
    """Check a spec without data (``--dry-run``): unknown keys and bad values fail naming the allowed ones."""
    spec = parse_spec(spec)
    for key in spec:
        if key not in SELECT_KEYS:
            raise ValueError(did_you_mean(key, SELECT_KEYS, "selection key"))
    for t in _as_list(spec.get("answer_type")):
        if t not in ANSWER_TYPES:
            raise ValueError(did_you_mean(str(t), ANSWER_TYPES, "selection answer_type"))
    if "pass_rate" in spec:
        bounds = spec["pass_rate"]
        if not (isinstance(bounds, (list, tuple)) and len(bounds) == 2 and 0 <= float(bounds[0]) <= float(bounds[1])
                <= 1):
            raise ValueError(f"invalid selection pass_rate {bounds!r}: expected [lo, hi] with 0 <= lo <= hi <= 1")
        if "pass_rates" not in spec:
            raise ValueError("selection pass_rate needs pass_rates (a pass_rates.json from `armed data filter`)")
    if "limit" in spec and int(spec["limit"]) < 1:
        raise ValueError(f"invalid selection limit {spec['limit']!r}: must be >= 1")
    return spec


def load_pass_rates(source: str | Path | dict[str, float]) -> dict[str, float]:
    """``{id: pass rate}`` from a ``pass_rates.json`` written by ``armed data filter`` (or a dict as is)."""
    if isinstance(source, dict):
        return {str(k): float(v) for k, v in source.items()}
    data = json.loads(Path(source).expanduser().read_text(encoding="utf-8"))
    rates = data.get("pass_rates", data) if isinstance(data, dict) else None
    if not isinstance(rates, dict):
        raise ValueError(f"{source}: not a pass_rates.json (no 'pass_rates' object)")
    return {str(k): float(v) for k, v in rates.items()}


def select(samples: Sequence[Any], spec: dict[str, Any] | str | None) -> list[Any]:
    """The samples (``Sample`` objects or row dicts) matching every key of ``spec``, in their original order."""
    spec = validate_select(spec)
    out = list(samples)
    for key in _FIELD_KEYS:
        if key in spec:
            allowed = {str(v) for v in _as_list(spec[key])}
            out = [s for s in out if str(_get(s, key)) in allowed]
    if "ids" in spec:
        wanted = {str(i) for i in _as_list(spec["ids"])}
        out = [s for s in out if str(_get(s, "id")) in wanted]
    if "kept" in spec:
        kept = set(json.loads(Path(spec["kept"]).expanduser().read_text(encoding="utf-8")).get("kept_ids", []))
        out = [s for s in out if str(_get(s, "id")) in kept]
    if "pass_rate" in spec:
        rates = load_pass_rates(spec["pass_rates"])
        lo, hi = (float(b) for b in spec["pass_rate"])
        out = [s for s in out if str(_get(s, "id")) in rates and lo <= rates[str(_get(s, "id"))] <= hi]
    if "limit" in spec:
        out = out[: int(spec["limit"])]
    return out


def order(samples: Sequence[Any], how: str = "none", pass_rates: str | Path | dict[str, float] | None = None
          ) -> list[Any]:
    """Samples reordered: ``easy_to_hard`` / ``hard_to_easy`` by pass rate (unrated last), ``closed_first``
    (closed → multiple choice → open), ``none``. Stable: ties keep their original order."""
    if how not in ORDERS:
        raise ValueError(did_you_mean(how, ORDERS, "order"))
    items = list(samples)
    if how == "none":
        return items
    if how == "closed_first":
        return sorted(items, key=lambda s: _TYPE_RANK.get(str(_get(s, "answer_type")), 3))
    if pass_rates is None:
        raise ValueError(f"order {how!r} needs pass_rates (a pass_rates.json from `armed data filter`)")
    rates = load_pass_rates(pass_rates)
    sign = -1.0 if how == "easy_to_hard" else 1.0  # easy = high pass rate first

    def key(s: Any) -> tuple[int, float]:
        rate = rates.get(str(_get(s, "id")))
        return (1, 0.0) if rate is None else (0, sign * rate)

    return sorted(items, key=key)


def stages(samples: Sequence[Any], specs: Sequence[dict[str, Any] | str]) -> list[list[Any]]:
    """One selection per stage, e.g. MedCCO ``[{answer_type: closed}, {answer_type: open}]``."""
    return [select(samples, spec) for spec in specs]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple, set)) else [value]
