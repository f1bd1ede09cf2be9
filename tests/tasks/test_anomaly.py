"""Anomaly detection: on the smooth 'anatomy' prior with its exact denoiser, a bright sharp blob
is where the map peaks and the slice score separates blob slices from healthy ones, for both
look-alikes (posterior-mean ensemble, partial diffusion); the ensemble is the mean of the
posterior means it says; the noise, blur, score and NFE pieces each do what they say."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from medgen.analytic.mixture import GaussianMixture
from medgen.diffusion import expected_nfe
from medgen.draws import randn
from medgen.tasks import (
    AnomalyResult,
    anomaly_map,
    detect_anomalies,
    ensemble_reconstruction,
    gaussian_blur,
    image_denoiser,
    level_ladder,
    partial_reconstruction,
    slice_score,
    structured_noise,
)

SIZE = 8


def _slices(prior: GaussianMixture, n: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """(healthy, lesioned, lesion mask): n slices each, a +1.0 2x2 blob at a random place."""
    g = torch.Generator().manual_seed(0)
    healthy = prior.sample(n, generator=g).reshape(n, 1, SIZE, SIZE)
    lesioned = prior.sample(n, generator=g).reshape(n, 1, SIZE, SIZE)
    blob = torch.zeros(n, 1, SIZE, SIZE, dtype=torch.bool)
    for i in range(n):
        r, c = torch.randint(1, SIZE - 3, (2,), generator=g).tolist()
        blob[i, 0, r : r + 2, c : c + 2] = True
    return healthy, lesioned + 1.0 * blob, blob


def _auroc(positive: Tensor, negative: Tensor) -> float:
    """P(score of a positive > score of a negative), ties counted half (Mann-Whitney)."""
    diff = positive[:, None] - negative[None, :]
    return float((diff > 0).double().mean() + 0.5 * (diff == 0).double().mean())


@pytest.mark.parametrize("method", ["ensemble", "partial"])
@pytest.mark.parametrize("noise", ["gaussian", "structured"])
def test_map_peaks_in_the_blob_and_score_separates(
    anatomy_prior: GaussianMixture, noise: str, method: str
) -> None:
    healthy, lesioned, blob = _slices(anatomy_prior)
    denoiser = image_denoiser(anatomy_prior.denoiser)

    def detect(x: Tensor) -> AnomalyResult:
        g = torch.Generator().manual_seed(1)
        return detect_anomalies(
            denoiser,
            x,
            0.3,
            method=method,
            noise=noise,
            blur_sigma=0.7,
            top_fraction=0.05,
            generator=g,
        )

    normal, found = detect(healthy), detect(lesioned)
    peak = found.map.flatten(1).argmax(1)
    assert bool(blob.flatten(1).gather(1, peak[:, None]).all())
    assert _auroc(found.score, normal.score) == 1.0
    # the healthy look-alike removed the lesion: the recon is nearer the healthy prior mean there
    assert float((found.recon - lesioned)[blob].mean()) < -0.3


def test_nfe_is_the_samplers_count(anatomy_prior: GaussianMixture) -> None:
    healthy, _, _ = _slices(anatomy_prior, n=2)
    denoiser = image_denoiser(anatomy_prior.denoiser)
    for sampler, steps in [("heun", 10), ("euler", 6), ("euler_ancestral", 5)]:
        out = detect_anomalies(
            denoiser, healthy, 0.3, method="partial", steps=steps, sampler=sampler
        )
        assert out.nfe == expected_nfe(sampler, steps)
        assert out.recon.shape == out.map.shape == healthy.shape and out.score.shape == (2,)
    out = detect_anomalies(denoiser, healthy, 0.3, levels=3, draws=7)
    assert out.nfe == 21 and out.spread.shape == healthy.shape


def test_level_ladder() -> None:
    assert level_ladder(0.4, 4) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert level_ladder(0.3, 1) == [0.3]
    with pytest.raises(ValueError, match="levels = 0"):
        level_ladder(0.3, 0)


def test_ensemble_is_the_mean_of_its_posterior_means(anatomy_prior: GaussianMixture) -> None:
    """Recomputed by hand from the same draws: D(x + s z, s) per level s and draw z, averaged;
    the spread is their per-pixel std."""
    _, lesioned, _ = _slices(anatomy_prior, n=3)
    denoiser = image_denoiser(anatomy_prior.denoiser)
    recon, spread, nfe = ensemble_reconstruction(
        denoiser, lesioned, 0.2, levels=2, draws=3, generator=torch.Generator().manual_seed(4)
    )
    g = torch.Generator().manual_seed(4)
    estimates = []
    for s in (0.1, 0.2):
        for _ in range(3):
            noisy = lesioned + s * randn(lesioned.shape, g, dtype=lesioned.dtype)
            estimates.append(denoiser(noisy, torch.full((3,), s, dtype=lesioned.dtype)))
    by_hand = torch.stack(estimates)
    assert nfe == 6
    torch.testing.assert_close(recon, by_hand.mean(0))
    torch.testing.assert_close(spread, by_hand.std(0))


def test_ensemble_converges_to_the_posterior_mean_of_x(anatomy_prior: GaussianMixture) -> None:
    """The prior is one Gaussian, so D is affine in x and E_z[D(x + s z, s)] = D(x, s): with many
    draws the ensemble of one level is D(x, s), within the Monte Carlo error."""
    healthy, _, _ = _slices(anatomy_prior, n=2)
    denoiser = image_denoiser(anatomy_prior.denoiser)
    recon, _, _ = ensemble_reconstruction(
        denoiser, healthy, 0.3, levels=1, draws=4000, generator=torch.Generator().manual_seed(2)
    )
    exact = denoiser(healthy, torch.full((2,), 0.3, dtype=healthy.dtype))
    # D's gain is below 1 and the draws' mean has std 0.3 / sqrt(4000) ~ 0.005 per pixel
    assert float((recon - exact).abs().max()) < 0.02
    assert float((healthy - exact).abs().max()) > 0.05  # and D(x, s) is not x itself


def test_deterministic_given_the_noise(anatomy_prior: GaussianMixture) -> None:
    healthy, _, _ = _slices(anatomy_prior, n=2)
    denoiser = image_denoiser(anatomy_prior.denoiser)
    a, _ = partial_reconstruction(
        denoiser, healthy, 0.3, generator=torch.Generator().manual_seed(5)
    )
    b, _ = partial_reconstruction(
        denoiser, healthy, 0.3, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(a, b)


def test_structured_noise_is_smooth_unit_noise() -> None:
    z = structured_noise((4, 1, 64, 64), torch.Generator().manual_seed(0), dtype=torch.float64)
    flat = z.flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(flat.std(1), torch.ones(4, dtype=torch.float64))
    white = torch.randn(4, 1, 64, 64, generator=torch.Generator().manual_seed(0), dtype=z.dtype)

    def neighbour_correlation(x: Tensor) -> float:
        return float(
            torch.corrcoef(torch.stack([x[..., 1:].flatten(), x[..., :-1].flatten()]))[0, 1]
        )

    assert neighbour_correlation(z) > 0.9 and abs(neighbour_correlation(white)) < 0.05


def test_blur_keeps_constants_and_mass() -> None:
    flat = torch.full((1, 2, 9, 9), 3.0, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(flat, 1.5), flat)
    spike = torch.zeros(1, 1, 21, 21, dtype=torch.float64)
    spike[..., 10, 10] = 1.0
    blurred = gaussian_blur(spike, 1.0)
    assert float(blurred.sum()) == pytest.approx(1.0)
    assert float(blurred.max()) == pytest.approx(1 / (2 * torch.pi), rel=0.05)
    assert gaussian_blur(spike, 0.0) is spike


def test_map_mask_and_top_fraction_score() -> None:
    x = torch.zeros(2, 1, 10, 10)
    recon = torch.zeros_like(x)
    x[0, 0, 2, 2] = 5.0  # outside the brain
    x[1, 0, 5, 5] = 5.0  # inside
    brain = torch.zeros(10, 10)
    brain[3:8, 3:8] = 1
    amap = anomaly_map(x, recon, blur_sigma=0.0, mask=brain)
    assert float(amap[0].max()) == 0 and float(amap[1].max()) == 5.0
    scores = slice_score(amap, top_fraction=0.02)  # the mean of the top 2 of 100 values
    torch.testing.assert_close(scores, torch.tensor([0.0, 2.5]))
    with pytest.raises(ValueError, match="top_fraction = 0"):
        slice_score(amap, top_fraction=0.0)


def test_bad_noise_sampler_and_method_are_refused(anatomy_prior: GaussianMixture) -> None:
    healthy, _, _ = _slices(anatomy_prior, n=1)
    denoiser = image_denoiser(anatomy_prior.denoiser)
    with pytest.raises(ValueError, match="method = 'dream'"):
        detect_anomalies(denoiser, healthy, 0.3, method="dream")
    with pytest.raises(ValueError, match="draws = 0"):
        ensemble_reconstruction(denoiser, healthy, 0.3, draws=0)
    with pytest.raises(ValueError, match="noise = 'simplex'"):
        ensemble_reconstruction(denoiser, healthy, 0.3, noise="simplex")
    with pytest.raises(ValueError, match="noise = 'simplex'"):
        partial_reconstruction(denoiser, healthy, 0.3, noise="simplex")
    with pytest.raises(ValueError, match="sampler = 'rk4'"):
        partial_reconstruction(denoiser, healthy, 0.3, sampler="rk4")
