"""Smooth random fields for anatomy and scanner variation: affine/elastic warps, bias."""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage

from medgen.data.synth import libm
from medgen.data.synth.config import AnatomyConfig


@functools.lru_cache(maxsize=32)
def _upsampler(size: int, n_control: int) -> np.ndarray:
    """(size, n_control) matrix of cubic B-spline interpolation from n_control knots to size."""
    basis = np.eye(n_control)
    columns = [
        ndimage.zoom(e, size / n_control, order=3, mode="nearest", grid_mode=True)[:size]
        for e in basis
    ]
    return np.stack(columns, axis=1)


def smooth_field(rng: np.random.Generator, size: int, n_control: int) -> np.ndarray:
    """A (size, size) field, cubic-spline interpolated from n_control^2 N(0, 1) knots."""
    knots = rng.standard_normal((n_control, n_control))
    up = _upsampler(size, n_control)  # the spline zoom is separable: zoom(K) = U K U^T
    return libm.matmul(libm.matmul(up, knots), up.T)


def sampling_grid(
    rng: np.random.Generator, size: int, fov_mm: float, cfg: AnatomyConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Template mm offsets (dx, dy) from the brain centre for each output pixel, (size, size) each.

    Output rows run anterior -> posterior, columns patient right -> left (radiological view); a
    random rotation, isotropic scale, shift and smooth elastic displacement are applied.
    """
    pixel = fov_mm / size
    centres = (np.arange(size) + 0.5) * pixel - fov_mm / 2
    row_mm, col_mm = np.meshgrid(centres, centres, indexing="ij")  # (H, W)
    px, py = -col_mm, -row_mm  # patient x (right = +), y (anterior = +)
    angle = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    scale = rng.uniform(*cfg.scale)
    shift = rng.uniform(-cfg.shift_mm, cfg.shift_mm, size=2)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale  # inverse map: output -> template
    dx = cos * px - sin * py + shift[0]
    dy = sin * px + cos * py + shift[1]
    n_control = max(3, round(fov_mm / cfg.elastic_spacing_mm) + 1)
    dx = dx + cfg.elastic_mm * smooth_field(rng, size, n_control)
    dy = dy + cfg.elastic_mm * smooth_field(rng, size, n_control)
    return dx, dy


def bias_field(
    rng: np.random.Generator, size: int, fov_mm: float, strength: float, spacing_mm: float
) -> np.ndarray:
    """A smooth multiplicative field exp(b) with max |b| = strength (receive-coil inhomogeneity)."""
    n_control = max(2, round(fov_mm / spacing_mm) + 1)
    b = smooth_field(rng, size, n_control)
    peak = np.abs(b).max()
    return libm.exp(b * (strength / peak if peak > 0 else 0.0)).astype(np.float32)


def rician(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of the signal plus complex Gaussian noise of std `sigma` per channel (Rician)."""
    real = clean + sigma * rng.standard_normal(clean.shape)
    imag = sigma * rng.standard_normal(clean.shape)
    return np.hypot(real, imag)
