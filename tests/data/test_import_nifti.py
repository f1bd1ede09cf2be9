"""`medgen data import` of NIfTI volumes, with and without BraTS-style segmentations."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from import_fixtures import NIBABEL_DATA, blob, make_brats_case, write_nifti

from cli_support import run_cli
from medgen.data.importers import import_data
from medgen.data.importers.common import scale_intensity
from medgen.data.importers.deid import source_id
from medgen.data.store import open_dataset
from medgen.exceptions import InputError


def test_brats_cases_with_segmentations(tmp_path: Path) -> None:
    """One modality per case; empty slices skipped; masks give label and tumour_px."""
    for case in ("BraTS_001", "BraTS_002"):
        make_brats_case(tmp_path / "src", case)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert sorted(data.arrays) == ["brain_mask", "images", "tumour_mask"]
    assert result.manifest["imported"] == {"sources": 2, "skipped": 0}
    assert result.n_slices == 2 * (16 - 2 * 3)  # 3 empty axial slices at each end
    assert set(data.meta["source"]) == {
        source_id("case", f"{c}/{c}") for c in ("BraTS_001", "BraTS_002")
    }
    assert sorted(set(data.meta["source_z"])) == list(range(3, 13))
    tumour = np.asarray(data.array("tumour_mask"))
    np.testing.assert_array_equal(data.meta["tumour_px"], tumour.sum(axis=(1, 2)))
    with_tumour = data.meta["label"] == 1
    assert set(data.meta.loc[with_tumour, "source_z"]) == {6.0, 7.0, 8.0, 9.0}
    assert (data.meta.loc[with_tumour, "tumour_px"] > 0).all()
    assert set(data.meta.loc[~with_tumour, "tumour_type"]) == {"none"}
    assert set(data.meta.loc[with_tumour, "tumour_type"]) == {"unknown"}
    for source, rows in data.meta.groupby("source"):
        assert rows["split"].nunique() == 1, source  # a case never straddles splits


def test_modality_choice_and_brats_2023_names(tmp_path: Path) -> None:
    case = make_brats_case(tmp_path / "src", "BraTS_001")
    for path in sorted(case.iterdir()):  # BraTS 2023: case-t1n, case-t2w, case-seg
        renamed = path.name.replace("_t1.", "-t1n.").replace("_t2.", "-t2w.")
        path.rename(case / renamed.replace("_seg.", "-seg."))
    result = import_data(tmp_path / "src", tmp_path / "out", size=32, modality="t2")
    meta = open_dataset(tmp_path / "out").meta
    assert "tumour_mask" in result.manifest["arrays"] and meta["label"].max() == 1
    import_data(tmp_path / "src", tmp_path / "out-t1", size=32, modality="t1")
    t1 = open_dataset(tmp_path / "out-t1")
    assert not np.allclose(t1.array("images"), open_dataset(tmp_path / "out").array("images"))
    # One case, one source whichever modality is imported, so the two can be paired.
    assert (
        set(meta["source"]) == set(t1.meta["source"]) == {source_id("case", "BraTS_001/BraTS_001")}
    )


def test_mask_suffix_pairs_with_plain_image(tmp_path: Path) -> None:
    volume = blob((16, 16, 8))
    write_nifti(tmp_path / "src/case7.nii", volume)
    write_nifti(tmp_path / "src/case7_mask.nii", (volume > 110).astype(np.uint8))
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    assert (
        set(data.meta["source"]) == {source_id("case", "case7")} and data.meta["label"].max() == 1
    )


def test_volume_without_segmentation_is_unlabelled(tmp_path: Path) -> None:
    make_brats_case(tmp_path / "src", "a")
    make_brats_case(tmp_path / "src", "b", seg=False)
    import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    unlabelled = data.meta["source"] == source_id("case", "b/b")
    assert set(data.meta.loc[unlabelled, "label"]) == {-1}
    assert data.array("tumour_mask")[unlabelled.to_numpy()].max() == 0


@pytest.mark.parametrize(("axis", "n"), [(0, 20), (1, 24), (2, 12)])
def test_axis_chooses_the_slicing_direction(tmp_path: Path, axis: int, n: int) -> None:
    write_nifti(tmp_path / "src/v.nii.gz", blob((20, 24, 12)) + 10)
    result = import_data(tmp_path / "src", tmp_path / "out", axis=axis, size=32)
    assert result.n_slices == n


def test_orientation_is_canonical_and_anterior_up(tmp_path: Path) -> None:
    """The same anatomy stored RAS and LAS imports identically; anterior is at the top."""
    volume = np.zeros((16, 16, 4), np.float32)
    volume[2:6, 10:15, :] = 100.0  # a left (low x), anterior (high y) block in RAS+
    volume[:, :, :] += 1.0
    write_nifti(tmp_path / "ras/v.nii", volume)
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = 15.0
    write_nifti(tmp_path / "las/v.nii", volume[::-1].copy(), affine=flip)
    for name in ("ras", "las"):
        import_data(tmp_path / name, tmp_path / f"out-{name}", size=32)
    ras = np.asarray(open_dataset(tmp_path / "out-ras").array("images"))
    las = np.asarray(open_dataset(tmp_path / "out-las").array("images"))
    np.testing.assert_allclose(ras, las, atol=1e-6)
    bright_rows, bright_cols = np.nonzero(ras[0] > 0.5)
    assert bright_rows.max() < 16  # anterior (high y) is in the upper half
    assert bright_cols.max() < 16  # low x is on the left of the array


def test_anisotropic_voxels_keep_physical_aspect(tmp_path: Path) -> None:
    """A sagittal plane of 20 mm × (10 × 2 mm) fills the square; with 1 mm slices it is padded."""
    volume = np.random.default_rng(0).uniform(50, 100, (8, 20, 10)).astype(np.float32)
    write_nifti(tmp_path / "thick/v.nii", volume, zooms=(1.0, 1.0, 2.0))
    write_nifti(tmp_path / "thin/v.nii", volume, zooms=(1.0, 1.0, 1.0))
    for name in ("thick", "thin"):
        import_data(tmp_path / name, tmp_path / f"out-{name}", axis=0, size=32)
    thick = np.asarray(open_dataset(tmp_path / "out-thick").array("images"))[0]
    thin = np.asarray(open_dataset(tmp_path / "out-thin").array("images"))[0]
    assert thick[0].max() > 0 and thick[-1].max() > 0
    assert thin[:8].max() == 0 and thin[-8:].max() == 0  # 10 of 20 mm: 16 rows filled


def test_single_file_source(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "scan.nii.gz", blob((16, 16, 8)))
    result = import_data(path, tmp_path / "out", size=32)
    assert result.n_slices == 8
    assert set(open_dataset(tmp_path / "out").meta["source"]) == {source_id("case", "scan")}


def test_blank_volume_is_an_error(tmp_path: Path) -> None:
    write_nifti(tmp_path / "src/zeros.nii.gz", np.zeros((16, 16, 8), np.float32))
    with pytest.raises(InputError, match=r"has no slices to import \(all blank\)"):
        import_data(tmp_path / "src", tmp_path / "out", size=32)


def test_percentile_scaling_ignores_hot_voxels() -> None:
    volume = np.linspace(0, 100, 10_000, dtype=np.float32)
    volume[0] = 1e6
    scaled = scale_intensity(volume)
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    assert np.median(scaled) == pytest.approx(0.5, abs=0.02)


def test_real_nibabel_files(tmp_path: Path) -> None:
    """nibabel's example4d (4-D: first volume), anatomical.nii (big-endian) and standard.nii.gz."""
    names = ("example4d.nii.gz", "anatomical.nii", "standard.nii.gz")
    (tmp_path / "src").mkdir()
    for name in names:
        shutil.copy(NIBABEL_DATA / name, tmp_path / "src" / name)
    result = import_data(tmp_path / "src", tmp_path / "out", size=32)
    data = open_dataset(tmp_path / "out")
    cases = {source_id("case", name.split(".")[0]): name for name in names}
    assert set(data.meta["source"]) == set(cases)
    assert result.n_slices == len(data) > 0
    assert set(data.meta["label"]) == {-1} and "tumour_mask" not in data.arrays
    counts = data.meta["source"].map(cases).value_counts()
    assert counts["example4d.nii.gz"] <= 24 and counts["anatomical.nii"] <= 25


def test_cli_imports_nifti(tmp_path: Path) -> None:
    make_brats_case(tmp_path / "brats", "BraTS_001")
    result = run_cli(
        "data",
        "import",
        tmp_path / "brats",
        "--out",
        tmp_path / "mydata",
        "--kind",
        "nifti",
        "--axis",
        "2",
        "--size",
        "32",
    )
    assert result.returncode == 0, result.stderr
    assert "10 slices from 1 nifti sources" in result.stdout
    assert "tumour_mask" in open_dataset(tmp_path / "mydata").arrays
