"""The diffusion prior in registration: its one-step posterior mean E[x_0 | x] (Tweedie)
removes the Rician noise from the training images, so that the similarity the registration
network learns from compares anatomy rather than noise. Only training pays for it: at test
time the network registers the raw images in one forward pass.

This borrows DiffuseMorph's idea (Kim et al. 2022) of a diffusion network's knowledge shaping
the registration, not its joint score-and-deformation training.
"""

from __future__ import annotations

import numpy as np
import torch

from medgen.tasks.adapter import PixelDenoiser

PRIOR_SIGMA = 0.03  # the level the prior is told, [0, 1] units: the top of the data's noise


@torch.no_grad()
def prior_denoised(
    model: PixelDenoiser, images: np.ndarray, sigma: float = PRIOR_SIGMA, batch: int = 64
) -> np.ndarray:
    """(N, H, W) float32: D(x, sigma) of each (N, H, W) image in [0, 1], clipped to [0, 1]."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.as_tensor(np.array(images[i : i + batch], np.float32))[:, None]
        d = model.denoiser(x, torch.full((len(x),), sigma))
        out.append(d.clamp(0.0, 1.0)[:, 0].numpy())
    return np.concatenate(out) if out else np.zeros_like(images, np.float32)
