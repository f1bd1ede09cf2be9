"""Half-sampling intervals: coverage by simulation on Gaussian FD (a distance large and small
against its bias) and on PRDC for one distribution and for a shifted one, the bounds holding the
estimate with and without the widening, reproducibility and refusals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import pytest
import torch

from medgen.evaluate.frechet import frechet_distance
from medgen.evaluate.halfsample import (
    Centre,
    half_sample_bounds,
    half_sample_interval,
    half_sample_intervals,
    half_sample_replicates,
)
from medgen.evaluate.prdc import prdc

torch.set_num_threads(1)

TRIALS = 200  # binomial s.e. of a 95% coverage is 1.5 points: the +-5 band is 3.2 s.e.
FRESH = 2000  # pairs behind a Monte-Carlo truth: s.e. <= 0.07 / sqrt(2000), 1/80 of a half-width
N, D, K = 200, 4, 5
MU = torch.tensor([0.5, 0.0, 0.0, 0.0], dtype=torch.float64)  # mean of the second Gaussian
SCALE = 1.2  # its std per dimension
TRUE_FD = float(MU.square().sum()) + D * (1 - SCALE) ** 2  # |mu|^2 + tr(I + s^2 I - 2 s I)
# PRDC's shifted case: generated N(SHIFT e_1, STRETCH^2 I) in D_SHIFTED dimensions against N(0, I)
D_SHIFTED, SHIFT, STRETCH = 8, 2.5, 1.1  # precision ~0.60, recall ~0.78 at N = 200, k = 5

Metric = Callable[[torch.Tensor, torch.Tensor], Sequence[float]]
Pair = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def gaussians(d: int, shift: float, stretch: float) -> Pair:
    """N real draws of N(0, I_d) and N generated of N(shift e_1, stretch^2 I_d)."""
    mu = torch.zeros(d, dtype=torch.float64)
    mu[0] = shift

    def pair(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        real = torch.randn(N, d, generator=g, dtype=torch.float64)
        return real, mu + stretch * torch.randn(N, d, generator=g, dtype=torch.float64)

    return pair


def coverage(
    metric: Metric, pair: Pair, centres: Sequence[Centre], truth: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per number: share of trials whose bounds hold `truth`, and share holding the estimate.

    The bounds are half_sample_bounds', before the guard widens them to hold the estimate, so
    both shares can fall short of 1.
    """
    g = torch.Generator().manual_seed(1)
    covered, held = torch.zeros(len(centres)), torch.zeros(len(centres))
    for trial in range(TRIALS):
        real, fake = pair(g)
        halves = half_sample_replicates(metric, real, fake, n_halves=100, seed=trial)
        values = metric(real, fake)
        for i, (v, c, t) in enumerate(zip(values, centres, truth.tolist(), strict=True)):
            low, high = half_sample_bounds(float(v), halves[:, i], c)
            covered[i] += low <= t <= high
            held[i] += low <= v <= high
    return covered / TRIALS, held / TRIALS


@pytest.mark.slow
def test_fd_interval_covers_the_closed_form_distance_between_two_gaussians() -> None:
    covered, held = coverage(
        lambda a, b: (frechet_distance(a, b),),
        gaussians(D, float(MU[0]), SCALE),
        ["debiased"],
        torch.tensor([TRUE_FD]),
    )
    assert abs(float(covered[0]) - 0.95) <= 0.05, covered
    assert float(held[0]) == 1.0  # the guard's widening is never needed


