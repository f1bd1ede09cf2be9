"""Exact log-likelihood through the probability-flow ODE and the instantaneous change of variables.

The PF-ODE dx/dsigma = (x - D(x, sigma)) / sigma carries p(.; sigma_min) to p(.; sigma_max), and
along a solution d log p(x(sigma); sigma) / dsigma = -div f (Chen et al. 2018, theorem 1; Song
et al. 2021, appendix D.2), so

    log p(x; sigma_min) = log p_prior(x(sigma_max)) + int_{sigma_min}^{sigma_max} div f dsigma,

with div f = (d - div_x D) / sigma. The state (x, running integral) is integrated in sigma by a
fixed-step explicit Runge-Kutta method on log-spaced sigmas. RK4 is the default: with the exact
denoiser of a 2-D mixture its error at 128 NFE is ~1e-3 nats, Heun's ~5e-2. Denoisers take the
unscaled x (EDM form), so VP models wrapped by `VPPrecond` work too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from typing import NamedTuple, TypeVar

import torch
from torch import Tensor

from medgen.diffusion.samplers import Denoiser
from medgen.draws import rand, randn

F64 = torch.float64
T = TypeVar("T")
Prior = Callable[[Tensor, float], Tensor]  # log p_prior(x (B, ...), sigma_max) -> (B,)


class LikelihoodResult(NamedTuple):
    """Per-sample PF-ODE log-likelihood of x at noise level sigma_min."""

    log_prob: Tensor  # (B,) log p(x; sigma_min) in nats
    bits_per_dim: Tensor  # (B,) -log_prob / (d ln 2), plus the requested offset
    nfe: int  # denoiser evaluations; each also took one vector-Jacobian product per probe


def gaussian_prior_log_prob(x: Tensor, sigma_max: float) -> Tensor:
    """log N(x; 0, sigma_max^2 I), (B,): p(.; sigma_max) for VE when sigma_max >> the data."""
    d = x[0].numel()
    sq_norm = x.flatten(1).square().sum(1)
    return -0.5 * (d * math.log(2 * math.pi * sigma_max**2) + sq_norm / sigma_max**2)


PRIORS: dict[str, Prior] = {"gaussian": gaussian_prior_log_prob}


def rademacher_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Random signs +-1 with x's shape, dtype and device (Hutchinson 1989's probe)."""
    bits = rand(x.shape, generator, device=x.device) < 0.5
    return 2 * bits.to(x.dtype) - 1


def gaussian_like(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard normal probes with x's shape, dtype and device."""
    return randn(x.shape, generator, device=x.device, dtype=x.dtype)


PROBES: dict[str, Callable[[Tensor, torch.Generator | None], Tensor]] = {
    "rademacher": rademacher_like,
    "gaussian": gaussian_like,
}


def _vjp(y: Tensor, x: Tensor, v: Tensor, retain: bool) -> Tensor:
    """v^T dy/dx for each sample (zero when y does not depend on x)."""
    (g,) = torch.autograd.grad(y, x, grad_outputs=v, retain_graph=retain, allow_unused=True)
    return torch.zeros_like(x) if g is None else g


def divergence_exact(y: Tensor, x: Tensor) -> Tensor:
    """sum_i dy_i/dx_i per sample, (B,): d vector-Jacobian products (small d); frees y's graph."""
    d = x[0].numel()
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(d):
        e_i = torch.zeros_like(y).flatten(1)
        e_i[:, i] = 1
        div = div + _vjp(y, x, e_i.view_as(y), retain=i < d - 1).flatten(1)[:, i]
    return div


def divergence_hutchinson(y: Tensor, x: Tensor, probes: Tensor) -> Tensor:
    """Mean over probes v (K, B, ...) of v^T (dy/dx) v, (B,) (Hutchinson 1989); frees y's graph."""
    k = probes.shape[0]
    total = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for j in range(k):
        total = total + (_vjp(y, x, probes[j], retain=j < k - 1) * probes[j]).flatten(1).sum(1)
    return total / k


class Tableau(NamedTuple):
    """Butcher tableau of an explicit Runge-Kutta method."""

    c: tuple[float, ...]  # stage nodes, as fractions of the step
    a: tuple[tuple[float, ...], ...]  # stage j uses sum_l a[j][l] k_l
    b: tuple[float, ...]  # weights of the stages in the step


SOLVERS: dict[str, Tableau] = {
    "heun": Tableau((0.0, 1.0), ((), (1.0,)), (0.5, 0.5)),  # RK2, trapezoidal
    "rk4": Tableau(
        (0.0, 0.5, 0.5, 1.0),
        ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
        (1 / 6, 1 / 3, 1 / 3, 1 / 6),
    ),  # classical fourth-order Runge-Kutta
}


def _flow(
    denoiser: Denoiser, x: Tensor, sigma: float, *, probes: Tensor | None
) -> tuple[Tensor, Tensor]:
    """(dx/dsigma, div f) = ((x - D) / sigma, (d - div_x D) / sigma), f the PF-ODE drift."""
    d = x[0].numel()
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        D_x = denoiser(x_in, torch.full((x.shape[0],), sigma, dtype=x.dtype, device=x.device))
        if probes is None:
            div_D = divergence_exact(D_x, x_in)
        else:
            div_D = divergence_hutchinson(D_x, x_in, probes)
    return ((x - D_x) / sigma).detach(), ((d - div_D) / sigma).detach()


def _rk_step(
    tableau: Tableau,
    flow: Callable[[Tensor, float], tuple[Tensor, Tensor]],
    x: Tensor,
    delta: Tensor,
    sigma: float,
    h: float,
) -> tuple[Tensor, Tensor]:
    """One explicit Runge-Kutta step of the joint state (x, delta) from sigma to sigma + h."""
    ks: list[tuple[Tensor, Tensor]] = []  # (dx/dsigma, div f) at each stage
    for c_j, a_j in zip(tableau.c, tableau.a, strict=True):
        x_j = x + h * sum((a * k_x for a, (k_x, _) in zip(a_j, ks, strict=False)), 0 * x)
        ks.append(flow(x_j, sigma + c_j * h))
    dx = sum((b * k_x for b, (k_x, _) in zip(tableau.b, ks, strict=True)), 0 * x)
    ddelta = sum((b * k_d for b, (_, k_d) in zip(tableau.b, ks, strict=True)), 0 * delta)
    return x + h * dx, delta + h * ddelta


def _lookup(registry: dict[str, T], name: str, what: str) -> T:
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r} (known: {', '.join(registry)})")
    return registry[name]


