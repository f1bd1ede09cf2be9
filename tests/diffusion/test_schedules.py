"""Noise schedules: inverses, derivatives, VP variance preservation, DDPM parity, configs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from medgen.diffusion.schedules import (
    SCHEDULES,
    BrownianVE,
    GeometricVE,
    Schedule,
    VPCosine,
    VPLinear,
    schedule_from_dict,
)
from medgen.exceptions import InputError

ALL = [BrownianVE(), GeometricVE(), VPLinear(), VPCosine(), BrownianVE(3.0), VPLinear(0.5, 5.0)]
VP = [VPLinear(), VPCosine(), VPLinear(beta_min=1.0, beta_max=1.0)]
IDS = [repr(s) for s in ALL]


def times(n: int = 101) -> torch.Tensor:
    """Times strictly inside (0, 1), float64 (derivatives blow up at t = 0, cosine at t = 1)."""
    return torch.linspace(0.01, 0.98, n, dtype=torch.float64)


@pytest.mark.parametrize("schedule", ALL, ids=IDS)
def test_sigma_inv_inverts_sigma(schedule: Schedule) -> None:
    t = times()
    torch.testing.assert_close(schedule.sigma_inv(schedule.sigma(t)), t, rtol=0, atol=1e-10)


@pytest.mark.parametrize("schedule", ALL, ids=IDS)
def test_derivatives_match_autograd_and_finite_differences(schedule: Schedule) -> None:
    t = times().requires_grad_(True)
    (sigma_grad,) = torch.autograd.grad(schedule.sigma(t).sum(), t)
    (scale_grad,) = torch.autograd.grad((schedule.scale(t) + 0 * t).sum(), t)  # VE: constant
    t = t.detach()
    torch.testing.assert_close(schedule.sigma_dot(t), sigma_grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(schedule.scale_dot(t), scale_grad, rtol=1e-10, atol=1e-12)
    h = 1e-6
    sigma_fd = (schedule.sigma(t + h) - schedule.sigma(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.sigma_dot(t), sigma_fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", [BrownianVE(), GeometricVE()], ids=["brownian", "geometric"])
def test_ve_has_unit_scale(schedule: Schedule) -> None:
    t = times()
    assert torch.equal(schedule.scale(t), torch.ones_like(t))
    assert torch.equal(schedule.scale_dot(t), torch.zeros_like(t))


def test_known_values() -> None:
    assert float(BrownianVE(25.0).sigma(1.0)) == pytest.approx(25.0)
    assert float(BrownianVE(25.0).sigma(0.25)) == pytest.approx(12.5)
    geo = GeometricVE(0.01, 50.0)
    assert float(geo.sigma(0.0)) == pytest.approx(0.01)
    assert float(geo.sigma(1.0)) == pytest.approx(50.0)
    assert float(geo.sigma(0.5)) == pytest.approx(math.sqrt(0.01 * 50.0))
    # Karras et al. 2022, table 1 (VP): sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1).
    t = times()
    expected = torch.sqrt(torch.exp(0.5 * 19.9 * t**2 + 0.1 * t) - 1)
    torch.testing.assert_close(VPLinear().sigma(t), expected)
    # Nichol & Dhariwal 2021, eq. 17: alpha_bar = f(t) / f(0), f(t) = cos^2(pi/2 (t+s)/(1+s)).
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    torch.testing.assert_close(
        VPCosine().scale(t) ** 2, f / math.cos(0.008 / 1.008 * math.pi / 2) ** 2
    )


@pytest.mark.parametrize("schedule", VP, ids=["linear", "cosine", "constant_beta"])
def test_vp_preserves_variance(schedule: Schedule) -> None:
    t = times()
    s, sigma = schedule.scale(t), schedule.sigma(t)
    torch.testing.assert_close(s**2 * (1 + sigma**2), torch.ones_like(t))
    # Unit-variance data stay unit-variance: x_t = s(t) (x_0 + sigma(t) n).
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(200_000, generator=gen, dtype=torch.float64)
    n = torch.randn(200_000, generator=gen, dtype=torch.float64)
    for t_k in (0.1, 0.5, 0.9):
        x_t = schedule.scale(t_k) * (x0 + schedule.sigma(t_k) * n)
        assert float(x_t.var()) == pytest.approx(1.0, abs=0.01)


def test_vp_linear_matches_ddpm_alphas_cumprod() -> None:
    """DDPM step i (0-based) of N = 1000 is t = (i + 1)/N; beta_min, beta_max = N beta_1, N beta_N.

    Continuous time replaces prod (1 - beta_j) by exp(-sum beta_j): the two differ at second
    order, by at most sum beta_j^2 / 2 ~ 0.067 in log alpha_bar, where alpha_bar < 1e-4.
    """
    n = 1000
    betas = torch.linspace(1e-4, 0.02, n, dtype=torch.float64)  # Ho et al. 2020
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    t = torch.arange(1, n + 1, dtype=torch.float64) / n
    s2 = VPLinear(beta_min=1e-4 * n, beta_max=0.02 * n).scale(t) ** 2
    torch.testing.assert_close(s2, alphas_cumprod, rtol=0, atol=1e-3)
    log_gap = (s2.log() - alphas_cumprod.log()).abs()
    assert float(log_gap.max()) <= float((betas**2).sum() / 2) + 0.01


@pytest.mark.parametrize("schedule", ALL, ids=IDS)
def test_config_round_trip(schedule: Schedule) -> None:
    data = json.loads(json.dumps(schedule.to_dict()))
    assert data["name"] in SCHEDULES
    assert schedule_from_dict(data) == schedule
    assert isinstance(schedule, Schedule)
    lo, hi = schedule.t_range
    assert 0.0 <= lo < hi


def test_config_rejects_unknown_names_and_keys() -> None:
    with pytest.raises(InputError, match="unknown schedule"):
        schedule_from_dict({"name": "nope"})
    with pytest.raises(InputError, match="unknown key 'sigma'"):
        schedule_from_dict({"name": "brownian_ve", "sigma": 25.0})
    with pytest.raises(InputError, match="sigma_min"):
        schedule_from_dict({"name": "geometric_ve", "sigma_min": 5.0, "sigma_max": 1.0})


@pytest.mark.parametrize(
    "make",
    [
        lambda: BrownianVE(0.0),
        lambda: GeometricVE(1.0, 1.0),
        lambda: VPLinear(2.0, 1.0),
        lambda: VPCosine(-0.1),
    ],
)
def test_bad_parameters_are_rejected(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]


def test_accepts_python_numbers_and_integer_tensors() -> None:
    assert BrownianVE(2.0).sigma(1).dtype == torch.get_default_dtype()
    assert float(BrownianVE(2.0).sigma(torch.tensor(1))) == pytest.approx(2.0)
