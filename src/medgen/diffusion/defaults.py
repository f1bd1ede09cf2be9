"""medgen's default sampler and noise levels, chosen with the exact 25-mode grid (issue 3).

The default is LMS (4th-order Adams-Bashforth in sigma, `SAMPLERS["lms"]`) on Karras levels with
rho = 2 between sigma_min and sigma_max = 3 sigma_data, started from x = sqrt(sigma_max^2 +
sigma_data^2) z, the Gaussian with the data's variance diffused to sigma_max.

Benchmark (`python benchmarks/samplers.py`: exact denoiser on `grid_mixture_2d(std=0.1)`, 20,000
samples, SW1 to 20,000 exact samples; mean of 3 seeds; floor = fresh exact samples, 0.029):

    SW1 at NFE                                    5       10      20      50
    default (lms, Karras rho 2, 0.002-8.49)     0.064   0.041   0.037   0.037
    best diffusers peer, Karras 0.002-80 rho 7  0.61    0.19    0.042   0.037   (LMS from 10)
    medgen lms on the peers' levels             0.71    0.19    0.042   0.037

Over 12 seeds (`--default-only --seeds 12`) the default is 0.0002 +- 0.00004 above the exact
ODE from the same noise at 20 NFE and 0.0038 +- 0.0003 at 10 NFE; the exact ODE itself scores
0.036 against a floor of 0.032 +- 0.003 (one seed's SW1 varies by ~0.01), so at 20 NFE what is
left is the noise of the draw, not the solver.

What buys it: the levels, not the solver (diffusers' LMS on these levels matches medgen's to
4 digits). Ablation (`--ablation`, SW1 at 10 NFE, parts added one at a time): EDM's levels
0.19; sigma_max = 3 sigma_data with the start x = sigma_max z 0.16, and a plateau at 0.07 however
many steps (that start misses the data's variance); start sqrt(sigma_max^2 + sigma_data^2) z
0.099; rho 7 -> 2 0.041; stopping at sigma_min instead of stepping to 0 matters at 5 NFE (0.150
-> 0.064). EDM's sigma_data = 0.5 (sigma_max 1.5) is catastrophic here (1.15): the data's
spread is 2.8. Order: LMS order 1 (Euler) 0.146, 2 0.048, 3 0.041, 4 0.041. For images use
sigma_max ~ the largest distance between training examples (Song & Ermon 2020), which
`medgen.models` measures; this 3 sigma_data rule is for low-dimensional data.
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