def pf_ode_log_likelihood(
    denoiser: Denoiser,
    x: Tensor,
    sigma_max: float,
    *,
    sigma_min: float = 0.002,
    n_steps: int = 64,
    method: str = "rk4",
    hutchinson_samples: int = 1,
    generator: torch.Generator | None = None,
    exact_trace: bool = False,
    probe: str = "rademacher",
    prior: str | Prior = "gaussian",
    bpd_offset: float = 0.0,
) -> LikelihoodResult:
    """log p(x; sigma_min) by the PF-ODE from sigma_min to sigma_max (Song et al. 2021, app. D.2).

    sigma_min: noise level the data x is taken to be at (EDM's 0.002); sigma_max: where the prior
    stands in for p(.; sigma_max) (N(0, sigma_max^2 I) is off by O(|mean| / sigma_max) nats);
    n_steps: fixed steps on log-spaced sigmas; method: name in SOLVERS (NFE = stages * n_steps);
    hutchinson_samples: probes per evaluation, drawn once and fixed along the path; exact_trace:
    d backward passes per evaluation instead; probe: name in PROBES; prior: name in PRIORS or a
    callable; bpd_offset: bits added per dimension, e.g. 7 for 8-bit images scaled to [-1, 1]
    (log2 of 256 bins over width 2, as in Song et al. 2021); 0 reports continuous bits/dim.
    """
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    tableau = _lookup(SOLVERS, method, "method")
    prior_fn = _lookup(PRIORS, prior, "prior") if isinstance(prior, str) else prior
    probes = None
    if not exact_trace:
        draw = _lookup(PROBES, probe, "probe")
        probes = torch.stack([draw(x, generator) for _ in range(hutchinson_samples)])  # (K, B, ...)
    ln_sigma = torch.linspace(math.log(sigma_min), math.log(sigma_max), n_steps + 1, dtype=F64)
    sigmas = ln_sigma.exp().tolist()  # log-spaced noise levels, sigma_min to sigma_max
    x_cur = x.detach()
    delta = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)  # int div f dsigma so far
    flow = partial(_flow, denoiser, probes=probes)
    for sigma, sigma_next in pairwise(sigmas):
        x_cur, delta = _rk_step(tableau, flow, x_cur, delta, sigma, sigma_next - sigma)
    log_prob = prior_fn(x_cur, sigma_max) + delta
    d = x[0].numel()
    bits_per_dim = -log_prob / (d * math.log(2)) + bpd_offset
    return LikelihoodResult(log_prob, bits_per_dim, len(tableau.c) * n_steps)
