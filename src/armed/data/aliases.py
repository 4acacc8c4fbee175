"""Natural answer aliases: other ways the field writes the same short answer ("CT" / "computed tomography").

Only exact synonyms of whole answers go here (imaging modalities, planes, views, a few organ words), so an
alias never changes what the answer means. Rewards and metrics compare a prediction with the answer and
every alias.
"""

from __future__ import annotations

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("CT", "computed tomography", "CT scan", "CAT scan"),
    ("MRI", "MR", "magnetic resonance imaging", "magnetic resonance"),
    ("X-ray", "xray", "x ray", "radiograph", "plain film", "plain radiograph"),
    ("ultrasound", "US", "sonography", "ultrasonography", "sonogram"),
    ("PET", "positron emission tomography"),
    ("angiography", "angiogram"),
    ("mammography", "mammogram"),
    ("axial", "transverse", "transaxial"),
    ("PA", "posteroanterior", "posterior-anterior"),
    ("AP", "anteroposterior", "anterior-posterior"),
    ("T1", "T1 weighted", "T1-weighted"),
    ("T2", "T2 weighted", "T2-weighted"),
    ("FLAIR", "fluid attenuated inversion recovery"),
    ("DWI", "diffusion weighted", "diffusion-weighted imaging"),
    ("chest", "thorax"),
    ("abdomen", "abdominal"),
    ("left", "left side"),
    ("right", "right side"),
)


def _norm(text: str) -> str:
    return " ".join(str(text).lower().replace("_", " ").split()).rstrip(".")


_INDEX: dict[str, tuple[str, ...]] = {_norm(w): group for group in SYNONYM_GROUPS for w in group}


def natural_aliases(answer: str) -> list[str]:
    """Synonyms of the whole answer from :data:`SYNONYM_GROUPS` (the answer itself excluded).

    >>> natural_aliases("ct")
    ['computed tomography', 'CT scan', 'CAT scan']
    >>> natural_aliases("pneumothorax")
    []
    """
    key = _norm(answer)
    group = _INDEX.get(key, ())
    return [w for w in group if _norm(w) != key]
