"""medgen's default sampler and noise levels, and why they are these.

The default is LMS (4th-order Adams-Bashforth in sigma, `SAMPLERS["lms"]`) on Karras levels with
rho = 2 between sigma_min and sigma_max = 3 sigma_data, started from x = sqrt(sigma_max^2 +
sigma_data^2) z, the Gaussian with the data's variance diffused to sigma_max.

The levels, not the solver, set the error at a few NFE: with the exact denoiser of a 25-mode grid,
a sigma_max of a few sigma_data, a start with the data's variance, rho 2 and a stop at sigma_min
keep the default ahead of every diffusers peer at its recommended levels from 5 to 20 NFE, and
at 20 NFE within the draw's noise of the exact ODE (tables, ablation and summary:
benchmarks/results/samplers.txt; 12 seeds: benchmarks/results/samplers_default_12_seeds.txt).
The 3 sigma_data rule is for low-dimensional data; for images sigma_max is about the largest
distance between training examples (Song & Ermon 2020), which `medgen.models` measures.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from medgen.diffusion.discretization import karras_sigmas
from medgen.diffusion.nfe import expected_nfe
from medgen.diffusion.samplers import SAMPLERS, Denoiser

DEFAULT_SAMPLER = "lms"  # key of SAMPLERS
DEFAULT_DISCRETIZATION = "karras"  # key of DISCRETIZATIONS: n + 1 levels, rho = DEFAULT_RHO, no 0
DEFAULT_TO_ZERO = False  # the levels end at sigma_min (see default_sigmas)
DEFAULT_RHO = 2.0  # Karras et al. 2022 eq. 5 exponent: steps even in sigma^(1/2) (EDM uses 7)
SIGMA_MAX_PER_SIGMA_DATA = 3.0  # sigma_max / sigma_data: above it the data looks Gaussian
DEFAULT_SIGMA_MIN = 0.002  # smallest nonzero level, in data units (EDM's)


def default_sigma_max(sigma_data: float) -> float:
    """sigma_max = SIGMA_MAX_PER_SIGMA_DATA * sigma_data (the data's per-coordinate std)."""
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


def sample_default(
    denoiser: Denoiser,
    noise: Tensor,
    nfe: int,
    *,
    sigma_data: float,
    sigma_min: float = DEFAULT_SIGMA_MIN,
    sigma_max: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Samples from unit Gaussian `noise` (B, ...): the default sampler, at most `nfe` calls."""
    sigma_max = default_sigma_max(sigma_data) if sigma_max is None else sigma_max
    n = steps_for_nfe(DEFAULT_SAMPLER, nfe, to_zero=DEFAULT_TO_ZERO)
    sigmas = default_sigmas(n, sigma_min, sigma_max, device=noise.device)
    x = prior_std(sigma_max, sigma_data) * noise
    return SAMPLERS[DEFAULT_SAMPLER](denoiser, x, sigmas, generator=generator)
