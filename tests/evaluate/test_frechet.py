"""Fréchet distance and KID: zero on one set, the Gaussian closed form, scipy parity, refusals."""

from __future__ import annotations

import pytest
import torch
from scipy.linalg import sqrtm

from medgen.evaluate.frechet import frechet_distance, kernel_inception_distance

torch.set_num_threads(1)


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_a_set_with_itself_is_zero() -> None:
    a = draw(500, 8, seed=0)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_shifted_gaussians_match_the_closed_form() -> None:
    """FD = |mu1 - mu2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2 for diagonal covariances."""
    mu1, s1 = torch.zeros(4, dtype=torch.float64), torch.tensor([1.0, 2.0, 3.0, 4.0])
    mu2, s2 = torch.tensor([1.0, 0.0, -1.0, 0.5]), torch.tensor([4.0, 1.0, 2.0, 0.5])
    a = mu1 + s1.sqrt() * draw(20_000, 4, seed=1)
    b = mu2 + s2.sqrt() * draw(20_000, 4, seed=2)
    expected = float((mu1 - mu2).square().sum() + (s1.sqrt() - s2.sqrt()).square().sum())
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_matches_scipy_sqrtm_on_correlated_features() -> None:
    a = draw(300, 5, seed=3) @ draw(5, 5, seed=4)
    b = draw(200, 5, seed=5) @ draw(5, 5, seed=6) + 0.5
    mu_a, mu_b = a.mean(0).numpy(), b.mean(0).numpy()
    s_a, s_b = torch.cov(a.T).numpy(), torch.cov(b.T).numpy()
    covmean = sqrtm(s_a @ s_b).real
    expected = ((mu_a - mu_b) ** 2).sum() + (s_a + s_b - 2 * covmean).trace()
    assert frechet_distance(a, b) == pytest.approx(float(expected), rel=1e-8)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift() -> None:
    a, b = draw(400, 4, seed=7), draw(400, 4, seed=8)
    same = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    shifted = kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same.mean) < 3 * same.std + 0.05
    assert shifted.mean > 1.0 > 10 * abs(same.mean)
    assert (same.subsets, same.subset_size) == (20, 200)


def test_kid_caps_the_subset_size_and_is_reproducible() -> None:
    a, b = draw(30, 3, seed=9), draw(20, 3, seed=10) + 0.5
    first = kernel_inception_distance(a, b, subsets=5, seed=1)
    assert first.subset_size == 10  # half the smaller set, so the subsets differ
    assert first == kernel_inception_distance(a, b, subsets=5, seed=1)


def test_kid_std_is_a_spread_over_distinct_subsets() -> None:
    """Subsets as large as the sets would all be the same set, with std ~1e-13."""
    a, b = draw(100, 4, seed=11), draw(100, 4, seed=12) + 0.3
    kid = kernel_inception_distance(a, b, subsets=20, subset_size=1000)
    assert kid.subset_size == 50 and kid.std > 0.01 * abs(kid.mean) > 0


@pytest.mark.parametrize(
    ("real", "fake", "match"),
    [
        (draw(10, 3, seed=0), draw(10, 4, seed=1), "one feature dimension"),
        (draw(10, 3, 2, seed=0), draw(10, 3, 2, seed=1), "2-D"),
        (draw(1, 3, seed=0), draw(10, 3, seed=1), "at least . samples"),
        (torch.full((5, 3), torch.nan), draw(5, 3, seed=1), "finite"),
    ],
)
def test_bad_inputs_are_refused(real: torch.Tensor, fake: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        frechet_distance(real, fake)
    with pytest.raises(ValueError, match=match):
        kernel_inception_distance(real, fake)
