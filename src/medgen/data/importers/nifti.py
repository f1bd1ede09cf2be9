"""Import NIfTI volumes (.nii, .nii.gz) with optional segmentations, BraTS-style names.

`case_seg.nii.gz`, `case-seg*.nii.gz` and `case_mask*.nii.gz` segment the image `case.nii.gz`, or
the modality images `case_t1.nii.gz`, `case_t1ce.nii.gz`, `case_t2.nii.gz`, `case_flair.nii.gz`
(BraTS 2023: `case-t1n`, `-t1c`, `-t2w`, `-t2f`) of which one per case is imported. A case's
`source` is a hash of its folder and name (see `deid`), the same whichever modality is imported.
"""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import NamedTuple

import nibabel as nib
import numpy as np

from medgen.data.importers.common import (
    ImportOptions,
    Slices,
    Unit,
    bad_unit,
    check_finite,
    make_slices,
    read_file,
)
from medgen.data.importers.deid import source_id
from medgen.exceptions import InputError

SUFFIXES = (".nii.gz", ".nii")
SEG = re.compile(r"^(?P<case>.+?)[_-](?:seg|segmentation|mask)(?:[_-].*)?$", re.IGNORECASE)
MODALITY = re.compile(
    r"^(?P<case>.+?)[_-](?P<modality>t1ce|t1gd|t1c|t1n|t1|t2w|t2f|t2|flair)$", re.I
)
# --modality -> the suffixes that name it (BraTS up to 2021, then BraTS 2023).
MODALITIES = {
    "t1": ("t1", "t1n"),
    "t1ce": ("t1ce", "t1c", "t1gd"),
    "t2": ("t2", "t2w"),
    "flair": ("flair", "t2f"),
}


class Volume(NamedTuple):
    """A volume as planes along the slicing axis: data (k, rows, cols), row/col spacing in mm, and
    the shape of the file's voxel array."""

    data: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, ...]


def is_nifti(path: Path) -> bool:
    """Whether `path` is named like a NIfTI file."""
    return path.name.lower().endswith(SUFFIXES)


def stem(path: Path) -> str:
    """The file name without .nii or .nii.gz."""
    name = path.name
    return name[: -len(next(s for s in SUFFIXES if name.lower().endswith(s)))]


def _decode(path: Path, axis: int) -> Volume:
    """Read a NIfTI file in RAS+ orientation as planes along `axis`, display-oriented."""
    image = nib.load(path)
    if not isinstance(image, nib.Nifti1Image):  # Nifti2Image is a subclass
        raise InputError(path, f"is a {type(image).__name__}, not a NIfTI image")
    shape = tuple(int(n) for n in image.shape)
    dims = len(shape)
    while dims > 3 and shape[dims - 1] == 1:
        dims -= 1
    if dims < 3:
        raise InputError(path, f"is 2-D (shape {shape}); expected a 3-D volume")
    if dims > 4:
        raise InputError(path, f"is {dims}-D (shape {shape}); expected a 3-D volume")
    canonical = nib.as_closest_canonical(image)
    first = (slice(None),) * 3 + (0,) * (len(shape) - 3)  # 4-D: the first volume
    data = np.asarray(canonical.dataobj[first], dtype=np.float32)  # (X, Y, Z), RAS+
    planes = np.moveaxis(data, axis, 0)  # (k, a, b)
    planes = np.ascontiguousarray(planes.transpose(0, 2, 1)[:, ::-1])  # (k, b, a), b up the page
    zooms = [float(z) for i, z in enumerate(canonical.header.get_zooms()[:3]) if i != axis]
    return Volume(planes, (zooms[1], zooms[0]), shape)


def read_volume(path: Path, axis: int) -> Volume:
    """The NIfTI volume at `path` as planes along `axis`; InputError if it is not a finite 3-D
    (or 4-D, first volume taken) NIfTI image."""
    volume = read_file(path, "NIfTI", partial(_decode, path, axis))
    check_finite(path, volume.data)
    return volume


def load_case(image: Path, seg: Path | None, options: ImportOptions) -> Slices:
    """One case's non-empty slices, with tumour masks and labels when it has a segmentation."""
    volume = read_volume(image, options.axis)
    mask = None
    if seg is not None:
        segmentation = read_volume(seg, options.axis)
        if segmentation.shape[:3] != volume.shape[:3]:
            raise InputError(
                seg, f"has shape {segmentation.shape} but its image {image.name} has {volume.shape}"
            )
        mask = segmentation.data
    return make_slices(volume.data, volume.spacing, options.size, seg=mask)


class CaseName(NamedTuple):
    """What a NIfTI file's name says: its case (folder and name), modality, and whether it is a
    segmentation."""

    folder: Path
    case: str
    modality: str | None
    is_seg: bool


def case_name(path: Path) -> CaseName:
    """Parse a BraTS-style NIfTI file name (see the module docstring)."""
    name = stem(path)
    seg = SEG.match(name)
    if seg:
        name = seg["case"]
    modality = MODALITY.match(name)
    if modality:
        return CaseName(path.parent, modality["case"], modality["modality"].lower(), bool(seg))
    return CaseName(path.parent, name, None, bool(seg))


def plan(root: Path, files: list[Path], options: ImportOptions) -> list[Unit]:
    """One unit per case: its image of the chosen modality, paired with its segmentation."""
    images: dict[tuple[Path, str], dict[str | None, Path]] = {}
    segs: dict[tuple[Path, str], Path] = {}
    for path in filter(is_nifti, files):
        name = case_name(path)
        if name.is_seg:
            segs.setdefault((name.folder, name.case), path)
        else:
            images.setdefault((name.folder, name.case), {})[name.modality] = path
    if not images and not segs:
        raise InputError(root, "has no NIfTI files (.nii, .nii.gz)")
    units = [
        bad_unit(seg, root, "is a segmentation with no image of the same name")
        for key, seg in sorted(segs.items())
        if key not in images
    ]
    wanted = MODALITIES[options.modality]
    for key, found in sorted(images.items()):
        image = next((found[m] for m in (None, *wanted) if m in found), None)
        if image is None:
            have = ", ".join(sorted(str(m) for m in found))
            first = min(found.values())
            units.append(
                bad_unit(first, root, f"case has no {options.modality} image (has {have})")
            )
            continue
        group = (key[0] / key[1]).relative_to(root).as_posix()
        load = partial(load_case, image, segs.get(key), options)
        units.append(Unit(image, source_id("case", group), group, load))
    return units
