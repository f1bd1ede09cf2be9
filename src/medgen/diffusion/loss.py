"""Denoising score matching in the denoiser form, its weightings, and training noise levels.

lambda(sigma) |D(x_0 + sigma n, sigma) - x_0|^2 with n ~ N(0, I) (Karras et al. 2022, eq. 2 and
eq. 8; Vincent 2011). Its minimiser over D is E[x_0 | x], the exact denoiser, for any lambda > 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from medgen.diffusion.precond import expand_sigma
from medgen.diffusion.schedules import Schedule
from medgen.draws import rand, randn

Weighting = Callable[[Tensor, float], Tensor]  # lambda(sigma, sigma_data), sigma (B, 1, ...)

MIN_SNR_GAMMA = 5.0  # Hang et al. 2023's clamp on the signal-to-noise ratio


def weight_uniform(sigma: Tensor, sigma_data: float) -> Tensor:
    """lambda = 1: plain x_0-prediction error (the "simple" loss in denoiser form)."""
    return torch.ones_like(sigma)


def weight_ve(sigma: Tensor, sigma_data: float) -> Tensor:
    """lambda = 1/sigma^2: Song et al. 2021's sigma^2 |s - s*|^2 = |D - x_0|^2 / sigma^2."""
    return sigma ** (-2)


def weight_edm(sigma: Tensor, sigma_data: float) -> Tensor:
    """lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 = 1 / c_out^2 (Karras eq. 8)."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def weight_min_snr(sigma: Tensor, sigma_data: float) -> Tensor:
    """lambda = min(SNR, gamma), SNR = 1/sigma^2: Min-SNR-gamma for x_0-prediction (Hang 2023).

    Hang et al. 2023 weight the x_0-prediction error by min(SNR_t, gamma), SNR_t = alpha_t^2 /
    sigma_t^2, which is 1/sigma^2 in the EDM parameterisation (any VP or VE schedule). Their
    epsilon form, min(SNR, gamma)/SNR |eps - eps*|^2, is the same loss: |eps - eps*|^2 =
    SNR |D - x_0|^2. gamma = MIN_SNR_GAMMA = 5, the paper's default.
    """
    return torch.clamp(sigma ** (-2), max=MIN_SNR_GAMMA)


WEIGHTINGS: dict[str, Weighting] = {
    "uniform": weight_uniform,
    "ve": weight_ve,
    "edm": weight_edm,
    "min_snr": weight_min_snr,
}


def call_denoiser(denoiser: Callable[..., Tensor], x: Tensor, sigma: Tensor, cond: Any) -> Tensor:
    """D(x, sigma), or D(x, sigma, cond) when a condition is given."""
    return denoiser(x, sigma) if cond is None else denoiser(x, sigma, cond)


def dsm_loss(
    denoiser: Callable[..., Tensor],
    x0: Tensor,
    sigma: Tensor | float,
    *,
    weighting: str | Weighting = "edm",
    sigma_data: float = 0.5,
    generator: torch.Generator | None = None,
    cond: Any = None,
) -> Tensor:
    """Unreduced lambda(sigma) |D(x_0 + sigma n, sigma) - x_0|^2, shaped like x0 (Karras eq. 2)."""
    if isinstance(weighting, str) and weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r} (known: {', '.join(WEIGHTINGS)})")
    weight_fn = WEIGHTINGS[weighting] if isinstance(weighting, str) else weighting
    sigma = expand_sigma(sigma, x0).to(x0.dtype)  # (B, 1, ..., 1)
    n = randn(x0.shape, generator, device=x0.device, dtype=x0.dtype)
    D_x = call_denoiser(denoiser, x0 + sigma * n, sigma.flatten(), cond)
    return weight_fn(sigma, sigma_data) * (D_x - x0) ** 2


def sample_sigma_lognormal(
    n: int,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Training noise levels ln sigma ~ N(p_mean, p_std^2), shape (n,) (Karras et al. 2022, sec. 5).

    p_mean: mean of ln sigma; p_std: standard deviation of ln sigma.
    """
    return torch.exp(p_mean + p_std * randn((n,), generator, device=device))


def sample_sigma_schedule(
    n: int,
    schedule: Schedule,
    generator: torch.Generator | None = None,
    t_min: float = 1e-5,
    t_max: float | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Training noise levels sigma(t), t ~ U[t_min, t_max], shape (n,) (Song et al. 2021).

    t_min: smallest time, keeping sigma > 0 (Song et al. use 1e-5); t_max: defaults to the end
    of `schedule.t_range`.
    """
    t_hi = schedule.t_range[1] if t_max is None else t_max
    u = rand((n,), generator, device=device)
    return schedule.sigma(t_min + (t_hi - t_min) * u)
