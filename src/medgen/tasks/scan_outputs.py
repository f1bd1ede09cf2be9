"""A task's result written in its scan's geometry: a NIfTI file with the input's affine and
header, or a new derived DICOM series with de-identified headers; and a PNG montage.

The derived series is de-identified by construction, as imports are (`medgen.data.importers.
deid`): its headers are built new from an allow-list of geometry and acquisition tags (no name,
ID, date, free text or the source's UIDs is ever copied), with new study, series, frame-of-
reference and instance UIDs, ImageType DERIVED and PatientIdentityRemoved YES.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medgen.exceptions import InputError
from medgen.fileio import atomic_directory, check_overwrite, write_bytes_atomic, write_json_atomic
from medgen.tasks.scans import Scan

SERIES_FORMAT = "medgen-derived-series"  # the `format` of a derived series folder's series.json
SERIES_JSON = "series.json"
# Tags copied from each source file: where the slice is, and how it was acquired; none identifies.
KEPT_TAGS = (
    "SOPClassUID",
    "Modality",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "SliceLocation",
    "InstanceNumber",
    "PatientPosition",
    "ScanningSequence",
    "SequenceVariant",
    "MRAcquisitionType",
    "RepetitionTime",
    "EchoTime",
    "FlipAngle",
    "MagneticFieldStrength",
)
# Type 2 attributes of the patient and study modules: present, and empty.
EMPTY_TAGS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
STORED_MAX = 65535  # uint16 pixels: the scan's range in 2^16 steps via RescaleSlope/Intercept
OVERLAY_PERCENTILE = 95.0  # a montage colours the map's top 5% of nonzero (head) values
SERIES_NUMBER = 9000  # high, so a viewer lists the derived series after the scanner's


def is_nifti_name(path: Path) -> bool:
    """Whether `path` is named .nii or .nii.gz."""
    return path.name.lower().endswith((".nii", ".nii.gz"))


def beside(out: Path, suffix: str, ext: str | None = None) -> Path:
    """A file or folder next to `out`: `scan.nii.gz` -> `scan_<suffix>.nii.gz` (or `.<ext>`)."""
    name = out.name
    own = next((e for e in (".nii.gz", ".nii") if name.lower().endswith(e)), "")
    stem = name[: len(name) - len(own)] if own else name
    return out.with_name(f"{stem}_{suffix}{'.' + ext if ext else own}")


def check_output(scan: Scan, out: Path, overwrite: bool) -> None:
    """Refuse an `out` of the wrong kind for `scan` (NIfTI in, .nii/.nii.gz out; DICOM in, a
    folder out) or one that exists (without --overwrite, or that --overwrite may not replace)."""
    if scan.kind == "nifti" and not is_nifti_name(out):
        raise InputError(out, "must be named .nii or .nii.gz (the input is a NIfTI file)")
    if scan.kind == "dicom":
        if is_nifti_name(out):
            raise InputError(out, "must be a folder for the derived DICOM series, not a NIfTI name")
        check_overwrite(out, overwrite, SERIES_JSON, SERIES_FORMAT)
        return
    check_file(out, overwrite)


def check_file(out: Path, overwrite: bool) -> None:
    """Refuse an existing `out` without --overwrite, and a folder in its place with it."""
    if os.path.lexists(out) and not overwrite:
        raise InputError(out, "already exists (pass --overwrite to replace it)")
    if out.is_dir():
        raise InputError(out, "is a folder; --overwrite replaces only a file")


def _file_volume(scan: Scan, planes: NDArray[Any]) -> NDArray[np.float32]:
    """Planes (k, rows, cols) as the input file's voxel array: the inverse of `read_volume`'s
    display layout and of nibabel's reorientation to RAS+."""
    import nibabel as nib
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    image: Any = nib.load(scan.path)
    canonical = np.moveaxis(np.asarray(planes)[:, ::-1].transpose(0, 2, 1), 0, scan.axis)
    back = ornt_transform(axcodes2ornt("RAS"), io_orientation(image.affine))
    data = apply_orientation(canonical, back)  # (X, Y, Z) in the file's voxel order
    return np.ascontiguousarray(data.reshape(image.shape), dtype=np.float32)


