"""2-D mode-collapse metrics on ring and grid mixtures (VEEGAN, Srivastava 2017; PacGAN)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

HIGH_QUALITY_STDS = 3.0  # a sample is high quality within this many stds of its nearest mode
RING_STD = 0.01  # std of each component of the 8-mode ring (Srivastava et al. 2017)
GRID_STD = 0.05  # std of each component of the 25-mode grid (Srivastava et al. 2017)


class ModeMetrics(NamedTuple):
    """Modes captured, percent high-quality samples, reverse KL, high-quality counts per mode."""

    modes_captured: int
    high_quality: float  # percent of all samples
    reverse_kl: float  # KL(q || uniform), nats; inf when no sample is high quality
    counts: Tensor  # (K,) high-quality samples assigned to each mode


def ring_modes(n: int = 8, radius: float = 1.0) -> Tensor:
    """Means (n, 2) of the ring mixture: n points evenly spaced on a circle (VEEGAN, std 0.01)."""
    angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
    return radius * torch.stack([angle.cos(), angle.sin()], dim=1)


def grid_modes(n: int = 5, spacing: float = 2.0) -> Tensor:
    """Means (n*n, 2) of the grid mixture: {-4, -2, 0, 2, 4}^2 by default (VEEGAN, std 0.05)."""
    axis = spacing * (torch.arange(n, dtype=torch.float64) - (n - 1) / 2)
    return torch.cartesian_prod(axis, axis)


def mode_metrics(samples: Tensor, means: Tensor, std: float) -> ModeMetrics:
    """Mode-collapse metrics of samples (N, d) against isotropic modes means (K, d) (VEEGAN §5.1).

    Each sample goes to its nearest mode and is high quality within 3 std of it; a mode is
    captured when at least one high-quality sample is assigned to it; reverse KL is KL(q || p)
    of the histogram q of high-quality samples over modes against uniform p, empty bins adding 0,
    as in the PacGAN code (fjxmlzn/PacGAN, MetricLogger).
    """
    if samples.dim() != 2 or means.dim() != 2 or samples.shape[1] != means.shape[1]:
        raise ValueError(
            f"mode metrics need samples (N, d) and means (K, d) of one d, got "
            f"{tuple(samples.shape)} and {tuple(means.shape)}"
        )
    if samples.shape[0] < 1 or means.shape[0] < 1:
        raise ValueError(
            f"mode metrics need at least 1 sample and 1 mode, got {samples.shape[0]} "
            f"and {means.shape[0]}"
        )
    if not std > 0:
        raise ValueError(f"mode metrics need a positive std, got {std}")
    means = means.double().to(samples.device)
    distance, nearest = torch.cdist(samples.double(), means).min(dim=1)  # (N,), (N,)
    good = distance < HIGH_QUALITY_STDS * std
    counts = torch.bincount(nearest[good], minlength=means.shape[0])  # (K,)
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.inf
    else:
        q = counts[counts > 0].double() / total
        reverse_kl = float((q * (q * means.shape[0]).log()).sum())  # sum q log(q / (1/K))
    return ModeMetrics(
        modes_captured=int((counts > 0).sum()),
        high_quality=100.0 * total / samples.shape[0],
        reverse_kl=reverse_kl,
        counts=counts,
    )
