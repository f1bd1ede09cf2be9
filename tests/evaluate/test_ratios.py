"""The ratio-of-means interval: coverage on simulations with a known ratio, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from medgen.evaluate.ratios import ratio_of_means

TRUE_RATIO = 1.2


def gamma_draws(rng: np.random.Generator, cv: float, mean: float, n: int) -> list[float]:
    shape = 1 / cv**2
    return list(rng.gamma(shape, mean / shape, n))


def folded_normal_draws(rng: np.random.Generator, cv: float, mean: float, n: int) -> list[float]:
    # |N(0, 1)| scaled to `mean`: a score decided by one share's error (CV 0.76); cv is unused
    return list(np.abs(rng.normal(0.0, 1.0, n)) * mean / np.sqrt(2 / np.pi))


@pytest.mark.parametrize("draws", [gamma_draws, folded_normal_draws])
@pytest.mark.parametrize(("n_a", "n_b"), [(6, 8), (24, 24)])
def test_the_interval_covers_a_known_ratio_at_its_nominal_rate(draws, n_a: int, n_b: int) -> None:
    rng = np.random.default_rng(0)
    trials, covered = 1000, 0
    for _ in range(trials):
        r = ratio_of_means(draws(rng, 0.3, TRUE_RATIO, n_a), draws(rng, 0.3, 1.0, n_b))
        assert r.low <= r.ratio <= r.high  # an interval holds its estimate
        covered += r.low <= TRUE_RATIO <= r.high
    assert abs(covered / trials - 0.95) <= 0.025


def test_the_interval_narrows_with_more_draws() -> None:
    rng = np.random.default_rng(1)
    few = ratio_of_means(gamma_draws(rng, 0.3, 1.2, 6), gamma_draws(rng, 0.3, 1.0, 8))
    many = ratio_of_means(gamma_draws(rng, 0.3, 1.2, 96), gamma_draws(rng, 0.3, 1.0, 96))
    assert many.high / many.low < few.high / few.low


def test_constant_samples_give_a_point() -> None:
    assert ratio_of_means([2.0, 2.0], [1.0, 1.0]) == (2.0, 2.0, 2.0)


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [([1.0], [1.0, 2.0], "at least 2"), ([1.0, 0.0], [1.0, 2.0], "positive")],
)
def test_refusals(a: list[float], b: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ratio_of_means(a, b)
