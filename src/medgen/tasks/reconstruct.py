"""Undersampled MRI reconstruction: diffusion posterior sampling with hard data consistency.

Chung & Ye (2022, score-MRI) and Song et al. (2022, "Solving inverse problems in medical imaging
with score-based generative models") alternate a reverse-diffusion step with a projection onto
the measurements y = M F x. This module uses the x_0-projection form of that idea (as in DDNM,
Wang et al. 2023, and DDS, Chung et al. 2024), an ancestral step whose denoised estimate is made
data-consistent before re-noising. At level sigma_i, with D the denoiser:

    x0_hat  = D(x_i, sigma_i)                        predictor: E[x_0 | x_i]
    eps_hat = (x_i - x0_hat) / sigma_i               the noise the predictor removed
    x0_dc   = P_y(x0_hat)                             hard data consistency in k-space
    x_{i+1} = x0_dc + sigma_down eps_hat + sigma_up z  DDIM / ancestral re-noising (eta)

with sigma_down^2 + sigma_up^2 = sigma_{i+1}^2 (eta = 1: DDPM's posterior std, eta = 0: DDIM).
The last step goes to sigma = 0, so the output is x0_dc itself and matches the measured k-space
exactly on the mask. One denoiser call per step: NFE = len(sigmas) - 1 for all k samples.

Images are real (magnitude images; the simulated k-space comes from real images), so P_y is the
projection onto the real images consistent with y: `data_consistency(..., real=True)` also fills
the Hermitian mirror of each measured sample, so the kept real part is itself data-consistent.
Sampling starts from the (Hermitian) zero-filled image diffused to sigma_0, a warm start (Chung,
Sim & Ye 2022, "Come-closer-diffuse-faster") that is equivalent to pure noise for a large sigma_0.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from medgen.diffusion import Callback, CountingDenoiser, Denoiser, sample_projected
from medgen.draws import randn
from medgen.tasks.denoise import mmse_estimate, uncertainty
from medgen.tasks.kspace import data_consistency


class Reconstruction(NamedTuple):
    """Posterior samples of an undersampled MRI reconstruction and their summaries."""

    mean: Tensor  # (B, C, H, W) MMSE estimate: the mean of the samples
    std: Tensor  # (B, C, H, W) per-pixel posterior std (the uncertainty map)
    samples: Tensor  # (k, B, C, H, W) data-consistent posterior samples
    nfe: int  # denoiser calls (each on all k B chains at once): len(sigmas) - 1


def sample_dc(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    kspace: Tensor,
    mask: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    eta: float = 1.0,  # 1: DDPM ancestral noise; 0: deterministic DDIM
) -> Tensor:
    """Ancestral sampling with the denoised estimate projected onto the data at every step.

    x (B, C, H, W) starts at level sigmas[0]; kspace (B, C, H, W) holds the measurements and
    mask (H, W) where they were taken. Same signature as `medgen.diffusion.SAMPLERS` plus the data.
    """
    return sample_projected(
        denoiser,
        x,
        sigmas,
        lambda x0: data_consistency(x0, kspace, mask, real=True),
        generator=generator,
        callback=callback,
        eta=eta,
    )


def reconstruct(
    denoiser: Denoiser,
    kspace: Tensor,
    mask: Tensor,
    sigmas: Tensor,
    k: int = 4,
    *,
    generator: torch.Generator | None = None,
    eta: float = 1.0,
) -> Reconstruction:
    """k posterior samples of the image behind undersampled k-space, their mean and std.

    kspace (B, C, H, W) complex (zeros off the mask are fine), mask (H, W) boolean, sigmas a
    decreasing ladder ending at 0 in the denoiser's image units (e.g. `karras_sigmas`). For a
    trained model use `medgen.tasks.pixel_denoiser` and its [0, 1]-unit sigma_min / sigma_max.
    """
    if k < 1:
        raise ValueError(f"k = {k}: need at least one sample")
    if not kspace.is_complex():
        raise ValueError(f"kspace has dtype {kspace.dtype}: it must be complex (see fft2c)")
    if float(sigmas[-1]) != 0:
        raise ValueError(f"sigmas end at {float(sigmas[-1])}: the last level must be 0")
    measured = kspace.repeat(k, *([1] * (kspace.ndim - 1)))  # (k B, C, H, W), chain j at j B + b
    start = data_consistency(measured.real.new_zeros(measured.shape), measured, mask, real=True)
    sigmas = sigmas.to(device=start.device, dtype=start.dtype)
    noise = randn(start.shape, generator, device=start.device, dtype=start.dtype)
    counted = CountingDenoiser(denoiser)
    x = sample_dc(
        counted, start + sigmas[0] * noise, sigmas, measured, mask, generator=generator, eta=eta
    )
    samples = x.reshape(k, *kspace.shape)
    return Reconstruction(mmse_estimate(samples), uncertainty(samples), samples, counted.nfe)
