"""Rician noise: simulation against the closed-form moments and scipy, the exact inverse of the
Rician mean, the moment correction, and both noise-level estimators on known noise."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from medgen.tasks import (
    add_rician,
    border_mask,
    inverse_rician_mean,
    mad_sigma,
    moment_correction,
    rayleigh_sigma,
    rician_mean,
    rician_moments,
)

SIGMA = 0.05
AMPLITUDES = [0.0, 0.5 * SIGMA, SIGMA, 3 * SIGMA, 10 * SIGMA]


def test_add_rician_shape_sign_and_seed() -> None:
    clean = torch.rand(2, 1, 8, 8)
    a = add_rician(clean, SIGMA, torch.Generator().manual_seed(0))
    b = add_rician(clean, SIGMA, torch.Generator().manual_seed(0))
    assert a.shape == clean.shape and a.dtype == clean.dtype
    assert torch.equal(a, b) and bool((a >= 0).all())
    rayleigh = add_rician(torch.zeros(2, 1, 8, 8), torch.tensor([0.01, 0.2]))
    assert 5 * rayleigh[0].mean() < rayleigh[1].mean()  # one level per example


@pytest.mark.parametrize("amplitude", AMPLITUDES)
def test_simulation_matches_closed_form_moments(amplitude: float) -> None:
    clean = torch.full((200_000,), amplitude, dtype=torch.float64)
    m = add_rician(clean, SIGMA, torch.Generator().manual_seed(1))
    mean, var = rician_moments(torch.tensor(amplitude, dtype=torch.float64), SIGMA)
    se = math.sqrt(float(var) / m.numel())
    assert abs(float(m.mean()) - float(mean)) < 4 * se
    assert float(m.var()) == pytest.approx(float(var), rel=0.02)
    assert float((m**2).mean()) == pytest.approx(amplitude**2 + 2 * SIGMA**2, rel=0.01)


def test_closed_form_matches_scipy_rice() -> None:
    # scipy's moments overflow to nan beyond A / sigma ~ 40; ours use scaled Bessel functions
    amplitudes = torch.tensor([0.0, 0.01, 0.05, 0.2, 1.0], dtype=torch.float64)
    mean, var = rician_moments(amplitudes, SIGMA)
    for a, m, v in zip(amplitudes.tolist(), mean.tolist(), var.tolist(), strict=True):
        ref = stats.rice(a / SIGMA, scale=SIGMA)
        assert m == pytest.approx(ref.mean(), rel=1e-9)
        assert v == pytest.approx(ref.var(), rel=1e-6, abs=1e-12)


def test_rayleigh_limit() -> None:
    mean, var = rician_moments(torch.zeros(1, dtype=torch.float64), SIGMA)
    assert float(mean) == pytest.approx(SIGMA * math.sqrt(math.pi / 2))
    assert float(var) == pytest.approx((2 - math.pi / 2) * SIGMA**2)


def test_inverse_rician_mean_round_trip() -> None:
    amplitudes = torch.tensor([0.0, 0.2, 1.0, 2.0, 5.0, 50.0, 1000.0], dtype=torch.float64) * SIGMA
    recovered = inverse_rician_mean(rician_mean(amplitudes, SIGMA), SIGMA)
    # E[M | A] is flat in A at 0 (E(0) + O(A^2)): A below ~1e-8 sigma is lost to float64
    torch.testing.assert_close(recovered, amplitudes, atol=1e-6 * SIGMA, rtol=1e-9)
    below_rayleigh = torch.tensor([0.0, 0.5 * SIGMA], dtype=torch.float64)
    assert bool((inverse_rician_mean(below_rayleigh, SIGMA) == 0).all())


def test_exact_correction_is_unbiased_where_the_moment_one_is_not() -> None:
    """Low SNR (A = sigma): inverting the exact mean recovers A from the mean magnitude; the
    naive mean is biased upwards; the per-pixel moment correction is biased (it clips at 0)."""
    amplitude = SIGMA
    clean = torch.full((400_000,), amplitude, dtype=torch.float64)
    m = add_rician(clean, SIGMA, torch.Generator().manual_seed(2))
    exact = float(inverse_rician_mean(m.mean().reshape(1), SIGMA))
    assert exact == pytest.approx(amplitude, rel=0.02)
    assert float(m.mean()) > 1.2 * amplitude
    # the second moment is unbiased: sqrt(E[M^2] - 2 sigma^2) = A
    root_mean_square = m.square().mean().sqrt()
    assert float(moment_correction(root_mean_square, SIGMA, moment=2)) == pytest.approx(
        amplitude, rel=0.02
    )
    assert abs(float(moment_correction(m, SIGMA).mean()) - amplitude) > 0.05 * amplitude


def test_moment_corrections_at_high_snr() -> None:
    """moment=1 removes the mean bias sigma^2 / 2A; moment=2 the bias of the square, 2 sigma^2."""
    amplitude = 20 * SIGMA
    m = add_rician(torch.full((200_000,), amplitude), SIGMA, torch.Generator().manual_seed(3))
    raw_bias = float(m.mean()) - amplitude
    assert raw_bias == pytest.approx(SIGMA**2 / (2 * amplitude), rel=0.25)
    corrected_bias = float(moment_correction(m, SIGMA).mean()) - amplitude
    assert abs(corrected_bias) < 0.2 * raw_bias
    squared = float(moment_correction(m, SIGMA, moment=2).square().mean())
    assert squared == pytest.approx(amplitude**2, rel=1e-3)


def _head(size: int = 64) -> torch.Tensor:
    """A bright disc ("head") of smooth intensity centred in a dark field, (1, 1, size, size)."""
    grid = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    r2 = yy**2 + xx**2
    return ((r2 < 0.5) * (0.6 + 0.3 * torch.cos(3 * xx))).reshape(1, 1, size, size)


@pytest.mark.parametrize("robust", [False, True])
def test_rayleigh_sigma_recovers_the_level(robust: bool) -> None:
    sigmas = torch.tensor([0.02, 0.08])
    noisy = add_rician(_head().repeat(2, 1, 1, 1), sigmas, torch.Generator().manual_seed(4))
    background = border_mask(64, 64, 8)
    estimate = rayleigh_sigma(noisy, background, robust=robust)
    torch.testing.assert_close(estimate, sigmas, rtol=0.05, atol=0.0)


def test_robust_rayleigh_resists_tissue_in_the_mask() -> None:
    clean = _head()
    clean[..., :8, 28:36] = 0.8  # tissue (e.g. the nose) reaching into the background frame
    noisy = add_rician(clean, 0.02, torch.Generator().manual_seed(5))
    background = border_mask(64, 64, 8)
    plain = float(rayleigh_sigma(noisy, background))
    robust = float(rayleigh_sigma(noisy, background, robust=True))
    assert abs(robust - 0.02) < 0.1 * 0.02 < abs(plain - 0.02)


def test_mad_sigma_on_gaussian_noise() -> None:
    sigmas = torch.tensor([0.01, 0.05, 0.1])
    clean = _head().repeat(3, 1, 1, 1)
    noisy = clean + sigmas.reshape(-1, 1, 1, 1) * torch.randn(
        clean.shape, generator=torch.Generator().manual_seed(6)
    )
    torch.testing.assert_close(mad_sigma(noisy), sigmas, rtol=0.1, atol=0.0)


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="sigma = -1"):
        add_rician(torch.zeros(2), -1.0)
    with pytest.raises(ValueError, match="border = 40"):
        border_mask(64, 64, 40)
    with pytest.raises(ValueError, match="selects no pixel"):
        rayleigh_sigma(torch.ones(1, 4, 4), torch.zeros(4, 4, dtype=torch.bool))
