"""The tasks on a researcher's own data, end to end through the command line: nibabel's
anatomical.nii and pydicom's MR_small.dcm through denoise, anomaly and detect predict, measured
k-space through reconstruct; outputs in the input's geometry, no PHI in a derived series, and
bad input refused in one line."""

from __future__ import annotations

import copy
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
import torch
from nibabel.testing import data_path
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from cli_support import assert_one_line_error
from cli_support import run_in_process as run_cli  # the model imports are paid once
from medgen.data.importers.deid import identifiers
from medgen.data.store import open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.tasks.kspace import cartesian_mask, fft2c, ifft2c, kspace_residual
from medgen.tasks.scans import head_mask, head_window, read_scan

ANATOMICAL = Path(data_path) / "anatomical.nii"


NOISE = 0.08  # std of the noise added to anatomical.nii, in units of its head window


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """anatomical.nii with Gaussian noise of known std added (its own noise is much lower)."""
    source = nib.load(ANATOMICAL)
    clean = np.asarray(source.dataobj, np.float32)
    low, high = head_window(clean)
    rng = np.random.default_rng(0)
    data = clean + NOISE * (high - low) * rng.standard_normal(clean.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("scans") / "noisy.nii.gz"
    nib.Nifti1Image(data, source.affine, source.header).to_filename(path)
    return path


def _series(folder: Path, n: int) -> Path:
    """MR_small.dcm as an n-slice series, 5 mm apart."""
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    folder.mkdir()
    for i in range(n):
        part = copy.deepcopy(ds)
        part.SOPInstanceUID = generate_uid()
        part.file_meta.MediaStorageSOPInstanceUID = part.SOPInstanceUID
        part.InstanceNumber = i + 1
        position = [float(v) for v in ds.ImagePositionPatient]
        part.ImagePositionPatient = [*position[:2], position[2] + 5.0 * i]
        part.save_as(folder / f"slice{i}.dcm")
    return folder


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _series(tmp_path_factory.mktemp("dicom") / "series", 3)


def _head_rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    head = head_mask(head_window(truth).to_unit(truth))
    return float(np.sqrt(np.mean((estimate - truth)[head] ** 2)))


def test_denoising_a_nifti_scan_lowers_its_error_and_keeps_its_geometry(
    noisy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "denoised.nii.gz"
    result = run_cli(
        "denoise", "pixel_prior", "--input", noisy, "--out", out, "--k", "2", "--steps", "3"
    )
    assert result.returncode == 0, result.stderr
    assert "sigma" in result.stdout
    source, written = nib.load(ANATOMICAL), nib.load(out)
    uncertainty = nib.load(tmp_path / "denoised_uncertainty.nii.gz")
    for image in (written, uncertainty):
        assert image.shape == source.shape
        np.testing.assert_array_equal(image.affine, source.affine)
        assert image.header.get_zooms() == source.header.get_zooms()
    clean = np.asarray(source.dataobj, np.float32)
    noisy_error = _head_rmse(np.asarray(nib.load(noisy).dataobj, np.float32), clean)
    denoised_error = _head_rmse(np.asarray(written.dataobj, np.float32), clean)
    assert denoised_error < 0.95 * noisy_error, (denoised_error, noisy_error)
    spread = np.asarray(uncertainty.dataobj)
    assert spread.min() >= 0 and spread.max() > 0


def test_denoising_a_dicom_series_writes_a_new_deidentified_derived_series(
    series: Path, tmp_path: Path
) -> None:
    out = tmp_path / "denoised"
    result = run_cli(
        "denoise", "pixel_prior", "--input", series, "--out", out, "--k", "2", "--steps", "2"
    )
    assert result.returncode == 0, result.stderr
    sources = sorted(series.glob("*.dcm"))
    written = sorted(out.glob("*.dcm"))
    assert len(written) == len(sources) == 3
    assert len(list((tmp_path / "denoised_uncertainty").glob("*.dcm"))) == 3
    before = [pydicom.dcmread(p) for p in sources]
    after = [pydicom.dcmread(p) for p in written]
    phi = frozenset().union(*map(identifiers, before))
    assert {ds.SeriesInstanceUID for ds in after} != {before[0].SeriesInstanceUID}
    assert len({ds.SeriesInstanceUID for ds in after}) == 1
    for src, ds in zip(before, after, strict=True):
        assert ds.ImageType[0] == "DERIVED"
        assert ds.PatientIdentityRemoved == "YES"
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate"):
            assert not ds.get(keyword), keyword
        assert not identifiers(ds) & phi  # no name, ID, date or source UID survives
        assert ds.ImagePositionPatient == src.ImagePositionPatient
        assert ds.PixelSpacing == src.PixelSpacing
        assert ds.pixel_array.shape == src.pixel_array.shape
    again = read_scan(out)  # the importers' reader takes it back, in the source's units
    assert again.planes.shape == read_scan(series).planes.shape


def test_anomaly_maps_a_nifti_scan_and_a_one_file_series(noisy: Path, tmp_path: Path) -> None:
    out = tmp_path / "anomaly.nii.gz"
    common = ("--levels", "2", "--draws", "2")
    result = run_cli("anomaly", "healthy_prior", "--input", noisy, "--out", out, *common)
    assert result.returncode == 0, result.stderr
    source, written = nib.load(ANATOMICAL), nib.load(out)
    assert written.shape == source.shape
    np.testing.assert_array_equal(written.affine, source.affine)
    assert np.asarray(written.dataobj).max() > 0
    assert (tmp_path / "anomaly_montage.png").stat().st_size > 1000
    one = _series(tmp_path / "one", 1)
    result = run_cli("anomaly", "healthy_prior", "--input", one, "--out", tmp_path / "map", *common)
    assert result.returncode == 0, result.stderr
    (written_file,) = (tmp_path / "map").glob("*.dcm")
    assert pydicom.dcmread(written_file).ImageType[0] == "DERIVED"
    assert (tmp_path / "map_montage.png").exists()


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "data"
    make_dataset(out, DataConfig(n_train=48, n_dev=8, n_test=8, seed=7), workers=1)
    return out


def test_reconstructing_measured_kspace_beats_zero_filling(tiny_data: Path, tmp_path: Path) -> None:
    truth = np.asarray(open_dataset(tiny_data).array("clean")[:3], np.float32) * 300.0  # any unit
    mask = cartesian_mask((64, 64), 4.0, generator=torch.Generator().manual_seed(0))
    measured = fft2c(torch.from_numpy(truth).to(torch.complex64)) * mask
    np.save(tmp_path / "kspace.npy", measured.numpy())
    np.save(tmp_path / "mask.npy", mask[0].numpy())  # fastMRI's (cols,) line mask
    out = tmp_path / "recon.nii.gz"
    result = run_cli(
        "reconstruct", "pixel_prior", "--kspace", tmp_path / "kspace.npy",
        "--mask", tmp_path / "mask.npy", "--out", out, "--k", "2", "--steps", "10",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    recon = np.moveaxis(np.asarray(nib.load(out).dataobj), -1, 0)  # (slices, rows, cols)
    assert recon.shape == truth.shape
    assert nib.load(tmp_path / "recon_uncertainty.nii.gz").shape == (64, 64, 3)
    residual = kspace_residual(torch.from_numpy(recon), measured, mask)
    assert float(residual) < 1e-3 * float(measured.abs().max())  # consistent with the data
    zero_filled = ifft2c(measured).abs().numpy()
    assert np.sqrt(np.mean((recon - truth) ** 2)) < 0.7 * np.sqrt(
        np.mean((zero_filled - truth) ** 2)
    )


@pytest.mark.parametrize("source", ["anatomical", "mr_small"])
def test_reconstruct_takes_fastmri_h5_kspace_of_a_real_scan(source: str, tmp_path: Path) -> None:
    """k-space measured from nibabel's anatomical.nii (41 x 33 axial slices, off the model's
    grid) or pydicom's MR_small.dcm, stored as fastMRI stores it (.h5, `kspace` and `mask`)."""
    import h5py

    if source == "anatomical":
        volume = np.asarray(nib.load(ANATOMICAL).dataobj, np.float32)[..., 10:13]
        truth = np.moveaxis(volume, -1, 0)  # (3, 33, 41)
    else:
        truth = pydicom.dcmread(get_testdata_file("MR_small.dcm")).pixel_array[None]
        truth = truth.astype(np.float32)
    rows, cols = truth.shape[1:]
    mask = cartesian_mask((rows, cols), 4.0, generator=torch.Generator().manual_seed(1))
    measured = fft2c(torch.from_numpy(truth).to(torch.complex64)) * mask
    path = tmp_path / "scan.h5"
    with h5py.File(path, "w") as f:
        f["kspace"] = measured.numpy()
        f["mask"] = mask[0].numpy()  # (cols,): phase-encode lines
    out = tmp_path / "recon.nii.gz"
    result = run_cli(
        "reconstruct", "pixel_prior", "--kspace", path, "--mask", path, "--out", out,
        "--k", "1", "--steps", "6",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    recon = np.moveaxis(np.asarray(nib.load(out).dataobj), -1, 0)
    assert recon.shape == truth.shape and np.isfinite(recon).all()
    residual = kspace_residual(torch.from_numpy(recon), measured, mask)
    assert float(residual) < 1e-3 * float(measured.abs().max())


@pytest.fixture(scope="module")
def detector(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("detector") / "detector"
    result = run_cli("detect", "train", "--data", tiny_data, "--out", out, "--steps", "2")
    assert result.returncode == 0, result.stderr
    return out


def test_detect_predict_classifies_every_slice_of_a_scan(
    detector: Path, series: Path, tmp_path: Path
) -> None:
    for source, n in ((ANATOMICAL, 25), (series, 3)):
        out = tmp_path / f"{n}.csv"
        result = run_cli("detect", "predict", detector, "--input", source, "--out", out)
        assert result.returncode == 0, result.stderr
        table = pd.read_csv(out)
        assert list(table["slice"]) == list(range(n))
        assert set(table["prediction"]) <= {"none", "benign", "malignant"}
        scores = table[["score_none", "score_benign", "score_malignant"]].sum(axis=1)
        np.testing.assert_allclose(scores, 1.0, atol=2e-3)


def _two_d(folder: Path) -> Path:
    path = folder / "flat.nii.gz"
    nib.Nifti1Image(np.ones((8, 8), np.float32), np.eye(4)).to_filename(path)
    return path


def _kspace_pair(folder: Path) -> tuple[Path, Path]:
    np.save(folder / "k.npy", np.ones((2, 20, 16), np.complex64))
    np.save(folder / "m.npy", np.ones(20))
    return folder / "k.npy", folder / "m.npy"


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("missing", ("missing.nii.gz", "does not exist")),
        ("text", ("notes.txt", "neither a NIfTI file")),
        ("flat", ("flat.nii.gz", "is 2-D")),
        ("one_file", ("slice0.dcm", "is one DICOM file")),
        ("bad_out", ("out.png", "must be named .nii or .nii.gz")),
        ("both", ("--data/--input", "give exactly one (both given)")),
        ("neither", ("--data/--input", "give exactly one (neither given)")),
        ("mask", ("m.npy", "has shape (20,)")),
        ("peers", ("--peers", "applies to --data only")),
        ("detect", ("--data/--input", "give exactly one (neither given)")),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    case: str, needles: tuple[str, ...], series: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a scan")
    k, m = _kspace_pair(tmp_path)
    out = tmp_path / "out.nii.gz"
    args = {
        "missing": ("denoise", "pixel_prior", "--input", tmp_path / "missing.nii.gz", "--out", out),
        "text": ("denoise", "pixel_prior", "--input", tmp_path / "notes.txt", "--out", out),
        "flat": ("anomaly", "healthy_prior", "--input", _two_d(tmp_path), "--out", out),
        "one_file": ("denoise", "pixel_prior", "--input", series / "slice0.dcm", "--out", out),
        "bad_out": ("denoise", "pixel_prior", "--input", ANATOMICAL, "--out", tmp_path / "out.png"),
        "both": ("denoise", "pixel_prior", "--input", ANATOMICAL, "--data", tmp_path),
        "neither": ("anomaly", "healthy_prior", "--out", out),
        "mask": ("reconstruct", "pixel_prior", "--kspace", k, "--mask", m, "--out", out),
        "peers": ("denoise", "pixel_prior", "--input", ANATOMICAL, "--peers", "all", "--out", out),
        "detect": ("detect", "predict", tmp_path, "--out", out),
    }[case]
    assert_one_line_error(run_cli(*args), *needles)
    assert not out.exists()
