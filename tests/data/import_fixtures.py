"""Small data made on the fly for the `medgen data import` tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

NIBABEL_DATA = Path(nib.__file__).parent / "tests" / "data"
PATIENT = {"PatientName": "Doe^John", "PatientID": "PID12345", "PatientBirthDate": "19700101"}
PHI = ("Doe^John", "DOE^JOHN", "PID12345", "19700101")


def blob(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A smooth positive ellipsoid (brain-like) with mild noise, zero outside."""
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    inside = sum(g**2 for g in grid) < 1.2  # every plane along every axis has some brain
    noise = np.random.default_rng(seed).uniform(0.0, 0.2, shape)
    return (inside * (1.0 + noise) * 100).astype(np.float32)


def write_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Write a 2-D (or RGB) array as PNG/JPG/TIFF, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def make_class_folder(
    root: Path, counts: dict[str, int], shape: tuple[int, int] = (40, 30)
) -> Path:
    """`root/<class>/img<i>.png` greyscale images, `counts[class]` of each."""
    for name, n in counts.items():
        for i in range(n):
            image = (blob(shape, seed=i) * 2).clip(0, 255).astype(np.uint8)
            write_image(root / name / f"img{i}.png", image)
    return root


def write_nifti(
    path: Path, data: np.ndarray, zooms: Sequence[float] = (1.0, 1.0, 1.0), affine=None
) -> Path:
    """Write `data` as NIfTI (RAS+ identity-like affine with `zooms` unless `affine` given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if affine is None:
        affine = np.diag([*zooms[:3], 1.0])
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def make_brats_case(root: Path, case: str, shape=(24, 20, 16), pad: int = 3, seg: bool = True):
    """A BraTS-style case folder: `_t1`, `_t2` and (optionally) `_seg` volumes; the first and last
    `pad` axial slices are empty, and the tumour sits in axial slices 6..9."""
    brain = np.zeros(shape, np.float32)
    brain[:, :, pad : shape[2] - pad] = blob((shape[0], shape[1], shape[2] - 2 * pad))
    write_nifti(root / case / f"{case}_t1.nii.gz", brain)
    write_nifti(root / case / f"{case}_t2.nii.gz", brain[::-1].copy())
    if seg:
        mask = np.zeros(shape, np.uint8)
        mask[8:14, 8:12, 6:10] = 1
        write_nifti(root / case / f"{case}_seg.nii.gz", mask)
    return root / case


def dicom_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    position: float = 0.0,
    instance: int = 1,
    series_uid: str = "1.2.3.4",
    slope: float | None = None,
    intercept: float | None = None,
    patient: dict[str, str] | None = None,
) -> Path:
    """A DICOM file made from pydicom's MR_small with new pixels, geometry and patient fields."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = len(pixels)
    ds.PixelData = pixels.astype(np.int16).tobytes()
    ds.ImagePositionPatient = [0.0, 0.0, position]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.InstanceNumber = instance
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = generate_uid()
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    for keyword, value in (patient or {}).items():
        setattr(ds, keyword, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def all_bytes(root: Path) -> bytes:
    """Every byte of every file under `root`."""
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def leftovers(out: Path) -> list[str]:
    """Names next to `out` that an import could have left behind (the folder or its temp)."""
    return sorted(p.name for p in out.parent.iterdir() if out.name in p.name)
