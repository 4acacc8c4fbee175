"""``medscan-vqa``: image VQA built from real scans that ship inside PyPI packages (no other download).

Sources (all read from installed packages; nothing is fetched):

* pydicom 3 test files and pydicom-data 1.0 (MIT): CT, MR, CR, US and NM DICOMs. Labels come from the
  headers only: ``Modality``; plane from ``ImageOrientationPatient`` (CT/MR, when within 30 degrees of a
  cardinal plane); body region / organ from ``BodyPartExamined`` / study and series descriptions. Files that
  are the same image in another transfer syntax or size (``*_J2KI``, ``*_UNCR``, ``examples_*``) are kept
  once (largest copy per SOPInstanceUID, then near-duplicate thumbnails within a study dropped); images
  smaller than 32 px, non-patient objects (SEG, RT, SR, secondary capture) and files whose pixels this
  install cannot decode are skipped.
* nibabel test data (MIT): ``anatomical.nii`` (structural brain MRI, cropped) and ``example4d.nii.gz`` (EPI fMRI, 2
  volumes). Slices at several positions in each plane. (nibabel's Siemens DTI mosaics are not used: their
  pixel data are zeroed.)
* nilearn (BSD-3; the MNI ICBM152 2009a template itself: see CARD.md): the MNI152 T1-weighted brain template.
* scikit-image (CC0 / public domain): ``retina`` (fundus photograph of a normal left eye),
  ``microaneurysms`` (fundus detail, HRF database) and ``immunohistochemistry`` (IHC of colonic glands),
  used whole and as tiles.

Volumes are reoriented to RAS and shown in radiological convention (axial/coronal: the patient's right on
the image's left, anterior / superior at the top; sagittal: anterior on the left), resampled to square
physical pixels. Grey images are windowed (DICOM VOI LUT when present, else the 1st-99.5th percentile) to
8 bit and resized so the longer side is :data:`IMAGE_SIZE` px.

Finding questions use SYNTHETIC overlays: a bright disc drawn inside the brain on an axial or coronal slice
("Is there a focal hyperintense lesion?", "On which side of the patient is the lesion?"). Every such sample
has ``meta["synthetic"] = True``; real-anatomy samples have ``False``.

Splits never share a source: the unit is the source file / volume / DICOM study. The three brain volumes are
assigned by hand (MNI152 -> train, example4d -> validation, anatomical.nii -> test) so every split has brain
MRI; DICOM studies and scikit-image photos go round-robin per modality in sha256 order.

The build is deterministic, takes well under a minute on 2 CPU cores, and is cached under
``$ARMED_HOME/data/medscan-vqa/<BUILD_VERSION>/`` (PNGs + ``samples.jsonl`` + ``manifest.json``). Bump
:data:`BUILD_VERSION` whenever anything here changes what is built.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from armed.data.loader import Loader, LoadReport
from armed.data.schema import Sample
from armed.registry import DATASETS, did_you_mean

BUILD_VERSION = "medscan-v10"
IMAGE_SIZE = 224
SPLITS: tuple[str, ...] = ("train", "validation", "test")
SPLIT_ALIASES = {"val": "validation", "dev": "validation"}
AXIS_NAMES = ("left-right", "front-back", "head-foot")  # patient x, y, z
PLANES = ("sagittal", "coronal", "axial")  # the plane whose normal is that axis
MIN_PIXELS = 32  # the 16x16 thumbnails in pydicom's DICOMDIR tests are too small to show anything
MIN_RENDERED = 64  # px: skip reformats of thin slabs
MAX_CINE_FRAMES = 6  # ultrasound cine loops: evenly spaced frames
MAX_STACK_FRAMES = 10  # multi-frame CT/MR/NM objects

# --------------------------------------------------------------------------------------------- vocabulary
# Canonical answer -> accepted aliases. The canonical form is what a radiologist would write in a report.
MODALITY: dict[str, tuple[str, list[str]]] = {
    "CT": ("CT", ["computed tomography", "CT scan", "computed tomography scan", "CAT scan"]),
    "MR": ("MRI", ["MR", "magnetic resonance imaging", "magnetic resonance", "MR imaging", "MRI scan"]),
    "CR": ("X-ray", ["radiograph", "radiography", "plain radiograph", "computed radiography", "CR", "x ray",
                     "xray", "plain film"]),
    "DX": ("X-ray", ["radiograph", "radiography", "plain radiograph", "digital radiography", "DX", "x ray"]),
    "US": ("ultrasound", ["US", "ultrasonography", "sonography", "sonogram", "echography"]),
    "NM": ("nuclear medicine", ["NM", "scintigraphy", "nuclear medicine imaging", "gamma camera imaging",
                                "nuclear scan"]),
    "FUNDUS": ("fundus photography", ["fundus photograph", "color fundus photography", "retinal photography",
                                      "fundus image", "fundoscopy"]),
    "HISTO": ("histopathology", ["histology", "light microscopy", "microscopy", "pathology slide",
                                 "immunohistochemistry", "histopathology slide"]),
}
# Closed modality questions ("Is this a CT image?").
IS_MODALITY = {"CT": "Is this a CT image?", "MR": "Is this an MRI image?", "CR": "Is this an X-ray image?",
               "US": "Is this an ultrasound image?", "NM": "Is this a nuclear medicine image?",
               "FUNDUS": "Is this a fundus photograph?", "HISTO": "Is this a histology slide?"}
CHOICE_NAME = ("CT", "MR", "CR", "US", "NM", "FUNDUS", "HISTO")  # modalities offered in two-way choices
PLANE: dict[str, list[str]] = {
    "axial": ["transverse", "axial plane", "transverse plane", "transaxial", "horizontal plane"],
    "coronal": ["coronal plane", "frontal plane", "frontal"],
    "sagittal": ["sagittal plane", "lateral plane", "midsagittal" ],
}
SIDE: dict[str, list[str]] = {
    "left": ["left side", "the left", "patient's left", "left hemisphere", "on the left"],
    "right": ["right side", "the right", "patient's right", "right hemisphere", "on the right"],
}
YES_NO: dict[str, list[str]] = {"yes": ["y", "true"], "no": ["n", "false"]}
REGION: dict[str, list[str]] = {
    "head": ["the head", "brain", "skull", "cranium", "head and brain"],
    "brain": ["the brain", "head", "cerebrum", "cerebral hemispheres"],
    "chest": ["thorax", "the chest", "thoracic", "lungs", "chest wall"],
    "abdomen": ["the abdomen", "abdominal", "belly"],
    "shoulder": ["the shoulder", "shoulder joint", "glenohumeral joint"],
    "lower leg": ["tibia", "leg", "lower limb", "distal tibia", "shin"],
    "whole body": ["entire body", "full body", "whole-body"],
    "heart": ["cardiac", "the heart", "myocardium"],
    "eye": ["retina", "the eye", "fundus", "ocular fundus"],
    "colon": ["large intestine", "colonic mucosa", "colonic glands", "bowel"],
}
# Keyword (searched in BodyPartExamined, StudyDescription, SeriesDescription; upper case) -> (region, organ).
HEADER_REGIONS: tuple[tuple[str, str, str], ...] = (
    ("HEAD/BRAIN", "head", "brain"), ("HEAD", "head", ""), ("BRAIN", "head", "brain"),
    ("THORAX", "chest", ""), ("CHEST", "chest", ""), ("PANCREAS", "abdomen", "pancreas"),
    ("LIVER", "abdomen", "liver"), ("ABDOMEN", "abdomen", ""), ("SHOULDER", "shoulder", ""),
    ("TIBIA", "lower leg", "tibia"), ("WHOLE BODY", "whole body", ""), ("ECHOCARDIOGRAM", "heart", "heart"),
)
PATIENT_MODALITIES = ("CT", "MR", "CR", "DX", "US", "NM")


@dataclass
class Item:
    """One rendered image and everything known about it (the only source of question answers)."""

    image_id: str
    group: str  # split unit: source file / volume / study
    pixels: np.ndarray  # uint8, HxW or HxWx3, already resized
    modality: str  # key of MODALITY
    source: str  # human-readable provenance (package: file, frame / slice)
    license: str
    plane: str = ""
    region: str = ""
    organ: str = ""
    laterality: str = ""  # eye laterality for fundus photos
    facts: list[str] = field(default_factory=list)  # header / geometry facts, for rationales
    source_file: str = ""  # "package:path inside the package" (DICOM), for checking labels against headers
    lesion_side: str = ""  # synthetic overlays only
    synthetic: bool = False


# ------------------------------------------------------------------------------------------------ helpers
def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:12], 16)


def _pick(options: list[Any] | tuple[Any, ...], key: str) -> Any:
    return options[_hash(key) % len(options)]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def to_uint8(img: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Window a grey image to 8 bit (percentile window unless ``lo``/``hi`` are given)."""
    img = np.asarray(img, dtype=np.float32)
    finite = img[np.isfinite(img)]
    if lo is None or hi is None:
        if finite.size == 0:
            return np.zeros(img.shape, np.uint8)
        lo, hi = (float(v) for v in np.percentile(finite, [1.0, 99.5]))
    if hi <= lo:
        hi = lo + 1.0
    out = np.clip((np.nan_to_num(img, nan=lo) - lo) / (hi - lo), 0.0, 1.0)
    return (out * 255.0 + 0.5).astype(np.uint8)


