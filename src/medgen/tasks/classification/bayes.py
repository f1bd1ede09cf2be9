"""The diffusion classifier: Bayes' rule over class-conditional denoising errors.

Li et al. 2023 ("Your diffusion model is secretly a zero-shot classifier") and Clark & Jaini 2023
score each class c by how well the class-conditional denoiser D(x, sigma, c) denoises the slice.
For the VE process x_sigma = x_0 + sigma eps the continuous-time ELBO (Kingma et al. 2021, with
SNR = 1 / sigma^2) is

    log p(x_0 | c) = C - int_0^inf E_eps |x_0 - D(x_0 + sigma eps, sigma, c)|^2 sigma^-3 d sigma
                   = C - int E_eps |eps - eps_c(x_0 + sigma eps, sigma)|^2 d ln sigma,

eps_c = (x - D_c) / sigma, with C the same for every class (it diverges as the lower end of the
integral goes to 0, which is why only differences between classes are used). It holds with
equality for the exact denoiser (Kong et al. 2023, "Information-theoretic diffusion"): for a
Gaussian class N(mu, S) the mean term integrates to (x_0 - mu)^T S^-1
(x_0 - mu) / 2 and the trace term to log det S / 2 plus a class-independent constant. So the
posterior is softmax_c(log prior_c - sum_s w_s |eps_s - eps_c(x_0 + sigma_s eps_s, sigma_s)|^2)
over draws (sigma_s, eps_s) with weights w_s in d ln sigma; every class is scored on the same
draws (paired, as Li et al. do), which cancels most of the Monte Carlo noise in the differences.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from medgen.draws import rand, randn

# D(x (B, ...), sigma (B,), c (B,) long class index 0..K-1) -> E[x_0 | x, c] (B, ...)
ClassDenoiser = Callable[[Tensor, Tensor, Tensor], Tensor]


class NoiseDraws(NamedTuple):
    """The (sigma, eps) pairs every class is scored on, and their quadrature weights."""

    sigmas: Tensor  # (S,) noise levels
    noise: Tensor  # (S, *shape) standard-normal eps, one per level
    weights: Tensor  # (S,) weight of each draw in the integral over d ln sigma


class Posterior(NamedTuple):
    """The classifier's output on N slices."""

    log_posterior: Tensor  # (N, K) log p(c | x)
    errors: Tensor  # (N, K, S) |eps - eps_c|^2 per class and draw
    nfe: int  # network evaluations per slice: classes x draws
    seconds: float  # wall time per slice


def log_uniform_draws(
    n: int,
    sigma_min: float,
    sigma_max: float,
    shape: tuple[int, ...],
    generator: torch.Generator | None = None,
) -> NoiseDraws:
    """n draws with ln sigma stratified-uniform on [ln sigma_min, ln sigma_max] (one per stratum)
    and Gaussian eps; each weighs (ln sigma_max - ln sigma_min) / n, a Monte Carlo estimate of
    the integral over that range."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    u = (torch.arange(n, dtype=torch.float64) + rand((n,), generator).double()) / n  # (S,)
    sigmas = torch.exp(lo + (hi - lo) * u).float()
    weights = torch.full((n,), (hi - lo) / n)
    return NoiseDraws(sigmas, randn((n, *shape), generator), weights)


def within(draws: NoiseDraws, sigma_min: float, sigma_max: float) -> Tensor:
    """(S,) weights of `draws` with those outside [sigma_min, sigma_max] set to 0: the same draws
    scored over a narrower range of levels, at no extra NFE."""
    keep = (draws.sigmas >= sigma_min) & (draws.sigmas <= sigma_max)
    return draws.weights * keep.to(draws.weights.dtype)


def denoising_errors(
    denoiser: ClassDenoiser, x0: Tensor, n_classes: int, draws: NoiseDraws, chunk: int = 256
) -> Tensor:
    """(B, K, S) |eps_s - eps_c(x0 + sigma_s eps_s, sigma_s)|^2 summed over pixels, for every
    class c on the same draws; the network sees at most `chunk` rows at a time."""
    b, s = x0.shape[0], len(draws.sigmas)
    sigmas = draws.sigmas.to(x0)
    noise = draws.noise.to(x0)
    rows = [(c, j) for c in range(n_classes) for j in range(s)]  # (class, draw) per row
    out = torch.empty(b, n_classes, s, dtype=x0.dtype, device=x0.device)
    per_call = max(1, chunk // max(b, 1))  # (class, draw) pairs per call
    for start in range(0, len(rows), per_call):
        part = rows[start : start + per_call]
        cls = torch.tensor([c for c, _ in part], device=x0.device).repeat_interleave(b)
        lvl = torch.tensor([j for _, j in part], device=x0.device)
        sigma = sigmas[lvl].repeat_interleave(b)  # (P B,)
        eps = noise[lvl].repeat_interleave(b, dim=0)  # (P B, ...)
        x = x0.repeat(len(part), *([1] * (x0.ndim - 1)))  # (P B, ...)
        sig = sigma.view(-1, *([1] * (x0.ndim - 1)))
        denoised = denoiser(x + sig * eps, sigma, cls)
        # eps - eps_c = eps - (x + sigma eps - D) / sigma = (D - x0) / sigma
        err = ((denoised - x) / sig).flatten(1).square().sum(1)  # (P B,)
        for i, (c, j) in enumerate(part):
            out[:, c, j] = err[i * b : (i + 1) * b]
    return out


def log_posterior(errors: Tensor, weights: Tensor, log_prior: Tensor) -> Tensor:
    """(N, K) log p(c | x) = log_softmax_c(log prior_c - sum_s w_s errors[n, c, s])."""
    log_lik = -(errors * weights.to(errors)).sum(-1)  # (N, K) up to a class-free constant
    return torch.log_softmax(log_prior.to(errors) + log_lik, dim=-1)


def classify(
    denoiser: ClassDenoiser,
    x0: Tensor,
    log_prior: Tensor,
    draws: NoiseDraws,
    batch_size: int = 16,
    chunk: int = 256,
) -> Posterior:
    """The diffusion classifier's posterior over len(log_prior) classes for slices x0 (N, ...)."""
    n_classes = len(log_prior)
    start = time.perf_counter()
    parts = [
        denoising_errors(denoiser, x0[i : i + batch_size], n_classes, draws, chunk)
        for i in range(0, len(x0), batch_size)
    ]
    seconds = (time.perf_counter() - start) / max(len(x0), 1)
    errors = torch.cat(parts) if parts else x0.new_zeros(0, n_classes, len(draws.sigmas))
    post = log_posterior(errors, draws.weights, log_prior)
    return Posterior(post, errors, n_classes * len(draws.sigmas), seconds)
