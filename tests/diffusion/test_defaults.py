"""The default sampler and levels: exact NFE, and its target on the 25-mode grid, scaled down.

The target (benchmarks/samplers.py, 20,000 samples) is SW1 <= 0.06 at 10 NFE and SW1 <= 0.032 with
mode TV <= 0.02 at 20 NFE, against a floor of ~0.03. At the 4,000 samples used here one draw's SW1
varies from ~0.03 to ~0.12, so scores are means over SEEDS draws, compared with the floor measured
the same way (a loose margin: the two means still differ by ~0.01 by chance) and with the exact ODE
from the same noise, i.e. the default run to convergence (a tight margin: this difference is the
sampler's own error, free of draw noise).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor

from medgen.analytic import grid_mixture_2d
from medgen.diffusion import SAMPLERS, CountingDenoiser, expected_nfe, karras_sigmas
from medgen.diffusion.defaults import (
    DEFAULT_SAMPLER,
    DEFAULT_SIGMA_MIN,
    DEFAULT_TO_ZERO,
    default_sigma_max,
    default_sigmas,
    prior_std,
    sample_default,
    steps_for_nfe,
)
from medgen.evaluate.sliced import sliced_wasserstein_1

N, SEEDS = 4000, 8
GRID = grid_mixture_2d(std=0.1, dtype=torch.float64)
SIGMA_DATA = math.sqrt(float(torch.diagonal(GRID.covariance()).mean()))  # ~2.83


def samples(seed: int) -> Tensor:
    return GRID.sample(N, generator=torch.Generator().manual_seed(seed))


def noise(seed: int) -> Tensor:
    return torch.randn(N, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def mode_stats(x: Tensor) -> tuple[float, int]:
    """(TV of the nearest-mode histogram from uniform, modes with a sample within 3 std)."""
    dist, nearest = torch.cdist(x, GRID.means).min(dim=1)
    hist = torch.bincount(nearest, minlength=25).double() / x.shape[0]
    return float(0.5 * (hist - 1 / 25).abs().sum()), int(torch.unique(nearest[dist <= 0.3]).numel())


def mean_scores(sets: list[Tensor], exact: Tensor) -> tuple[float, float]:
    """Mean SW1 to `exact` and mean mode TV over sample sets."""
    sw1 = [sliced_wasserstein_1(x, exact) for x in sets]
    return float(np.mean(sw1)), float(np.mean([mode_stats(x)[0] for x in sets]))


@pytest.fixture(scope="module")
def exact() -> Tensor:
    return samples(100)


@pytest.fixture(scope="module")
def floor(exact: Tensor) -> tuple[float, float]:
    """Mean SW1 and mode TV of fresh exact draws: the best any sampler can expect with n = N."""
    return mean_scores([samples(200 + seed) for seed in range(SEEDS)], exact)


@pytest.fixture(scope="module")
def exact_ode(exact: Tensor) -> tuple[float, float]:
    """The same scores for the default run to convergence (50 NFE) from the same noise."""
    runs = [
        sample_default(GRID.denoiser, noise(s), 50, sigma_data=SIGMA_DATA) for s in range(SEEDS)
    ]
    return mean_scores(runs, exact)


# ---- the levels and the budget -------------------------------------------------------------------


def test_levels_are_karras_rho_2_ending_at_sigma_min() -> None:
    sigmas = default_sigmas(10, DEFAULT_SIGMA_MIN, 8.0)
    assert sigmas.shape == (11,)
    assert float(sigmas[0]) == pytest.approx(8.0) and float(sigmas[-1]) == pytest.approx(0.002)
    torch.testing.assert_close(sigmas, karras_sigmas(11, 0.002, 8.0, rho=2.0)[:-1])
    steps = sigmas.sqrt().diff()  # rho = 2: equal steps in sqrt(sigma)
    torch.testing.assert_close(steps, steps[:1].expand_as(steps))


def test_sigma_range_and_start_follow_sigma_data() -> None:
    assert default_sigma_max(2.0) == pytest.approx(6.0)
    assert prior_std(3.0, 4.0) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="positive"):
        default_sigma_max(0.0)


@pytest.mark.parametrize(
    ("name", "nfe", "steps"),
    [("lms", 10, 10), ("heun", 10, 5), ("heun", 9, 5), ("pc", 5, 2), ("euler", 1, 1)],
)
def test_steps_for_nfe_is_the_most_that_fit(name: str, nfe: int, steps: int) -> None:
    n = steps_for_nfe(name, nfe)
    assert n == steps
    assert expected_nfe(name, n) <= nfe < expected_nfe(name, n + 1)


# ---- the sampler target, with the exact denoiser -----------------------------------------------


@pytest.mark.parametrize(("nfe", "margin", "own_error"), [(10, 0.04, 0.01), (20, 0.02, 0.002)])
def test_default_meets_the_target_on_the_grid(
    nfe: int,
    margin: float,
    own_error: float,
    exact: Tensor,
    floor: tuple[float, float],
    exact_ode: tuple[float, float],
) -> None:
    runs = []
    for seed in range(SEEDS):
        counting = CountingDenoiser(GRID.denoiser)
        runs.append(sample_default(counting, noise(seed), nfe, sigma_data=SIGMA_DATA))
        assert counting.nfe == nfe == expected_nfe(DEFAULT_SAMPLER, nfe, to_zero=DEFAULT_TO_ZERO)
        assert mode_stats(runs[-1])[1] == 25
    sw1, tv = mean_scores(runs, exact)
    assert sw1 <= floor[0] + margin
    assert tv <= floor[1] + 0.01
    assert sw1 <= exact_ode[0] + own_error


def test_default_beats_edm_levels_at_10_nfe(exact: Tensor) -> None:
    """The same solver on EDM's levels (0.002-80, rho 7, x = 80 z) is far off at 10 NFE."""
    ours = sample_default(GRID.denoiser, noise(0), 10, sigma_data=SIGMA_DATA)
    edm = SAMPLERS[DEFAULT_SAMPLER](GRID.denoiser, 80 * noise(0), karras_sigmas(10, 0.002, 80.0))
    assert sliced_wasserstein_1(ours, exact) + 0.05 < sliced_wasserstein_1(edm, exact)
