"""Preconditioning (Karras et al. 2022, table 1) and the DSM loss with its weightings."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from medgen.analytic import GaussianMixture
from medgen.diffusion.loss import (
    MIN_SNR_GAMMA,
    WEIGHTINGS,
    dsm_loss,
    sample_sigma_lognormal,
    sample_sigma_schedule,
)
from medgen.diffusion.precond import (
    PRECONDS,
    EDMPrecond,
    EpsilonDenoiser,
    VEPrecond,
    VPPrecond,
    edm_coefficients,
    expand_sigma,
)
from medgen.diffusion.schedules import BrownianVE, VPCosine, VPLinear

F64 = torch.float64


def mixture_2d() -> GaussianMixture:
    """Two full-covariance components in 2-D."""
    covs = torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.1, -0.05], [-0.05, 0.4]]], dtype=F64)
    means = torch.tensor([[-1.5, 0.5], [1.0, -0.5]], dtype=F64)
    return GaussianMixture(torch.tensor([0.3, 0.7], dtype=F64), means, covs)


class RecordingNet(nn.Module):
    """F(x_in, c_noise, cond) = tanh(x_in) * (1 + c_noise), remembering its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.calls: list[tuple[Tensor, Tensor, Any]] = []

    def forward(self, x_in: Tensor, c_noise: Tensor, cond: Any) -> Tensor:
        self.calls.append((x_in, c_noise, cond))
        return self.weight * torch.tanh(x_in) * (1 + expand_sigma(c_noise, x_in))


# ---- preconditioning -----------------------------------------------------------------------


def test_edm_coefficients_match_table_1() -> None:
    sigma = torch.tensor([0.002, 0.5, 80.0], dtype=F64)
    c = edm_coefficients(sigma, sigma_data=0.5)
    torch.testing.assert_close(c.c_skip, 0.25 / (sigma**2 + 0.25))
    torch.testing.assert_close(c.c_out, sigma * 0.5 / torch.sqrt(sigma**2 + 0.25))
    torch.testing.assert_close(c.c_in, 1 / torch.sqrt(sigma**2 + 0.25))
    torch.testing.assert_close(c.c_noise, torch.log(sigma) / 4)
    assert float(c.c_skip[1]) == pytest.approx(0.5)  # sigma = sigma_data: half skip


@pytest.mark.parametrize("name", sorted(PRECONDS))
def test_forward_is_c_skip_x_plus_c_out_f(name: str) -> None:
    net = RecordingNet()
    precond = PRECONDS[name](net)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 4, 4, generator=gen)  # (B, C, H, W)
    sigma = torch.tensor([0.01, 1.0, 30.0])
    cond = torch.tensor([0, 1, 2])
    D_x = precond(x, sigma, cond)
    assert D_x.shape == x.shape and D_x.dtype == x.dtype
    c_skip, c_out, c_in, c_noise = precond.coefficients(sigma.reshape(-1, 1, 1, 1))
    x_in, c_noise_seen, cond_seen = net.calls[-1]
    assert c_noise_seen.shape == (3,) and cond_seen is cond
    torch.testing.assert_close(x_in, c_in * x)
    torch.testing.assert_close(c_noise_seen, c_noise.flatten())
    torch.testing.assert_close(D_x, c_skip * x + c_out * net(c_in * x, c_noise.flatten(), cond))
    assert any(p is net.weight for p in precond.parameters())  # the network is a submodule
    torch.testing.assert_close(precond(x, 1.0), precond(x, torch.ones(3)))  # scalar sigma


def test_ve_and_vp_columns() -> None:
    sigma = torch.tensor([0.1, 2.0], dtype=F64)
    ve = VEPrecond(RecordingNet()).coefficients(sigma)
    assert torch.equal(ve.c_skip, torch.ones_like(sigma)) and torch.equal(ve.c_out, sigma)
    torch.testing.assert_close(ve.c_noise, torch.log(0.5 * sigma))
    schedule = VPLinear()
    vp = VPPrecond(RecordingNet(), schedule, m=1000).coefficients(sigma)
    torch.testing.assert_close(vp.c_out, -sigma)
    t = schedule.sigma_inv(sigma)
    torch.testing.assert_close(vp.c_in, schedule.scale(t))  # the network sees x_t = s(t) x
    torch.testing.assert_close(vp.c_noise, 999 * t)