def write_nifti(scan: Scan, planes: NDArray[Any], out: Path) -> None:
    """float32 NIfTI `out` (gzipped for .nii.gz) with the input's affine, header and shape."""
    import nibabel as nib

    source: Any = nib.load(scan.path)
    header = source.header.copy()
    header.set_data_dtype(np.float32)
    image = nib.Nifti1Image(_file_volume(scan, planes), source.affine, header)
    image.header.set_slope_inter(1.0, 0.0)  # values are stored as they are
    data = image.to_bytes()
    write_bytes_atomic(out, gzip.compress(data, mtime=0) if out.name.endswith(".gz") else data)


def _number(value: float) -> str:
    """A DS value: at most 16 characters."""
    return f"{value:.8g}"


def _slice_dataset(
    source: Any,
    plane: NDArray[Any],
    uids: Mapping[str, str],
    rescale: tuple[float, float],
    description: str,
) -> Any:
    """One derived file's dataset: the allow-listed tags of `source`, new UIDs, the pixels."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    slope, intercept = rescale
    meta = FileMetaDataset()
    sop = generate_uid()
    meta.MediaStorageSOPClassUID = source.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    for keyword in KEPT_TAGS:
        if keyword in source:
            setattr(ds, keyword, source[keyword].value)
    for keyword in EMPTY_TAGS:
        setattr(ds, keyword, "")
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.SeriesNumber = SERIES_NUMBER
    ds.SeriesDescription = description
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "medgen: new headers from geometry and acquisition tags only"
    ds.BurnedInAnnotation = "NO"
    stored = np.round((np.asarray(plane, np.float64) - intercept) / slope)
    ds.Rows, ds.Columns = int(plane.shape[0]), int(plane.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = _number(slope), _number(intercept)
    ds.PixelData = np.clip(stored, 0, STORED_MAX).astype("<u2").tobytes()
    return ds


def write_dicom_series(
    scan: Scan, planes: NDArray[Any], out: Path, description: str, overwrite: bool = False
) -> None:
    """A new de-identified DICOM series in folder `out`, one file per source slice, in the
    source's geometry; `out` appears whole or not at all."""
    from pydicom import dcmread
    from pydicom.uid import generate_uid

    planes = np.asarray(planes, np.float32)
    low, high = float(planes.min()), float(planes.max())
    slope = float(_number((high - low) / STORED_MAX)) if high > low else 1.0
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid()}
    check_overwrite(out, overwrite, SERIES_JSON, SERIES_FORMAT)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        for i, (path, plane) in enumerate(zip(scan.files, planes, strict=True), 1):
            source = dcmread(path, stop_before_pixels=True)
            ds = _slice_dataset(source, plane, uids, (slope, float(_number(low))), description)
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            (tmp / f"IM{i:05d}.dcm").write_bytes(buffer.getvalue())
        record = {"format": SERIES_FORMAT, "description": description, "files": len(planes)}
        write_json_atomic(tmp / SERIES_JSON, record)


def write_result(
    scan: Scan, planes: NDArray[Any], out: Path, description: str, overwrite: bool = False
) -> None:
    """Planes in `scan`'s geometry as NIfTI `out` or as a derived DICOM series folder `out`."""
    if scan.kind == "nifti":
        write_nifti(scan, planes, out)
    else:
        write_dicom_series(scan, planes, out, description, overwrite)


def write_montage(
    path: Path, images: NDArray[Any], overlay: NDArray[Any], titles: list[str], columns: int = 4
) -> None:
    """A PNG grid of [0, 1] slices (grey), each with the map's hot spots over it: the map's
    values above its OVERLAY_PERCENTILE (over all slices shown) in colour, the rest clear."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False)
    top = max(float(np.max(overlay)), 1e-6)
    positive = np.asarray(overlay)[np.asarray(overlay) > 0]
    floor = float(np.percentile(positive, OVERLAY_PERCENTILE)) if positive.size else top
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, amap, title in zip(axes.flat, images, overlay, titles, strict=False):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.imshow(np.ma.masked_less(amap, floor), cmap="autumn", vmin=floor, vmax=top, alpha=0.8)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
