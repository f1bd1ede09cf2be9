"""A researcher's own scan as the tasks' slices, and the tasks' slices back as that scan.

A scan is one NIfTI file (.nii, .nii.gz) or one DICOM series folder, read by the importers'
own readers (`medgen.data.importers`), so it is oriented as imported data is: NIfTI planes along
an axis of the RAS+ voxel grid, display-oriented; a DICOM series in its native plane, in slice
order. Two maps join it to a model's images, and each is inverted on the way out:

* intensity (`Window`): the scan's 0.5th percentile (the air) maps to 0 and the 99.5th
  percentile of the head (the voxels above Otsu's threshold) to 1, the models' range, clipped;
  an output in image units is mapped back by the inverse, so it is in the scan's own units;
* geometry (`to_model`, `from_model`): each plane is fitted into the model's size x size square
  with its physical aspect kept (the importers' `fit_square`), and the model's output is cut
  out of that square and resized back to the plane's own rows x cols. The round trip is not
  lossless: on nibabel's anatomical.nii (41 x 33 planes) it costs 0.02 of the window (RMSE in
  the head), well under the noise a scan worth denoising holds.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from medgen.data.importers.common import check_finite, fit_square, list_files, read_file
from medgen.data.importers.dicom import (
    in_slice_order,
    is_dicom,
    read_frames,
    read_header,
    without_repeats,
)
from medgen.data.importers.nifti import is_nifti, read_volume
from medgen.exceptions import InputError, SettingError

AIR_PERCENTILE = 0.5  # percent of all voxels at or below the window's low end
HEAD_PERCENTILE = 99.5  # percent of head voxels at or below the window's high end
AXES = (0, 1, 2)  # NIfTI slicing axis in RAS+ voxel order: sagittal, coronal, axial


class Window(NamedTuple):
    """A linear intensity map: `low` -> 0 and `high` -> 1, in the scan's units."""

    low: float
    high: float

    def to_unit(self, values: NDArray[Any]) -> NDArray[np.float32]:
        """Scan units to [0, 1] (clipped)."""
        unit = (np.asarray(values, np.float32) - self.low) / (self.high - self.low)
        return np.clip(unit, 0.0, 1.0).astype(np.float32)

    def from_unit(self, unit: NDArray[Any]) -> NDArray[np.float32]:
        """[0, 1] back to scan units (the inverse of `to_unit` where it did not clip)."""
        return (np.asarray(unit, np.float32) * (self.high - self.low) + self.low).astype(np.float32)

    def scale(self, unit: NDArray[Any]) -> NDArray[np.float32]:
        """A spread (a std, a residual) in [0, 1] units in scan units: no offset."""
        return (np.asarray(unit, np.float32) * (self.high - self.low)).astype(np.float32)


def head_window(volume: NDArray[Any]) -> Window:
    """The scan's `Window`: its 0.5th percentile to the 99.5th percentile of the head."""
    from skimage.filters import threshold_otsu

    values = np.asarray(volume, np.float32)
    low = float(np.percentile(values, AIR_PERCENTILE))
    above = values[values > threshold_otsu(values)] if values.max() > values.min() else values
    high = float(np.percentile(above, HEAD_PERCENTILE)) if above.size else low
    if high <= low:  # a constant or almost empty scan: its full range, or a unit step
        high = float(values.max()) if values.max() > low else low + 1.0
    return Window(low, high)


def head_mask(images: NDArray[Any]) -> NDArray[np.bool_]:
    """(k, H, W) head masks of [0, 1] images: above Otsu's threshold of the whole stack, holes
    filled slice by slice (a dark ventricle is head too)."""
    from scipy.ndimage import binary_fill_holes
    from skimage.filters import threshold_otsu

    values = np.asarray(images, np.float32)
    if values.max() <= values.min():
        return np.zeros(values.shape, bool)
    above = values > threshold_otsu(values)
    return np.stack([binary_fill_holes(plane) for plane in above]).astype(bool)


class Scan(NamedTuple):
    """A scan as planes (k, rows, cols) in its own units, their (row, col) spacing in mm, and
    what writing a result in its geometry needs."""

    path: Path
    kind: str  # "nifti" or "dicom"
    planes: NDArray[np.float32]  # (k, rows, cols): NIfTI display-oriented, DICOM native
    spacing: tuple[float, float]  # (row, col) pixel spacing, mm
    axis: int  # NIfTI slicing axis in RAS+ order (DICOM: its native plane, recorded as 2)
    files: tuple[Path, ...]  # DICOM: the series' files in slice order; NIfTI: the file