def resize(img: np.ndarray, size: int = IMAGE_SIZE, aspect: float = 1.0) -> np.ndarray:
    """Resize so the longer side is ``size`` px; ``aspect`` = physical height/width of one pixel."""
    from PIL import Image

    h, w = img.shape[:2]
    ph, pw = h * aspect, float(w)
    scale = size / max(ph, pw)
    new = (max(1, round(pw * scale)), max(1, round(ph * scale)))
    return np.asarray(Image.fromarray(img).resize(new, Image.Resampling.BILINEAR))


def _plane_from_normal(normal: np.ndarray) -> str:
    """axial / coronal / sagittal from a slice normal in patient coordinates ("" when oblique > 30 deg)."""
    normal = np.abs(np.asarray(normal, dtype=float))
    if not np.isfinite(normal).all() or normal.sum() == 0:
        return ""
    normal = normal / np.linalg.norm(normal)
    axis = int(np.argmax(normal))
    if normal[axis] < np.cos(np.radians(30)):
        return ""
    return PLANES[axis]


# ------------------------------------------------------------------------------------------------- DICOM
def dicom_files() -> list[tuple[str, Path]]:
    """(package, path) of every file in pydicom's and pydicom-data's test data folders, sorted."""
    out: list[tuple[str, Path]] = []
    for pkg, sub in (("pydicom", "data/test_files"), ("data_store", "data")):
        root = _package_dir(pkg)
        if root is None or not (root / sub).is_dir():
            continue
        label = "pydicom" if pkg == "pydicom" else "pydicom-data"
        out += [(label, p) for p in sorted((root / sub).rglob("*")) if p.is_file()
                and p.suffix.lower() not in (".py", ".pyc", ".json", ".txt", ".md", ".dump", ".icc", ".gz")]
    return out


