"""Samplers: pure functions with one signature, k-diffusion style, in the sigma parameterisation.

`sample_xxx(denoiser, x, sigmas, *, generator=None, callback=None, **knobs) -> Tensor` walks the
noise levels `sigmas` (decreasing, usually ending at 0) from x, initial noise already scaled by
sigmas[0]. The denoiser D(x, sigma) estimates E[x_0 | x]; the PF-ODE is dx/dsigma = (x - D) / sigma
and the score is (D - x) / sigma^2. Randomness comes only from `generator`; `callback` receives
dict(i, x, sigma, denoised) once per step. `SAMPLERS` maps names to the functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor

from medgen.draws import randn

Denoiser = Callable[[Tensor, Tensor], Tensor]  # D(x (B, ...), sigma (B,)) -> E[x_0 | x] (B, ...)
Callback = Callable[[dict[str, Any]], None]
Sampler = Callable[..., Tensor]  # sample_xxx(denoiser, x, sigmas, *, generator, callback, **knobs)


# ---- shared steps ---------------------------------------------------------------------------


def _levels(sigmas: Tensor) -> list[tuple[float, float]]:
    """The steps (sigma_i, sigma_{i+1}) as Python floats (coefficients computed in float64)."""
    if sigmas.ndim != 1 or sigmas.shape[0] < 2:
        raise ValueError(f"sigmas must be 1-D with at least 2 levels, got {tuple(sigmas.shape)}")
    return list(pairwise(sigmas.tolist()))


def _denoise(denoiser: Denoiser, x: Tensor, sigma: float) -> Tensor:
    """D(x, sigma) with sigma broadcast to a (B,) tensor in x's dtype."""
    return denoiser(x, x.new_full((x.shape[0],), sigma))


def _noise(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """N(0, I) like x, drawn on the generator's device (a CPU generator gives the same noise
    whether x lives on the CPU or a GPU), then moved to x's."""
    return randn(x.shape, generator, device=x.device, dtype=x.dtype)


def _observed_denoise(
    denoiser: Denoiser, x: Tensor, sigma: float, i: int, callback: Callback | None
) -> Tensor:
    """D(x, sigma) at step i, reported to `callback` as dict(i, x, sigma, denoised)."""
    denoised = _denoise(denoiser, x, sigma)
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})
    return denoised


def _derivative(x: Tensor, denoised: Tensor, sigma: float) -> Tensor:
    """dx/dsigma = (x - D(x, sigma)) / sigma (Karras et al. 2022, eq. 4 with s = 1)."""
    return (x - denoised) / sigma


def _euler_step(x: Tensor, denoised: Tensor, sigma: float, sigma_next: float) -> Tensor:
    """x + (sigma_next - sigma) dx/dsigma, as D + (sigma_next / sigma)(x - D), exact at 0."""
    return denoised + (sigma_next / sigma) * (x - denoised)


def _heun_step(
    denoiser: Denoiser, x: Tensor, denoised: Tensor, sigma: float, sigma_next: float
) -> Tensor:
    """Karras et al. 2022 alg. 1 lines 5-8: Euler, then the trapezoid rule unless sigma_next = 0."""
    x_euler = _euler_step(x, denoised, sigma, sigma_next)
    if sigma_next == 0:
        return x_euler
    d_next = _derivative(x_euler, _denoise(denoiser, x_euler, sigma_next), sigma_next)
    return x + (sigma_next - sigma) * 0.5 * (_derivative(x, denoised, sigma) + d_next)


def _reverse_diffusion_step(
    x: Tensor, denoised: Tensor, sigma: float, sigma_next: float, generator: torch.Generator | None
) -> Tensor:
    """x + (s^2 - s'^2) score + sqrt(s^2 - s'^2) z (VE SDE); the step to s' = 0 is noise-free."""
    mean = denoised + (sigma_next / sigma) ** 2 * (x - denoised)
    if sigma_next == 0:
        return mean
    return mean + math.sqrt(sigma**2 - sigma_next**2) * _noise(x, generator)


