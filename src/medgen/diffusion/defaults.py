"""medgen's default sampler and noise levels, taken from the data, and why they are these.

The default is LMS (4th-order Adams-Bashforth in sigma, `SAMPLERS["lms"]`) on Karras levels with
rho = DEFAULT_RHO from sigma_max down to sigma_min, started from the Gaussian fit of the data
diffused to sigma_max: x = m + (C + sigma_max^2 I)^(1/2) z, with m and C the mean and covariance
of a sample of the data (`data_stats`).

sigma_max is the data's diameter, the largest distance between two examples of a sample
(technique 1 of Song & Ermon 2020), times SIGMA_MAX_PER_DIAMETER. The start decides how high
sigma_max must be: the sampler's error from the start is the distance of p(x; sigma_max) to the
start's law, and the Gaussian fit already carries the data's spread, so sigma_max needs to blur
only the structure a Gaussian lacks (the gaps between modes), not the whole spread. With an
isotropic start N(m, (sigma_max^2 + sigma_data^2) I), sigma_max had to be 1.5 diameters to cover
the spread within clusters too, which in a hundred dimensions is most of the diameter
(sqrt(2 d) of each cluster's std), and the default needed ~20 NFE to match the peers' 10. The
factor is not lower than 1 because the start inherits the sample's error: the mean of 512
examples is off by ~sqrt(tr C / 512), and on the 25-mode grid that moves the converged SW1 from
the floor's 0.030 to 0.028-0.063 across four draws of the sample at 0.75 diameters, 0.028-0.056
at 1 and 0.030-0.048 at 1.5 (experiments/samplers_suite/NOTES.md). A multiple of sigma_data is
not a rule: in one dimension a rare mode far away barely moves sigma_data. Nor is a factor that
grows with the NFE budget: at 50 NFE, twice the diameter helps one tuning problem (a rare mode in
two dimensions) and costs six of the 45 measured, one of them past the convergence bound.

The rule, the start, the solver and rho were chosen on the tuning part of `medgen.analytic.suite`
and are scored on its held-out part (experiments/samplers_suite/NOTES.md,
benchmarks/results/samplers_suite.txt); the 25-mode grid (benchmarks/results/samplers.txt) is one
more check.

The image models (`medgen.models.DiffusionModel`) take the rule's start and sigma_max (the
diameter of their first training images) but keep their own Karras rho 7 levels: a trained network
needs the steps at low sigma, and rho 2 raises the pixel prior's FD by 4-60% at 20 NFE
(experiments/samplers_suite/NOTES.md, "The image models"). A model records its training data's
mean and leading covariance axes (`DiffusionModel.fit_data`) and starts from the fit; at 20 NFE
that lowers FD on all three noise draws of the shipped pixel prior and latent model, conditional
and not (benchmarks/results/samplers_images.txt).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from medgen.diffusion.discretization import karras_sigmas
from medgen.diffusion.nfe import expected_nfe
from medgen.diffusion.samplers import SAMPLERS, Denoiser

DEFAULT_SAMPLER = "lms"  # key of SAMPLERS
DEFAULT_DISCRETIZATION = "karras"  # key of DISCRETIZATIONS: n + 1 levels, rho = DEFAULT_RHO, no 0
DEFAULT_TO_ZERO = False  # the levels end at sigma_min (see default_sigmas)
DEFAULT_RHO = 2.0  # Karras et al. 2022 eq. 5 exponent: steps even in sigma^(1/2) (EDM uses 7)
SIGMA_MAX_PER_DIAMETER = 1.0  # sigma_max / the largest distance between two examples
SIGMA_MAX_PER_SIGMA_DATA = 3.0  # sigma_max / sigma_data when only sigma_data is known
DEFAULT_SIGMA_MIN = 0.002  # smallest nonzero level, in data units (EDM's)
STATS_EXAMPLES = 512  # examples used for the diameter, O(n^2 d), and at least for the covariance
# multiply-adds n d min(n, d) allowed for the covariance's SVD: 512 examples of a 64 x 64 image,
# every example of 10,000 up to d = 327
COVARIANCE_COST = 2**30


class DataStats(NamedTuple):
    """What the default levels and start need to know about the data."""

    mean: Tensor  # (...) the data's mean, one example's shape
    sigma_data: float  # per-coordinate std sqrt(tr Cov / d)
    diameter: float  # largest distance between two examples of the sample
    # the sample covariance C = axes^T diag(scales^2) axes: axes (r, d) orthonormal rows, scales
    # (r,) the std along each; r = 0 when only sigma_data is known (then C = sigma_data^2 I)
    axes: Tensor = torch.zeros(0, 0)
    scales: Tensor = torch.zeros(0)


def covariance_examples(n: int, d: int, cost: int = COVARIANCE_COST) -> int:
    """How many of n examples in d dimensions the covariance takes: the most whose SVD costs at
    most `cost` multiply-adds (n d min(n, d)), and never fewer than STATS_EXAMPLES (or n)."""
    if n < 1 or d < 1:
        raise ValueError(f"need n >= 1 examples in d >= 1 dimensions, got n={n}, d={d}")
    affordable = cost // (d * d)  # n d^2 <= cost, when n >= d
    if affordable < d:
        affordable = math.isqrt(cost // d)  # n^2 d <= cost, when n < d
    return min(n, max(STATS_EXAMPLES, affordable))


def data_stats(x: Tensor, max_examples: int = STATS_EXAMPLES) -> DataStats:
    """Mean, sigma_data, diameter and covariance of examples x (N, ...), N >= 2.

    The diameter comes from the first `max_examples`: its estimate grows slowly with N, the
    largest of N^2 / 2 distances, and it costs N^2 d. The covariance comes from the first
    `covariance_examples(N, d)`, every example where that is cheap: the start
    (`gaussian_fit_start`) inherits the covariance's error, and in one or two dimensions a rare
    mode's share of 512 examples is off by a fifth of itself, which kept a held-out problem 17%
    above the floor at 50 NFE (experiments/samplers_suite/NOTES.md, round 5)."""
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 examples (N, ...), got shape {tuple(x.shape)}")
    flat = x.flatten(1).double()  # (N, d)
    sigma_data = float(flat.var(dim=0).mean().sqrt())
    head = flat[:max_examples]
    diameter = float(torch.cdist(head, head).max())
    if not (sigma_data > 0 and math.isfinite(diameter)):
        raise ValueError("the examples must be finite and not all equal")
    sample = flat[: covariance_examples(*flat.shape)]
    centred = (sample - sample.mean(dim=0)) / math.sqrt(sample.shape[0] - 1)
    _, scales, axes = torch.linalg.svd(centred, full_matrices=False)
    return DataStats(x.mean(dim=0), sigma_data, diameter, axes, scales)


def gaussian_fit_start(stats: DataStats, sigma_max: float, noise: Tensor) -> Tensor:
    """x = m + (C + sigma_max^2 I)^(1/2) z: unit Gaussian `noise` z (B, ...) mapped to the
    Gaussian fit of p(x; sigma_max), the data (mean m, covariance C) diffused to sigma_max.

    With C = V^T diag(s^2) V (`DataStats.axes`, `.scales`) the square root is
    sigma_max I + V^T diag(sqrt(s^2 + sigma_max^2) - sigma_max) V: O(B r d), no d x d matrix.
    Without axes C is sigma_data^2 I and the start is m + sqrt(sigma_max^2 + sigma_data^2) z.
    """
    mean = stats.mean.to(device=noise.device, dtype=noise.dtype)
    if stats.axes.numel() == 0:
        return mean + prior_std(sigma_max, stats.sigma_data) * noise
    axes = stats.axes.to(device=noise.device, dtype=noise.dtype)
    scales = stats.scales.to(device=noise.device, dtype=noise.dtype)
    z = noise.flatten(1)
    gain = (scales.square() + sigma_max**2).sqrt() - sigma_max
    x = sigma_max * z + ((z @ axes.T) * gain) @ axes
    return mean + x.reshape(noise.shape)


def sigma_max_of(data: Tensor | DataStats) -> float:
    """sigma_max = SIGMA_MAX_PER_DIAMETER * the data's diameter (Song & Ermon 2020, technique 1)."""
    stats = data if isinstance(data, DataStats) else data_stats(data)
    return SIGMA_MAX_PER_DIAMETER * stats.diameter