@pytest.mark.slow
def test_a_small_fd_biased_above_its_spread_keeps_its_coverage_and_its_estimate() -> None:
    """True FD 0.04 in 8 dimensions at n 200: the bias of the means' term alone (2 d / n = 0.08)
    exceeds the spread, so in most trials the halves lie above the estimate and the basic
    interval lies below it.
    The widened interval runs from the debiased low bound to the estimate; it must still cover
    the true FD at least as often as 95% - 5 (here it errs wide: 200 of 200) and hold the
    estimate in every trial."""
    shift = 0.2
    pair = gaussians(8, shift, 1.0)
    g = torch.Generator().manual_seed(2)
    covered = held_unwidened = held = 0
    for trial in range(TRIALS):
        real, fake = pair(g)
        halves = half_sample_replicates(
            lambda a, b: (frechet_distance(a, b),), real, fake, n_halves=100, seed=trial
        )
        value = frechet_distance(real, fake)
        low, high = half_sample_bounds(value, halves[:, 0], "debiased")
        widened = half_sample_interval(value, halves[:, 0], "debiased")
        held_unwidened += low <= value <= high
        held += widened.low <= value <= widened.high
        covered += widened.low <= shift**2 <= widened.high
    assert covered / TRIALS >= 0.90, covered
    assert held == TRIALS
    assert held_unwidened < TRIALS / 2, held_unwidened  # the widening is what holds it here


def expected_coverage(n: int, m: int, k: int) -> float:
    """E[coverage] when real (n) and fake (m) share one distribution (Naeem et al. 2020, eq. 7)."""
    return 1 - math.prod((n - i) / (n + m - i) for i in range(1, k + 1))


def four(a: torch.Tensor, b: torch.Tensor) -> tuple[float, ...]:
    """Precision, recall, density and coverage at k = K."""
    return tuple(prdc(a, b, k=K))[:4]


def expected_prdc(pair: Pair) -> torch.Tensor:
    """(4,) each k-NN metric's expectation at N real and N generated samples: the mean over
    FRESH fresh pairs (it depends on N through the ball radii, so it is taken at the same N)."""
    g = torch.Generator().manual_seed(2)
    return torch.tensor([four(*pair(g)) for _ in range(FRESH)], dtype=torch.float64).mean(0)


@pytest.mark.slow
def test_prdc_intervals_cover_their_expectation_for_one_distribution() -> None:
    """Density's expectation is 1 and coverage's is closed-form: the Monte-Carlo truth must find
    both; precision and recall (near 1 here) have no closed form."""
    pair = gaussians(D, 0.0, 1.0)
    truth = expected_prdc(pair)
    assert float(truth[3]) == pytest.approx(expected_coverage(N, N, K), abs=0.002)
    assert float(truth[2]) == pytest.approx(1.0, abs=0.01)
    covered, held = coverage(four, pair, ["at_sample_size"] * 4, truth)
    assert ((covered - 0.95).abs() <= 0.05).all(), covered
    assert (held == 1.0).all(), held


class Measured(NamedTuple):
    """A coverage simulation: the truths, and per number the shares from `coverage`."""

    truth: torch.Tensor
    covered: torch.Tensor
    held: torch.Tensor


@pytest.fixture(scope="module")
def shifted() -> Measured:
    """PRDC's intervals for generated samples shifted and stretched away from the real ones."""
    pair = gaussians(D_SHIFTED, SHIFT, STRETCH)
    truth = expected_prdc(pair)
    return Measured(truth, *coverage(four, pair, ["at_sample_size"] * 4, truth))


@pytest.mark.slow
def test_the_shift_puts_precision_and_recall_well_below_one_and_apart(shifted: Measured) -> None:
    """Apart, so that a swapped or saturated metric would miss its truth."""
    precision, recall = shifted.truth[:2].tolist()
    assert 0.5 <= precision <= 0.7 and 0.7 <= recall <= 0.85, shifted.truth
    assert (shifted.held == 1.0).all(), shifted.held  # the guard's widening is never needed


@pytest.mark.slow
@pytest.mark.parametrize(
    "i",
    [
        pytest.param(0, id="precision"),
        pytest.param(1, id="recall"),
        pytest.param(2, id="density"),  # 0.89 with percentile bounds, 0.92 with the s.e.
        pytest.param(3, id="coverage"),
    ],
)
def test_prdc_intervals_cover_their_expectation_for_a_shifted_distribution(
    shifted: Measured, i: int
) -> None:
    assert abs(float(shifted.covered[i]) - 0.95) <= 0.05, shifted.covered