def _package_relative(package: str, path: Path) -> str:
    root = _package_dir("pydicom" if package == "pydicom" else "data_store")
    try:
        return f"{package}:{path.relative_to(root).as_posix()}" if root else f"{package}:{path.name}"
    except ValueError:
        return f"{package}:{path.name}"


def dicom_path(source_file: str) -> Path | None:
    """The installed file behind a ``source_file`` value ("pydicom:data/test_files/CT_small.dcm")."""
    package, _, rel = source_file.partition(":")
    root = _package_dir("pydicom" if package == "pydicom" else "data_store")
    return root / rel if root and rel else None


def _header_region(ds: Any) -> tuple[str, str, str]:
    text = " | ".join(str(ds.get(k, "") or "") for k in ("BodyPartExamined", "StudyDescription",
                                                           "SeriesDescription")).upper()
    for key, region, organ in HEADER_REGIONS:
        if key in text:
            return region, organ, key
    return "", "", ""


def _frame_orientation(ds: Any, frame: int) -> list[float] | None:
    iop = ds.get("ImageOrientationPatient")
    if iop is not None:
        return [float(v) for v in iop]
    for seq_name in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
        seq = ds.get(seq_name)
        if not seq:
            continue
        group = seq[min(frame, len(seq) - 1)] if seq_name.startswith("PerFrame") else seq[0]
        pos = group.get("PlaneOrientationSequence")
        if pos and pos[0].get("ImageOrientationPatient") is not None:
            return [float(v) for v in pos[0].ImageOrientationPatient]
    return None


def _render_dicom_frame(ds: Any, arr: np.ndarray) -> np.ndarray:
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb / max(1.0, float(rgb.max())) * 255).astype(np.uint8)
        return rgb
    if arr.ndim == 3:  # colour (pydicom converts YBR to RGB)
        if arr.dtype != np.uint8:
            arr = (arr.astype(np.float32) / max(1.0, float(arr.max())) * 255).astype(np.uint8)
        return arr
    img = apply_modality_lut(arr, ds).astype(np.float32)
    out = to_uint8(img)
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        try:
            windowed = to_uint8(apply_voi_lut(img, ds).astype(np.float32))
        except (ValueError, TypeError, IndexError):
            windowed = out
        # Keep the header's window unless it saturates nearly everything (some test files carry odd windows).
        if np.mean((windowed <= 2) | (windowed >= 253)) < 0.85:
            out = windowed
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out


def _dicom_headers() -> list[list[tuple[str, Path, str, int]]]:
    """Patient-image DICOMs grouped by SOPInstanceUID: per image, its copies (package, path, uid, pixels),
    largest first.

    pydicom ships some images twice (``examples_palette.dcm`` is a smaller copy of pydicom-data's
    ``OBXXXX1A.dcm``, same SOPInstanceUID); the largest copy this install can decode is kept.
    """
    import pydicom

    found = []
    for package, path in dicom_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
                modality = str(ds.get("Modality", "")).upper()
                rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
                uid = str(ds.get("SOPInstanceUID", "")) or path.name
                frames = int(ds.get("NumberOfFrames", 1) or 1)
        except Exception:  # not DICOM, or broken on purpose
            continue
        if modality in PATIENT_MODALITIES and min(rows, cols) >= MIN_PIXELS:
            found.append((package, path, uid, rows * cols * frames))
    by_uid: dict[str, list[tuple[str, Path, str, int]]] = {}
    for entry in found:
        by_uid.setdefault(entry[2], []).append(entry)
    # one list per image: its copies, largest first (the caller keeps the first one it can decode)
    copies = [sorted(v, key=lambda e: (-e[3], _is_lossy(e[1]))) for v in by_uid.values()]
    # lossily re-encoded variants (*_J2KI, *lossy*) last, so the near-duplicate check keeps the lossless one
    return sorted(copies, key=lambda c: (_is_lossy(c[0][1]), c[0][0], str(c[0][1])))


def _is_lossy(path: Path) -> bool:
    return "J2KI" in path.name or "lossy" in path.name.lower()


def _thumb(img: np.ndarray) -> np.ndarray:
    from PIL import Image

    grey = img if img.ndim == 2 else img[..., :3].mean(axis=2)
    t = np.asarray(Image.fromarray(grey.astype(np.uint8)).resize((32, 32), Image.Resampling.BILINEAR), np.float32)
    t = t - t.mean()
    return t / (np.linalg.norm(t) + 1e-6)


