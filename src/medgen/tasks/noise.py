"""MRI magnitude noise: Rician simulation, its closed-form moments, noise-level estimation, bias.

A magnitude image is M = |A + n_1 + i n_2| with n_1, n_2 ~ N(0, sigma^2) i.i.d. (Gudbjartsson &
Patz 1995): Rician with mean

    E[M] = sigma sqrt(pi/2) L_1/2(-A^2 / 2 sigma^2),   E[M^2] = A^2 + 2 sigma^2,

and Rayleigh (A = 0) in the air around the head. A Gaussian denoiser D(x, sigma) assumes
x = x_0 + sigma n with zero-mean noise; Rician noise is biased upwards (by ~ sigma^2 / 2A at high
SNR, by sigma sqrt(pi/2) at A = 0), so it is handled explicitly, in one of two ways:

* "moment" (before the denoiser): A_hat = sqrt(max(M^2 - sigma^2, 0)) removes the mean bias to
  first order (E[M] ~ sqrt(A^2 + sigma^2) at high SNR), so the denoiser's input is centred on A
  wherever the SNR is moderate; sqrt(M^2 - 2 sigma^2) is the version for averages of M^2.
* "exact" (after the denoiser): treat the denoised magnitude as an estimate of E[M] and invert the
  exact Rician mean A -> E[M | A, sigma] (monotone, so the inverse is unique; Foi 2011's exact
  unbiased inverse). Unbiased at any SNR given a good estimate of E[M], whereas the pixelwise
  moment correction clips at 0 where A < ~sigma and is biased low there.

Both remove most of the bias on the low-SNR toy of the tests (A ~ 2.5 sigma); "moment" is cheaper
(no bisection) and hands the prior an input that looks like a clean image, so it is the one to
try first. `medgen.tasks.denoise(..., rician=...)` applies either.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from medgen.draws import randn

_MAD_TO_STD = 0.6744897501960817  # Phi^-1(3/4): median |N(0, 1)|
_RAYLEIGH_MEDIAN = math.sqrt(2 * math.log(2))  # median of a unit Rayleigh variable


class RicianMoments(NamedTuple):
    """Mean and variance of a Rician magnitude |A + sigma (n_1 + i n_2)|."""

    mean: Tensor
    var: Tensor


def _sigma_like(sigma: float | Tensor, x: Tensor) -> Tensor:
    """sigma as a tensor in x's dtype and device, checked positive, broadcastable against x."""
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if not bool((s > 0).all()):
        raise ValueError(f"sigma = {sigma}: the noise level must be positive")
    if s.ndim == 1 and x.ndim > 1 and s.shape[0] == x.shape[0]:
        s = s.reshape(-1, *([1] * (x.ndim - 1)))  # one level per example
    return s


