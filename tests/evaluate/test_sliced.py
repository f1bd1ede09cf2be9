"""Sliced Wasserstein-1: exact values in 1-D (equal and unequal sizes), invariances, errors."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import wasserstein_distance

from medgen.evaluate.sliced import sliced_wasserstein_1


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(("n", "m"), [(50, 50), (37, 90), (1, 8)])
def test_one_dimension_is_the_exact_w1(n: int, m: int) -> None:
    a, b = draw(n, 1, seed=0), 2 * draw(m, 1, seed=1) + 0.3
    expected = wasserstein_distance(a[:, 0].numpy(), b[:, 0].numpy())
    assert sliced_wasserstein_1(a, b, n_projections=3) == pytest.approx(expected, rel=1e-12)


def test_identical_sets_and_permutations_are_zero() -> None:
    a = draw(200, 3, seed=0)
    assert sliced_wasserstein_1(a, a.flip(0)) == pytest.approx(0.0, abs=1e-12)


def test_shift_gives_mean_absolute_projection() -> None:
    """SW1(a, a + v) = E_theta |<theta, v>|, which is 2|v|/pi in 2-D."""
    a = draw(300, 2, seed=0)
    shift = torch.tensor([3.0, 4.0], dtype=torch.float64)
    value = sliced_wasserstein_1(a, a + shift, n_projections=4096)
    assert value == pytest.approx(2 * 5 / torch.pi, rel=0.03)


def test_default_projections_are_fixed_and_images_are_flattened() -> None:
    a, b = draw(64, 1, 4, 4, seed=0), draw(64, 1, 4, 4, seed=1)
    assert sliced_wasserstein_1(a, b) == sliced_wasserstein_1(a, b)
    other = sliced_wasserstein_1(a, b, generator=torch.Generator().manual_seed(7))
    assert other != sliced_wasserstein_1(a, b)


def test_mismatched_dimensions_are_rejected() -> None:
    with pytest.raises(ValueError, match="one dimension"):
        sliced_wasserstein_1(draw(5, 2, seed=0), draw(5, 3, seed=1))
