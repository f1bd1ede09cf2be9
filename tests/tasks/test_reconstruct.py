"""Reconstruction: every sample matches the measured k-space exactly, NFE is one per level, and on
the smooth Gaussian prior with its exact denoiser the error is far below zero filling and the
sample mean approaches the closed-form posterior mean E[x | M F x = y]."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from medgen.analytic.mixture import GaussianMixture
from medgen.diffusion import karras_sigmas
from medgen.tasks import (
    cartesian_mask,
    data_consistency,
    fft2c,
    image_denoiser,
    kspace_residual,
    reconstruct,
    undersample,
    zero_filled,
)

SIZE = 8


def _problem(prior: GaussianMixture, n: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """(truth (n, 1, 8, 8), mask (8, 8), measured k-space) at 4x Cartesian undersampling."""
    g = torch.Generator().manual_seed(0)
    truth = prior.sample(n, generator=g).reshape(n, 1, SIZE, SIZE)
    mask = cartesian_mask(SIZE, 4, generator=g)
    return truth, mask, undersample(truth, mask)


def _rmse(a: Tensor, b: Tensor) -> float:
    return float((a - b).square().mean().sqrt())


def closed_form_posterior_mean(prior: GaussianMixture, kspace: Tensor, mask: Tensor) -> Tensor:
    """E[x | A x = b] = mu + S A^T (A S A^T)^+ (b - A mu), A the real and imaginary parts of the
    measured k-space of a real image (a real linear map), for the Gaussian prior N(mu, S)."""
    d = SIZE * SIZE
    basis = torch.eye(d, dtype=torch.float64).reshape(d, SIZE, SIZE)
    measured = fft2c(basis)[:, mask]  # (d, m): k-space of each pixel's unit image
    A = torch.cat([measured.real, measured.imag], 1).T  # (2m, d)
    b = torch.cat([kspace[:, 0][:, mask].real, kspace[:, 0][:, mask].imag], 1)  # (n, 2m)
    mu, S = prior.means[0], prior.covariance()
    gain = S @ A.T @ torch.linalg.pinv(A @ S @ A.T, hermitian=True)  # (d, 2m)
    return (mu + (b - A @ mu) @ gain.T).reshape(-1, 1, SIZE, SIZE)


def test_samples_are_data_consistent_and_nfe_is_one_per_level(
    reconstruction_prior: GaussianMixture,
) -> None:
    truth, mask, kspace = _problem(reconstruction_prior, n=3)
    sigmas = karras_sigmas(12, 1e-3, 2.0)
    out = reconstruct(
        image_denoiser(reconstruction_prior.denoiser),
        kspace,
        mask,
        sigmas,
        k=4,
        generator=torch.Generator().manual_seed(1),
    )
    assert out.samples.shape == (4, *truth.shape) and out.samples.dtype == truth.dtype
    assert out.mean.shape == out.std.shape == truth.shape
    assert out.nfe == len(sigmas) - 1
    for sample in out.samples:
        assert float(kspace_residual(sample, kspace, mask)) < 1e-10
    assert float(out.std.min()) >= 0 and float(out.std.mean()) > 0


def test_error_is_far_below_zero_filled(reconstruction_prior: GaussianMixture) -> None:
    truth, mask, kspace = _problem(reconstruction_prior)
    out = reconstruct(
        image_denoiser(reconstruction_prior.denoiser),
        kspace,
        mask,
        karras_sigmas(20, 1e-3, 2.0),
        k=16,
        generator=torch.Generator().manual_seed(2),
    )
    zero_filled_error = _rmse(zero_filled(kspace, mask).abs(), truth)
    hermitian_zero_filled = data_consistency(torch.zeros_like(truth), kspace, mask, real=True)
    assert _rmse(out.mean, truth) < 0.35 * zero_filled_error
    assert _rmse(out.mean, truth) < 0.6 * _rmse(hermitian_zero_filled, truth)


def test_sample_mean_approaches_the_closed_form_posterior_mean(
    reconstruction_prior: GaussianMixture,
) -> None:
    """Hard data consistency is an approximation of the conditional score; with the exact prior
    denoiser its sample mean lands near the exact E[x | y], far nearer than zero filling."""
    truth, mask, kspace = _problem(reconstruction_prior)
    exact = closed_form_posterior_mean(reconstruction_prior, kspace, mask)
    assert float(kspace_residual(exact, kspace, mask)) < 1e-10
    out = reconstruct(
        image_denoiser(reconstruction_prior.denoiser),
        kspace,
        mask,
        karras_sigmas(40, 1e-3, 2.0),
        k=64,
        generator=torch.Generator().manual_seed(3),
    )
    assert _rmse(out.mean, exact) < 0.15 * _rmse(zero_filled(kspace, mask).abs(), exact)
    assert _rmse(out.mean, truth) < 1.15 * _rmse(exact, truth)


def test_deterministic_eta_zero_and_seeded_reproducibility(
    reconstruction_prior: GaussianMixture,
) -> None:
    _, mask, kspace = _problem(reconstruction_prior, n=2)
    denoiser = image_denoiser(reconstruction_prior.denoiser)
    sigmas = karras_sigmas(6, 1e-3, 2.0)
    a = reconstruct(denoiser, kspace, mask, sigmas, k=2, generator=torch.Generator().manual_seed(4))
    b = reconstruct(denoiser, kspace, mask, sigmas, k=2, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(a.samples, b.samples)
    ddim = reconstruct(denoiser, kspace, mask, sigmas, k=2, eta=0.0)
    assert float(kspace_residual(ddim.mean, kspace, mask)) < 1e-10


def test_bad_arguments_are_refused(reconstruction_prior: GaussianMixture) -> None:
    truth, mask, kspace = _problem(reconstruction_prior, n=1)
    denoiser = image_denoiser(reconstruction_prior.denoiser)
    with pytest.raises(ValueError, match="must be complex"):
        reconstruct(denoiser, truth, mask, karras_sigmas(4, 1e-3, 2.0))
    with pytest.raises(ValueError, match="last level must be 0"):
        reconstruct(denoiser, kspace, mask, torch.tensor([2.0, 1.0]))
    with pytest.raises(ValueError, match="k = 0"):
        reconstruct(denoiser, kspace, mask, karras_sigmas(4, 1e-3, 2.0), k=0)
