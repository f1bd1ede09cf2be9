"""Samplers: shapes, exact NFE, determinism, the step to sigma = 0, and convergence to exact data.

Convergence is checked against two exact oracles: a single Gaussian, whose PF-ODE has a closed
form, and the 25-mode grid mixture of `medgen.analytic`.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import pytest
import torch
from torch import Tensor

from medgen.analytic import grid_mixture_2d
from medgen.diffusion import (
    SAMPLERS,
    CountingDenoiser,
    expected_nfe,
    karras_sigmas,
    sample_ddim,
    sample_euler,
    sample_euler_ancestral,
    sample_projected,
)
from medgen.evaluate.sliced import sliced_wasserstein_1

MU, VAR = 1.5, 0.25  # the single Gaussian N(MU, VAR I)
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0
STOCHASTIC = ["heun_churn", "euler_maruyama", "euler_ancestral", "pc"]
ODE = ["euler", "heun", "ddim", "dpmpp_2m", "lms"]
NOT_ENDING_ON_DENOISED = {"lms"}  # multistep: the step to 0 mixes older derivatives


def gaussian_denoiser(x: Tensor, sigma: Tensor | float) -> Tensor:
    """E[x_0 | x] for x_0 ~ N(MU, VAR I): MU + VAR / (VAR + sigma^2) (x - MU)."""
    s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return MU + VAR / (VAR + s**2) * (x - MU)


def gaussian_flow(x: Tensor, sigma_from: float, sigma_to: float) -> Tensor:
    """The exact PF-ODE solution for the Gaussian: the std sqrt(VAR + sigma^2) rescales x - MU."""
    return MU + math.sqrt((VAR + sigma_to**2) / (VAR + sigma_from**2)) * (x - MU)


def initial_noise(
    shape: tuple[int, ...], seed: int = 0, dtype: torch.dtype = torch.float64
) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return SIGMA_MAX * torch.randn(shape, generator=gen, dtype=dtype)


def run(name: str, x: Tensor, n: int, seed: int = 1, denoiser: Any = gaussian_denoiser) -> Tensor:
    sigmas = karras_sigmas(n, SIGMA_MIN, SIGMA_MAX)
    return SAMPLERS[name](denoiser, x, sigmas, generator=torch.Generator().manual_seed(seed))


# ---- shapes, NFE, determinism ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", SAMPLERS)
def test_image_shaped_batch_keeps_shape_dtype_and_input(name: str, dtype: torch.dtype) -> None:
    x = initial_noise((3, 2, 4, 4), dtype=dtype)  # (B, C, H, W)
    before = x.clone()
    out = run(name, x, 5)
    assert out.shape == x.shape
    assert out.dtype == dtype
    assert bool(out.isfinite().all())
    assert torch.equal(x, before)


@pytest.mark.parametrize("n", [1, 2, 5, 12])
@pytest.mark.parametrize("name", SAMPLERS)
def test_nfe_is_exact(name: str, n: int) -> None:
    counting = CountingDenoiser(gaussian_denoiser)
    run(name, initial_noise((4, 2)), n, denoiser=counting)
    assert counting.nfe == expected_nfe(name, n)


@pytest.mark.parametrize("n_corrector", [0, 3])
def test_nfe_counts_corrector_steps(n_corrector: int) -> None:
    counting = CountingDenoiser(gaussian_denoiser)
    sigmas = karras_sigmas(6, SIGMA_MIN, SIGMA_MAX)
    SAMPLERS["pc"](counting, initial_noise((4, 2)), sigmas, n_corrector=n_corrector)
    assert counting.nfe == expected_nfe("pc", 6, n_corrector=n_corrector) == 6 * (1 + n_corrector)


@pytest.mark.parametrize("name", ["heun", "heun_churn"])
def test_nfe_without_the_step_to_zero(name: str) -> None:
    counting = CountingDenoiser(gaussian_denoiser)
    sigmas = karras_sigmas(7, SIGMA_MIN, SIGMA_MAX)[:-1]  # 6 steps ending at sigma_min
    SAMPLERS[name](counting, initial_noise((4, 2)), sigmas)
    assert counting.nfe == expected_nfe(name, 6, to_zero=False) == 12


def test_expected_nfe_rejects_unknown_sampler() -> None:
    with pytest.raises(KeyError, match="unknown sampler"):
        expected_nfe("rk45", 10)


@pytest.mark.parametrize("name", SAMPLERS)
def test_seeded_runs_repeat_and_only_stochastic_samplers_use_the_seed(name: str) -> None:
    x = initial_noise((64, 2))
    first, again, other = run(name, x, 6, seed=3), run(name, x, 6, seed=3), run(name, x, 6, seed=4)
    assert torch.equal(first, again)
    assert torch.equal(first, other) != (name in STOCHASTIC)


@pytest.mark.parametrize("eta_sampler", [sample_ddim, sample_euler_ancestral])
def test_eta_zero_is_euler(eta_sampler: Any) -> None:
    x, sigmas = initial_noise((32, 2)), karras_sigmas(9, SIGMA_MIN, SIGMA_MAX)
    euler = sample_euler(gaussian_denoiser, x, sigmas)
    torch.testing.assert_close(eta_sampler(gaussian_denoiser, x, sigmas, eta=0.0), euler)


@pytest.mark.parametrize("name", SAMPLERS)
def test_callback_sees_every_step_and_the_step_to_zero_is_exact(name: str) -> None:
    seen: list[dict[str, Any]] = []
    x = initial_noise((16, 2))
    sigmas = karras_sigmas(5, SIGMA_MIN, SIGMA_MAX)
    out = SAMPLERS[name](gaussian_denoiser, x, sigmas, callback=seen.append)
    assert [step["i"] for step in seen] == list(range(5))
    assert seen[0]["sigma"] >= float(sigmas[0])  # churn may raise the level, never lower it
    assert seen[-1]["sigma"] == pytest.approx(SIGMA_MIN)
    torch.testing.assert_close(seen[-1]["denoised"], gaussian_denoiser(seen[-1]["x"], SIGMA_MIN))
    if name not in NOT_ENDING_ON_DENOISED:
        torch.testing.assert_close(out, seen[-1]["denoised"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("sigmas", [torch.tensor(1.0), torch.tensor([1.0]), torch.ones(2, 2)])
def test_bad_sigmas_are_rejected(sigmas: Tensor) -> None:
    with pytest.raises(ValueError, match="sigmas"):
        sample_euler(gaussian_denoiser, initial_noise((2, 2)), sigmas)


# ---- convergence: a single Gaussian ------------------------------------------------------------


def ode_error(name: str, n: int) -> float:
    """Max deviation from the exact PF-ODE flow to sigma_min followed by the exact denoiser."""
    x = initial_noise((128, 3))
    exact = gaussian_denoiser(gaussian_flow(x, SIGMA_MAX, SIGMA_MIN), SIGMA_MIN)
    return float((run(name, x, n) - exact).abs().max())


@pytest.mark.parametrize(
    ("name", "order"), [("euler", 1), ("ddim", 1), ("heun", 2), ("dpmpp_2m", 2)]
)
def test_ode_samplers_converge_at_their_order(name: str, order: int) -> None:
    errors = [ode_error(name, n) for n in (32, 64, 128)]
    for coarse, fine in pairwise(errors):
        assert 2**order * 0.85 < coarse / fine < 2**order * 1.25


def test_lms_converges_faster_than_second_order() -> None:
    errors = [ode_error("lms", n) for n in (16, 32, 64)]
    assert errors[0] / errors[1] > 4 and errors[1] / errors[2] > 8
    assert errors[2] < ode_error("heun", 64)


@pytest.mark.parametrize("name", SAMPLERS)
def test_gaussian_mean_and_std_converge(name: str) -> None:
    x = initial_noise((20_000, 1))
    coarse, fine = run(name, x, 8), run(name, x, 256)
    assert abs(float(fine.std()) - math.sqrt(VAR)) < abs(float(coarse.std()) - math.sqrt(VAR))
    assert float(fine.mean()) == pytest.approx(MU, abs=0.03)  # sampling error of the mean: 0.004
    assert float(fine.std()) == pytest.approx(math.sqrt(VAR), abs=0.02)


# ---- convergence: the 25-mode grid mixture ------------------------------------------------------


@pytest.fixture(scope="module")
def grid() -> Any:
    return grid_mixture_2d(std=0.1, dtype=torch.float32)


@pytest.mark.parametrize("name", [name for name in SAMPLERS if name != "ddim"])  # ddim == euler
def test_mixture_samples_approach_exact_samples_and_cover_all_modes(name: str, grid: Any) -> None:
    n_points = 1000
    exact = grid.sample(n_points, generator=torch.Generator().manual_seed(0))
    x = initial_noise((n_points, 2), dtype=torch.float32) * (40.0 / SIGMA_MAX)
    distances = []
    for n in (3, 30):
        sigmas = karras_sigmas(n, SIGMA_MIN, 40.0)
        out = SAMPLERS[name](grid.denoiser, x, sigmas, generator=torch.Generator().manual_seed(1))
        distances.append(sliced_wasserstein_1(out, exact))
    # two exact sets of 1000 points lie 0.07-0.12 apart; 3 steps are 0.4-3 away
    assert distances[1] < 0.35 < distances[0]
    nearest = torch.cdist(out, grid.means).argmin(dim=1)
    assert torch.bincount(nearest, minlength=25).min() >= 10  # 40 expected per mode


# ---- the projected (data-consistent) ancestral sampler ------------------------------------------


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_projection_onto_everything_is_the_ancestral_sampler(eta: float) -> None:
    x = initial_noise((6, 1, 4, 4))
    sigmas = karras_sigmas(12, SIGMA_MIN, SIGMA_MAX)
    runs = [
        sample(gaussian_denoiser, x, sigmas, generator=torch.Generator().manual_seed(3), eta=eta)
        for sample in (
            lambda *a, **k: sample_projected(*a[:3], lambda x0: x0, **k),
            sample_euler_ancestral,
        )
    ]
    torch.testing.assert_close(runs[0], runs[1])


def correlated_gaussian_denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """E[x_0 | x] for x_0 ~ N(M2, C2): M2 + C2 (C2 + sigma^2 I)^-1 (x - M2), in 2-D."""
    gain = C2 @ torch.linalg.inv(C2 + sigma.reshape(-1, 1, 1) ** 2 * torch.eye(2, dtype=x.dtype))
    return M2 + ((x - M2).unsqueeze(1) @ gain.transpose(1, 2)).squeeze(1)


M2 = torch.tensor([0.5, -0.3], dtype=torch.float64)
C2 = 0.25 * torch.tensor([[1.0, 0.8], [0.8, 1.0]], dtype=torch.float64)


def test_projecting_a_known_coordinate_samples_the_other_from_its_conditional() -> None:
    known = 0.9  # x_0[0] is known; x_0[1] | x_0[0] is Gaussian with a closed-form mean and std
    mean = M2[1] + C2[0, 1] / C2[0, 0] * (known - M2[0])
    std = math.sqrt(C2[1, 1] - C2[0, 1] ** 2 / C2[0, 0])

    def project(x0: Tensor) -> Tensor:
        return torch.cat([torch.full_like(x0[:, :1], known), x0[:, 1:]], dim=1)

    errors = []
    for steps in (10, 100):
        gen = torch.Generator().manual_seed(1)
        x = SIGMA_MAX * torch.randn(100_000, 2, generator=gen, dtype=torch.float64)
        sigmas = karras_sigmas(steps, SIGMA_MIN, SIGMA_MAX).double()
        out = sample_projected(correlated_gaussian_denoiser, x, sigmas, project, generator=gen)
        assert (out[:, 0] == known).all()  # the data hold exactly
        errors.append((abs(out[:, 1].mean() - mean).item(), abs(out[:, 1].std() - std).item()))
    assert errors[1][0] < 0.03 and errors[1][1] < 0.01  # DDNM-style: close, not exact
    assert errors[1][0] < errors[0][0] / 3  # and closer with more steps
