"""Sigma discretisations for sampling: n decreasing noise levels followed by sigma = 0.

Every function returns n + 1 values sigma_0 > ... > sigma_{n-1} > sigma_n = 0, computed in
float64 and cast to `dtype`, and can be called as `fn(n, sigma_min, sigma_max, **knobs)`;
`DISCRETIZATIONS` maps names to them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from medgen.diffusion.schedules import BrownianVE, Schedule, VPCosine, VPLinear

Discretization = Callable[..., Tensor]


def _check(n: int, sigma_min: float, sigma_max: float) -> None:
    if n < 1:
        raise ValueError(f"n = {n}: need at least one step")
    if not 0 < sigma_min <= sigma_max:
        raise ValueError(f"sigma_min, sigma_max = {sigma_min}, {sigma_max}: need 0 < min <= max")


def _append_zero(sigmas: Tensor, dtype: torch.dtype, device: torch.device | str | None) -> Tensor:
    """The float64 levels with a final 0, as (n + 1,) in `dtype` on `device`."""
    return torch.cat([sigmas, sigmas.new_zeros(1)]).to(dtype=dtype, device=device)


def karras_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    rho: float = 7.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """sigma_i = (max^(1/rho) + i/(n-1) (min^(1/rho) - max^(1/rho)))^rho (Karras 2022, eq. 5)."""
    _check(n, sigma_min, sigma_max)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return _append_zero((hi + ramp * (lo - hi)) ** rho, dtype, device)


def polyexponential_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    rho: float = 1.0,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """log sigma_i = log min + (1 - i/(n-1))^rho log(max/min) (k-diffusion's polyexponential)."""
    _check(n, sigma_min, sigma_max)
    ramp = torch.linspace(1, 0, n, dtype=torch.float64) ** rho
    log_sigmas = math.log(sigma_min) + ramp * math.log(sigma_max / sigma_min)
    return _append_zero(log_sigmas.exp(), dtype, device)


def loglinear_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """Log-uniform levels: equal steps in log sigma (DPM-Solver's uniform-lambda spacing)."""
    return polyexponential_sigmas(n, sigma_min, sigma_max, 1.0, dtype=dtype, device=device)


def uniform_in_t(
    schedule: Schedule,
    n: int,
    t_max: float,
    t_min: float,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """sigma(t_i) of `schedule` at n equally spaced times from t_max down to t_min, then 0."""
    if n < 1 or not t_min <= t_max:
        raise ValueError(f"n, t_min, t_max = {n}, {t_min}, {t_max}: need n >= 1, t_min <= t_max")
    t = torch.linspace(t_max, t_min, n, dtype=torch.float64)
    return _append_zero(schedule.sigma(t), dtype, device)


def _t_of(schedule: Schedule, sigma: float) -> float:
    return float(schedule.sigma_inv(torch.tensor(sigma, dtype=torch.float64)))


def uniform_t_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """The seed's Brownian VE, sigma(t) = sigma_max sqrt(t), at uniform t (Song et al. 2021)."""
    _check(n, sigma_min, sigma_max)
    ve = BrownianVE(sigma_max)
    return uniform_in_t(ve, n, 1.0, _t_of(ve, sigma_min), dtype=dtype, device=device)


def vp_sigmas(
    n: int,
    sigma_min: float | None = None,
    sigma_max: float | None = None,
    *,
    beta_min: float = 0.1,
    beta_max: float = 20.0,
    eps_s: float = 1e-3,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """VP linear-beta levels sqrt(exp(int_0^t beta) - 1) at uniform t in [eps_s, 1] (Karras tab. 1).

    sigma_min / sigma_max, when given, replace the end times eps_s / 1 by sigma's inverse.
    """
    vp = VPLinear(beta_min, beta_max)
    t_max = 1.0 if sigma_max is None else _t_of(vp, sigma_max)
    t_min = eps_s if sigma_min is None else _t_of(vp, sigma_min)
    return uniform_in_t(vp, n, t_max, t_min, dtype=dtype, device=device)


def cosine_sigmas(
    n: int,
    sigma_min: float,
    sigma_max: float,
    *,
    s: float = 0.008,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Tensor:
    """VP cosine levels (Nichol & Dhariwal 2021, eq. 17) at uniform t between sigma_max and min."""
    _check(n, sigma_min, sigma_max)
    vp = VPCosine(s)
    t_max, t_min = _t_of(vp, sigma_max), _t_of(vp, sigma_min)
    return uniform_in_t(vp, n, t_max, t_min, dtype=dtype, device=device)


DISCRETIZATIONS: dict[str, Discretization] = {
    "karras": karras_sigmas,
    "polyexponential": polyexponential_sigmas,
    "loglinear": loglinear_sigmas,
    "uniform_t": uniform_t_sigmas,
    "vp": vp_sigmas,
    "cosine": cosine_sigmas,
}
