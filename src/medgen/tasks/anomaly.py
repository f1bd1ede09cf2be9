"""Unsupervised anomaly detection with a diffusion model trained on healthy scans only.

The model knows only healthy anatomy, so a scan's healthy look-alike `recon` can be made from it;
the residual |x - recon|, smoothed and restricted to the brain, is the anomaly map, and its
largest values score the slice. Two ways to make the look-alike:

* "partial" (AnoDDPM, Wyatt et al. 2022; Pinaya et al. 2022): noise the scan to a level t_sigma
  that drowns a lesion but keeps the layout, and run the reverse process from t_sigma to 0.
  The reverse path ends at one sample of the healthy images near x, which invents its own fine
  detail at every step, so the residual is high on healthy tissue too unless the model is
  excellent.
* "ensemble" (multi-level denoising; cf. Graham et al. 2023): the mean over noise levels
  s <= t_sigma and noise draws z of the one-step posterior mean D(x + s z, s) = E[healthy | x
  seen through noise s] (Tweedie). A posterior mean invents nothing: on healthy tissue it
  returns x up to the model's error, while a lesion the healthy prior cannot explain at level s
  is pulled towards tissue. Averaging draws removes the imprint of each draw, and the levels join
  fine (small s) and coarse (large s) evidence. One NFE per level and draw.

Wyatt et al. (2022, AnoDDPM) found Gaussian noise too fine-grained to hide large lesions and
used multi-octave simplex noise; `structured_noise` is a cheap stand-in with the same property
(smooth, multi-scale, unit std) made from upsampled random grids.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from medgen.diffusion import SAMPLERS, CountingDenoiser, Denoiser
from medgen.draws import randn
from medgen.tasks.denoise import matched_sigmas

NOISES = ("gaussian", "structured")
METHODS = ("ensemble", "partial")


class AnomalyResult(NamedTuple):
    """The outputs of partial diffusion reconstruction on a batch of slices."""

    recon: Tensor  # (B, C, H, W) healthy reconstruction
    map: Tensor  # (B, C, H, W) smoothed, masked residual |x - recon|
    score: Tensor  # (B,) slice score: mean of the top fraction of map values
    nfe: int  # denoiser calls per slice
    spread: Tensor  # (B, C, H, W) per-pixel std of the ensemble's estimates (partial: zeros)


def structured_noise(
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
    octaves: int = 4,  # number of grid resolutions summed
    base_resolution: int = 2,  # grid cells per side of the coarsest octave
    persistence: float = 0.6,  # amplitude ratio of successive (finer) octaves
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Multi-octave smooth noise (B, C, H, W), zero mean and unit std per example.

    Octave o is a (base 2^o)^2 grid of N(0, 1) values upsampled bilinearly to (H, W), weighted
    persistence^o: a cheap simplex-noise substitute whose energy sits at low frequencies.
    """
    if len(shape) != 4:
        raise ValueError(f"shape = {shape}: structured noise needs (B, C, H, W)")
    if octaves < 1 or base_resolution < 1:
        raise ValueError(f"octaves = {octaves}, base_resolution = {base_resolution}: need >= 1")
    b, c, h, w = shape
    total = torch.zeros(shape, dtype=dtype, device=device)
    for o in range(octaves):
        res = base_resolution * 2**o
        grid = randn((b, c, res, res), generator, device=device, dtype=dtype)
        up = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        total = total + persistence**o * up
    flat = total.flatten(1)
    flat = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True).clamp_min(1e-12)
    return flat.reshape(shape)


