"""Naive and denoising score matching, computed exactly for a Gaussian mixture by Monte Carlo.

    J_naive(theta) = 1/2 E_t E_{x ~ p_t} lambda(t) |s_theta(x, t) - grad_x log p(x, t)|^2
    J_dsm(theta)   = 1/2 E_t E_{x0} E_{x | x0} lambda(t) |s_theta(x, t) - grad_x log p(x, t | x0)|^2

with t ~ U(t_min, t_max), x = x0 + sigma sqrt(t) eps and grad_x log p(x, t | x0) =
-(x - x0) / (sigma^2 t). Their difference J_dsm - J_naive = 1/2 E lambda(t) (|grad log p(x|x0)|^2
- |grad log p(x)|^2) does not depend on theta (Vincent 2011), so the two share gradients and
minimiser. Both estimators draw t, x0 and eps in the same order from the generator: with equal
seeds they see the same samples (common random numbers), and J_naive's exact score is evaluated
at a true sample of p_t.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from medgen.analytic.mixture import GaussianMixture

ScoreFn = Callable[[Tensor, Tensor], Tensor]  # (x (B, d), t (B,)) -> score (B, d)
WeightFn = Callable[[Tensor], "Tensor | float"]  # lambda(t): (B,) -> (B,) or a constant


def unit_weight(t: Tensor) -> Tensor:
    """lambda(t) = 1."""
    return torch.ones_like(t)


class DiffusionDraw(NamedTuple):
    """One Monte Carlo draw of the forward process for score matching."""

    t: Tensor  # (n,) times ~ U(t_min, t_max)
    x0: Tensor  # (n, d) clean samples of p_0
    eps: Tensor  # (n, d) standard normal noise
    x: Tensor  # (n, d) x0 + sigma sqrt(t) eps, an exact sample of p_t


def draw(
    mixture: GaussianMixture,
    *,
    n: int,
    generator: torch.Generator | None = None,
    t_min: float = 1e-3,
    t_max: float = 1.0,
) -> DiffusionDraw:
    """Draw t ~ U(t_min, t_max), x0 ~ p_0, eps ~ N(0, I) in order; x = x0 + sigma sqrt(t) eps."""
    if not 0 < t_min <= t_max:
        raise ValueError(f"need 0 < t_min <= t_max, got t_min={t_min}, t_max={t_max}")
    dt, dev = mixture.dtype, mixture.device
    t = t_min + (t_max - t_min) * torch.rand(n, generator=generator, dtype=dt, device=dev)
    x0 = mixture.sample(n, 0.0, generator=generator)
    eps = torch.randn(n, mixture.dim, generator=generator, dtype=dt, device=dev)
    x = x0 + mixture.sigma * torch.sqrt(t)[:, None] * eps
    return DiffusionDraw(t, x0, eps, x)


def _lambda(weight: WeightFn, t: Tensor) -> Tensor:
    """lambda(t) broadcast to t's shape and dtype."""
    return torch.as_tensor(weight(t), dtype=t.dtype, device=t.device).expand_as(t)


def conditional_score(mixture: GaussianMixture, d: DiffusionDraw) -> Tensor:
    """grad_x log p(x, t | x0) = -(x - x0) / (sigma^2 t), the DSM target, (n, d)."""
    return -(d.x - d.x0) / (mixture.sigma**2 * d.t[:, None])


def naive_terms(
    score_fn: ScoreFn, mixture: GaussianMixture, d: DiffusionDraw, weight: WeightFn = unit_weight
) -> Tensor:
    """Per-sample 1/2 lambda(t) |s_theta(x, t) - grad_x log p(x, t)|^2, (n,)."""
    with torch.no_grad():
        target = mixture.score(d.x, d.t)
    residual = score_fn(d.x, d.t) - target
    return 0.5 * _lambda(weight, d.t) * residual.square().sum(-1)


def dsm_terms(
    score_fn: ScoreFn, mixture: GaussianMixture, d: DiffusionDraw, weight: WeightFn = unit_weight
) -> Tensor:
    """Per-sample 1/2 lambda(t) |s_theta(x, t) - grad log p(x, t|x0)|^2 (Song et al. 2021 Eq. 7)."""
    residual = score_fn(d.x, d.t) - conditional_score(mixture, d)
    return 0.5 * _lambda(weight, d.t) * residual.square().sum(-1)


def j_naive(
    score_fn: ScoreFn,
    mixture: GaussianMixture,
    *,
    n: int,
    generator: torch.Generator | None = None,
    weight: WeightFn = unit_weight,
    t_min: float = 1e-3,
    t_max: float = 1.0,
) -> Tensor:
    """J_naive = 1/2 E_t E_{x ~ p_t} lambda(t) |s_theta(x, t) - grad log p(x, t)|^2, a scalar."""
    d = draw(mixture, n=n, generator=generator, t_min=t_min, t_max=t_max)
    return naive_terms(score_fn, mixture, d, weight).mean()


def j_dsm(
    score_fn: ScoreFn,
    mixture: GaussianMixture,
    *,
    n: int,
    generator: torch.Generator | None = None,
    weight: WeightFn = unit_weight,
    t_min: float = 1e-3,
    t_max: float = 1.0,
) -> Tensor:
    """J_dsm = 1/2 E_t E_{x0} E_{x|x0} lambda(t) |s_theta(x, t) - grad log p(x, t | x0)|^2."""
    d = draw(mixture, n=n, generator=generator, t_min=t_min, t_max=t_max)
    return dsm_terms(score_fn, mixture, d, weight).mean()


def constant_terms(
    mixture: GaussianMixture, d: DiffusionDraw, weight: WeightFn = unit_weight
) -> Tensor:
    """Per-sample 1/2 lambda(t) (d / (sigma^2 t) - |grad log p(x, t)|^2), of mean J_dsm - J_naive.

    E[|grad log p(x|x0)|^2 | t] = d / (sigma^2 t) is used exactly (Rao-Blackwellised over eps).
    """
    with torch.no_grad():
        fisher = mixture.score(d.x, d.t).square().sum(-1)
        return 0.5 * _lambda(weight, d.t) * (mixture.dim / (mixture.sigma**2 * d.t) - fisher)


def dsm_constant(
    mixture: GaussianMixture,
    *,
    n: int,
    generator: torch.Generator | None = None,
    weight: WeightFn = unit_weight,
    t_min: float = 1e-3,
    t_max: float = 1.0,
) -> Tensor:
    """theta-free J_dsm - J_naive = 1/2 E lambda(t) (E|grad log p(x|x0)|^2 - E|grad log p(x)|^2)."""
    d = draw(mixture, n=n, generator=generator, t_min=t_min, t_max=t_max)
    return constant_terms(mixture, d, weight).mean()