def test_edm_scaling_gives_unit_variance_input_and_target() -> None:
    """Data of std sigma_data: c_in x and the target (x_0 - c_skip x) / c_out have unit variance."""
    gen = torch.Generator().manual_seed(1)
    sigma_data = 0.5
    x0 = sigma_data * torch.randn(400_000, generator=gen, dtype=F64)
    for s in (0.01, 0.5, 20.0):
        x = x0 + s * torch.randn(400_000, generator=gen, dtype=F64)
        c = edm_coefficients(torch.tensor(s, dtype=F64), sigma_data)
        assert float((c.c_in * x).var()) == pytest.approx(1.0, rel=0.01)
        assert float(((x0 - c.c_skip * x) / c.c_out).var()) == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine()], ids=["linear", "cosine"])
def test_epsilon_model_becomes_the_exact_denoiser(schedule: Any) -> None:
    """An exact DDPM epsilon model for N(mu, v) data, wrapped, is the exact denoiser."""
    mu, v, m = 0.7, 0.4, 1000

    def eps_model(x_t: Tensor, timestep: Tensor, cond: Any) -> Tensor:
        a2 = schedule.scale(timestep / (m - 1)) ** 2  # alpha_bar at the DDPM timestep
        a, b = a2.sqrt().reshape(-1, 1), (1 - a2).sqrt().reshape(-1, 1)
        x0_hat = mu + a * v / (a**2 * v + b**2) * (x_t - a * mu)  # E[x_0 | x_t]
        return (x_t - a * x0_hat) / b  # E[eps | x_t]

    denoiser = EpsilonDenoiser(eps_model, schedule, m=m)
    x = torch.linspace(-3, 3, 7, dtype=F64).reshape(-1, 1)
    for s in (0.05, 1.0, 10.0):
        expected = mu + v / (v + s**2) * (x - mu)
        torch.testing.assert_close(denoiser(x, s), expected)


# ---- DSM loss ---------------------------------------------------------------------------------


def test_loss_is_unreduced_and_each_weighting_matches_its_formula() -> None:
    gm = mixture_2d()
    x0 = gm.sample(64, generator=torch.Generator().manual_seed(2))
    sigma = torch.logspace(-2, 1, 64, dtype=F64)
    n = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    err = (gm.denoiser(x0 + sigma[:, None] * n, sigma) - x0).square()  # (B, d)
    snr = sigma[:, None] ** -2
    formulas = {
        "uniform": torch.ones_like(snr),
        "ve": 1 / sigma[:, None] ** 2,
        "edm": (sigma[:, None] ** 2 + 0.25) / (sigma[:, None] * 0.5) ** 2,
        "min_snr": torch.minimum(snr, torch.full_like(snr, MIN_SNR_GAMMA)),
    }
    assert set(formulas) == set(WEIGHTINGS)
    for name, weight in formulas.items():
        gen = torch.Generator().manual_seed(3)
        loss = dsm_loss(gm.denoiser, x0, sigma, weighting=name, sigma_data=0.5, generator=gen)
        assert loss.shape == x0.shape
        torch.testing.assert_close(loss, weight * err)
    edm = edm_coefficients(sigma, 0.5)
    torch.testing.assert_close(WEIGHTINGS["edm"](sigma, 0.5), edm.c_out**-2)  # Karras eq. 8


