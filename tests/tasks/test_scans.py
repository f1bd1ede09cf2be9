"""A user's scan to the model's slices and back: exact inverses of the orientation, the
intensity window and the k-space cut, the resampling close to one, the noise estimate right."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from nibabel.testing import data_path

from medgen.exceptions import InputError
from medgen.tasks.kspace import cartesian_mask, fft2c, ifft2c
from medgen.tasks.measured import read_kspace, read_mask, recentre
from medgen.tasks.on_scans import estimate_noise, noise_gain
from medgen.tasks.scan_outputs import beside, write_nifti
from medgen.tasks.scans import from_model, head_window, read_scan, to_model

ANATOMICAL = Path(data_path) / "anatomical.nii"


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_a_scan_written_back_is_the_input_voxel_for_voxel(tmp_path: Path, axis: int) -> None:
    scan = read_scan(ANATOMICAL, axis)  # an LAS file: the reorientation is undone too
    out = tmp_path / "same.nii.gz"
    write_nifti(scan, scan.planes, out)
    source, written = nib.load(ANATOMICAL), nib.load(out)
    assert written.shape == source.shape
    np.testing.assert_array_equal(written.affine, source.affine)
    np.testing.assert_array_equal(np.asarray(written.dataobj), np.asarray(source.dataobj))
    assert written.header.get_zooms() == source.header.get_zooms()


def test_the_window_maps_the_head_to_unit_range_and_back() -> None:
    planes = read_scan(ANATOMICAL).planes
    window = head_window(planes)
    unit = window.to_unit(planes)
    assert unit.min() == 0 and unit.max() == 1
    inside = (planes > window.low) & (planes < window.high)
    np.testing.assert_allclose(window.from_unit(unit)[inside], planes[inside], rtol=1e-5)


def test_resampling_to_the_model_and_back_keeps_a_smooth_plane() -> None:
    rows, cols = np.mgrid[0:41, 0:33]
    plane = 0.5 + 0.4 * np.sin(rows / 7.0) * np.cos(cols / 5.0)
    planes = np.stack([plane, plane[::-1]]).astype(np.float32)
    images = to_model(planes, (2.0, 2.0), 64)
    assert images.shape == (2, 64, 64)
    back = from_model(images, (2.0, 2.0), (41, 33))
    assert back.shape == planes.shape
    assert np.abs(back - planes)[:, 2:-2, 2:-2].max() < 0.03


def test_the_noise_estimate_finds_added_noise_at_both_resolutions() -> None:
    rows, cols = np.mgrid[0:96, 0:96]
    smooth = 0.5 + 0.3 * np.sin(rows / 15.0) * np.cos(cols / 11.0)
    rng = np.random.default_rng(0)
    noisy = smooth + 0.05 * rng.standard_normal((6, 96, 96))
    assert estimate_noise(noisy.astype(np.float32)) == pytest.approx(0.05, rel=0.1)
    # 96 -> 64 by area averaging: the model's pixels hold less noise than the scan's
    gain = noise_gain((96, 96), (1.0, 1.0), 64)
    resampled = to_model(noisy.astype(np.float32), (1.0, 1.0), 64)
    clean = to_model(np.repeat(smooth[None], 6, 0).astype(np.float32), (1.0, 1.0), 64)
    assert 0.4 < gain < 1.0
    assert float(np.std(resampled - clean)) == pytest.approx(0.05 * gain, rel=0.05)


@pytest.mark.parametrize("shape", [(41, 33), (80, 72), (64, 64)])
def test_a_kspace_cut_and_padded_back_keeps_the_centre(shape: tuple[int, int]) -> None:
    image = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(0))
    kspace = fft2c(image.to(torch.complex64))
    cut = recentre(kspace, (64, 64))
    back = recentre(cut, shape)
    keep = (min(shape[0], 64), min(shape[1], 64))
    np.testing.assert_array_equal(recentre(back, keep).numpy(), recentre(kspace, keep).numpy())
    if shape == (64, 64):
        np.testing.assert_allclose(ifft2c(back).real.numpy(), image.numpy(), atol=1e-5)


def test_kspace_and_masks_are_read_and_checked(tmp_path: Path) -> None:
    kspace = fft2c(torch.rand(3, 20, 16).to(torch.complex64)).numpy()
    np.save(tmp_path / "k.npy", kspace)
    np.save(tmp_path / "real.npy", kspace.real)
    np.save(tmp_path / "lines.npy", np.arange(16) % 2)
    np.save(tmp_path / "full.npy", cartesian_mask((20, 16), 4.0).numpy())
    np.save(tmp_path / "bad.npy", np.ones(20))
    assert read_kspace(tmp_path / "k.npy").shape == (3, 20, 16)
    assert read_mask(tmp_path / "lines.npy", (20, 16)).shape == (20, 16)
    assert read_mask(tmp_path / "full.npy", (20, 16)).sum() == 4 * 20
    with pytest.raises(InputError, match="must be complex"):
        read_kspace(tmp_path / "real.npy")
    with pytest.raises(InputError, match=r"needs \(16,\) or \(20, 16\)"):
        read_mask(tmp_path / "bad.npy", (20, 16))
    with pytest.raises(InputError, match=r"must be an \.npy or \.h5"):
        read_kspace(tmp_path / "k.txt")


def test_fastmri_style_h5_files_are_read_by_dataset_name(tmp_path: Path) -> None:
    kspace = fft2c(torch.rand(2, 20, 16).to(torch.complex64)).numpy()
    with h5py.File(tmp_path / "file.h5", "w") as f:  # fastMRI's single-coil layout
        f["kspace"] = kspace
        f["mask"] = (np.arange(16) % 4 == 0).astype(np.float32)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["reconstruction_esc"] = np.abs(kspace)
    np.testing.assert_array_equal(read_kspace(tmp_path / "file.h5"), kspace)
    assert read_mask(tmp_path / "file.h5", (20, 16)).sum() == 4 * 20
    with pytest.raises(InputError, match=r"has no dataset 'kspace' \(has reconstruction_esc\)"):
        read_kspace(tmp_path / "other.h5")
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match=r"broken\.h5"):
        read_kspace(tmp_path / "broken.h5")


def test_outputs_beside_an_output_keep_its_kind() -> None:
    assert beside(Path("a/scan.nii.gz"), "uncertainty") == Path("a/scan_uncertainty.nii.gz")
    assert beside(Path("scan.nii"), "montage", "png") == Path("scan_montage.png")
    assert beside(Path("series"), "uncertainty") == Path("series_uncertainty")


def test_a_missing_or_foreign_input_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a scan")
    with pytest.raises(InputError, match="does not exist"):
        read_scan(tmp_path / "missing.nii.gz")
    with pytest.raises(InputError, match="neither a NIfTI file"):
        read_scan(tmp_path / "notes.txt")
    assert os.path.exists(ANATOMICAL)
