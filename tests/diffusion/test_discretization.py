"""Sigma discretisations: shape, order, end points, and each one's defining formula."""

from __future__ import annotations

import pytest
import torch

from medgen.diffusion.discretization import (
    DISCRETIZATIONS,
    cosine_sigmas,
    karras_sigmas,
    loglinear_sigmas,
    polyexponential_sigmas,
    uniform_t_sigmas,
    vp_sigmas,
)
from medgen.diffusion.schedules import VPCosine, VPLinear

SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


@pytest.mark.parametrize("name", DISCRETIZATIONS)
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_shape_order_and_end_points(name: str, n: int) -> None:
    sigmas = DISCRETIZATIONS[name](n, SIGMA_MIN, SIGMA_MAX)
    assert sigmas.shape == (n + 1,)
    assert sigmas.dtype == torch.float64
    assert sigmas[-1] == 0
    assert bool((sigmas[:-1] > 0).all())
    assert bool((sigmas.diff() < 0).all())
    assert float(sigmas[0]) == pytest.approx(SIGMA_MAX, rel=1e-9)
    if n > 1:
        assert float(sigmas[-2]) == pytest.approx(SIGMA_MIN, rel=1e-9)


@pytest.mark.parametrize("name", DISCRETIZATIONS)
def test_dtype_is_applied_after_float64(name: str) -> None:
    f32 = DISCRETIZATIONS[name](9, SIGMA_MIN, SIGMA_MAX, dtype=torch.float32)
    f64 = DISCRETIZATIONS[name](9, SIGMA_MIN, SIGMA_MAX)
    assert f32.dtype == torch.float32
    assert torch.equal(f32, f64.float())


def test_karras_matches_eq_5() -> None:
    n, rho = 6, 7.0
    expected = [
        (SIGMA_MAX ** (1 / rho) + i / (n - 1) * (SIGMA_MIN ** (1 / rho) - SIGMA_MAX ** (1 / rho)))
        ** rho
        for i in range(n)
    ]
    torch.testing.assert_close(
        karras_sigmas(n, SIGMA_MIN, SIGMA_MAX, rho), torch.tensor([*expected, 0.0]).double()
    )


def test_loglinear_has_equal_log_steps_and_is_polyexponential_rho_1() -> None:
    sigmas = loglinear_sigmas(10, SIGMA_MIN, SIGMA_MAX)
    steps = sigmas[:-1].log().diff()
    torch.testing.assert_close(steps, steps[:1].expand_as(steps))
    assert torch.equal(sigmas, polyexponential_sigmas(10, SIGMA_MIN, SIGMA_MAX, rho=1.0))


def test_uniform_t_is_brownian_sqrt_t() -> None:
    t = (uniform_t_sigmas(8, 0.01, 25.0)[:-1] / 25.0) ** 2
    torch.testing.assert_close(t.diff(), t.diff()[:1].expand(7))
    assert float(t[0]) == pytest.approx(1.0)


def test_vp_defaults_follow_the_linear_beta_schedule() -> None:
    sigmas = vp_sigmas(5)
    t = torch.linspace(1.0, 1e-3, 5, dtype=torch.float64)
    expected = torch.sqrt(torch.expm1(0.5 * 19.9 * t**2 + 0.1 * t))
    torch.testing.assert_close(sigmas[:-1], expected)
    torch.testing.assert_close(VPLinear().sigma_inv(sigmas[:-1]).diff(), t.diff())
    assert float(sigmas[0]) == pytest.approx(152.0, rel=1e-2)  # Karras et al. 2022, table 1


def test_cosine_is_uniform_in_its_time() -> None:
    t = VPCosine().sigma_inv(cosine_sigmas(6, SIGMA_MIN, SIGMA_MAX)[:-1])
    torch.testing.assert_close(t.diff(), t.diff()[:1].expand(5))


@pytest.mark.parametrize(
    ("n", "sigma_min", "sigma_max"), [(0, 0.1, 1.0), (4, 0.0, 1.0), (4, 2.0, 1.0), (4, -1, 1.0)]
)
@pytest.mark.parametrize("name", ["karras", "loglinear", "uniform_t", "cosine"])
def test_bad_arguments_are_rejected(name: str, n: int, sigma_min: float, sigma_max: float) -> None:
    with pytest.raises(ValueError):
        DISCRETIZATIONS[name](n, sigma_min, sigma_max)


def test_karras_rho_1_is_uniform_in_sigma() -> None:
    sigmas = karras_sigmas(5, SIGMA_MIN, SIGMA_MAX, rho=1.0)
    torch.testing.assert_close(
        sigmas[:-1], torch.linspace(SIGMA_MAX, SIGMA_MIN, 5, dtype=torch.float64)
    )
