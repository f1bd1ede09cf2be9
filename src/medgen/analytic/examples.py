"""Named Gaussian mixtures used by the lab, the tests and the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from medgen.analytic.mixture import GaussianMixture


def _dtype(dtype: torch.dtype | None) -> torch.dtype:
    return torch.get_default_dtype() if dtype is None else dtype


def seed_mixture_1d(sigma: float = 1.0, dtype: torch.dtype | None = None) -> GaussianMixture:
    """1-D, 3 components of unequal width: w = (0.3, 0.5, 0.2), mu = (-3, 0, 2.5).

    Stds (0.4, 0.8, 0.3): a broad central mode between two narrow ones of different weight.
    """
    dt = _dtype(dtype)
    weights = torch.tensor([0.3, 0.5, 0.2], dtype=dt)
    means = torch.tensor([[-3.0], [0.0], [2.5]], dtype=dt)  # (K, 1)
    stds = torch.tensor([0.4, 0.8, 0.3], dtype=dt)
    return GaussianMixture(weights, means, stds.square(), sigma)


def grid_mixture_2d(
    std: float = 0.1, sigma: float = 1.0, dtype: torch.dtype | None = None
) -> GaussianMixture:
    """25 equal-weight isotropic modes of std `std` at {-4, -2, 0, 2, 4}^2."""
    dt = _dtype(dtype)
    axis = torch.arange(-4.0, 5.0, 2.0, dtype=dt)
    means = torch.cartesian_prod(axis, axis)  # (25, 2)
    k = means.shape[0]
    return GaussianMixture(
        torch.ones(k, dtype=dt), means, torch.full((k,), std**2, dtype=dt), sigma
    )


def ring_mixture_2d(
    n_modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    sigma: float = 1.0,
    dtype: torch.dtype | None = None,
) -> GaussianMixture:
    """n_modes equal-weight isotropic modes of std `std`, evenly spaced on a circle of `radius`."""
    dt = _dtype(dtype)
    angle = torch.arange(n_modes, dtype=torch.float64) * (2.0 * math.pi / n_modes)
    means = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)  # (K, 2)
    ones = torch.ones(n_modes, dtype=dt)
    return GaussianMixture(ones, means.to(dt), ones * std**2, sigma)


def thin_mixture(
    d: int = 16,
    k: int = 4,
    intrinsic_dim: int = 2,
    thin_std: float = 1e-3,
    wide_std: float = 1.0,
    mean_std: float = 2.0,
    seed: int = 0,
    sigma: float = 1.0,
    dtype: torch.dtype | None = None,
) -> GaussianMixture:
    """k nearly flat components in R^d: data near a union of intrinsic_dim-dimensional planes.

    Component j has a random orthonormal basis U_j (seeded); its covariance is wide_std^2 along the
    first intrinsic_dim axes of U_j and thin_std^2 across the other d - intrinsic_dim; means are
    N(0, mean_std^2 I). Equal weights, full covariances.
    """
    if not 0 < intrinsic_dim <= d:
        raise ValueError(f"need 0 < intrinsic_dim <= d, got {intrinsic_dim} and {d}")
    gen = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    basis, _ = torch.linalg.qr(torch.randn(k, d, d, generator=gen, dtype=f64))  # (K, d, d)
    lam = torch.full((d,), thin_std**2, dtype=f64)
    lam[:intrinsic_dim] = wide_std**2
    covs = basis @ torch.diag(lam) @ basis.mT  # (K, d, d)
    covs = 0.5 * (covs + covs.mT)
    means = mean_std * torch.randn(k, d, generator=gen, dtype=f64)
    mixture = GaussianMixture(torch.ones(k, dtype=f64), means, covs, sigma)
    return mixture.to(_dtype(dtype))  # keeps the float64 eigendecomposition of the thin covs


EXAMPLES: dict[str, Callable[..., GaussianMixture]] = {
    "seed_1d": seed_mixture_1d,
    "grid_2d": grid_mixture_2d,
    "ring_2d": ring_mixture_2d,
    "thin": thin_mixture,
}
