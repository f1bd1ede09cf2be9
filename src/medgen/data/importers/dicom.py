"""Import DICOM series: grouped by SeriesInstanceUID, ordered by position along the slice normal,
rescale slope/intercept applied, multi-frame allowed, and de-identified.

De-identification: only pixels and medgen's own metadata columns are written; a series' `source`
is a hash of its folder and UID (see `deid`). Patient IDs are used, hashed and in memory only, to
keep one patient's series in one split.

Files, not series, are the unit of failure: a slice that is repeated (the same position as
another of its series) is left out and reported; with `skip_bad` a slice that cannot be read,
holds NaN or has another size than most of its series is left out and named, and the series'
other slices import. Slices missing from a series, absent or left out, are listed as gaps.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, defaultdict
from dataclasses import replace
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydicom import dcmread

from medgen.data.importers.common import (
    Gap,
    ImportOptions,
    Skipped,
    Slices,
    Unit,
    bad_unit,
    check_finite,
    make_slices,
    no_slices,
    read_file,
    rgb_to_grey,
)
from medgen.data.importers.deid import identifiers, source_id
from medgen.exceptions import InputError

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
SAME_POSITION_MM = 1e-3  # slices of a series closer than this along the normal are repeats
GAP_STEPS = 1.5  # neighbours this many times the series' spacing apart, or more, leave a gap


class Header(NamedTuple):
    """What the importer keeps of a file's header (in memory only; never written)."""

    path: Path
    series: str  # SeriesInstanceUID, or "" when it has none
    patient: str  # PatientID, or "" (groups a patient's series into one split)
    position: float  # ImagePositionPatient along the slice normal, mm (nan if unknown)
    instance: float  # InstanceNumber (nan if unknown)
    frames: int  # NumberOfFrames (1 for a single-frame file)
    identifiers: frozenset[str]  # patient identifiers, normalised (see `deid.identifiers`)


class Series(NamedTuple):
    """A series to load: its folder, its files in slice order (repeats removed), and the repeats."""

    folder: Path
    headers: list[Header]
    repeats: list[Skipped]


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


def _position(ds: Any) -> float:
    """ImagePositionPatient projected on the slice normal (row × column direction), or nan."""
    try:
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
        origin = np.asarray(ds.ImagePositionPatient, dtype=float)
        return float(origin @ np.cross(orientation[:3], orientation[3:6]))
    except (AttributeError, ValueError, TypeError, IndexError):
        return float("nan")


def read_header(path: Path) -> Header:
    """Read a file's header (not its pixels)."""
    ds = dcmread(path, stop_before_pixels=True)
    instance = ds.get("InstanceNumber")
    return Header(
        path,
        str(ds.get("SeriesInstanceUID") or ""),
        str(ds.get("PatientID") or ""),
        _position(ds),
        float(instance) if instance not in (None, "") else float("nan"),
        int(ds.get("NumberOfFrames") or 1),
        identifiers(ds),
    )


def in_slice_order(headers: list[Header]) -> list[Header]:
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


def read_frames(path: Path) -> tuple[np.ndarray, tuple[float, float]]:
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


def without_repeats(ordered: list[Header]) -> tuple[list[Header], list[Skipped]]:
    """Drop files at the position of an earlier one (a slice sent twice); each dropped file
    names the one kept."""
    kept: list[Header] = []
    repeats: list[Skipped] = []
    for header in ordered:
        last = kept[-1] if kept else None
        if last is not None and abs(header.position - last.position) < SAME_POSITION_MM:
            reason = (
                f"has the same slice position ({header.position:g} mm) as {last.path.name} of "
                "its series, which is kept"
            )
            repeats.append(Skipped(str(header.path), reason))
        else:
            kept.append(header)
    return kept, repeats


def _spacing(positions: list[float]) -> float:
    """A series' slice spacing in mm: its most common step between neighbours (to 0.01 mm), the
    smallest of equally common ones, so that a few gaps do not hide the rest; nan if unknown."""
    steps = Counter(np.round(np.diff(positions), 2).tolist())
    return float(max(steps, key=lambda s: (steps[s], -s), default=float("nan")))