def test_replicates_are_half_sets_without_duplicates_and_reproducible() -> None:
    real, fake = draw(40, 2, seed=0), draw(30, 2, seed=1)

    def sizes_and_duplicates(a: torch.Tensor, b: torch.Tensor) -> tuple[float, ...]:
        return a.shape[0], b.shape[0], a.unique(dim=0).shape[0], b.unique(dim=0).shape[0]

    halves = half_sample_replicates(sizes_and_duplicates, real, fake, n_halves=5, seed=3)
    assert halves.shape == (5, 4) and halves.dtype == torch.float64
    assert (halves == torch.tensor([20.0, 15.0, 20.0, 15.0])).all()
    again = half_sample_replicates(lambda a, b: (float(a.sum()),), real, fake, n_halves=5, seed=3)
    assert torch.equal(
        again,
        half_sample_replicates(lambda a, b: (float(a.sum()),), real, fake, n_halves=5, seed=3),
    )


def test_one_seed_pairs_the_real_halves_across_generated_sets() -> None:
    real = draw(40, 2, seed=0)

    def real_sum(a: torch.Tensor, b: torch.Tensor) -> tuple[float]:
        return (float(a.sum()),)

    first = half_sample_replicates(real_sum, real, draw(30, 2, seed=1), n_halves=4, seed=5)
    second = half_sample_replicates(real_sum, real, draw(50, 2, seed=2), n_halves=4, seed=5)
    assert torch.equal(first, second)


def test_the_guard_widens_bounds_that_miss_the_estimate() -> None:
    """Degenerate replicates leave the estimate outside the bounds; the guard widens them."""
    halves = torch.linspace(1.0, 2.0, 50, dtype=torch.float64)  # all above the estimate
    low, high = half_sample_bounds(0.5, halves, "debiased")
    assert not low <= 0.5 <= high
    e = half_sample_interval(0.5, halves, "debiased")
    assert (e.low, e.high) == (min(low, 0.5), max(high, 0.5)) and e.n_halves == 50
    assert e.high == 0.5 and e.low < 0.0  # a shift of the halves above it reads as upward bias


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_at_sample_size_bounds_are_the_estimate_plus_z_standard_errors(level: float) -> None:
    """Symmetric about the estimate whatever the replicates' shape, so they always hold it: even
    one replicate far below the rest, which moved a percentile tail, only widens them."""
    halves = torch.tensor([-99.0] + [1.0] * 49, dtype=torch.float64)
    z = {0.95: 1.959964, 0.99: 2.575829}[level]
    low, high = half_sample_bounds(0.5, halves, "at_sample_size", level)
    sd = float(halves.std())
    assert low == pytest.approx(0.5 - z * sd, rel=1e-6)
    assert high == pytest.approx(0.5 + z * sd, rel=1e-6)
    assert half_sample_interval(0.5, halves, "at_sample_size", level)[1:3] == (low, high)


def test_intervals_are_the_bounds_of_the_replicates_for_each_number() -> None:
    real, fake = draw(40, 2, seed=0), draw(30, 2, seed=1)

    def sums(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
        return float(a.sum()), float(b.square().sum())

    centres: list[Centre] = ["debiased", "at_sample_size"]
    found = half_sample_intervals(sums, real, fake, centres, n_halves=20, seed=4)
    halves = half_sample_replicates(sums, real, fake, n_halves=20, seed=4)
    for i, (e, v, c) in enumerate(zip(found, sums(real, fake), centres, strict=True)):
        assert e == half_sample_interval(v, halves[:, i], c)
        assert (e.low, e.high) == half_sample_bounds(v, halves[:, i], c)  # no widening here


@pytest.mark.parametrize(
    ("n_halves", "level", "n", "match"),
    [(1, 0.95, 20, "n_halves"), (10, 1.0, 20, "level"), (10, 0.95, 3, "at least 4")],
)
def test_bad_settings_are_refused(n_halves: int, level: float, n: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        half_sample_intervals(
            lambda a, b: (float(a.sum()),),
            draw(n, 2, seed=0),
            draw(20, 2, seed=1),
            ["at_sample_size"],
            n_halves=n_halves,
            level=level,
        )
