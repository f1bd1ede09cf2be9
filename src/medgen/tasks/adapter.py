"""Adapters that turn models and vector denoisers into image denoisers in the tasks' units.

The tasks work on images in the data's range [0, 1] with the noise std in the same units, so a
noise level estimated from a scan is the level the denoiser is called with. A pixel-space
DiffusionModel works in [-1, 1]: x_signed = 2 x - 1, so the same noise has std 2 sigma there and

    D_unit(x, sigma) = (D_signed(2 x - 1, 2 sigma) + 1) / 2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from medgen.devices import device_of
from medgen.diffusion import Denoiser
from medgen.diffusion.precond import expand_sigma
from medgen.models import DiffusionModel, GenerativeModel

SIGNED_PER_UNIT = 2.0  # [-1, 1] units per [0, 1] unit


class PixelDenoiser(NamedTuple):
    """A pixel-space diffusion model's denoiser on [0, 1] images, its levels in [0, 1] units."""

    denoiser: Denoiser  # D(x (B, C, H, W) in [0, 1], sigma (B,) in [0, 1] units) -> E[x_0 | x]
    sigma_min: float  # the model's smallest sampling level, [0, 1] units
    sigma_max: float  # the model's largest sampling level, [0, 1] units
    scale: float  # model units per [0, 1] unit (2: images live in [-1, 1] inside the model)


def pixel_denoiser(model: GenerativeModel) -> PixelDenoiser:
    """Wrap a pixel-space DiffusionModel's EDM denoiser to denoise [0, 1] images (unconditional).

    Latent models are refused: a VAE decoder is not a linear map, so pixel noise of std sigma
    is not latent noise of any known std, and k-space data consistency needs pixels too.
    Conditional models are called with the null label, i.e. as the unconditional prior.
    """
    if not isinstance(model, DiffusionModel):
        family = getattr(model, "family", type(model).__name__)
        raise ValueError(f"model family {family!r}: the tasks need a diffusion model")
    if model.vae is not None:
        raise ValueError(
            "this diffusion model works on VAE latents; the tasks need a pixel-space diffusion "
            "model (train one with latent mode off)"
        )
    net = model.denoiser
    n_labels = len(model.config.conditioning.names)
    scale = SIGNED_PER_UNIT
    device = device_of(net)

    @torch.no_grad()
    def denoise_unit(x: Tensor, sigma: Tensor) -> Tensor:
        # the network runs where it lives; the caller's tensors stay where they are
        sigma_b = expand_sigma(sigma, x).flatten().to(device=device, dtype=x.dtype)  # (B,)
        cond = None
        if n_labels:
            cond = torch.zeros(x.shape[0], n_labels, dtype=torch.long, device=device)
        signed = net(scale * x.to(device) - 1, scale * sigma_b, cond)
        return ((signed + 1) / scale).to(x.device)

    c = model.config
    return PixelDenoiser(denoise_unit, c.sigma_min / scale, c.sigma_max / scale, scale)


def image_denoiser(denoiser: Denoiser) -> Denoiser:
    """A vector denoiser D((B, d), sigma) as an image denoiser D((B, C, H, W), sigma).

    Lets the exact Gaussian-mixture denoiser of `medgen.analytic` (d = C H W) stand in for a
    network, so every task can be checked against closed forms on small images.
    """

    def on_images(x: Tensor, sigma: Tensor) -> Tensor:
        sigma_b = expand_sigma(sigma, x).flatten().to(x.dtype)  # (B,)
        return denoiser(x.flatten(1), sigma_b).reshape(x.shape)

    return on_images
