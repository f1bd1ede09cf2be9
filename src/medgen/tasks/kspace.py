"""k-space: centred orthonormal FFTs, undersampling masks, zero filling and data consistency.

Conventions follow fastMRI (Zbontar et al. 2018): k-space has its DC term at the centre
(fftshift), transforms are orthonormal (norm="ortho", so Parseval holds and noise keeps its std),
and Cartesian masks select whole phase-encode lines, the columns (last axis) of k-space. Masks
are boolean (H, W) tensors, broadcast against (B, C, H, W) images. Every mask hits its target
exactly: round(N / accel) samples (lines or points), the fully sampled centre included, so each
mask of a given acceleration has the same acceleration (fastMRI draws the count at random).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

ACCEL_RANGE = (2.0, 8.0)  # accelerations the masks accept: beyond 8x the tasks are not reliable
_DIMS = (-2, -1)

MaskFunction = Callable[..., Tensor]  # fn(size, accel, center_fraction=None, generator=None)


def fft2c(image: Tensor) -> Tensor:
    """Centred orthonormal 2-D FFT over the last two axes: image -> k-space (complex)."""
    x = torch.fft.ifftshift(image, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.fft2(x, dim=_DIMS, norm="ortho"), dim=_DIMS)


def ifft2c(kspace: Tensor) -> Tensor:
    """Centred orthonormal 2-D inverse FFT over the last two axes: k-space -> image (complex)."""
    k = torch.fft.ifftshift(kspace, dim=_DIMS)
    return torch.fft.fftshift(torch.fft.ifft2(k, dim=_DIMS, norm="ortho"), dim=_DIMS)


def mirror(kspace: Tensor) -> Tensor:
    """K(-k) in centred coordinates over the last two axes (index j -> (2 (N // 2) - j) mod N).

    A real image has Hermitian k-space: fft2c(x) == conj(mirror(fft2c(x))).
    """
    out = kspace
    for dim in _DIMS:
        n = kspace.shape[dim]
        index = (2 * (n // 2) - torch.arange(n, device=kspace.device)) % n
        out = out.index_select(dim, index)
    return out


# ---- masks ----------------------------------------------------------------------------------


def default_center_fraction(accel: float) -> float:
    """0.32 / accel: fastMRI's 0.08 fully sampled centre at 4x and 0.04 at 8x."""
    return 0.32 / accel


def _center_count(n: int, center_fraction: float | None, accel: float) -> int:
    fraction = default_center_fraction(accel) if center_fraction is None else center_fraction
    if not 0 <= fraction < 1:
        raise ValueError(f"center_fraction = {fraction}: must be in [0, 1)")
    return max(1, round(n * fraction))


def _centred(n: int, count: int) -> Tensor:
    """Boolean (n,) with `count` entries set around the centre index n // 2."""
    keep = torch.zeros(n, dtype=torch.bool)
    start = n // 2 - count // 2
    keep[start : start + count] = True
    return keep


class _Plan(NamedTuple):
    """What a mask must hold: its shape, the fully sampled centre, and how many more samples."""

    h: int
    w: int
    centre: Tensor  # (W,) columns for line masks, (H W,) points for point masks
    extra: int  # samples still to draw outside the centre


def _plan(
    size: int | tuple[int, int], accel: float, center_fraction: float | None, lines: bool
) -> _Plan:
    """The budget round(N / accel) of lines (N = W) or points (N = H W), centre included."""
    lo, hi = ACCEL_RANGE
    if not lo <= accel <= hi:
        raise ValueError(f"accel = {accel}: the acceleration must be in [{lo:g}, {hi:g}]")
    h, w = (size, size) if isinstance(size, int) else size
    if h < 2 or w < 2:
        raise ValueError(f"size = {size}: k-space must be at least 2 x 2")
    centre = _centred(w, _center_count(w, center_fraction, accel))
    if not lines:
        rows = _centred(h, _center_count(h, center_fraction, accel))
        centre = (rows[:, None] & centre).flatten()
    fixed, target = int(centre.sum()), round(centre.numel() / accel)
    if fixed > target:
        what = "lines" if lines else "points"
        raise ValueError(
            f"center_fraction too large: {fixed} fully sampled {what} exceed the {target} "
            f"that accel = {accel} allows"
        )
    return _Plan(h, w, centre, target - fixed)


def _fill(fixed: Tensor, extra: int, weights: Tensor, generator: torch.Generator | None) -> Tensor:
    """Add `extra` entries outside `fixed`, drawn without replacement with the given weights."""
    free = (~fixed).nonzero().flatten()
    out = fixed.clone()
    if extra > 0:
        pick = torch.multinomial(weights[free], extra, replacement=False, generator=generator)
        out[free[pick]] = True
    return out


def cartesian_mask(
    size: int | tuple[int, int],
    accel: float,
    center_fraction: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random phase-encode lines plus a fully sampled centre (fastMRI's RandomMaskFunc), (H, W)."""
    h, w, centre, extra = _plan(size, accel, center_fraction, lines=True)
    return _fill(centre, extra, torch.ones(w), generator).expand(h, -1).clone()


def equispaced_mask(
    size: int | tuple[int, int],
    accel: float,
    center_fraction: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Equally spaced lines (random offset) plus a fully sampled centre (fastMRI's Equispaced)."""
    h, _, centre, extra = _plan(size, accel, center_fraction, lines=True)
    keep = centre.clone()
    if extra > 0:
        free = (~centre).nonzero().flatten()
        spacing = free.numel() / extra
        offset = float(torch.rand((), generator=generator)) * spacing
        index = (offset + spacing * torch.arange(extra)).long().clamp_max(free.numel() - 1)
        keep[free[index]] = True
    return keep.expand(h, -1).clone()


def random_mask(
    size: int | tuple[int, int],
    accel: float,
    center_fraction: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Uniformly random k-space points (2-D undersampling) plus a fully sampled centre block."""
    h, w, centre, extra = _plan(size, accel, center_fraction, lines=False)
    return _fill(centre, extra, torch.ones(h * w), generator).reshape(h, w)


def variable_density_mask(
    size: int | tuple[int, int],
    accel: float,
    center_fraction: float | None = None,
    generator: torch.Generator | None = None,
    power: float = 2.0,  # density ~ (1 - r / r_max)^power: larger puts more samples near DC
) -> Tensor:
    """Random points with density decaying in k-radius (Lustig et al. 2007), centre fully sampled.

    Most of an MR image's energy is at low spatial frequency, so sampling it densely and the
    periphery sparsely gives incoherent aliasing at a fraction of the lines.
    """
    h, w, centre, extra = _plan(size, accel, center_fraction, lines=False)
    ky = torch.arange(h, dtype=torch.float64) - h // 2
    kx = torch.arange(w, dtype=torch.float64) - w // 2
    radius = torch.sqrt((ky[:, None] / (h / 2)) ** 2 + (kx[None, :] / (w / 2)) ** 2)  # 0 at DC
    density = (1 - radius / (radius.max() * (1 + 1e-6))).clamp_min(0) ** power + 1e-6
    return _fill(centre, extra, density.flatten(), generator).reshape(h, w)


MASKS: dict[str, MaskFunction] = {
    "cartesian": cartesian_mask,
    "equispaced": equispaced_mask,
    "random": random_mask,
    "variable_density": variable_density_mask,
}


def acceleration(mask: Tensor) -> float:
    """The mask's acceleration: samples in full k-space over samples measured."""
    return mask.numel() / max(1, int(mask.to(torch.bool).sum()))


# ---- measurements ---------------------------------------------------------------------------


def undersample(image: Tensor, mask: Tensor) -> Tensor:
    """Measured k-space of an image: fft2c(image) on the mask, 0 elsewhere (complex)."""
    return fft2c(image) * mask.to(torch.bool)


def zero_filled(kspace: Tensor, mask: Tensor) -> Tensor:
    """The zero-filled reconstruction ifft2c(mask * kspace), complex (take .abs() to view it)."""
    return ifft2c(kspace * mask.to(torch.bool))


def _hermitian_data(kspace: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The data a real image must match: mask | mirror(mask), with K(-k) = conj K(k) filled in.

    Where both k and -k were measured the two values are averaged, which is the least-squares
    real solution when noise makes them disagree.
    """
    m = torch.broadcast_to(mask.to(torch.bool), kspace.shape)
    m_mirror = mirror(m)
    total = m.to(kspace.real.dtype) + m_mirror.to(kspace.real.dtype)
    summed = kspace * m + torch.conj(mirror(kspace)) * m_mirror
    return summed / total.clamp_min(1), m | m_mirror


def data_consistency(x: Tensor, kspace: Tensor, mask: Tensor, *, real: bool = False) -> Tensor:
    """Hard data consistency: replace x's k-space by the measured values on the mask.

    The orthogonal projection of x onto {x' : mask * fft2c(x') = kspace} (fft2c is unitary).
    real=True projects onto the real images of that set instead: a real image's k-space is
    Hermitian, so measuring k also fixes -k; filling mask | mirror(mask) keeps the result real,
    and its real part then matches the data exactly (a plain .real of the complex projection
    would not). Returns a real tensor when real=True, else a complex one.
    """
    if real:
        data, m = _hermitian_data(kspace, mask)
    else:
        data, m = kspace, torch.broadcast_to(mask.to(torch.bool), kspace.shape)
    projected = ifft2c(torch.where(m, data, fft2c(x)))
    return projected.real if real else projected


def kspace_residual(x: Tensor, kspace: Tensor, mask: Tensor) -> Tensor:
    """Largest |fft2c(x) - kspace| on the mask: 0 for a data-consistent image."""
    m = torch.broadcast_to(mask.to(torch.bool), kspace.shape)
    diff = (fft2c(x) - kspace).abs()
    return diff[m].max() if bool(m.any()) else diff.new_zeros(())
