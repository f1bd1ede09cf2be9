"""Toy priors for the task tests (a module of its own, so test files can import it by name)."""

from __future__ import annotations

import torch

from medgen.analytic.mixture import GaussianMixture

SIZE = 8  # toy images are SIZE x SIZE


def smooth_prior(std: float, length: float, size: int = SIZE) -> GaussianMixture:
    """N(0.5, S) on size x size images, S_ij = std^2 exp(-|p_i - p_j|^2 / 2 length^2) + 1e-4 I."""
    grid = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    pixels = torch.stack(grid, -1).reshape(-1, 2).double()  # (d, 2) pixel coordinates
    cov = std**2 * torch.exp(-(torch.cdist(pixels, pixels) ** 2) / (2 * length**2))
    cov = cov + 1e-4 * torch.eye(size * size, dtype=torch.float64)
    return GaussianMixture(torch.ones(1), torch.full((1, size * size), 0.5).double(), cov[None])