def gaussian_blur(x: Tensor, sigma_px: float) -> Tensor:
    """Separable Gaussian blur of (B, C, H, W) with std sigma_px pixels (edge-replicated)."""
    if sigma_px <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma_px))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma_px**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _draw(noise: str, x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Unit noise shaped like x: white Gaussian, or the smooth multi-octave kind."""
    if noise not in NOISES:
        raise ValueError(f"noise = {noise!r}: use one of {', '.join(NOISES)}")
    if noise == "gaussian":
        return randn(x.shape, generator, device=x.device, dtype=x.dtype)
    return structured_noise(tuple(x.shape), generator, dtype=x.dtype, device=x.device)


def level_ladder(t_sigma: float, levels: int) -> list[float]:
    """`levels` evenly spaced noise levels t_sigma / levels, 2 t_sigma / levels, ..., t_sigma."""
    if not t_sigma > 0 or levels < 1:
        raise ValueError(f"t_sigma = {t_sigma}, levels = {levels}: need t_sigma > 0, levels >= 1")
    return [t_sigma * (i + 1) / levels for i in range(levels)]


def ensemble_reconstruction(
    denoiser: Denoiser,
    x: Tensor,
    t_sigma: float,
    *,
    levels: int = 4,
    draws: int = 10,
    noise: str = "gaussian",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, int]:
    """(recon, spread, nfe): the mean of D(x + s z, s) over `draws` noise draws z at each level s
    of level_ladder(t_sigma, levels), the per-pixel std of those estimates, and levels x draws.

    The draws of one level go through the denoiser as one batch of draws x B images.
    """
    if draws < 1:
        raise ValueError(f"draws = {draws}: need at least 1")
    estimates = []
    for s in level_ladder(t_sigma, levels):
        noisy = torch.cat([x + s * _draw(noise, x, generator) for _ in range(draws)])
        sigma = torch.full((noisy.shape[0],), s, dtype=x.dtype, device=x.device)
        estimates.append(denoiser(noisy, sigma).reshape(draws, *x.shape))
    stacked = torch.cat(estimates)  # (levels draws, B, C, H, W)
    spread = stacked.std(0) if stacked.shape[0] > 1 else torch.zeros_like(x)
    return stacked.mean(0), spread, levels * draws


def partial_reconstruction(
    denoiser: Denoiser,
    x: Tensor,
    t_sigma: float,
    *,
    steps: int = 10,
    noise: str = "gaussian",
    sampler: str = "heun",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, int]:
    """(recon, nfe): x noised to level t_sigma, then denoised by `sampler` from t_sigma to 0.

    The default sampler is the deterministic PF-ODE (Heun), so the noise draw is the only
    randomness; any key of `medgen.diffusion.SAMPLERS` works.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler = {sampler!r}: use one of {', '.join(SAMPLERS)}")
    z = _draw(noise, x, generator)
    sigmas = matched_sigmas(t_sigma, steps).to(device=x.device, dtype=x.dtype)
    counted = CountingDenoiser(denoiser)
    recon = SAMPLERS[sampler](counted, x + t_sigma * z, sigmas, generator=generator)
    return recon, counted.nfe


def anomaly_map(
    x: Tensor, recon: Tensor, blur_sigma: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """|x - recon| blurred by blur_sigma pixels and zeroed outside `mask` (e.g. the brain)."""
    residual = gaussian_blur((x - recon).abs(), blur_sigma)
    return residual if mask is None else residual * mask.to(residual.dtype)


def slice_score(amap: Tensor, top_fraction: float = 0.01) -> Tensor:
    """Mean of the largest ceil(top_fraction N) map values of each example, (B,)."""
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction = {top_fraction}: must be in (0, 1]")
    flat = amap.flatten(1)
    n = max(1, math.ceil(top_fraction * flat.shape[1]))
    return flat.topk(n, dim=1).values.mean(1)


def detect_anomalies(
    denoiser: Denoiser,
    x: Tensor,
    t_sigma: float,
    *,
    method: str = "ensemble",
    levels: int = 4,
    draws: int = 10,
    steps: int = 10,
    noise: str = "gaussian",
    sampler: str = "heun",
    blur_sigma: float = 1.0,
    mask: Tensor | None = None,
    top_fraction: float = 0.01,
    generator: torch.Generator | None = None,
) -> AnomalyResult:
    """Healthy look-alike by `method`, anomaly map and slice score of slices x (B, C, H, W).

    "ensemble" uses levels and draws, "partial" uses steps and sampler; both use noise.
    """
    if method == "ensemble":
        recon, spread, nfe = ensemble_reconstruction(
            denoiser, x, t_sigma, levels=levels, draws=draws, noise=noise, generator=generator
        )
    elif method == "partial":
        recon, nfe = partial_reconstruction(
            denoiser, x, t_sigma, steps=steps, noise=noise, sampler=sampler, generator=generator
        )
        spread = torch.zeros_like(x)  # one reverse path: its spread needs repeats
    else:
        raise ValueError(f"method = {method!r}: use one of {', '.join(METHODS)}")
    amap = anomaly_map(x, recon, blur_sigma, mask)
    return AnomalyResult(recon, amap, slice_score(amap, top_fraction), nfe, spread)