def add_rician(
    clean: Tensor, sigma: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """|clean + n_1 + i n_2|, n_1, n_2 ~ N(0, sigma^2): a magnitude image's Rician noise.

    sigma is a scalar or one level per example (B,); clean is the true (non-negative) magnitude.
    """
    s = _sigma_like(sigma, clean)
    shape, dt, dev = clean.shape, clean.dtype, clean.device
    n1 = randn(shape, generator, device=dev, dtype=dt)
    n2 = randn(shape, generator, device=dev, dtype=dt)
    return torch.hypot(clean + s * n1, s * n2)


def _half_laguerre(x: Tensor) -> Tensor:
    """L_1/2(x) for x <= 0 via exponentially scaled Bessel functions, stable for any |x|.

    L_1/2(x) = e^(x/2) [(1 - x) I_0(-x/2) - x I_1(-x/2)]; with u = -x/2 >= 0 and
    i_k(u) = e^(-u) I_k(u) this is (1 + 2u) i_0(u) + 2u i_1(u).
    """
    u = -x / 2
    return (1 + 2 * u) * torch.special.i0e(u) + 2 * u * torch.special.i1e(u)


def rician_moments(amplitude: Tensor, sigma: float | Tensor) -> RicianMoments:
    """Closed-form E[M] = sigma sqrt(pi/2) L_1/2(-A^2/2sigma^2), Var[M] = A^2 + 2sigma^2 - E^2."""
    s = _sigma_like(sigma, amplitude)
    mean = s * math.sqrt(math.pi / 2) * _half_laguerre(-(amplitude**2) / (2 * s**2))
    var = (amplitude**2 + 2 * s**2 - mean**2).clamp_min(0)
    return RicianMoments(mean, var)


def rician_mean(amplitude: Tensor, sigma: float | Tensor) -> Tensor:
    """E[M | A, sigma], the exact expected magnitude (the forward map of the exact correction)."""
    return rician_moments(amplitude, sigma).mean


def inverse_rician_mean(mean: Tensor, sigma: float | Tensor, iterations: int = 60) -> Tensor:
    """The A >= 0 with E[M | A, sigma] = mean: Foi (2011)'s exact unbiased inverse, by bisection.

    E[M | A] rises monotonically from the Rayleigh mean sigma sqrt(pi/2) at A = 0, and
    sqrt(max(m^2 - 2 sigma^2, 0)) <= A <= m brackets the root (Jensen: A <= E[M] <= sqrt(E[M^2])),
    so bisection converges without tuning. Means at or below the Rayleigh mean map to 0.
    """
    s = _sigma_like(sigma, mean)
    m = mean.clamp_min(0)
    lo = (m**2 - 2 * s**2).clamp_min(0).sqrt()
    hi = m.clone()
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = rician_mean(mid, s) > m
        hi = torch.where(above, mid, hi)
        lo = torch.where(above, lo, mid)
    rayleigh_mean = s * math.sqrt(math.pi / 2)
    return torch.where(m <= rayleigh_mean, torch.zeros_like(m), (lo + hi) / 2)


def moment_correction(magnitude: Tensor, sigma: float | Tensor, moment: int = 1) -> Tensor:
    """sqrt(max(M^2 - moment sigma^2, 0)): the Rician bias removed pixel by pixel.

    moment=2 makes the square unbiased, E[M^2 - 2 sigma^2] = A^2: right for averages of M^2.
    Its root is biased low by ~sigma^2 / 2A (Jensen), as much as M is biased high, so before a
    denoiser, which averages its input, use moment=1: E[M] ~ sqrt(A^2 + sigma^2) at high SNR,
    so sqrt(M^2 - sigma^2) is unbiased to first order (Gudbjartsson & Patz 1995).
    """
    if moment not in (1, 2):
        raise ValueError(f"moment = {moment}: use 1 (the mean) or 2 (the square)")
    s = _sigma_like(sigma, magnitude)
    return (magnitude**2 - moment * s**2).clamp_min(0).sqrt()


RICIAN_CORRECTIONS = ("moment", "exact", "none")


def rayleigh_sigma(magnitude: Tensor, background: Tensor, robust: bool = False) -> Tensor:
    """Per-example sigma from the background, where M is Rayleigh: sqrt(mean(M^2) / 2), (B,).

    E[M^2] = 2 sigma^2 for a Rayleigh variable, so this is the maximum-likelihood estimate.
    robust=True uses median(M) / sqrt(2 ln 2) instead, insensitive to a few tissue pixels that
    leaked into the mask. magnitude is (B, ...); background a boolean mask broadcastable to it.
    """
    mask = torch.broadcast_to(background.to(torch.bool), magnitude.shape).flatten(1)
    m = magnitude.flatten(1)
    counts = mask.sum(1)
    if bool((counts == 0).any()):
        raise ValueError("the background mask selects no pixel in at least one example")
    if not robust:
        return ((m**2 * mask).sum(1) / (2 * counts)).sqrt()
    return torch.stack([row[keep].median() for row, keep in zip(m, mask, strict=True)]).div(
        _RAYLEIGH_MEDIAN
    )


def border_mask(height: int, width: int, border: int) -> Tensor:
    """A (height, width) boolean frame `border` pixels wide: the air around a centred head."""
    if not 0 < 2 * border < min(height, width):
        raise ValueError(f"border = {border}: need 0 < 2 * border < {min(height, width)}")
    mask = torch.ones(height, width, dtype=torch.bool)
    mask[border:-border, border:-border] = False
    return mask


def haar_diagonal(image: Tensor) -> Tensor:
    """The finest diagonal Haar wavelet band (a - b - c + d) / 2 of (..., H, W), (..., H/2, W/2).

    Orthonormal, so i.i.d. N(0, sigma^2) pixel noise gives N(0, sigma^2) coefficients, while a
    smooth image contributes almost nothing to this band.
    """
    h, w = image.shape[-2] // 2 * 2, image.shape[-1] // 2 * 2
    x = image[..., :h, :w]
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a - b - c + d) / 2


def mad_sigma(image: Tensor) -> Tensor:
    """Per-example Gaussian noise std: median |HH| / 0.6745 (Donoho & Johnstone 1994), (B,).

    image is (B, ..., H, W). Coefficients that are exactly 0 (flat, clipped or padded regions)
    are left out, as scikit-image's `estimate_sigma` does; for Rician data estimate on the
    moment-corrected image or use `rayleigh_sigma`.
    """
    band = haar_diagonal(image).flatten(1).abs()
    out = []
    for row in band:
        nonzero = row[row > 0]
        out.append(nonzero.median() if nonzero.numel() else row.new_zeros(()))
    return torch.stack(out) / _MAD_TO_STD