def dicom_items() -> Iterator[Item]:
    import logging

    import pydicom

    logging.getLogger("pydicom").setLevel(logging.ERROR)  # test files are malformed on purpose; we skip them
    thumbs: dict[str, list[np.ndarray]] = {}  # group -> thumbnails already yielded (near-duplicate check)
    for copies in _dicom_headers():
        decoded = None
        for package, path, uid, _ in copies:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path, force=True)
                    for _ in ds.iterall():  # convert every raw element now, under the filter (bad UIDs warn)
                        pass
                    if "PixelData" in ds:
                        decoded = (package, path, uid, ds, ds.pixel_array)
                        break
            except Exception:  # undecodable here (JPEG-LS without a plugin, truncated test files ...)
                continue
        if decoded is None:
            continue
        package, path, uid, ds, pixels = decoded
        modality = str(ds.get("Modality", "")).upper()
        n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        is_color = str(ds.get("PhotometricInterpretation", "")).startswith(("RGB", "YBR"))
        frames = pixels if n_frames > 1 else pixels[None]
        limit = MAX_CINE_FRAMES if modality == "US" else MAX_STACK_FRAMES
        picks = sorted(set(np.linspace(0, n_frames - 1, min(n_frames, limit)).round().astype(int).tolist()))
        region, organ, region_key = _header_region(ds)
        group = "dicom:" + (str(ds.get("StudyInstanceUID", "")) or path.name)
        spacing = ds.get("PixelSpacing")
        aspect = float(spacing[0]) / float(spacing[1]) if spacing and float(spacing[1]) > 0 else 1.0
        for f in picks:
            frame = frames[f]
            if is_color and frame.ndim == 2:
                continue
            img = resize(_render_dicom_frame(ds, frame), aspect=aspect)
            if img.std() < 2:  # blank frame
                continue
            # The same image in other encodings (693_J2KI / _J2KR / _UNCR ...) has its own SOPInstanceUID.
            thumb = _thumb(img)
            if any(float((thumb * t).sum()) > 0.96 for t in thumbs.get(group, [])):
                continue
            thumbs.setdefault(group, []).append(thumb)
            plane, facts = "", [f"the DICOM header gives Modality = {modality}"]
            if modality in ("CT", "MR"):
                iop = _frame_orientation(ds, f)
                if iop is not None and len(iop) == 6:
                    normal = np.cross(np.array(iop[:3]), np.array(iop[3:]))
                    plane = _plane_from_normal(normal)
                    if plane:
                        facts.append("the image orientation (direction cosines) in the header puts the slice "
                                     f"normal along the {AXIS_NAMES[int(np.argmax(np.abs(normal)))]} axis, "
                                     f"which is the {plane} plane")
            if region_key:
                facts.append(f"the header describes the examination as {region_key.lower()}")
            if modality == "CT":
                facts.append("grey levels follow X-ray attenuation (Hounsfield units): bone bright, air black")
            elif modality == "MR":
                facts.append("the contrast is soft-tissue contrast with no bone signal, typical of MR")
            elif modality == "US":
                facts.append("the image has the speckled pulse-echo texture of ultrasound")
            elif modality in ("CR", "DX"):
                facts.append("the image is a projection radiograph: overlapping structures, bone bright")
            elif modality == "NM":
                facts.append("the image is a planar gamma-camera acquisition showing tracer uptake")
            yield Item(
                image_id=f"dcm-{hashlib.sha1(f'{uid}:{f}'.encode()).hexdigest()[:12]}",
                group=group, pixels=img, modality=modality, plane=plane, region=region, organ=organ,
                source=f"{package}: {path.name}" + (f" frame {f + 1}/{n_frames}" if n_frames > 1 else ""),
                source_file=_package_relative(package, path),
                license="MIT (pydicom / pydicom-data test data)", facts=facts,
            )


# ----------------------------------------------------------------------------------------------- volumes
@dataclass(frozen=True)
class VolumeSource:
    key: str
    label: str  # provenance
    license: str
    loader: Callable[[], list[Any]]  # -> list of nibabel images (e.g. the volumes of a 4D series)
    description: str  # for rationales ("a T1-weighted brain template")
    positions: int  # slices per plane
    split: str


def _nib_file(rel: str) -> Path:
    root = _package_dir("nibabel")
    if root is None:
        raise FileNotFoundError("nibabel is not installed")
    return root / rel


def _load_mni() -> list[Any]:
    import nibabel as nib

    root = _package_dir("nilearn")
    if root is None:
        return []
    path = root / "datasets" / "data" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
    return [nib.load(path)] if path.is_file() else []


def _load_nifti(rel: str, volumes: int = 1) -> Callable[[], list[Any]]:
    def load() -> list[Any]:
        import nibabel as nib

        path = _nib_file(rel)
        if not path.is_file():
            return []
        img = nib.load(path)
        if len(img.shape) == 4:
            return [img.slicer[..., t] for t in range(min(volumes, img.shape[3]))]
        return [img]

    return load


VOLUMES: tuple[VolumeSource, ...] = (
    VolumeSource("mni152", "nilearn: MNI ICBM152 2009a T1 template",
                 "MNI ICBM152 2009 (McConnell BIC permissive notice; nilearn lists 'unknown'); nilearn BSD-3",
                 _load_mni, "the MNI152 T1-weighted brain MRI template", 48, "train"),
    VolumeSource("example4d", "nibabel: tests/data/example4d.nii.gz (EPI fMRI)", "MIT (nibabel test data)",
                 _load_nifti("tests/data/example4d.nii.gz", volumes=2), "an echo-planar functional MRI volume",
                 12, "validation"),
    VolumeSource("anatomical", "nibabel: tests/data/anatomical.nii", "MIT (nibabel test data)",
                 _load_nifti("tests/data/anatomical.nii"), "an anatomical (structural) MRI volume of the brain", 16,
                 "test"),
)