def check_axis(axis: object) -> int:
    """`axis` if it is 0, 1 or 2 (SettingError naming "axis" otherwise)."""
    if not isinstance(axis, int) or axis not in AXES:
        raise SettingError("axis", f"{axis!r} is not 0 (sagittal), 1 (coronal) or 2 (axial)")
    return axis


def _nifti(path: Path, axis: int) -> Scan:
    import nibabel as nib

    image: Any = read_file(path, "NIfTI", partial(nib.load, path))
    extra = [int(n) for n in image.shape[3:] if int(n) != 1]
    if extra:
        raise InputError(path, f"holds {extra[0]} volumes (shape {image.shape}); give one volume")
    volume = read_volume(path, axis)
    return Scan(path, "nifti", volume.data, volume.spacing, axis, (path,))


def _dicom(folder: Path) -> Scan:
    files = [p for p in list_files(folder) if p.name.upper() != "DICOMDIR" and is_dicom(p)]
    if not files:
        raise InputError(folder, "has no DICOM files (.dcm, or files starting with the preamble)")
    headers = [read_file(p, "DICOM", partial(read_header, p)) for p in files]
    series = sorted({h.series for h in headers})
    if len(series) > 1:
        raise InputError(folder, f"holds {len(series)} DICOM series; give the folder of one")
    multi = next((h for h in headers if h.frames != 1), None)
    if multi is not None:
        raise InputError(multi.path, f"is a multi-frame file ({multi.frames} frames)")
    ordered, _ = without_repeats(in_slice_order(headers))
    stacks, spacings = [], []
    for header in ordered:
        frames, spacing = read_file(header.path, "DICOM", partial(read_frames, header.path))
        stacks.append(check_finite(header.path, frames))
        spacings.append(spacing)
    shapes = {s.shape[1:] for s in stacks}
    if len(shapes) > 1:
        raise InputError(folder, f"its slices differ in size ({sorted(shapes)})")
    planes = np.concatenate(stacks).astype(np.float32)  # (k, rows, cols)
    return Scan(folder, "dicom", planes, spacings[0], 2, tuple(h.path for h in ordered))


def read_scan(path: str | Path, axis: int = 2) -> Scan:
    """The NIfTI file or DICOM series folder at `path`; InputError naming it if it is missing,
    of another kind, 2-D, or unreadable."""
    path = Path(path)
    check_axis(axis)
    if not path.exists():
        raise InputError(path, "does not exist")
    if path.is_dir():
        return _dicom(path)
    if is_nifti(path):
        return _nifti(path, axis)
    if is_dicom(path):
        raise InputError(path, "is one DICOM file; give the folder of its series")
    raise InputError(path, "is neither a NIfTI file (.nii, .nii.gz) nor a DICOM series folder")


def _placement(
    shape: tuple[int, int], spacing: tuple[float, float], size: int
) -> tuple[slice, slice]:
    """Where `fit_square` puts a rows x cols plane inside the size x size square."""
    ones = fit_square(np.ones((1, *shape), np.float32), spacing, size, mask=True)[0] > 0.5
    rows, cols = np.flatnonzero(ones.any(1)), np.flatnonzero(ones.any(0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def to_model(planes: NDArray[Any], spacing: tuple[float, float], size: int) -> NDArray[np.float32]:
    """(k, rows, cols) [0, 1] planes fitted into (k, size, size), aspect kept, zero-padded."""
    fitted = fit_square(np.asarray(planes, np.float32), spacing, size, mask=False)
    return np.clip(fitted, 0.0, 1.0).astype(np.float32)


def from_model(
    images: NDArray[Any], spacing: tuple[float, float], shape: tuple[int, int]
) -> NDArray[np.float32]:
    """(k, size, size) model images back to (k, rows, cols): the inverse of `to_model`'s
    placement (the padding cut off), resized (bicubic) to the plane's own shape."""
    images = np.asarray(images, np.float32)
    rows, cols = _placement(shape, spacing, images.shape[-1])
    inner = torch.from_numpy(np.ascontiguousarray(images[:, rows, cols]))[:, None]  # (k, 1, h, w)
    # bicubic, not antialiased: where `to_model` enlarged the plane, the square holds no detail
    # finer than the plane's grid to alias, and bicubic undoes bilinear enlargement more closely
    # than bilinear does
    back = F.interpolate(inner, size=shape, mode="bicubic", align_corners=False)
    return back[:, 0].numpy().astype(np.float32)
