"""Reconstruction of measured single-coil k-space (fastMRI-style arrays) with a diffusion prior.

The k-space is (slices, rows, cols) or (rows, cols), complex, DC at the centre (`fft2c`'s
convention); the mask is (cols,) (Cartesian phase-encode lines, as fastMRI stores it) or
(rows, cols). The model works on size x size images, so each slice's k-space is cut (or
zero-padded) about DC to size x size, the prior's posterior samples are drawn there with hard
data consistency (`medgen.tasks.reconstruct`), and each sample's k-space is padded back to the
measured grid, where every measured sample, the ones outside the cut included, replaces the
estimate. The output is on the measured grid, consistent with all the data, and the prior fills
in only the low frequencies it was trained on.

Intensity: k-space is linear in the image, so it is divided by one number, the 99.5th
percentile of the zero-filled magnitude of the cut, which puts the image near the models'
[0, 1], and the result is multiplied back. Images are treated as real, as the prior's are:
k-space of an image with a strong phase should be phase-corrected first.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from medgen.data.importers.common import check_finite, read_file
from medgen.diffusion import karras_sigmas
from medgen.exceptions import InputError
from medgen.tasks.adapter import PixelDenoiser
from medgen.tasks.kspace import data_consistency, fft2c, ifft2c, zero_filled
from medgen.tasks.reconstruct import reconstruct

SUFFIXES = (".npy", ".h5")
SCALE_PERCENTILE = 99.5  # percentile of the zero-filled magnitude mapped to 1
SIGMA_START = 1.0  # first level of the reverse process, [0, 1] units (the benchmark's)


def _load(path: Path, key: str) -> NDArray[Any]:
    if path.name.lower().endswith(".h5"):
        import h5py  # here, not at the top: only .h5 input pays for its import

        with h5py.File(path, "r") as f:
            if key not in f:
                raise InputError(path, f"has no dataset {key!r} (has {', '.join(f.keys())})")
            return np.asarray(f[key])
    return np.load(path, allow_pickle=False)


def read_array(path: str | Path, key: str) -> NDArray[Any]:
    """Array `key` of an .h5 file, or the array of an .npy file; InputError naming the file."""
    path = Path(path)
    if not path.name.lower().endswith(SUFFIXES):
        raise InputError(path, f"must be an .npy or .h5 file (k-space arrays), not {path.suffix!r}")
    return read_file(path, "an array file", partial(_load, path, key))


def read_kspace(path: str | Path) -> NDArray[np.complex64]:
    """Single-coil k-space (slices, rows, cols), complex64; InputError for another shape."""
    kspace = read_array(path, "kspace")
    if not np.iscomplexobj(kspace):
        raise InputError(path, f"holds {kspace.dtype} values; k-space must be complex")
    if kspace.ndim == 2:
        kspace = kspace[None]
    if kspace.ndim != 3 or min(kspace.shape[1:]) < 2:
        raise InputError(
            path, f"has shape {kspace.shape}; single-coil k-space is (slices, rows, cols)"
        )
    check_finite(Path(path), kspace)
    return np.ascontiguousarray(kspace, dtype=np.complex64)


def read_mask(path: str | Path, shape: tuple[int, int]) -> NDArray[np.bool_]:
    """The sampling mask as (rows, cols) booleans for k-space of `shape` (rows, cols)."""
    mask = np.squeeze(read_array(path, "mask")) != 0
    rows, cols = shape
    if mask.shape == (cols,):
        mask = np.broadcast_to(mask, shape)
    if mask.shape != shape:
        raise InputError(
            path, f"has shape {mask.shape}; the k-space needs ({cols},) or ({rows}, {cols})"
        )
    if not mask.any():
        raise InputError(path, "measures nothing (every entry is 0)")
    return np.ascontiguousarray(mask)


def recentre(kspace: Tensor, shape: tuple[int, int]) -> Tensor:
    """K-space (..., rows, cols) cut or zero-padded about DC (index n // 2) to `shape`."""
    out = kspace
    for dim, n in zip((-2, -1), shape, strict=True):
        have = out.shape[dim]
        if have > n:
            out = out.narrow(dim, have // 2 - n // 2, n)
        elif have < n:
            pad_shape = list(out.shape)
            pad_shape[dim] = n
            padded = out.new_zeros(pad_shape)
            padded.narrow(dim, n // 2 - have // 2, have).copy_(out)
            out = padded
    return out


class Measured(NamedTuple):
    """Reconstructions on the measured grid, (slices, rows, cols), in the k-space's units."""

    mean: NDArray[np.float32]  # posterior mean of the data-consistent samples
    std: NDArray[np.float32]  # their per-pixel std: the uncertainty map
    zero_filled: NDArray[np.float32]  # |ifft2c(mask * kspace)|, the classical baseline
    scale: float  # image units per [0, 1] unit
    nfe: int


def reconstruct_measured(
    model: PixelDenoiser,
    size: int,
    kspace: NDArray[np.complex64],
    mask: NDArray[np.bool_],
    *,
    k: int = 4,
    steps: int = 50,
    seed: int = 0,
) -> Measured:
    """Posterior samples of each slice behind measured `kspace` (see the module docstring)."""
    full = torch.from_numpy(kspace).unsqueeze(1)  # (B, 1, rows, cols)
    full_mask = torch.from_numpy(np.asarray(mask, bool))
    shape = (int(full.shape[-2]), int(full.shape[-1]))
    cut, cut_mask = recentre(full, (size, size)), recentre(full_mask, (size, size))
    baseline = zero_filled(cut, cut_mask).abs()
    scale = float(np.percentile(baseline.numpy(), SCALE_PERCENTILE)) or 1.0
    start = min(SIGMA_START, model.sigma_max)
    sigmas = karras_sigmas(steps, model.sigma_min, start, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        result = reconstruct(model.denoiser, cut / scale, cut_mask, sigmas, k, generator=g)
    samples = result.samples * scale  # (k, B, 1, S, S)
    on_grid = ifft2c(recentre(fft2c(samples), shape)).real
    consistent = data_consistency(on_grid, full.expand_as(on_grid), full_mask, real=True)
    std = consistent.std(0) if k > 1 else torch.zeros_like(consistent[0])
    return Measured(
        consistent.mean(0)[:, 0].numpy().astype(np.float32),
        std[:, 0].numpy().astype(np.float32),
        zero_filled(full, full_mask).abs()[:, 0].numpy().astype(np.float32),
        scale,
        result.nfe,
    )


def write_images(path: Path, images: NDArray[Any]) -> None:
    """(slices, rows, cols) images as a float32 NIfTI (rows, cols, slices), unit voxels: the
    k-space carries no geometry."""
    import gzip

    import nibabel as nib

    from medgen.fileio import write_bytes_atomic

    volume = np.ascontiguousarray(np.moveaxis(np.asarray(images, np.float32), 0, -1))
    data = nib.Nifti1Image(volume, np.eye(4)).to_bytes()
    write_bytes_atomic(path, gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
