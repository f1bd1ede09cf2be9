"""A user's own pair of 2-D NIfTI slices: read, checked against each other and the network's
size, windowed to [0, 1]; the warped moving image and the displacement written as NIfTI."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medgen.data.importers.common import read_file
from medgen.exceptions import InputError
from medgen.fileio import write_bytes_atomic

WINDOW = (0.5, 99.5)  # percentiles mapped to 0 and 1 (robust to a few hot voxels)


class Slice2D(NamedTuple):
    """One 2-D NIfTI slice: its pixels as stored, in [0, 1] for the network, and its affine."""

    pixels: np.ndarray  # (H, W) float32, as stored
    unit: np.ndarray  # (H, W) float32 in [0, 1]
    affine: np.ndarray  # (4, 4)


def read_slice(path: Path) -> Slice2D:
    """A NIfTI file holding one 2-D slice (singleton axes dropped); InputError otherwise."""
    import nibabel as nib

    image: Any = read_file(path, "NIfTI", lambda: nib.load(path))
    data = np.asarray(read_file(path, "NIfTI", image.get_fdata), np.float32)
    plane = data.squeeze()
    if plane.ndim != 2:
        raise InputError(path, f"has shape {data.shape}; give one 2-D slice")
    if not np.isfinite(plane).all():
        raise InputError(path, "holds NaN or infinite values")
    low, high = np.percentile(plane, WINDOW)
    unit = np.clip((plane - low) / (high - low), 0.0, 1.0) if high > low else plane * 0.0
    return Slice2D(plane, unit.astype(np.float32), np.asarray(image.affine))


def read_pair(fixed: Path, moving: Path, size: int) -> tuple[Slice2D, Slice2D]:
    """Both slices, refused unless they share one shape, the network's `size` x `size`."""
    f, m = read_slice(fixed), read_slice(moving)
    if f.pixels.shape != m.pixels.shape:
        raise InputError(
            f"{fixed} and {moving}",
            f"have different shapes {f.pixels.shape} and {m.pixels.shape}; register "
            "slices of one shape",
        )
    if f.pixels.shape != (size, size):
        raise InputError(
            fixed,
            f"is {f.pixels.shape[0]} x {f.pixels.shape[1]}; the network registers {size} x {size}",
        )
    return f, m


def write_nifti(array: np.ndarray, affine: np.ndarray, out: Path) -> None:
    """float32 NIfTI `out` (gzipped for .nii.gz), written atomically."""
    import nibabel as nib

    data = nib.Nifti1Image(np.asarray(array, np.float32), affine).to_bytes()
    write_bytes_atomic(out, gzip.compress(data, mtime=0) if out.name.endswith(".gz") else data)


def ddf_path(out: Path) -> Path:
    """Where the displacement goes beside the warped image: NAME_ddf.nii(.gz)."""
    for suffix in (".nii.gz", ".nii"):
        if out.name.endswith(suffix):
            return out.with_name(out.name[: -len(suffix)] + "_ddf" + suffix)
    return out.with_name(out.name + "_ddf.nii.gz")