def test_ve_weighting_is_sigma_squared_score_matching() -> None:
    """|D - x_0|^2 / sigma^2 == sigma^2 |s_theta - grad log p(x | x_0)|^2 (Song et al. 2021)."""
    gm = mixture_2d()
    x0 = gm.sample(32, generator=torch.Generator().manual_seed(4))
    sigma = torch.full((32,), 0.7, dtype=F64)
    n = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    x = x0 + 0.7 * n
    score = (gm.denoiser(x, sigma) - x) / 0.7**2
    target = -(x - x0) / 0.7**2
    loss = dsm_loss(
        gm.denoiser, x0, sigma, weighting="ve", generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(loss, 0.7**2 * (score - target) ** 2)


@pytest.mark.parametrize("s", [0.1, 0.6, 3.0])
def test_exact_denoiser_minimises_the_expected_loss(s: float) -> None:
    """E|D + delta - x_0|^2 = E|D* - x_0|^2 + |delta|^2 at D = D*: perturbing D only adds."""
    gm = mixture_2d()
    x0 = gm.sample(20_000, generator=torch.Generator().manual_seed(6))
    sigma = torch.full((x0.shape[0],), s, dtype=F64)
    delta = torch.tensor([0.1, -0.05], dtype=F64)
    perturbed = {
        "shift": lambda x, sig: gm.denoiser(x, sig) + delta,
        "scale": lambda x, sig: 1.05 * gm.denoiser(x, sig),
        "wrong_sigma": lambda x, sig: gm.denoiser(x, 1.3 * sig),
        "identity": lambda x, sig: x,
    }

    def per_sample_loss(denoiser: Any) -> Tensor:
        gen = torch.Generator().manual_seed(7)  # common random numbers for every candidate
        return dsm_loss(denoiser, x0, sigma, weighting="edm", generator=gen).sum(dim=1)  # (B,)

    best = per_sample_loss(gm.denoiser)
    losses = {name: float(per_sample_loss(d).mean()) for name, d in perturbed.items()}
    assert all(value > float(best.mean()) for value in losses.values()), (best.mean(), losses)
    # The excess of the shift is lambda (2 delta . (D* - x_0) + |delta|^2) per sample; the cross
    # term averages to 0 because D* = E[x_0 | x]: check within 4 standard errors.
    excess = per_sample_loss(perturbed["shift"]) - best
    lam = float(WEIGHTINGS["edm"](torch.tensor(s), 0.5))
    stderr = float(excess.std()) / math.sqrt(excess.shape[0])
    assert abs(float(excess.mean()) - lam * float(delta.square().sum())) < 4 * stderr


def test_condition_is_passed_to_the_denoiser() -> None:
    seen: list[Any] = []

    def denoiser(x: Tensor, sigma: Tensor, cond: Any = None) -> Tensor:
        seen.append(cond)
        return torch.zeros_like(x)

    x0 = torch.ones(4, 3)
    dsm_loss(denoiser, x0, 1.0, cond="label")
    dsm_loss(denoiser, x0, 1.0)
    assert seen == ["label", None]
    with pytest.raises(ValueError, match="unknown weighting"):
        dsm_loss(denoiser, x0, 1.0, weighting="nope")


def test_loss_gradient_flows_to_the_network() -> None:
    net = RecordingNet()
    x0 = torch.randn(8, 1, 4, 4, generator=torch.Generator().manual_seed(8))
    sigma = sample_sigma_lognormal(8, generator=torch.Generator().manual_seed(9))
    dsm_loss(EDMPrecond(net), x0, sigma).mean().backward()
    assert net.weight.grad is not None and torch.isfinite(net.weight.grad)


# ---- training noise levels --------------------------------------------------------------------


def test_lognormal_sigmas() -> None:
    sigma = sample_sigma_lognormal(100_000, generator=torch.Generator().manual_seed(10))
    assert sigma.shape == (100_000,) and bool((sigma > 0).all())
    assert float(sigma.log().mean()) == pytest.approx(-1.2, abs=0.02)
    assert float(sigma.log().std()) == pytest.approx(1.2, abs=0.02)
    again = sample_sigma_lognormal(100_000, generator=torch.Generator().manual_seed(10))
    assert torch.equal(sigma, again)


def test_schedule_sigmas_are_sigma_of_uniform_times() -> None:
    schedule = BrownianVE(25.0)
    sigma = sample_sigma_schedule(50_000, schedule, torch.Generator().manual_seed(11), t_min=0.1)
    t = schedule.sigma_inv(sigma)
    assert float(t.min()) >= 0.1 - 1e-6 and float(t.max()) <= 1.0 + 1e-6
    assert float(t.mean()) == pytest.approx(0.55, abs=0.01)
    assert float(t.var()) == pytest.approx(0.9**2 / 12, rel=0.05)
    assert math.isfinite(float(sample_sigma_schedule(10, VPCosine(), t_max=0.99).max()))
