"""Half-sampling intervals: coverage by simulation on Gaussian FD and same-distribution PRDC,
the estimate inside its own interval every time, reproducibility and refusals."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest
import torch

from medgen.evaluate.frechet import frechet_distance
from medgen.evaluate.halfsample import (
    Centre,
    half_sample_interval,
    half_sample_intervals,
    half_sample_replicates,
)
from medgen.evaluate.prdc import prdc

torch.set_num_threads(1)

TRIALS = 200  # binomial s.e. of a 95% coverage is 1.5 points
N, D, K = 200, 4, 5
MU = torch.tensor([0.5, 0.0, 0.0, 0.0], dtype=torch.float64)  # mean of the second Gaussian
SCALE = 1.2  # its std per dimension
TRUE_FD = float(MU.square().sum()) + D * (1 - SCALE) ** 2  # |mu|^2 + tr(I + s^2 I - 2 s I)


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def coverage(
    metric: Callable[[torch.Tensor, torch.Tensor], Sequence[float]],
    pair: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    centres: Sequence[Centre],
    truth: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per number: share of trials whose interval holds `truth`, and share holding the estimate."""
    g = torch.Generator().manual_seed(1)
    covered, held = torch.zeros(len(centres)), torch.zeros(len(centres))
    for trial in range(TRIALS):
        real, fake = pair(g)
        estimates = half_sample_intervals(metric, real, fake, centres, n_halves=100, seed=trial)
        for i, (e, t) in enumerate(zip(estimates, truth.tolist(), strict=True)):
            covered[i] += e.low <= t <= e.high
            held[i] += e.low <= e.value <= e.high
    return covered / TRIALS, held / TRIALS


@pytest.mark.slow
def test_fd_interval_covers_the_closed_form_distance_between_two_gaussians() -> None:
    def pair(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        real = torch.randn(N, D, generator=g, dtype=torch.float64)
        return real, MU + SCALE * torch.randn(N, D, generator=g, dtype=torch.float64)

    covered, held = coverage(
        lambda a, b: (frechet_distance(a, b),), pair, ["debiased"], torch.tensor([TRUE_FD])
    )
    assert abs(float(covered[0]) - 0.95) <= 0.05
    assert float(held[0]) == 1.0


def expected_coverage(n: int, m: int, k: int) -> float:
    """E[coverage] when real (n) and fake (m) share one distribution (Naeem et al. 2020, eq. 7)."""
    return 1 - math.prod((n - i) / (n + m - i) for i in range(1, k + 1))


@pytest.mark.slow
def test_prdc_intervals_cover_their_expectation_for_one_distribution() -> None:
    """Density's expectation is 1 and coverage's is closed-form; precision and recall have no
    closed form, so their expectation at these counts is the mean over many fresh pairs."""

    def four(a: torch.Tensor, b: torch.Tensor) -> tuple[float, ...]:
        return tuple(prdc(a, b, k=K))[:4]

    def pair(g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(N, D, generator=g, dtype=torch.float64), torch.randn(
            N, D, generator=g, dtype=torch.float64
        )

    g = torch.Generator().manual_seed(2)
    fresh = torch.tensor([four(*pair(g)) for _ in range(2000)], dtype=torch.float64)
    truth = torch.tensor(
        [float(fresh[:, 0].mean()), float(fresh[:, 1].mean()), 1.0, expected_coverage(N, N, K)]
    )
    assert float(fresh[:, 3].mean()) == pytest.approx(float(truth[3]), abs=0.002)
    assert float(fresh[:, 2].mean()) == pytest.approx(1.0, abs=0.01)
    covered, held = coverage(four, pair, ["at_sample_size"] * 4, truth)
    assert ((covered - 0.95).abs() <= 0.05).all(), covered
    assert (held == 1.0).all()


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


@pytest.mark.parametrize("centre", ["debiased", "at_sample_size"])
def test_the_interval_always_holds_the_estimate(centre: Centre) -> None:
    halves = torch.linspace(1.0, 2.0, 50, dtype=torch.float64)  # all above the estimate
    e = half_sample_interval(0.5, halves, centre)
    assert e.low <= 0.5 <= e.high and e.n_halves == 50
    if centre == "debiased":  # a shift of the halves above the estimate is read as upward bias
        assert e.high == 0.5 and e.low < 0.0


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
