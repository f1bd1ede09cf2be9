"""Corrupt inputs, part 1: files a user imports (NIfTI, DICOM, images, from nibabel's and
pydicom's test data) and a dataset folder whose manifest, table or arrays were damaged."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from faultcases.core import Attempt, Case, cli, copy_tree, write
from faultcases.inputs import (
    edit_json,
    image_folder,
    nibabel_file,
    nifti_volume,
    pydicom_file,
    truncate,
)

Damage = Callable[[Path], Path]  # damages a file or folder in place; returns the path to name


def blob() -> np.ndarray:
    """A 16 x 16 x 8 volume with a bright ellipsoid (a stand-in for a head)."""
    z, y, x = np.mgrid[:16, :16, :8]
    return (((z - 8) ** 2 + (y - 8) ** 2) / 36 + (x - 4) ** 2 / 9 < 1).astype(np.float32)


def imported(kind: str, make: Damage, *needles: str, name: str = "a") -> Any:
    """`medgen data import SRC --kind KIND` of a folder holding one damaged file."""

    def setup(work: Path, fx: Any) -> Attempt:
        bad = make(work / "src" / name)
        argv = ("data", "import", work / "src", "--kind", kind, "--out", work / "out")
        return cli(*argv, "--size", "32", needles=(str(bad), *needles))

    return setup


def nifti_nan(path: Path) -> Path:
    volume = blob()
    volume[3, 4, 5] = np.nan
    return nifti_volume(path.with_suffix(".nii.gz"), volume)


def png_truncated(path: Path) -> Path:
    image_folder(path.parent, classes=("glioma", "notumor"))
    return truncate(path.parent / "glioma" / "0.png", 0.4)


def png_text(path: Path) -> Path:
    image_folder(path.parent, classes=("glioma", "notumor"))
    return write(path.parent / "notumor" / "1.png", "not a picture")


IMPORTS: dict[str, Any] = {
    "nifti-truncated": imported(
        "nifti",
        lambda p: truncate(nibabel_file("example4d.nii.gz", p.with_suffix(".nii.gz"))),
        "cannot be read as NIfTI",
    ),
    "nifti-not-gzip": imported(
        "nifti", lambda p: write(p.with_suffix(".nii.gz"), "not a volume"), "cannot be read"
    ),
    "nifti-garbage-header": imported(
        "nifti", lambda p: write(p.with_suffix(".nii"), bytes(range(256)) * 2), "cannot be read"
    ),
    "nifti-nan-voxel": imported("nifti", nifti_nan, "NaN"),
    "nifti-2d-volume": imported(
        "nifti",
        lambda p: nifti_volume(p.with_suffix(".nii.gz"), np.ones((16, 16), np.float32)),
        "2-D",
    ),
    "nifti-cifti-matrix": imported(
        "nifti",
        lambda p: nibabel_file("row_major.dconn.nii", p.with_suffix(".nii")),
        "not a NIfTI image",
    ),
    "dicom-truncated": imported(
        "dicom",
        lambda p: pydicom_file("MR_truncated.dcm", p.with_suffix(".dcm")),
        "cannot be read as DICOM",
    ),
    "dicom-cut-in-header": imported(
        "dicom",
        lambda p: truncate(pydicom_file("MR_small.dcm", p.with_suffix(".dcm")), 0.05),
        "no pixel data",
    ),
    "dicom-not-dicom": imported(
        "dicom", lambda p: write(p.with_suffix(".dcm"), "not DICOM"), "cannot be read as DICOM"
    ),
    "dicom-no-pixel-data": imported(
        "dicom", lambda p: pydicom_file("rtplan.dcm", p.with_suffix(".dcm")), "no pixel data"
    ),
    "dicom-cut-in-pixels": imported(
        "dicom",
        lambda p: truncate(pydicom_file("MR_small.dcm", p.with_suffix(".dcm")), 0.9),
        "less than expected",
    ),
    "png-truncated": imported("folder", png_truncated, "cannot be read"),
    "png-not-an-image": imported("folder", png_text, "cannot be read"),
}


# ---- a damaged dataset folder, opened by `medgen data show` ---------------------------------


def dataset(damage: Damage, *needles: str) -> Any:
    """`medgen data show DATA` on a copy of the tiny dataset damaged by `damage`: the line names
    a file of the dataset and holds `needles`."""

    def setup(work: Path, fx: Any) -> Attempt:
        data = copy_tree(fx.data32, work / "data")
        damage(data)
        argv = ("data", "show", data, "--out", work / "grid.png")
        return cli(*argv, needles=(str(data), *needles))

    return setup


def manifest(change: Callable[[dict[str, Any]], Any]) -> Damage:
    return lambda data: edit_json(data / "manifest.json", change)


def without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: {k: v for k, v in m.items() if k != key}


def setting(key: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: {**m, key: value}


def pickled_images(data: Path) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}] * 4, dtype=object), allow_pickle=True)
    return write(data / "images.npy", buffer.getvalue())


DATASETS: dict[str, Any] = {
    "manifest-a-list": dataset(manifest(lambda m: [m]), "manifest.json"),
    "manifest-not-json": dataset(
        lambda d: write(d / "manifest.json", "{'format': 1"), "unreadable manifest"
    ),
    "manifest-without-n-slices": dataset(manifest(without("n_slices")), "n_slices"),
    "manifest-without-arrays": dataset(manifest(without("arrays")), "arrays"),
    "manifest-version-text": dataset(manifest(setting("format_version", "two")), "format_version"),
    "manifest-n-slices-text": dataset(manifest(setting("n_slices", "many")), "n_slices"),
    "manifest-n-slices-off": dataset(manifest(setting("n_slices", 65)), "65"),
    "manifest-size-off": dataset(manifest(setting("size", 64)), "shape"),
    "manifest-size-negative": dataset(manifest(setting("size", -32)), "size"),
    "manifest-arrays-a-number": dataset(manifest(setting("arrays", 5)), "arrays"),
    "manifest-unknown-array": dataset(
        manifest(lambda m: {**m, "arrays": {**m["arrays"], "extra": "float32"}}), "extra"
    ),
    "manifest-other-format": dataset(manifest(setting("format", "nifti-bundle")), "format"),
    "manifest-newer-version": dataset(manifest(setting("format_version", 99)), "newer"),
    "meta-csv-empty": dataset(lambda d: write(d / "meta.csv", ""), "meta.csv"),
    "meta-csv-missing": dataset(lambda d: (d / "meta.csv").unlink() or d / "meta.csv", "meta"),
    "meta-csv-binary": dataset(lambda d: write(d / "meta.csv", bytes(range(256))), "meta.csv"),
    "images-truncated": dataset(lambda d: truncate(d / "images.npy"), "images.npy"),
    "images-pickled-objects": dataset(pickled_images, "images.npy"),
    "images-garbage-header": dataset(
        lambda d: write(d / "images.npy", b"\x93NUMPY junk"), "images"
    ),
}


def cases() -> list[Case]:
    """Import sources, then damaged datasets."""
    found = [Case("corrupt", name, setup) for name, setup in IMPORTS.items()]
    return found + [Case("corrupt", name, setup) for name, setup in DATASETS.items()]