def _ancestral_levels(sigma: float, sigma_next: float, eta: float) -> tuple[float, float]:
    """(sigma_down, sigma_up): sigma_up the eta-scaled DDPM posterior std, down^2 + up^2 = s'^2."""
    sigma_up = min(sigma_next, eta * sigma_next * math.sqrt(1 - (sigma_next / sigma) ** 2))
    return math.sqrt(sigma_next**2 - sigma_up**2), sigma_up


def _langevin_step(
    x: Tensor, denoised: Tensor, sigma: float, snr: float, generator: torch.Generator | None
) -> Tensor:
    """x + eps score + sqrt(2 eps) z, eps = 2 (snr |z| / |score|)^2 (Song et al. 2021, alg. 4)."""
    score = (denoised - x) / sigma**2
    z = _noise(x, generator)
    score_norm = score.flatten(1).norm(dim=1).mean().clamp_min(torch.finfo(x.dtype).tiny)
    step = 2 * (snr * z.flatten(1).norm(dim=1).mean() / score_norm) ** 2
    return x + step * score + (2 * step).sqrt() * z


def _lms_coefficients(sigmas: list[float], i: int, order: int) -> list[float]:
    """int_{s_i}^{s_{i+1}} l_j for the Lagrange basis l_j on nodes s_i, ..., s_{i-order+1}."""
    nodes = [sigmas[i - k] - sigmas[i] for k in range(order)]  # shifted so s_i is 0
    width = sigmas[i + 1] - sigmas[i]
    coefficients = []
    for j, node in enumerate(nodes):
        poly = [1.0]  # polynomial coefficients, lowest degree first
        for k, other in enumerate(nodes):
            if k != j:
                scaled = [c / (node - other) for c in poly]
                poly = [a - other * b for a, b in zip([0.0, *scaled], [*scaled, 0.0], strict=True)]
        coefficients.append(sum(c * width ** (p + 1) / (p + 1) for p, c in enumerate(poly)))
    return coefficients


# ---- samplers -------------------------------------------------------------------------------