def volume_slices(data: np.ndarray, zooms: tuple[float, float, float], plane: str, positions: int
                  ) -> Iterator[tuple[int, float, np.ndarray, float]]:
    """(index, fraction, 2D slice in radiological display, pixel aspect) for ``positions`` slices of a RAS
    volume, spread over the central 70 % of the extent, skipping nearly empty slices."""
    axis = {"sagittal": 0, "coronal": 1, "axial": 2}[plane]
    n = data.shape[axis]
    fg = data > np.percentile(data, 60)
    seen: set[int] = set()
    for frac in np.linspace(0.18, 0.82, positions):
        k = min(n - 1, max(0, round(frac * (n - 1))))
        if k in seen:  # thin volumes: fewer distinct slices than positions
            continue
        seen.add(k)
        if plane == "axial":
            sl, mask, aspect = data[::-1, ::-1, k].T, fg[:, :, k], zooms[1] / zooms[0]
        elif plane == "coronal":
            sl, mask, aspect = data[::-1, k, ::-1].T, fg[:, k, :], zooms[2] / zooms[0]
        else:
            sl, mask, aspect = data[k, ::-1, ::-1].T, fg[k, :, :], zooms[2] / zooms[1]
        if mask.mean() < 0.08:
            continue
        yield k, float(frac), sl, aspect


