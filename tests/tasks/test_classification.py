"""The diffusion classifier against exact truths, the shifted test sets, the table's claims."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from medgen.analytic import GaussianMixture
from medgen.data.store import open_dataset
from medgen.exceptions import InputError
from medgen.models import DiffusionModel
from medgen.models.common import Conditioning
from medgen.models.diffusion import DiffusionConfig
from medgen.nets import UNetConfig
from medgen.tasks.classification.bayes import (
    ClassDenoiser,
    NoiseDraws,
    classify,
    log_uniform_draws,
    within,
)
from medgen.tasks.classification.conditional import class_denoiser
from medgen.tasks.classification.scores import class_scores, correct
from medgen.tasks.classification.shifts import data_config, render_images, shifted_images
from medgen.tasks.classification.table import (
    ACCURACY_TOLERANCE,
    IN_DISTRIBUTION,
    ROBUSTNESS_GAIN,
    target_claims,
    verdict,
)


def _gaussian_classes(d: int = 4, k: int = 3) -> tuple[Tensor, Tensor, Tensor]:
    """k classes N(mu_c, S_c) in d dimensions, full covariances of different scales, float64."""
    g = torch.Generator().manual_seed(0)
    means = torch.randn(k, d, generator=g, dtype=torch.float64)
    a = torch.randn(k, d, d, generator=g, dtype=torch.float64)
    scales = torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)[:k, None, None]
    covs = scales * (a @ a.mT / d + 0.2 * torch.eye(d, dtype=torch.float64))
    prior = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)[:k]
    return means, covs, prior


def _class_oracle(means: Tensor, covs: Tensor) -> ClassDenoiser:
    """The exact class-conditional denoisers E[x_0 | x, c] of classes N(mu_c, S_c)."""
    classes = [GaussianMixture(torch.ones(1), means[c : c + 1], covs[c : c + 1]) for c in range(3)]

    def denoiser(x: Tensor, sigma: Tensor, c: Tensor) -> Tensor:
        out = torch.empty_like(x)
        for k, oracle in enumerate(classes):
            rows = c == k
            if rows.any():
                out[rows] = oracle.denoiser(x[rows], sigma[rows])
        return out

    return denoiser


def _exact_draws(d: int, lo: float, hi: float, nodes: int) -> NoiseDraws:
    """Gauss-Legendre nodes in ln sigma times the 2d-point cubature eps = +-sqrt(d) e_i.

    The exact denoiser of a Gaussian is affine in x, so |eps - eps_c|^2 is quadratic in eps and
    the 2d points (mean 0, covariance I) give its expectation exactly.
    """
    t, w = np.polynomial.legendre.leggauss(nodes)
    ln_sigma = torch.tensor(lo + (hi - lo) * (t + 1) / 2, dtype=torch.float64)
    w_ln = torch.tensor(w * (hi - lo) / 2, dtype=torch.float64)
    eps = torch.cat([torch.eye(d), -torch.eye(d)]).double() * d**0.5  # (2d, d)
    sigmas = torch.exp(ln_sigma).repeat_interleave(2 * d)
    weights = w_ln.repeat_interleave(2 * d) / (2 * d)
    return NoiseDraws(sigmas, eps.repeat(nodes, 1), weights)


def test_posterior_on_gaussian_classes_is_bayes_rule() -> None:
    d = 4
    means, covs, prior = _gaussian_classes(d)
    classes = [GaussianMixture(torch.ones(1), means[c : c + 1], covs[c : c + 1]) for c in range(3)]
    denoiser = _class_oracle(means, covs)

    g = torch.Generator().manual_seed(1)
    x = 1.5 * torch.randn(12, d, generator=g, dtype=torch.float64)
    x[:3] = means  # at each class's mean too
    # the levels' class-dependent tails beyond [1e-6, 1e6] are O(sigma^2) and O(sigma^-2): ~1e-9
    draws = _exact_draws(d, np.log(1e-6), np.log(1e6), nodes=400)
    found = classify(denoiser, x, prior.log(), draws, batch_size=6, chunk=1 << 16)
    bayes = GaussianMixture(prior, means, covs).responsibilities(x)  # (N, K): Bayes' rule
    assert found.nfe == 3 * len(draws.sigmas)
    torch.testing.assert_close(found.log_posterior.exp(), bayes, atol=1e-9, rtol=0)
    # and the integrated error is -log N(x; mu_c, S_c) up to one constant for every class
    log_lik = -(found.errors * draws.weights).sum(-1)
    exact = torch.stack([m.log_prob(x) for m in classes], 1)
    gap = log_lik - exact  # (N, K): the same number everywhere
    assert float(gap.max() - gap.min()) < 1e-8


def test_a_truncated_integral_is_not_bayes_rule() -> None:
    """The oracle test has teeth: cut the levels at sigma = 0.3 and the posterior moves."""
    d = 4
    means, covs, prior = _gaussian_classes(d)
    denoiser = _class_oracle(means, covs)

    x = torch.randn(6, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    draws = _exact_draws(d, np.log(0.3), np.log(1e4), nodes=40)
    found = classify(denoiser, x, prior.log(), draws)
    bayes = GaussianMixture(prior, means, covs).responsibilities(x)
    assert float((found.log_posterior.exp() - bayes).abs().max()) > 1e-2


def test_draws_are_stratified_and_paired() -> None:
    g = torch.Generator().manual_seed(0)
    draws = log_uniform_draws(8, 0.01, 10.0, (1, 4, 4), g)
    assert draws.noise.shape == (8, 1, 4, 4) and draws.sigmas.shape == (8,)
    ln = draws.sigmas.double().log()
    edges = torch.linspace(np.log(0.01), np.log(10.0), 9, dtype=torch.float64)
    assert bool(((ln >= edges[:-1] - 1e-6) & (ln <= edges[1:] + 1e-6)).all())
    assert float(draws.weights.sum()) == pytest.approx(np.log(1000.0))
    kept = within(draws, 0.1, 10.0)
    assert bool((kept[draws.sigmas < 0.1] == 0).all()) and float(kept.sum()) > 0

    seen: list[tuple[int, float]] = []

    def spy(x: Tensor, sigma: Tensor, c: Tensor) -> Tensor:
        seen.extend(zip(c.tolist(), sigma.tolist(), strict=True))
        return torch.zeros_like(x)

    post = classify(spy, torch.zeros(2, 1, 4, 4), torch.zeros(3), draws, chunk=5)
    assert post.nfe == 24 and post.log_posterior.shape == (2, 3)
    for c in range(3):  # every class on the same levels
        assert sorted(s for k, s in seen if k == c) == sorted(s for k, s in seen if k == 0)
    # the zero denoiser errs the same for every class: the posterior is the prior
    torch.testing.assert_close(post.log_posterior.exp(), torch.full((2, 3), 1 / 3))


def test_shifted_test_sets_are_the_same_slices_under_another_scanner(
    builtin_dataset: Path,
) -> None:
    store = open_dataset(builtin_dataset)
    ids = store.split("test").index.to_numpy()[:3]
    stored = np.asarray(store.array("images")[ids])
    again = render_images(store, ids, data_config(store))
    np.testing.assert_allclose(again, stored, atol=1e-6)  # the same plan, the same slices
    clean = np.asarray(store.array("clean")[ids])
    brain = np.asarray(store.array("brain_mask")[ids]).astype(bool)
    noisy = shifted_images(store, ids, "noise")
    outside = ~brain  # background: only noise there
    assert noisy[outside].mean() > 1.5 * stored[outside].mean()
    dark = shifted_images(store, ids, "contrast")
    assert dark[brain].mean() < 0.9 * stored[brain].mean()
    biased = shifted_images(store, ids, "bias")
    inside = brain & (clean > 0.2)  # where the noise is small against the signal

    def log_bias_spread(images: np.ndarray) -> float:
        return float(np.std(np.log(np.maximum(images[inside], 1e-3) / clean[inside])))

    assert log_bias_spread(biased) > 1.5 * log_bias_spread(stored)  # a stronger field
    assert not np.allclose(biased, stored)
    with pytest.raises(ValueError, match="unknown shift"):
        shifted_images(store, ids, "motion")


def test_scores_by_hand() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    truth = np.array([0, 1, 2, 2])
    s = class_scores(probs, truth, ("none", "benign", "malignant"))
    assert s["accuracy"] == pytest.approx(0.75)
    # F1: none 1, benign 2/3 (1 TP, 1 FP), malignant 2/3 (1 TP, 1 FN)
    assert s["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert s["auroc_none"] == pytest.approx(1.0)
    assert s["auroc_malignant"] == pytest.approx(1.0)  # 0.3, 0.4 above 0.1, 0.1
    assert s["auroc_benign"] == pytest.approx(1.0)  # 0.7 above 0.1, 0.6, 0.3
    np.testing.assert_array_equal(correct(probs, truth), [1, 1, 0, 1])


def test_claims_read_the_paired_changes() -> None:
    n = 40
    ours_id = np.ones(n)
    base_id = np.ones(n)
    ours_shift = np.r_[np.zeros(2), np.ones(n - 2)]  # ours loses 5 points
    base_shift = np.r_[np.zeros(20), np.ones(n - 20)]  # the CNN loses 50
    hits = {
        (IN_DISTRIBUTION, "ours"): ours_id,
        (IN_DISTRIBUTION, "cnn"): base_id,
        ("noise", "ours"): ours_shift,
        ("noise", "cnn"): base_shift,
    }
    first, shift = target_claims(hits, "ours", "cnn", ["noise"])
    assert first.gain.estimate == 0 and first.margin == -ACCURACY_TOLERANCE
    assert verdict(first) == "met"  # both perfect: the interval is the point 0 >= -0.02
    assert shift.ours_value == pytest.approx(-0.05) and shift.baseline_value == pytest.approx(-0.5)
    assert shift.gain.estimate == pytest.approx(0.45) and shift.margin == ROBUSTNESS_GAIN
    assert verdict(shift) == "met"
    worse = target_claims({**hits, ("noise", "ours"): base_shift}, "ours", "cnn", ["noise"])[1]
    assert verdict(worse) == "not met"  # the same loss: gain 0, interval at 0 < 0.05


def test_a_joint_or_unconditional_model_cannot_classify() -> None:
    tiny = UNetConfig(channels=(8, 16), attention_levels=(False, True), num_head_channels=8)
    types = Conditioning(("tumour_type",), (("benign", "malignant", "none"),))
    joint = DiffusionModel(DiffusionConfig(channels=2, unet=tiny, conditioning=types))
    with pytest.raises(InputError, match="mask is unknown"):
        class_denoiser(joint, "tumour_type", "run")
    plain = DiffusionModel(DiffusionConfig(unet=tiny))
    with pytest.raises(InputError, match="unconditional"):
        class_denoiser(plain, "tumour_type", "run")
    model = DiffusionModel(DiffusionConfig(unet=tiny, conditioning=types)).eval()
    cd = class_denoiser(model, "tumour_type", "run")
    assert cd.classes == ("benign", "malignant", "none")
    x = torch.zeros(2, 1, 64, 64)
    sigma = torch.ones(2)
    expected = model.denoiser(x, sigma, torch.tensor([[2], [3]]))  # 0 is the null label
    torch.testing.assert_close(cd.denoiser(x, sigma, torch.tensor([1, 2])), expected)
