"""`medgen data import` of DICOM series: order, rescale, multi-frame, de-identification."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
from import_fixtures import NIBABEL_DATA, PATIENT, PHI, all_bytes, blob, dicom_slice
from pydicom.data import get_testdata_file

from cli_support import run_cli
from medgen.data.importers import import_data
from medgen.data.importers.deid import source_id
from medgen.data.store import open_dataset


def make_series(folder: Path, n: int = 5, patient: dict[str, str] = PATIENT) -> list[Path]:
    """`n` slices of one series; slice k (by position) has intensity ∝ k + 1. File names and
    InstanceNumbers run against the position, so only sorting by position gets the order right."""
    uid, base = "1.2.826.0.1.3680043.2.1", blob((32, 32))
    paths = []
    for k in range(n):
        path = folder / f"file{n - k:02d}.dcm"
        pixels = base * (k + 1)
        paths.append(
            dicom_slice(
                path, pixels, position=5.0 * k, instance=n - k, series_uid=uid, patient=patient
            )
        )
    return paths


def test_pydicom_test_files(tmp_path: Path) -> None:
    """CT_small (rescale intercept -1024) and MR_small: one slice each, one series each."""
    (tmp_path / "src").mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), tmp_path / "src" / name)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert result.n_slices == 2 and data.manifest["kind"] == "import-dicom"
    assert all(source.startswith("series-") for source in data.meta["source"])
    assert set(data.meta["label"]) == {-1}
    output = all_bytes(tmp_path / "out")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name))
        for value in (str(ds.PatientName), ds.PatientID, ds.SeriesInstanceUID):
            assert value.encode() not in output, value


def test_slices_follow_position_not_file_name(tmp_path: Path) -> None:
    make_series(tmp_path / "src/study/series1")
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert list(data.meta["source_z"]) == [0, 1, 2, 3, 4]
    assert data.meta["source"].nunique() == 1
    means = np.asarray(data.array("images")).mean(axis=(1, 2))
    assert np.all(np.diff(means) > 0), means  # intensity grows with position


def test_no_patient_data_in_any_written_file(tmp_path: Path) -> None:
    """A folder named after the patient becomes series-<hash>; no PHI in any byte written."""
    make_series(tmp_path / "src/Doe^John")
    make_series(tmp_path / "src/PID12345/mr", n=3, patient={**PATIENT, "PatientName": "Roe^Jane"})
    for path in (tmp_path / "src/PID12345/mr").iterdir():  # a second series
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.2.2"
        ds.save_as(path)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert result.n_slices == 8
    sources = set(data.meta["source"])
    assert len(sources) == 2 and all(s.startswith("series-") for s in sources), sources
    output = all_bytes(tmp_path / "out")
    for value in (*PHI, "Roe^Jane", "1.2.826.0.1.3680043.2"):
        assert value.encode() not in output, value
    assert data.meta["split"].nunique() == 1  # one patient (PID12345): one split


def test_rescale_slope_and_intercept_are_applied(tmp_path: Path) -> None:
    """Stored 100 | 200 halves; slope 2, intercept -100 makes them 100 | 300 (scaled 0 | 1),
    while slope 1 keeps 100 | 200 (scaled 0 | 0.5)."""
    pixels = np.full((32, 32), 100, np.int16)
    pixels[:, 16:] = 200
    dicom_slice(tmp_path / "src/s/a.dcm", pixels, position=0.0, slope=1.0, intercept=0.0)
    dicom_slice(tmp_path / "src/s/b.dcm", pixels, position=1.0, slope=2.0, intercept=-100.0)
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    plain, rescaled = np.asarray(open_dataset(tmp_path / "out").array("images"))
    np.testing.assert_allclose(plain[:, :12], 0.0, atol=1e-6)
    np.testing.assert_allclose(plain[:, 20:], 0.5, atol=1e-6)
    np.testing.assert_allclose(rescaled[:, :12], 0.0, atol=1e-6)
    np.testing.assert_allclose(rescaled[:, 20:], 1.0, atol=1e-6)


def test_multi_frame_file(tmp_path: Path) -> None:
    frames = np.stack([blob((32, 32)) * (k + 1) for k in range(3)])
    dicom_slice(tmp_path / "src/mf.dcm", frames)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    assert result.n_slices == 3
    means = np.asarray(open_dataset(tmp_path / "out").array("images")).mean(axis=(1, 2))
    assert np.all(np.diff(means) > 0)


def test_series_sharing_a_folder_are_told_apart(tmp_path: Path) -> None:
    for k, uid in enumerate(("1.2.3.1", "1.2.3.2")):
        dicom_slice(tmp_path / f"src/exam/{k}.dcm", blob((32, 32)), series_uid=uid)
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    sources = sorted(open_dataset(tmp_path / "out").meta["source"])
    assert len(set(sources)) == 2 and all(s.startswith("series-") for s in sources)


def test_patients_never_straddle_splits(tmp_path: Path) -> None:
    for p in range(6):
        for s in range(2):
            patient = {"PatientID": f"P{p}", "PatientName": f"Name{p}"}
            dicom_slice(
                tmp_path / f"src/case{p}{'ab'[s]}/x.dcm",
                blob((32, 32)),
                series_uid=f"1.2.{p}.{s}",
                patient=patient,
            )
    import_data(tmp_path / "src", tmp_path / "out", size=32, splits=(0.5, 0.5, 0.0), seed=3)
    meta = open_dataset(tmp_path / "out").meta
    assert len(set(meta["source"])) == 12
    patient_of = meta["source"].map(
        {
            source_id("series", f"case{p}{'ab'[s]}/1.2.{p}.{s}"): p
            for p in range(6)
            for s in range(2)
        }
    )
    assert (meta.groupby(patient_of)["split"].nunique() == 1).all()
    assert set(meta["split"]) == {"train", "dev"}


def test_real_nibabel_dicom_files(tmp_path: Path) -> None:
    """nibabel's two Siemens slices (PatientName "dft patient name") import without PHI."""
    (tmp_path / "src/scan").mkdir(parents=True)
    for name in ("0.dcm", "1.dcm"):
        shutil.copy(NIBABEL_DATA / name, tmp_path / "src/scan" / name)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    assert result.n_slices >= 1
    assert b"dft patient name" not in all_bytes(tmp_path / "out").lower()


def test_cli_imports_dicom_without_phi(tmp_path: Path) -> None:
    make_series(tmp_path / "src/Doe^John/series")
    result = run_cli("data", "import", tmp_path / "src", "--out", tmp_path / "out", "--size", "32")
    assert result.returncode == 0, result.stderr
    assert "5 slices from 1 dicom sources" in result.stdout
    output = all_bytes(tmp_path / "out")
    assert not [value for value in PHI if value.encode() in output]
