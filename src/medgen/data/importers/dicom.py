"""Import DICOM series: grouped by SeriesInstanceUID, ordered by position along the slice normal,
rescale slope/intercept applied, multi-frame allowed, and de-identified.

De-identification: only pixels and medgen's own metadata columns are written. The `source`
column is the series' folder relative to the import root, or `series-<hash>` where that folder's
name holds a patient identifier (name, ID, birth date, accession number). Patient IDs are used,
hashed and in memory only, to keep one patient's series in one split.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydicom import dcmread
from pydicom.valuerep import PersonName

from medgen.data.importers.common import (
    ImportOptions,
    Slices,
    Unit,
    bad_unit,
    check_finite,
    make_slices,
    read_file,
    rgb_to_grey,
)
from medgen.exceptions import InputError

PHI_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "AccessionNumber",
)
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


class Header(NamedTuple):
    """What the importer keeps of a file's header (in memory only; never written)."""

    path: Path
    series: str  # SeriesInstanceUID, or the file's path when it has none
    patient: str  # PatientID, or "" (groups a patient's series into one split)
    position: float  # ImagePositionPatient along the slice normal, mm (nan if unknown)
    instance: float  # InstanceNumber (nan if unknown)
    identifiers: frozenset[str]  # patient identifiers, normalised (see `_normalise`)


def is_dicom(path: Path) -> bool:
    """Whether `path` is named .dcm or starts with the DICOM preamble ("DICM" at byte 128)."""
    if path.name.lower().endswith(".dcm"):
        return True
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _normalise(text: str) -> str:
    """Lower case letters and digits only, so "Doe^John" matches a folder named "doe_john"."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _identifiers(ds: Any) -> frozenset[str]:
    """Every patient identifier in a header, and each part of the patient's name."""
    values: list[str] = []
    for keyword in PHI_KEYWORDS:
        value = ds.get(keyword)
        if isinstance(value, PersonName):
            values += [str(value), value.family_name, value.given_name, value.middle_name]
        elif value is not None:
            values += [str(v) for v in (value if isinstance(value, list | tuple) else [value])]
    return frozenset(n for n in map(_normalise, values) if len(n) >= 2)


def _position(ds: Any) -> float:
    """ImagePositionPatient projected on the slice normal (row × column direction), or nan."""
    try:
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
        origin = np.asarray(ds.ImagePositionPatient, dtype=float)
        return float(origin @ np.cross(orientation[:3], orientation[3:6]))
    except (AttributeError, ValueError, TypeError, IndexError):
        return float("nan")


def _header(path: Path) -> Header:
    """Read a file's header (not its pixels)."""
    ds = dcmread(path, stop_before_pixels=True)
    instance = ds.get("InstanceNumber")
    return Header(
        path,
        str(ds.get("SeriesInstanceUID") or f"file:{path}"),
        str(ds.get("PatientID") or ""),
        _position(ds),
        float(instance) if instance not in (None, "") else float("nan"),
        _identifiers(ds),
    )


def _ordered(headers: list[Header]) -> list[Header]:
    """Headers in slice order: by position along the normal, else InstanceNumber, else name."""
    for key in (lambda h: h.position, lambda h: h.instance):
        if all(np.isfinite(key(h)) for h in headers):
            return sorted(headers, key=lambda h: (key(h), h.path.name))
    return sorted(headers, key=lambda h: h.path.name)


def _rescale(ds: Any) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept), top level or in the shared functional groups."""
    found = ds
    if "RescaleSlope" not in ds and "SharedFunctionalGroupsSequence" in ds:
        shared = ds.SharedFunctionalGroupsSequence[0]
        if "PixelValueTransformationSequence" in shared:
            found = shared.PixelValueTransformationSequence[0]
    slope, intercept = found.get("RescaleSlope"), found.get("RescaleIntercept")
    return float(1.0 if slope is None else slope), float(0.0 if intercept is None else intercept)


def _frames(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """A file's frames (F, rows, cols) in modality units (rescale applied) and pixel spacing."""
    ds = dcmread(path)
    if not any(keyword in ds for keyword in PIXEL_KEYWORDS):
        raise InputError(path, "has no pixel data (not an image, or the file is cut short)")
    pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    if int(ds.get("SamplesPerPixel") or 1) > 1:
        pixels = rgb_to_grey(pixels)
    slope, intercept = _rescale(ds)
    spacing = ds.get("PixelSpacing") or (1.0, 1.0)
    frames = pixels.reshape(-1, *pixels.shape[-2:]) * slope + intercept  # (F, rows, cols)
    return frames, (float(spacing[0]), float(spacing[1]))


def load_series(paths: list[Path], size: int) -> Slices:
    """A series' non-empty slices, in the order of `paths`, scaled per series."""
    stacks: list[np.ndarray] = []
    spacing = (1.0, 1.0)
    for path in paths:
        frames, spacing = read_file(path, "DICOM", partial(_frames, path))
        check_finite(path, frames)
        if stacks and frames.shape[1:] != stacks[0].shape[1:]:
            have, want = (
                "×".join(map(str, frames.shape[1:])),
                "×".join(map(str, stacks[0].shape[1:])),
            )
            raise InputError(path, f"has {have} pixels but the rest of its series has {want}")
        stacks.append(frames)
    return make_slices(np.concatenate(stacks), spacing, size)


def series_source(folder: str, uid: str, identifiers: frozenset[str], shared: bool) -> str:
    """The de-identified `source` of a series: its folder, `series-<hash>` if the folder names
    the patient, and `<folder>/series-<hash>` if the folder holds several series."""
    tag = f"series-{hashlib.sha1(uid.encode()).hexdigest()[:12]}"
    if folder == "." or any(ident in _normalise(folder) for ident in identifiers):
        return tag
    return f"{folder}/{tag}" if shared else folder


def plan(root: Path, files: list[Path], options: ImportOptions) -> list[Unit]:
    """One unit per series (the native slice plane; --axis does not apply to DICOM)."""
    units: list[Unit] = []
    series: dict[str, list[Header]] = defaultdict(list)
    for path in files:
        if path.name.upper() == "DICOMDIR" or not is_dicom(path):
            continue  # an index, or not DICOM at all (a README, a viewer's files)
        try:
            header = read_file(path, "DICOM", partial(_header, path))
        except InputError as exc:
            units.append(bad_unit(path, root, exc.problem))
            continue
        series[header.series].append(header)
    if not series and not units:
        raise InputError(root, "has no DICOM files (.dcm, or files starting with the preamble)")
    folders = {
        uid: Path(os.path.commonpath([h.path.parent for h in members])).relative_to(root).as_posix()
        for uid, members in series.items()
    }
    per_folder = Counter(folders.values())
    for uid, members in sorted(
        series.items(), key=lambda s: (folders[s[0]], min(h.path for h in s[1]))
    ):
        ordered = _ordered(members)
        folder = folders[uid]
        shared = per_folder[folder] > 1
        identifiers = frozenset().union(*(h.identifiers for h in members))
        patient = hashlib.sha1((members[0].patient or uid).encode()).hexdigest()
        load = partial(load_series, [h.path for h in ordered], options.size)
        units.append(
            Unit(root / folder, series_source(folder, uid, identifiers, shared), patient, load)
        )
    return units
