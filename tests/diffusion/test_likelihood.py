"""PF-ODE log-likelihood against exact Gaussian and Gaussian-mixture densities."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor

from medgen.analytic import GaussianMixture
from medgen.diffusion.likelihood import (
    SOLVERS,
    Prior,
    divergence_exact,
    divergence_hutchinson,
    gaussian_prior_log_prob,
    pf_ode_log_likelihood,
)

F64 = torch.float64
SIGMA_MIN = 0.002  # the data are taken to be at this noise level


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: thread start-up costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mixture_2d() -> GaussianMixture:
    covs = torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.1, -0.05], [-0.05, 0.4]]], dtype=F64)
    means = torch.tensor([[-1.5, 0.5], [1.0, -0.5]], dtype=F64)
    return GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64), means, covs)


def exact_prior(gm: GaussianMixture) -> Prior:
    """The true p(.; sigma_max), isolating the ODE's error from the prior's."""
    return lambda x_T, sigma_max: gm.log_prob(x_T, sigma_max**2)


def test_mixture_exact_trace_matches_the_density() -> None:
    gm = mixture_2d()
    x = gm.sample(32, generator=torch.Generator().manual_seed(0))
    result = pf_ode_log_likelihood(
        gm.denoiser,
        x,
        80.0,
        sigma_min=SIGMA_MIN,
        n_steps=64,
        exact_trace=True,
        prior=exact_prior(gm),
    )
    truth = gm.log_prob(x, SIGMA_MIN**2)  # the mixture convolved with N(0, sigma_min^2 I)
    assert result.log_prob.shape == (32,)
    assert float((result.log_prob - truth).abs().max()) < 1e-3
    assert result.nfe == 4 * 64


def test_single_gaussian_with_the_gaussian_prior() -> None:
    """N(0, sigma_max^2 I) stands in for p(.; sigma_max): error O(|mu| / sigma_max)."""
    gm = GaussianMixture(
        torch.ones(1, dtype=F64),
        torch.tensor([[0.5, -0.3]], dtype=F64),
        torch.tensor([[0.3, 0.2]], dtype=F64),
    )
    x = torch.tensor([[0.5, -0.3], [2.0, 1.0], [-1.0, 0.0]], dtype=F64)
    truth = gm.log_prob(x, SIGMA_MIN**2)
    errors = []
    for sigma_max in (100.0, 1000.0):
        result = pf_ode_log_likelihood(gm.denoiser, x, sigma_max, n_steps=64, exact_trace=True)
        errors.append(float((result.log_prob - truth).abs().max()))
    assert errors[1] < 2e-3 and errors[1] < errors[0]


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(probe: str) -> None:
    """The path does not depend on the probes, so E[Hutchinson] equals the exact-trace result."""
    gm = mixture_2d()
    x = torch.tensor([[0.3, -0.2]], dtype=F64).repeat(400, 1)  # one point, 400 probes
    common: dict[str, Any] = {"sigma_min": SIGMA_MIN, "n_steps": 16, "prior": exact_prior(gm)}
    exact = pf_ode_log_likelihood(gm.denoiser, x[:1], 80.0, exact_trace=True, **common).log_prob
    gen = torch.Generator().manual_seed(1)
    hutch = pf_ode_log_likelihood(gm.denoiser, x, 80.0, generator=gen, probe=probe, **common)
    stderr = float(hutch.log_prob.std()) / math.sqrt(x.shape[0])
    assert stderr > 0
    assert abs(float(hutch.log_prob.mean() - exact)) < 4 * stderr
    assert abs(float(hutch.log_prob.mean() - gm.log_prob(x[:1], SIGMA_MIN**2))) < 4 * stderr + 0.02


def test_more_probes_reduce_the_variance() -> None:
    gm = mixture_2d()
    x = torch.tensor([[-1.0, 0.5]], dtype=F64).repeat(300, 1)
    stds = []
    for k in (1, 4):
        gen = torch.Generator().manual_seed(2)
        result = pf_ode_log_likelihood(
            gm.denoiser, x, 80.0, n_steps=8, hutchinson_samples=k, generator=gen
        )
        stds.append(float(result.log_prob.std()))
    assert 0.3 < stds[1] / stds[0] < 0.7  # about 1 / sqrt(4)


def test_images_with_independent_pixels() -> None:
    """(B, C, H, W) of iid N(0, v) pixels: D = v x / (v + sigma^2) has a diagonal Jacobian, so
    Rademacher probes give the trace exactly; log p is a sum of 1-D Gaussian terms."""
    v = 0.25

    def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
        return v / (v + sigma.reshape(-1, 1, 1, 1) ** 2) * x

    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    var = v + SIGMA_MIN**2
    truth = (-0.5 * (math.log(2 * math.pi * var) + x**2 / var)).flatten(1).sum(1)

    def prior(x_T: Tensor, sigma_max: float) -> Tensor:
        var_T = v + sigma_max**2
        return (-0.5 * (math.log(2 * math.pi * var_T) + x_T**2 / var_T)).flatten(1).sum(1)

    gen = torch.Generator().manual_seed(4)
    hutch = pf_ode_log_likelihood(denoiser, x, 80.0, n_steps=64, generator=gen, prior=prior)
    exact = pf_ode_log_likelihood(denoiser, x, 80.0, n_steps=64, exact_trace=True, prior=prior)
    torch.testing.assert_close(hutch.log_prob, exact.log_prob)
    torch.testing.assert_close(hutch.log_prob, truth, rtol=0, atol=1e-3)
    torch.testing.assert_close(hutch.bits_per_dim, -hutch.log_prob / (16 * math.log(2)))
    offset = pf_ode_log_likelihood(denoiser, x, 80.0, n_steps=4, generator=gen, bpd_offset=7.0)
    plain = pf_ode_log_likelihood(denoiser, x, 80.0, n_steps=4, generator=gen)
    torch.testing.assert_close(offset.bits_per_dim, plain.bits_per_dim + 7.0)


def test_nfe_is_counted_exactly_and_heun_converges() -> None:
    gm = mixture_2d()
    calls = []

    def counting(x: Tensor, sigma: Tensor) -> Tensor:
        calls.append(1)
        return gm.denoiser(x, sigma)

    x = gm.sample(8, generator=torch.Generator().manual_seed(5))
    result = pf_ode_log_likelihood(
        counting, x, 80.0, n_steps=96, method="heun", exact_trace=True, prior=exact_prior(gm)
    )
    assert result.nfe == len(calls) == len(SOLVERS["heun"].c) * 96
    assert float((result.log_prob - gm.log_prob(x, SIGMA_MIN**2)).abs().max()) < 0.05


def test_divergences_and_prior() -> None:
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(6), dtype=F64).requires_grad_(
        True
    )
    matrix = torch.tensor([[2.0, 1.0], [-1.0, 3.0]], dtype=F64)
    y = x @ matrix.T  # Jacobian = matrix, trace 5
    torch.testing.assert_close(divergence_exact(y, x), torch.full((3,), 5.0, dtype=F64))
    y = x @ matrix.T  # the divergences free y's graph
    probes = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=F64)[:, None, :].expand(2, 3, 2)
    torch.testing.assert_close(
        divergence_hutchinson(y, x, probes), torch.full((3,), 5.0, dtype=F64)
    )
    z = torch.zeros(1, 3, dtype=F64)
    assert float(gaussian_prior_log_prob(z, 2.0)) == pytest.approx(-1.5 * math.log(2 * math.pi * 4))


def test_runs_under_no_grad_and_rejects_bad_levels() -> None:
    gm = mixture_2d()
    x = gm.sample(4, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        result = pf_ode_log_likelihood(gm.denoiser, x, 80.0, n_steps=4, exact_trace=True)
    assert torch.isfinite(result.log_prob).all() and not result.log_prob.requires_grad
    with pytest.raises(ValueError, match="sigma_min"):
        pf_ode_log_likelihood(gm.denoiser, x, 1.0, sigma_min=2.0)