def sample_euler(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """PF-ODE Euler steps: Karras et al. (2022) alg. 1 without the second-order correction."""
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        x = _euler_step(x, denoised, sigma, sigma_next)
    return x


def sample_heun(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Heun's 2nd-order PF-ODE steps, Euler on the step to 0: Karras et al. (2022) alg. 1."""
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        x = _heun_step(denoiser, x, denoised, sigma, sigma_next)
    return x


def sample_heun_churn(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    S_churn: float = 40.0,  # total extra noise; gamma_i = min(S_churn / n, sqrt(2) - 1)
    S_tmin: float = 0.05,  # churn only for sigma_i in [S_tmin, S_tmax]
    S_tmax: float = 50.0,
    S_noise: float = 1.003,  # std multiplier of the fresh noise (> 1 offsets detail loss)
) -> Tensor:
    """Stochastic Heun with churn: Karras et al. (2022) alg. 2 (defaults: their ImageNet-64 row)."""
    steps = _levels(sigmas)
    for i, (sigma, sigma_next) in enumerate(steps):
        gamma = min(S_churn / len(steps), math.sqrt(2) - 1) if S_tmin <= sigma <= S_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            x = x + S_noise * math.sqrt(sigma_hat**2 - sigma**2) * _noise(x, generator)
        denoised = _observed_denoise(denoiser, x, sigma_hat, i, callback)
        x = _heun_step(denoiser, x, denoised, sigma_hat, sigma_next)
    return x


def sample_euler_maruyama(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler-Maruyama on the reverse VE SDE (Song et al. 2021, eq. 6); the step to 0 is its mean."""
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        x = _reverse_diffusion_step(x, denoised, sigma, sigma_next, generator)
    return x


def sample_euler_ancestral(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    eta: float = 1.0,  # 1: the DDPM posterior (Ho et al. 2020); 0: deterministic Euler
    s_noise: float = 1.0,  # std multiplier of the fresh noise
) -> Tensor:
    """Ancestral sampling: Euler to sigma_down, then fresh noise of std sigma_up (k-diffusion)."""
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        sigma_down, sigma_up = _ancestral_levels(sigma, sigma_next, eta)
        x = _euler_step(x, denoised, sigma, sigma_down)
        if sigma_up > 0:
            x = x + s_noise * sigma_up * _noise(x, generator)
    return x


def sample_ddim(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    eta: float = 0.0,  # 0: deterministic DDIM; 1: DDPM
) -> Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12 and 16) with x = x_vp / sqrt(alpha_bar).

    In the sigma parameterisation the DDIM update is exactly the ancestral step with the same eta,
    so eta = 0 is the PF-ODE Euler step and eta = 1 is DDPM.
    """
    return sample_euler_ancestral(
        denoiser, x, sigmas, generator=generator, callback=callback, eta=eta
    )


def sample_projected(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    project: Callable[[Tensor], Tensor],
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    eta: float = 1.0,  # 1: DDPM ancestral noise; 0: deterministic DDIM
) -> Tensor:
    """Ancestral sampling whose denoised estimate is projected onto known data at every step.

    The x_0-projection form of hard data consistency (DDNM, Wang et al. 2023; DDS, Chung et al.
    2024): x0 = P(D(x_i, sigma_i)), eps = (x_i - D(x_i, sigma_i)) / sigma_i, then
    x_{i+1} = x0 + sigma_down eps + sigma_up z. `project` maps an estimate onto the set of images
    that agree with what is known (k-space lines for MRI, pixels for inpainting); with the last
    level 0 the output is a projected estimate, so it agrees with the data exactly.
    """
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        x0_hat = _denoise(denoiser, x, sigma)
        eps_hat = (x - x0_hat) / sigma
        x0 = project(x0_hat)
        if callback is not None:
            callback({"i": i, "x": x, "sigma": sigma, "denoised": x0})
        sigma_down, sigma_up = _ancestral_levels(sigma, sigma_next, eta)
        x = x0 + sigma_down * eps_hat
        if sigma_up > 0:
            x = x + sigma_up * _noise(x, generator)
    return x


def sample_pc(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    snr: float = 0.16,  # signal-to-noise ratio r setting the Langevin step size
    n_corrector: int = 1,  # Langevin corrector steps per noise level
) -> Tensor:
    """Predictor-corrector: Langevin, then reverse diffusion (Song et al. 2021, alg. 2 and 4)."""
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        for _ in range(n_corrector):
            x = _langevin_step(x, _denoise(denoiser, x, sigma), sigma, snr, generator)
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        x = _reverse_diffusion_step(x, denoised, sigma, sigma_next, generator)
    return x


def sample_dpmpp_2m(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M), Lu et al. (2022) alg. 2; Euler on the first step and to sigma 0."""
    old_denoised, old_sigma = None, 0.0
    for i, (sigma, sigma_next) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        corrected = denoised
        if old_denoised is not None and sigma_next > 0:
            r = math.log(old_sigma / sigma) / math.log(sigma / sigma_next)  # h_{i-1} / h_i
            corrected = denoised + (denoised - old_denoised) / (2 * r)
        x = _euler_step(x, corrected, sigma, sigma_next)
        old_denoised, old_sigma = denoised, sigma
    return x


def sample_lms(
    denoiser: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    order: int = 4,  # number of past derivatives the Adams-Bashforth step uses
) -> Tensor:
    """Linear multistep (Adams-Bashforth in sigma) on the PF-ODE, as k-diffusion / diffusers LMS."""
    levels = sigmas.tolist()
    derivatives: list[Tensor] = []  # newest first
    for i, (sigma, _) in enumerate(_levels(sigmas)):
        denoised = _observed_denoise(denoiser, x, sigma, i, callback)
        derivatives = [_derivative(x, denoised, sigma), *derivatives][:order]
        coefficients = _lms_coefficients(levels, i, len(derivatives))
        x = x + sum(c * d for c, d in zip(coefficients, derivatives, strict=True))
    return x


SAMPLERS: dict[str, Sampler] = {
    "euler": sample_euler,
    "heun": sample_heun,
    "heun_churn": sample_heun_churn,
    "euler_maruyama": sample_euler_maruyama,
    "euler_ancestral": sample_euler_ancestral,
    "ddim": sample_ddim,
    "pc": sample_pc,
    "dpmpp_2m": sample_dpmpp_2m,
    "lms": sample_lms,
}
