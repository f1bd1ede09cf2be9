"""Fréchet distance and kernel inception distance between feature sets, through torchmetrics."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance


class KIDResult(NamedTuple):
    """KID mean and (biased) std over random subsets, and how the subsets were drawn."""

    mean: float
    std: float
    subsets: int
    subset_size: int


class _Features(nn.Module):
    """Identity extractor: torchmetrics' custom `feature` module for precomputed features."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features  # torchmetrics reads this instead of probing with an image

    def forward(self, x: Tensor) -> Tensor:
        """Return the (N, D) features unchanged, in float64."""
        return x.flatten(1).double()


def check_feature_sets(real: Tensor, fake: Tensor, min_samples: int, what: str) -> None:
    """Raise ValueError unless real (N, D) and fake (M, D) are finite with N, M >= min_samples."""
    if real.dim() != 2 or fake.dim() != 2:
        raise ValueError(
            f"{what} needs 2-D (samples, features) tensors, got shapes "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"{what} needs one feature dimension, got {real.shape[1]} (real) "
            f"and {fake.shape[1]} (fake)"
        )
    if min(real.shape[0], fake.shape[0]) < min_samples:
        raise ValueError(
            f"{what} needs at least {min_samples} samples per set, got "
            f"{real.shape[0]} real and {fake.shape[0]} fake"
        )
    if not (torch.isfinite(real).all() and torch.isfinite(fake).all()):
        raise ValueError(f"{what} needs finite features, got NaN or inf")


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """|mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^1/2) of Gaussian fits (Heusel et al. 2017).

    real is (N, D) and fake (M, D) features; N, M >= 2 (and N, M > D for a full-rank fit).
    Computed in float64 by torchmetrics' FrechetInceptionDistance with an identity extractor.
    """
    check_feature_sets(real, fake, 2, "Fréchet distance")
    metric = FrechetInceptionDistance(feature=_Features(real.shape[1])).to(real.device)
    metric.update(real.double(), real=True)
    metric.update(fake.double().to(real.device), real=False)
    return float(metric.compute())


def kernel_inception_distance(
    real: Tensor,
    fake: Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    seed: int = 0,
) -> KIDResult:
    """Unbiased MMD^2 with kernel (x.y / D + 1)^degree: mean and std over random subsets drawn
    without replacement (Binkowski et al. 2018, section 4).

    real is (N, D) and fake (M, D) features, N, M >= 4. subset_size is capped at half the
    smaller set, so the subsets differ and their std is a spread, not the rounding error of
    one full-set value drawn again. torchmetrics draws the subsets from the global torch RNG;
    here that RNG is forked and seeded with `seed`, so a call is reproducible.
    """
    check_feature_sets(real, fake, 4, "kernel inception distance")
    size = min(subset_size, min(real.shape[0], fake.shape[0]) // 2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(
            feature=_Features(real.shape[1]), subsets=subsets, subset_size=size, degree=degree
        ).to(real.device)
    metric.update(real.double(), real=True)
    metric.update(fake.double().to(real.device), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return KIDResult(float(mean), float(std), subsets, size)