def default_sigma_max(sigma_data: float) -> float:
    """sigma_max = SIGMA_MAX_PER_SIGMA_DATA * sigma_data, for callers that know only sigma_data.

    Good for low-dimensional data with modes a few sigma_data apart (the 25-mode grid); far too
    low when modes lie further apart than that, which only examples reveal (`sigma_max_of`).
    """
    if not sigma_data > 0:
        raise ValueError(f"sigma_data must be positive, got {sigma_data}")
    return SIGMA_MAX_PER_SIGMA_DATA * sigma_data


def default_sigmas(
    n_steps: int,
    sigma_min: float,
    sigma_max: float,
    *,
    rho: float = DEFAULT_RHO,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """n_steps + 1 Karras levels (Karras et al. 2022, eq. 5) from sigma_max down to sigma_min.

    No final 0: the run stops at sigma_min, whose noise is negligible, and returns x there. A step
    to 0 would spend its NFE on D(x, sigma_min) ~ x; here that NFE is one more level in the ramp.
    """
    return karras_sigmas(n_steps + 1, sigma_min, sigma_max, rho, dtype=dtype, device=device)[:-1]


def prior_std(sigma_max: float, sigma_data: float) -> float:
    """Std sqrt(sigma_max^2 + sigma_data^2) of p(x; sigma_max) for data of std sigma_data.

    The usual start x = sigma_max z ignores the data's own variance, fine at sigma_max >> sigma_data
    (EDM) but biased by sigma_data^2 / 2 sigma_max^2 in std at a sigma_max of a few sigma_data.
    """
    return math.hypot(sigma_max, sigma_data)


def steps_for_nfe(name: str, nfe: int, **knobs: Any) -> int:
    """The most steps n (to sigma = 0) with expected_nfe(name, n) <= nfe; at least 1."""
    if nfe < 1:
        raise ValueError(f"nfe must be >= 1, got {nfe}")
    n = 1
    while expected_nfe(name, n + 1, **knobs) <= nfe:
        n += 1
    return n


def _stats(data: Tensor | DataStats | None, sigma_data: float | None) -> DataStats:
    """The data's stats from examples or stats, or the grid-era stand-in from sigma_data alone."""
    if (data is None) == (sigma_data is None):
        raise ValueError("give exactly one of data (examples or DataStats) and sigma_data")
    if isinstance(data, DataStats):
        return data
    if data is not None:
        return data_stats(data)
    assert sigma_data is not None
    return DataStats(
        torch.zeros(()), sigma_data, default_sigma_max(sigma_data) / SIGMA_MAX_PER_DIAMETER
    )


def sample_default(
    denoiser: Denoiser,
    noise: Tensor,
    nfe: int,
    *,
    data: Tensor | DataStats | None = None,
    sigma_data: float | None = None,
    sigma_min: float = DEFAULT_SIGMA_MIN,
    sigma_max: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Samples from unit Gaussian `noise` (B, ...) with the default sampler, at most `nfe` calls.

    `data`: examples of the data (N, ...) or their `data_stats`; the levels and the start (the
    Gaussian fit of the diffused data) follow from them. `sigma_data` alone (no examples) falls
    back to sigma_max = 3 sigma_data and an isotropic start at 0.
    """
    stats = _stats(data, sigma_data)
    sigma_max = sigma_max_of(stats) if sigma_max is None else sigma_max
    n = steps_for_nfe(DEFAULT_SAMPLER, nfe, to_zero=DEFAULT_TO_ZERO)
    sigmas = default_sigmas(n, sigma_min, sigma_max, device=noise.device)
    x = gaussian_fit_start(stats, sigma_max, noise)
    return SAMPLERS[DEFAULT_SAMPLER](denoiser, x, sigmas, generator=generator)
