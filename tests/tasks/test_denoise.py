"""Denoising: the one-step posterior mean against closed-form Bayes on 1- and 2-component
mixtures, posterior samples against the closed-form Gaussian posterior, the Rician options, and
the one-knob dev tuning."""

from __future__ import annotations

import math

import pytest
import torch
from task_toys import smooth_prior
from torch import Tensor
from torch.distributions import MultivariateNormal

from medgen.analytic.mixture import GaussianMixture
from medgen.diffusion import expected_nfe
from medgen.tasks import (
    POSTERIOR_SAMPLERS,
    STRENGTHS,
    add_rician,
    denoise,
    image_denoiser,
    mmse_estimate,
    posterior_mean,
    posterior_samples,
    tune_strength,
    uncertainty,
)

F64 = torch.float64


def closed_form_posterior_mean(
    weights: Tensor, means: Tensor, covs: Tensor, y: Tensor, sigma: Tensor
) -> Tensor:
    """E[x_0 | y] for x_0 ~ sum_j w_j N(mu_j, S_j), y = x_0 + sigma n, from Bayes directly.

    The component posterior is proportional to w_j N(y; mu_j, S_j + sigma^2 I); within component
    j, Gaussian conditioning gives mu_j + S_j (S_j + sigma^2 I)^-1 (y - mu_j).
    """
    out = []
    eye = torch.eye(means.shape[1], dtype=F64)
    for row, s in zip(y, sigma.tolist(), strict=True):
        cov_y = covs + s**2 * eye  # (K, d, d)
        log_joint = weights.log() + MultivariateNormal(means, cov_y).log_prob(row)
        r = torch.softmax(log_joint, 0)  # (K,) posterior component probabilities
        gain = covs @ torch.linalg.inv(cov_y)  # (K, d, d)
        cond_means = means + (gain @ (row - means)[..., None])[..., 0]  # (K, d)
        out.append(r @ cond_means)
    return torch.stack(out)


MIXTURES = {
    "one": (
        torch.tensor([1.0], dtype=F64),
        torch.tensor([[1.0, -0.5]], dtype=F64),
        torch.tensor([[[0.5, 0.3], [0.3, 2.0]]], dtype=F64),
    ),
    "two": (
        torch.tensor([0.3, 0.7], dtype=F64),
        torch.tensor([[-2.0, 0.0], [1.5, 1.0]], dtype=F64),
        torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[1.0, -0.4], [-0.4, 0.5]]], dtype=F64),
    ),
}


@pytest.mark.parametrize("name", list(MIXTURES))
def test_posterior_mean_is_closed_form_bayes(name: str) -> None:
    weights, means, covs = MIXTURES[name]
    mixture = GaussianMixture(weights, means, covs)
    y = torch.randn(6, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 2
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 0.3, 5.0], dtype=F64)
    expected = closed_form_posterior_mean(weights, means, covs, y, sigma)
    torch.testing.assert_close(posterior_mean(mixture.denoiser, y, sigma), expected)
    scalar = closed_form_posterior_mean(weights, means, covs, y, torch.full((6,), 0.7, dtype=F64))
    torch.testing.assert_close(posterior_mean(mixture.denoiser, y, 0.7), scalar)


@pytest.mark.parametrize(
    "sampler, steps, var_tol", [("euler_maruyama", 100, 0.05), ("euler_ancestral", 200, 0.08)]
)
@pytest.mark.parametrize("dim", [1, 2])
def test_posterior_samples_have_the_gaussian_posterior(
    sampler: str, steps: int, var_tol: float, dim: int
) -> None:
    """x_0 ~ N(mu, s^2): p(x_0 | y) = N(mu + s^2 / (s^2 + sigma^2) (y - mu), s^2 sigma^2 / (s^2 +
    sigma^2)), per coordinate."""
    mu = torch.tensor([1.0, -0.5][:dim], dtype=F64)
    s2 = torch.tensor([0.5, 2.0][:dim], dtype=F64)
    sigma = 0.8
    mixture = GaussianMixture(torch.ones(1), mu[None], s2[None])
    y = torch.tensor([[0.3, 1.2][:dim]], dtype=F64)
    k = 20_000
    g = torch.Generator().manual_seed(1)
    samples = posterior_samples(
        mixture.denoiser, y, sigma, k, steps=steps, generator=g, sampler=sampler
    )
    assert samples.shape == (k, 1, dim)
    post_mean = mu + s2 / (s2 + sigma**2) * (y[0] - mu)
    post_var = s2 * sigma**2 / (s2 + sigma**2)
    se = (post_var / k).sqrt()
    assert bool(((mmse_estimate(samples)[0] - post_mean).abs() < 4 * se).all())
    torch.testing.assert_close(uncertainty(samples)[0] ** 2, post_var, rtol=var_tol, atol=0.0)


