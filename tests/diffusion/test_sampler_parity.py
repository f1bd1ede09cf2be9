"""Parity with diffusers' schedulers: the same sigmas and noise give the same samples.

diffusers works on VP/DDPM timesteps with an epsilon model. Its sigmas are read back from the
scheduler and given to medgen; the "model" wraps one nonlinear denoiser D as
eps = (x - D(x, sigma)) / sigma with x = x_vp sqrt(1 + sigma^2), the VE state.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor

from medgen.diffusion import SAMPLERS

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers")

N_STEPS, BATCH = 10, 16
BETAS = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}  # SD's


def denoiser(x: Tensor, sigma: Tensor) -> Tensor:
    """A smooth nonlinear stand-in for a network: D(x, sigma) for 2-D points."""
    s = sigma.reshape(-1, 1)
    return 1.5 * torch.tanh(x / torch.sqrt(1 + s**2)) + 0.1 * x / (1 + s**2)


def epsilon(x_ve: Tensor, sigma: float) -> Tensor:
    return (x_ve - denoiser(x_ve, torch.full((x_ve.shape[0],), sigma))) / sigma


def noise() -> Tensor:
    return torch.randn(BATCH, 2, generator=torch.Generator().manual_seed(0))


def run_diffusers(scheduler: Any, call_sigmas: Tensor, x: Tensor, **step_kw: Any) -> Tensor:
    """diffusers' sampling loop; call_sigmas[j] is the noise level of the j-th model call."""
    for j, t in enumerate(scheduler.timesteps):
        sigma = float(call_sigmas[j])
        x_vp = scheduler.scale_model_input(x, t)  # the model's input, x_ve / sqrt(1 + sigma^2)
        x = scheduler.step(epsilon(x_vp * math.sqrt(1 + sigma**2), sigma), t, x, **step_kw)
        x = x.prev_sample
    return x


def to_vp(x_ve: Tensor, sigma: Tensor) -> Tensor:
    return x_ve / math.sqrt(1 + float(sigma) ** 2)


@pytest.mark.parametrize(
    ("scheduler_name", "sampler"),
    [
        ("EulerDiscreteScheduler", "euler"),
        ("HeunDiscreteScheduler", "heun"),
        ("LMSDiscreteScheduler", "lms"),
    ],
)
def test_karras_sigma_schedulers(scheduler_name: str, sampler: str) -> None:
    scheduler = getattr(diffusers, scheduler_name)(**BETAS, use_karras_sigmas=True)
    scheduler.set_timesteps(N_STEPS)
    calls = scheduler.sigmas.clone()  # Heun repeats each inner level: one entry per model call
    sigmas = torch.unique_consecutive(calls)
    assert sigmas.shape == (N_STEPS + 1,) and sigmas[-1] == 0
    x = noise() * sigmas[0]
    expected = run_diffusers(scheduler, calls, x)
    torch.testing.assert_close(SAMPLERS[sampler](denoiser, x, sigmas), expected)


def test_euler_ancestral_draws_the_same_noise() -> None:
    scheduler = diffusers.EulerAncestralDiscreteScheduler(**BETAS)
    scheduler.set_timesteps(N_STEPS)
    sigmas = scheduler.sigmas.clone()
    x = noise() * sigmas[0]
    expected = run_diffusers(scheduler, sigmas, x, generator=torch.Generator().manual_seed(5))
    ours = SAMPLERS["euler_ancestral"](
        denoiser, x, sigmas, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(ours, expected)


def test_dpmpp_2m() -> None:
    scheduler = diffusers.DPMSolverMultistepScheduler(
        **BETAS,
        algorithm_type="dpmsolver++",
        solver_order=2,
        use_karras_sigmas=True,
        final_sigmas_type="zero",
    )
    scheduler.set_timesteps(N_STEPS)
    sigmas = scheduler.sigmas.clone()
    x = noise() * sigmas[0]
    expected = run_diffusers(scheduler, sigmas, to_vp(x, sigmas[0]))  # final sigma 0: x_vp = x_ve
    torch.testing.assert_close(SAMPLERS["dpmpp_2m"](denoiser, x, sigmas), expected)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim(eta: float) -> None:
    scheduler = diffusers.DDIMScheduler(**BETAS, clip_sample=False, set_alpha_to_one=True)
    scheduler.set_timesteps(N_STEPS)
    alpha_bar = scheduler.alphas_cumprod[scheduler.timesteps].double()
    sigmas = torch.cat([((1 - alpha_bar) / alpha_bar).sqrt(), torch.zeros(1, dtype=torch.float64)])
    x = noise() * sigmas[0]
    expected = run_diffusers(
        scheduler, sigmas, to_vp(x, sigmas[0]), eta=eta, generator=torch.Generator().manual_seed(5)
    )
    ours = SAMPLERS["ddim"](
        denoiser, x, sigmas, eta=eta, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(ours, expected)