def _gaps(series: Series, loaded: list[Header]) -> list[Gap]:
    """Where loaded slices lie further apart than the series' spacing: the slices missing there,
    absent or left out. Only for single-frame series with known positions."""
    if len(series.headers) < 3 or any(
        h.frames != 1 or not np.isfinite(h.position) for h in series.headers
    ):
        return []
    step = _spacing([h.position for h in series.headers])
    if not np.isfinite(step) or step <= 0:
        return []
    gaps = []
    for below, above in pairwise(loaded):
        steps = (above.position - below.position) / step
        if steps >= GAP_STEPS:
            gaps.append(Gap(str(series.folder), str(below.path), str(above.path), round(steps) - 1))
    return gaps


def _odd_sized(stacks: dict[Header, np.ndarray]) -> list[InputError]:
    """An error for each file whose frames differ in size from those of most of its series."""
    sizes = Counter(frames.shape[1:] for frames in stacks.values())
    want = sizes.most_common(1)[0][0] if sizes else ()
    return [
        InputError(
            header.path,
            f"has {'×'.join(map(str, frames.shape[1:]))} pixels but the rest of its series has "
            f"{'×'.join(map(str, want))}",
        )
        for header, frames in stacks.items()
        if frames.shape[1:] != want
    ]


def load_series(series: Series, size: int, skip_bad: bool) -> Slices:
    """A series' non-empty slices in order, scaled per series; `source_z` counts slices in the
    whole series, so a file left out leaves a gap in it. Bad files raise, or with `skip_bad`
    are left out and listed."""
    stacks: dict[Header, np.ndarray] = {}
    spacing: dict[Header, tuple[float, float]] = {}
    errors: list[InputError] = []
    for header in series.headers:
        try:
            frames, spacing[header] = read_file(
                header.path, "DICOM", partial(read_frames, header.path)
            )
            stacks[header] = check_finite(header.path, frames)
        except InputError as exc:
            errors.append(exc)
            if not skip_bad:
                raise
    errors += _odd_sized(stacks)
    if errors and not skip_bad:
        raise errors[0]
    bad = {exc.what for exc in errors}
    skipped = [*series.repeats, *(Skipped(exc.what, exc.problem) for exc in errors)]
    skipped.sort(key=lambda item: item.path)
    loaded = [header for header in series.headers if str(header.path) not in bad]
    if not loaded:
        return replace(no_slices(size), skipped=skipped)
    frames_before = np.cumsum([0, *(h.frames for h in series.headers)])[:-1]
    first_z = dict(zip(series.headers, frames_before, strict=True))
    z = np.concatenate([first_z[h] + np.arange(len(stacks[h])) for h in loaded])
    volume = np.concatenate([stacks[h] for h in loaded])  # (k, rows, cols)
    slices = make_slices(volume, spacing[loaded[0]], size)
    slices.meta["source_z"] = z[slices.meta["source_z"].to_numpy(int)].astype(np.float64)
    return replace(slices, skipped=skipped, gaps=_gaps(series, loaded))


def plan(root: Path, files: list[Path], options: ImportOptions) -> list[Unit]:
    """One unit per series (the native slice plane; --axis does not apply to DICOM)."""
    units: list[Unit] = []
    series: dict[str, list[Header]] = defaultdict(list)
    for path in files:
        if path.name.upper() == "DICOMDIR" or not is_dicom(path):
            continue  # an index, or not DICOM at all (a README, a viewer's files)
        try:
            header = read_file(path, "DICOM", partial(read_header, path))
        except InputError as exc:
            units.append(bad_unit(path, root, exc.problem))
            continue
        series[header.series or path.relative_to(root).as_posix()].append(header)
    if not series and not units:
        raise InputError(root, "has no DICOM files (.dcm, or files starting with the preamble)")
    for key, members in sorted(series.items(), key=lambda s: min(h.path for h in s[1])):
        folder = Path(os.path.commonpath([h.path.parent for h in members]))
        ordered, repeats = without_repeats(in_slice_order(members))
        patient = hashlib.sha1((members[0].patient or key).encode()).hexdigest()
        load = partial(
            load_series, Series(folder, ordered, repeats), options.size, options.skip_bad
        )
        source = source_id("series", f"{folder.relative_to(root).as_posix()}/{key}")
        found = frozenset().union(*(h.identifiers for h in members))
        units.append(Unit(folder, source, patient, load, found))
    return units