def test_denoise_result_nfe_and_determinism() -> None:
    prior = smooth_prior(0.1, 3.0)
    denoiser = image_denoiser(prior.denoiser)
    x = prior.sample(3, generator=torch.Generator().manual_seed(0)).reshape(3, 1, 8, 8)
    sigma = 0.1
    y = x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    out = denoise(denoiser, y, sigma, k=5, steps=7, generator=torch.Generator().manual_seed(2))
    again = denoise(denoiser, y, sigma, k=5, steps=7, generator=torch.Generator().manual_seed(2))
    assert out.samples.shape == (5, 3, 1, 8, 8)
    assert out.mean.shape == out.std.shape == x.shape
    assert out.nfe == 7 == expected_nfe("euler_maruyama", 7)
    torch.testing.assert_close(out.samples, again.samples)
    assert float(out.std.min()) > 0  # the chains differ
    rmse = float((out.mean - x).square().mean().sqrt())
    assert rmse < 0.5 * sigma
    one_step = posterior_mean(denoiser, y, sigma)
    assert float((out.mean - one_step).square().mean().sqrt()) < 0.5 * float(out.std.mean())


def test_rician_corrections_remove_the_bias() -> None:
    """Low-SNR magnitude images (A ~ 0.25, sigma = 0.1): treated as Gaussian the estimate is
    biased up by ~0.02; both corrections remove most of it."""
    base = smooth_prior(0.05, 3.0)
    prior = GaussianMixture(base.weights, torch.full_like(base.means, 0.25), base.covs)
    denoiser = image_denoiser(prior.denoiser)
    g = torch.Generator().manual_seed(0)
    x = prior.sample(64, generator=g).reshape(64, 1, 8, 8)
    sigma = 0.1
    y = add_rician(x, sigma, g)
    bias, rmse = {}, {}
    for correction in ("none", "moment", "exact"):
        out = denoise(denoiser, y, sigma, k=4, steps=10, generator=g, rician=correction)
        bias[correction] = float((out.mean - x).mean())
        rmse[correction] = float((out.mean - x).square().mean().sqrt())
    assert bias["none"] > 0.01
    assert abs(bias["moment"]) < 0.3 * bias["none"] and abs(bias["exact"]) < 0.3 * bias["none"]
    assert rmse["moment"] < rmse["none"] and rmse["exact"] < rmse["none"]


def test_bad_arguments_are_refused() -> None:
    y = torch.zeros(1, 2)
    mixture = GaussianMixture(torch.ones(1), torch.zeros(1, 2), torch.ones(1))
    with pytest.raises(ValueError, match="sampler = 'heun_churn'"):
        posterior_samples(mixture.denoiser, y, 0.5, 2, sampler="heun_churn")
    with pytest.raises(ValueError, match="k = 0"):
        posterior_samples(mixture.denoiser, y, 0.5, 0)
    with pytest.raises(ValueError, match="sigma = 0"):
        posterior_samples(mixture.denoiser, y, 0.0, 2)
    with pytest.raises(ValueError, match="rician = 'gauss'"):
        denoise(mixture.denoiser, y, 0.5, rician="gauss")
    assert set(POSTERIOR_SAMPLERS) == {"euler_maruyama", "euler_ancestral"}
    assert math.isfinite(float(posterior_mean(mixture.denoiser, y, 1.0).sum()))


def test_tuned_strength_is_one_for_the_exact_denoiser_and_higher_for_a_timid_one() -> None:
    """On 8 x 8 images of a smooth Gaussian prior with Gaussian noise the exact posterior mean is
    the MMSE estimate, so the dev tuning keeps the level it is told (strength 1); a denoiser
    that smooths as if the noise were half as strong (an undertrained network's fault) is told
    a higher level, and it gains PSNR by it."""
    prior = smooth_prior(0.2, 3.0)
    g = torch.Generator().manual_seed(0)
    n, sigma = 64, 0.1
    truth = prior.sample(n, generator=g).reshape(n, 1, 8, 8)
    y = truth + sigma * torch.randn(truth.shape, generator=g, dtype=truth.dtype)
    levels = torch.full((n,), sigma, dtype=truth.dtype)
    mask = torch.ones_like(truth, dtype=torch.bool)
    exact = image_denoiser(prior.denoiser)
    # the toy's images sit around 0.5 +- 0.2, inside the [0, 1] the tuning clamps to
    best, scores = tune_strength(exact, y, levels, truth, mask)
    assert best == 1.0 and set(scores) == set(STRENGTHS)

    def timid(x: Tensor, s: Tensor) -> Tensor:
        return exact(x, s / 2)

    best_timid, timid_scores = tune_strength(timid, y, levels, truth, mask)
    assert best_timid >= 1.5 - 1e-9  # 2 would be exact; 1.5 is the grid's largest
    assert timid_scores[best_timid] > timid_scores[1.0] + 0.2


def test_mirrored_posterior_mean() -> None:
    """The smooth prior is mirror-symmetric, so its exact posterior mean commutes with the mirror
    and the mirrored average changes nothing; a denoiser with a left-right bias loses it."""
    prior = smooth_prior(0.2, 3.0)
    g = torch.Generator().manual_seed(1)
    y = prior.sample(4, generator=g).reshape(4, 1, 8, 8) + 0.1 * torch.randn(
        4, 1, 8, 8, generator=g, dtype=F64
    )
    exact = image_denoiser(prior.denoiser)
    torch.testing.assert_close(
        posterior_mean(exact, y, 0.1, mirrored=True), posterior_mean(exact, y, 0.1)
    )
    ramp = torch.linspace(-0.05, 0.05, 8, dtype=F64)  # antisymmetric under the mirror

    def biased(x: Tensor, s: Tensor) -> Tensor:
        return exact(x, s) + ramp

    torch.testing.assert_close(
        posterior_mean(biased, y, 0.1, mirrored=True), posterior_mean(exact, y, 0.1)
    )