def draw_lesion(img: np.ndarray, side: str, key: str) -> np.ndarray:
    """A bright disc (synthetic hyperintense lesion) inside the foreground on the patient's ``side``.

    Radiological display: the patient's left is the image's right half.
    """
    h, w = img.shape
    rng = np.random.default_rng(_hash(key))
    fg = img > max(40, np.percentile(img, 55))
    half = np.zeros_like(fg)
    margin = max(3, w // 12)
    if side == "left":
        half[:, w // 2 + margin: w - margin] = True
    else:
        half[:, margin: w // 2 - margin] = True
    r = max(3.0, min(h, w) * float(rng.uniform(0.035, 0.06)))
    yy, xx = np.mgrid[0:h, 0:w]
    # Prefer darker tissue (grey matter, not already-bright white matter) so the disc stands out, and a
    # centre whose whole disc lies inside the foreground.
    fg_values = img[fg]
    darker = img <= (np.percentile(fg_values, 50) if fg_values.size else 255)
    ys, xs = np.nonzero(fg & half & darker)
    if len(ys) == 0:
        ys, xs = np.nonzero(fg & half)
    if len(ys) == 0:
        ys, xs = np.nonzero(half)
    order = rng.permutation(len(ys))[:40]
    best, best_cover = int(order[0]), -1.0
    for i in order:
        disc = (yy - ys[i]) ** 2 + (xx - xs[i]) ** 2 <= r * r
        cover = float(fg[disc].mean())
        if cover > best_cover:
            best, best_cover = int(i), cover
        if cover >= 0.95:
            break
    cy, cx = int(ys[best]), int(xs[best])
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    alpha = np.clip(r + 1.0 - d, 0.0, 1.0)  # anti-aliased edge
    out = img.astype(np.float32) * (1 - alpha) + 250.0 * alpha
    return out.astype(np.uint8)


def volume_items() -> Iterator[Item]:
    import nibabel as nib

    for src in VOLUMES:
        try:
            images = src.loader()
        except (OSError, ValueError, ImportError):
            continue
        for t, img in enumerate(images):
            img = nib.as_closest_canonical(img)
            data = np.asarray(img.dataobj, dtype=np.float32)
            while data.ndim > 3:
                data = data[..., 0]
            zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
            for plane in ("axial", "coronal", "sagittal"):
                for k, frac, sl, aspect in volume_slices(data, zooms, plane, src.positions):
                    pixels = resize(to_uint8(sl, *np.percentile(sl, [1.0, 99.9])), aspect=aspect)
                    if min(pixels.shape[:2]) < MIN_RENDERED:  # a thin slab seen edge-on (EPI coronal)
                        continue
                    where = f"{plane} slice {k} ({frac:.0%} of the extent)"
                    if len(images) > 1:
                        where += f", volume {t + 1}"
                    facts = [
                        f"the image is a slice of {src.description}",
                        f"it was cut perpendicular to the {AXIS_NAMES[PLANES.index(plane)]} "
                        f"axis of the RAS-oriented volume, i.e. in the {plane} plane",
                        "grey/white matter contrast without bone signal is typical of MR",
                    ]
                    base = Item(
                        image_id=f"vol-{src.key}-{t}-{plane[:3]}-{k:03d}", group=f"volume:{src.key}",
                        pixels=pixels, modality="MR", plane=plane, region="head", organ="brain",
                        source=f"{src.label}, {where}", license=src.license, facts=facts,
                    )
                    yield base
                    if plane not in ("axial", "coronal"):
                        continue
                    for side in ("left", "right"):
                        yield Item(
                            image_id=f"{base.image_id}-lesion-{side}", group=base.group,
                            pixels=draw_lesion(pixels, side, base.image_id + side), modality="MR", plane=plane,
                            region="head", organ="brain", source=base.source + " + synthetic disc",
                            license=src.license, facts=facts, lesion_side=side, synthetic=True,
                        )


# ---------------------------------------------------------------------------------------- scikit-image
def skimage_items() -> Iterator[Item]:
    root = _package_dir("skimage")
    if root is None:
        return
    from PIL import Image

    def tiles(arr: np.ndarray, n: int) -> Iterator[tuple[str, np.ndarray]]:
        h, w = arr.shape[:2]
        for i in range(n):
            for j in range(n):
                yield f"tile {i * n + j + 1}/{n * n}", arr[i * h // n:(i + 1) * h // n, j * w // n:(j + 1) * w // n]

    photos = (
        ("retina.jpg", "FUNDUS", "eye", "retina", "left", "fundus photograph of a normal left eye (Wikimedia)",
         "CC0 1.0 (scikit-image data)", 2),
        ("microaneurysms.png", "FUNDUS", "eye", "retina", "", "green-channel fundus detail from the HRF database",
         "CC0 (scikit-image data)", 0),
        ("ihc.png", "HISTO", "colon", "colon", "", "IHC (DAB + haematoxylin) of colonic glands",
         "no known copyright restrictions (scikit-image data)", 3),
    )
    for fname, modality, region, organ, laterality, desc, licence, n in photos:
        path = root / "data" / fname
        if not path.is_file():
            continue
        arr = np.asarray(Image.open(path))
        parts = [("whole image", arr)] + (list(tiles(arr, n)) if n else [])
        for where, part in parts:
            if part.ndim == 3 and part.shape[2] == 4:
                part = part[..., :3]
            pixels = resize(np.ascontiguousarray(part))
            if pixels.std() < 4:
                continue
            facts = [f"the image is a {desc}"]
            if modality == "FUNDUS":
                facts.append("it shows the retina with vessels seen through the pupil, i.e. a fundus photograph")
            else:
                facts.append("it shows stained tissue at microscopic scale: brown DAB and blue haematoxylin")
            yield Item(
                image_id=f"ski-{Path(fname).stem}-{_hash(where) % 10**6:06d}", group=f"skimage:{fname}",
                pixels=pixels, modality=modality, region=region, organ=organ,
                laterality=laterality if where == "whole image" else "",
                source=f"scikit-image: data/{fname}, {where}", license=licence, facts=facts,
            )


# ------------------------------------------------------------------------------------------- questions
@dataclass
class QA:
    qtype: str
    question: str
    answer: str
    aliases: list[str]
    answer_type: str
    rationale: list[str]  # the facts that justify the answer, in order (used by armed.data.embedded.cot)


def _yes_no(truth: bool) -> tuple[str, list[str]]:
    answer = "yes" if truth else "no"
    return answer, list(YES_NO[answer])


def questions(item: Item) -> list[QA]:
    """The questions whose answers follow from what is known about ``item`` (nothing else is asked)."""
    key = item.image_id
    out: list[QA] = []
    mod_name, mod_aliases = MODALITY[item.modality]
    mod_facts = list(item.facts)
    if item.lesion_side:  # synthetic overlays: finding questions plus one modality question
        presence = _pick(["Is there a focal hyperintense lesion in this image?",
                          "Does this slice show a focal bright lesion?",
                          "Is a focal hyperintense abnormality visible?"], key + ":lp")
        side_q = _pick(["On which side of the patient is the lesion?",
                        "Which side of the patient is the bright lesion on?",
                        "Is the hyperintense lesion on the patient's left or right?"], key + ":ls")
        where = ("the image's right half, which in radiological convention is the patient's left"
                 if item.lesion_side == "left" else
                 "the image's left half, which in radiological convention is the patient's right")
        lesion_fact = "there is a round, sharply marginated, very bright focus within the brain"
        out.append(QA("lesion_presence", presence, *_yes_no(True), "closed", [lesion_fact]))
        out.append(QA("lesion_side", side_q + " (radiological convention)", item.lesion_side,
                      list(SIDE[item.lesion_side]), "closed", [lesion_fact, f"the focus lies in {where}"]))
    else:
        out.append(QA("modality_open", _pick([
            "What imaging modality was used to acquire this image?", "Which imaging technique produced this image?",
            "What kind of medical image is this?", "What is the modality of this image?"], key + ":mo"),
            mod_name, list(mod_aliases), "open", mod_facts))
        other = _pick([m for m in IS_MODALITY if MODALITY[m][0] != mod_name], key + ":other")
        asked = item.modality if _hash(key + ":mc") % 2 == 0 else other
        truth = MODALITY[asked][0] == mod_name
        out.append(QA("modality_closed", IS_MODALITY[asked], *_yes_no(truth), "closed",
                      mod_facts + [f"the question names {MODALITY[asked][0]}, which "
                                   f"{'matches' if truth else 'is not'} the modality of this image ({mod_name})"]))
        # VQA-RAD style two-way choice ("Is this a CT or an MRI?"); the true one first or second by hash
        rival = MODALITY[_pick([m for m in CHOICE_NAME if MODALITY[m][0] != mod_name], key + ":rival")][0]
        pair = (mod_name, rival) if _hash(key + ":order") % 2 else (rival, mod_name)
        out.append(QA("modality_choice", f"Was this image acquired with {pair[0]} or {pair[1]}?", mod_name,
                      list(mod_aliases), "closed",
                      mod_facts + [f"of the two named, {mod_name} is the modality of this image, not {rival}"]))
    if item.plane:
        plane_facts = [f for f in item.facts if "plane" in f]
        if not item.lesion_side:
            out.append(QA("plane_open", _pick(["In which plane is this image acquired?",
                                               "Which imaging plane is shown?",
                                               "What is the orientation (plane) of this slice?"], key + ":po"),
                          item.plane, list(PLANE[item.plane]), "open", plane_facts))
        asked = _pick([p for p in PLANE if p != item.plane], key + ":pc") if _hash(key + ":pcb") % 2 \
            else item.plane
        out.append(QA("plane_closed", f"Is this {'an' if asked == 'axial' else 'a'} {asked} slice?",
                      *_yes_no(asked == item.plane), "closed",
                      plane_facts + [f"the question asks about the {asked} plane, which "
                                     f"{'is' if asked == item.plane else 'is not'} the plane of this slice"]))
    if item.region and not item.lesion_side:
        region_facts = [f for f in item.facts if "header describes" in f or "slice of" in f or "image is a" in f]
        out.append(QA("region_open", _pick(["Which body region is shown in this image?",
                                            "What part of the body is imaged?",
                                            "Which anatomical region does this image show?"], key + ":ro"),
                      item.region, list(REGION.get(item.region, [])), "open", region_facts))
        if item.organ and item.organ != item.region:
            out.append(QA("organ_open", _pick(["Which organ is the focus of this image?",
                                               "What organ is shown?"], key + ":oo"),
                          item.organ, list(REGION.get(item.organ, [])), "open", region_facts))
        other_regions = [r for r in ("head", "chest", "abdomen", "shoulder", "heart", "eye", "lower leg")
                         if r != item.region and item.region not in REGION.get(r, [])]
        asked = item.region if _hash(key + ":rc") % 2 == 0 else _pick(other_regions, key + ":rco")
        out.append(QA("region_closed", f"Does this image show the {asked}?", *_yes_no(asked == item.region),
                      "closed", region_facts + [f"the region imaged is the {item.region}"
                                                + ("" if asked == item.region else f", not the {asked}")]))
    if item.organ == "brain" and item.plane in ("axial", "coronal") and item.group.startswith("volume:") \
            and not item.lesion_side and not item.synthetic:
        out.append(QA("lesion_presence", _pick(["Is there a focal hyperintense lesion in this image?",
                                                "Does this slice show a focal bright lesion?"], key + ":lp"),
                      *_yes_no(False), "closed",
                      ["the brain parenchyma shows normal grey/white matter without a focal bright spot"]))
    if item.laterality:
        out.append(QA("laterality", "Which eye is shown in this fundus photograph?", item.laterality,
                      [f"{item.laterality} eye", "OS" if item.laterality == "left" else "OD"], "closed",
                      item.facts[:1]))
    return out


# ----------------------------------------------------------------------------------------------- build
def build_dir(root: str | Path | None = None) -> Path:
    from armed.models import armed_home

    return Path(root) if root else armed_home() / "data" / "medscan-vqa" / BUILD_VERSION


def all_items(limit_per_source: int | None = None) -> Iterator[Item]:
    """Every image, source by source; ``limit_per_source`` keeps the first N of each (fast test builds)."""
    for gen in (dicom_items, volume_items, skimage_items):
        for i, item in enumerate(gen()):
            if limit_per_source is not None and i >= limit_per_source:
                break
            yield item


def assign_splits(items: list[Item]) -> dict[str, str]:
    """group -> split: fixed for the brain volumes, round-robin per modality (sha256 order) otherwise."""
    out = {f"volume:{v.key}": v.split for v in VOLUMES}
    pattern = ("train", "test", "train", "validation", "train", "test", "train")
    by_modality: dict[str, list[str]] = {}
    for item in items:
        if item.group not in out:
            groups = by_modality.setdefault(item.modality, [])
            if item.group not in groups:
                groups.append(item.group)
    for groups in by_modality.values():
        for i, group in enumerate(sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())):
            out[group] = pattern[i % len(pattern)]
    return out


def build(root: str | Path | None = None, *, force: bool = False, limit_per_source: int | None = None,
          progress: bool = True) -> Path:
    """Render the images and write ``samples.jsonl`` + ``manifest.json`` (skipped when already built)."""
    from PIL import Image

    target = build_dir(root)
    if (target / "manifest.json").is_file() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
    try:
        (tmp / "images").mkdir()
        items: list[Item] = []
        rows: list[dict[str, Any]] = []
        with _progress(progress) as bar:
            task = bar.add_task("medscan-vqa: rendering images", total=None) if bar else None
            for item in all_items(limit_per_source):
                Image.fromarray(item.pixels).save(tmp / "images" / f"{item.image_id}.png", optimize=False)
                item.pixels = np.zeros((0,), np.uint8)  # free memory; the PNG is the image from now on
                items.append(item)
                if bar is not None:
                    bar.advance(task)
        splits = assign_splits(items)
        for item in items:
            for n, qa in enumerate(questions(item)):
                rows.append({
                    "id": f"medscan-{item.image_id}-{qa.qtype}-{n}", "split": splits[item.group],
                    "image": f"images/{item.image_id}.png", "question": qa.question, "answer": qa.answer,
                    "aliases": qa.aliases, "answer_type": qa.answer_type, "modality": MODALITY[item.modality][0],
                    "organ": item.organ or item.region,
                    "meta": {"question_type": qa.qtype, "group": item.group, "source_image": item.source,
                             "source_file": item.source_file,
                             "license": item.license, "synthetic": item.synthetic, "plane": item.plane,
                             "region": item.region, "rationale_facts": qa.rationale},
                })
        with (tmp / "samples.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
        manifest = {"version": BUILD_VERSION, "images": len(items), "samples": len(rows),
                    "limit_per_source": limit_per_source, **summarize(rows)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        if (target / "manifest.json").is_file() and not force:
            return target  # another process finished the same build first; ours is discarded below
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        if root is None:  # the default cache: drop builds of older builder versions
            for stale in target.parent.glob("medscan-v*"):
                if stale != target and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _progress(enabled: bool):
    import contextlib

    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console

    from armed.progress import progress_bar

    # Its own stderr console: a caller's spinner (armed data inspect) holds the shared one's live display.
    return progress_bar(True, console=Console(stderr=True), transient=True)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per split, question type, answer type, modality and source group (for the dataset card)."""
    def count(key: Callable[[dict], str]) -> dict[str, int]:
        return dict(sorted(Counter(key(r) for r in rows).items()))

    images_per_split: dict[str, set[str]] = {}
    for r in rows:
        images_per_split.setdefault(r["split"], set()).add(r["image"])
    return {
        "splits": count(lambda r: r["split"]),
        "images_per_split": {k: len(v) for k, v in sorted(images_per_split.items())},
        "question_types": count(lambda r: r["meta"]["question_type"]),
        "split_x_question_type": count(lambda r: f"{r['split']}/{r['meta']['question_type']}"),
        "answer_types": count(lambda r: r["answer_type"]),
        "modalities": count(lambda r: r["modality"]),
        "synthetic": count(lambda r: str(r["meta"]["synthetic"])),
        "groups": count(lambda r: f"{r['split']}: {r['meta']['group']}"),
    }


# ----------------------------------------------------------------------------------------------- loader
_REBUILT: set[Path] = set()

def load_medscan(root: str | Path | None = None, split: str | None = None, *, rebuild: bool = False,
                 progress: bool = True) -> tuple[list[Sample], LoadReport]:
    """Samples of ``medscan-vqa`` (all splits when ``split`` is None), building the cache on first use."""
    if split is not None:
        split = SPLIT_ALIASES.get(split, split)
        if split not in SPLITS:
            raise ValueError(did_you_mean(split, SPLITS, "split for medscan-vqa"))
    # rebuild once per process: `armed data inspect` loads each split in turn
    folder = build(root, force=rebuild and build_dir(root) not in _REBUILT, progress=progress)
    if rebuild:
        _REBUILT.add(folder)
    report = LoadReport()
    samples: list[Sample] = []
    with (folder / "samples.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if split is not None and row["split"] != split:
                report.excluded[f"in split {row['split']}"] = report.excluded.get(f"in split {row['split']}", 0) + 1
                continue
            report.rows_read += 1
            samples.append(Sample(
                id=row["id"], source="medscan-vqa", split=row["split"], question=row["question"],
                answer=row["answer"], answer_type=row["answer_type"], images=[str(folder / row["image"])],
                aliases=row["aliases"], modality=row["modality"], organ=row["organ"], meta=row["meta"],
            ))
            report.kept += 1
    return samples, report


@DATASETS.register("medscan-vqa", description="Embedded image VQA from real scans shipped in PyPI packages")
class MedscanVqa(Loader):
    """Image VQA over real DICOM/NIfTI scans and photos from pydicom, pydicom-data, nibabel, nilearn, scikit-image."""

    name = "medscan-vqa"
    description = ("Embedded image VQA (modality, plane, region/organ, yes/no, synthetic-lesion findings) over "
                   "real scans shipped in pydicom, pydicom-data, nibabel, nilearn and scikit-image")
    splits = SPLITS
    default_split = "test"
    needs_path = False
    source_url = "PyPI: pydicom, pydicom-data, nibabel, nilearn, scikit-image (see CARD.md)"
    license = "MIT / BSD / CC0 / MNI template licence, per source image (see CARD.md and each sample's meta)"
    citation = "armed medscan-vqa " + BUILD_VERSION
    expected_counts: ClassVar[dict[str, int]] = {}
    answer_type_rule = ("closed: yes/no and two-way choices (plane yes/no, lesion side, eye); open: modality, "
                        "plane, region and organ asked without options (as in VQA-RAD / SLAKE)")

    def load(self, path: str | Path | None = None, split: str | None = None, *, skip_bad: bool = False,
             **options) -> tuple[list[Sample], LoadReport]:
        return load_medscan(path, split, rebuild=_flag(options.get("rebuild", False)),
                            progress=_flag(options.get("progress", True)))


def _flag(value: Any) -> bool:
    """A loader option as a bool (``--opt rebuild=true`` arrives as the string "true")."""
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)

