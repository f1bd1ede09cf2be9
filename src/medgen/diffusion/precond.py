"""Preconditioning: a network F becomes a denoiser D_x = c_skip x + c_out F(c_in x, c_noise).

Karras et al. 2022, eq. 7 and table 1. Each variant is one `coefficients(sigma)` function; the
forward pass is written once, in `Precond`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from medgen.diffusion.schedules import Schedule, VPLinear, as_float_tensor

Network = Callable[[Tensor, Tensor, Any], Tensor]  # F(c_in x, c_noise, cond), c_noise (B,)


class PrecondCoefficients(NamedTuple):
    """The four preconditioning coefficients of Karras et al. 2022, table 1."""

    c_skip: Tensor  # weight of the skip connection x
    c_out: Tensor  # scale of the network output
    c_in: Tensor  # scale of the network input
    c_noise: Tensor  # the noise conditioning fed to the network


def expand_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """sigma as a (B, 1, ..., 1) tensor on x's device, broadcastable against x (B, ...)."""
    sigma = as_float_tensor(sigma).to(device=x.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma has shape {tuple(sigma.shape)}; need () or ({x.shape[0]},)")
    return sigma.reshape(-1, *([1] * (x.ndim - 1)))


def edm_coefficients(sigma: Tensor, sigma_data: float = 0.5) -> PrecondCoefficients:
    """EDM column of Karras et al. 2022, table 1: unit-variance input and training target."""
    total = sigma**2 + sigma_data**2
    return PrecondCoefficients(
        c_skip=sigma_data**2 / total,
        c_out=sigma * sigma_data / total.sqrt(),
        c_in=total.rsqrt(),
        c_noise=sigma.log() / 4,
    )


def ve_coefficients(sigma: Tensor) -> PrecondCoefficients:
    """VE column of Karras et al. 2022, table 1 (Song et al. 2021's NCSN++ models)."""
    return PrecondCoefficients(
        c_skip=torch.ones_like(sigma),
        c_out=sigma,
        c_in=torch.ones_like(sigma),
        c_noise=(0.5 * sigma).log(),
    )


def vp_coefficients(sigma: Tensor, schedule: Schedule, m: int = 1000) -> PrecondCoefficients:
    """VP column of Karras et al. 2022, table 1: an epsilon-prediction model, D = x - sigma eps."""
    return PrecondCoefficients(
        c_skip=torch.ones_like(sigma),
        c_out=-sigma,
        c_in=(sigma**2 + 1).rsqrt(),  # = s(t) for every VP schedule: the model sees x_t
        c_noise=(m - 1) * schedule.sigma_inv(sigma),  # DDPM's integer timestep, made continuous
    )


class Precond(nn.Module):
    """D_x = c_skip x + c_out F(c_in x, c_noise, cond) (Karras et al. 2022, eq. 7)."""

    def __init__(self, net: nn.Module | Network) -> None:
        super().__init__()
        self.net = net

    def coefficients(self, sigma: Tensor) -> PrecondCoefficients:
        """The variant's (c_skip, c_out, c_in, c_noise) at noise level sigma."""
        raise NotImplementedError

    def forward(self, x: Tensor, sigma: Tensor | float, cond: Any = None) -> Tensor:
        """The denoised estimate D_x of x (B, ...) at noise level sigma (B,) or scalar."""
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # fp16 nets too
        sigma = expand_sigma(sigma, x).to(dtype)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)  # each (B, 1, ..., 1)
        F_x = self.net((c_in * x).to(x.dtype), c_noise.flatten(), cond)
        D_x = c_skip * x + c_out * F_x.to(sigma.dtype)
        return D_x.to(x.dtype)


class EDMPrecond(Precond):
    """Karras et al. 2022's preconditioning (table 1, EDM column)."""

    def __init__(self, net: nn.Module | Network, sigma_data: float = 0.5) -> None:
        super().__init__(net)
        self.sigma_data = sigma_data  # standard deviation of the training data

    def coefficients(self, sigma: Tensor) -> PrecondCoefficients:
        """EDM coefficients."""
        return edm_coefficients(sigma, self.sigma_data)


class VEPrecond(Precond):
    """Variance-exploding preconditioning (table 1, VE column): F predicts the scaled noise."""

    def coefficients(self, sigma: Tensor) -> PrecondCoefficients:
        """VE coefficients."""
        return ve_coefficients(sigma)


class VPPrecond(Precond):
    """VP preconditioning (table 1, VP column): wraps an epsilon-prediction (DDPM) model.

    F receives x_t = s(t) x and the timestep (m - 1) t with t = schedule.sigma_inv(sigma), so a
    DDPM network trained on m discrete steps plugs in unchanged; use `VPCosine()` for iDDPM.
    """

    def __init__(
        self, net: nn.Module | Network, schedule: Schedule | None = None, m: int = 1000
    ) -> None:
        super().__init__(net)
        self.schedule = schedule if schedule is not None else VPLinear()  # time <-> noise map
        self.m = m  # number of discrete DDPM timesteps the network was trained with

    def coefficients(self, sigma: Tensor) -> PrecondCoefficients:
        """VP coefficients."""
        return vp_coefficients(sigma, self.schedule, self.m)


EpsilonDenoiser = VPPrecond  # D = x - sigma eps(s x, t): a DDPM epsilon model as a denoiser

PRECONDS: dict[str, type[Precond]] = {"edm": EDMPrecond, "ve": VEPrecond, "vp": VPPrecond}
