"""The intervals on simulations with a known answer: each contains its estimate and covers the
true value about 95% of the time (the paired bootstrap over slices, Student's t over a few
repeats, where the repeats' range falls far short); weighted AUPRC matches scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score

from medgen.tasks.claims import pixel_auprc_gain
from medgen.tasks.fewlabels.table import draw_interval
from medgen.tasks.intervals import (
    Interval,
    PooledDifference,
    mean_difference,
    pooled_difference,
    repeats_interval,
)
from medgen.tasks.metrics import slice_weighted_auprc

REPEATS = 200  # simulated studies per coverage check: a 95% rate is measured to about ±3 points


def _covered(found: list[Interval], truth: float) -> float:
    return float(np.mean([f.low <= truth <= f.high for f in found]))


def test_mean_difference_contains_its_estimate_and_covers_the_true_gain() -> None:
    """Slices differ a lot (std 3) and both methods share that; the gain is 1 with std 0.5."""
    rng = np.random.default_rng(0)
    found = []
    for seed in range(REPEATS):
        hardness = rng.normal(25.0, 3.0, 24)  # (n,) what both methods see in a slice
        theirs = hardness + rng.normal(0, 0.3, 24)
        ours = hardness + 1.0 + rng.normal(0, 0.5, 24)
        found.append(mean_difference(ours, theirs, resamples=500, seed=seed))
        assert found[-1].low <= found[-1].estimate <= found[-1].high
        assert found[-1].estimate == pytest.approx(np.mean(ours - theirs))
    assert abs(_covered(found, 1.0) - 0.95) <= 0.05
    # paired, the shared slice-to-slice spread cancels: the interval is ~0.4 dB wide, not ~3
    assert np.mean([f.high - f.low for f in found]) < 0.6


def test_equal_methods_give_a_zero_width_interval_at_zero() -> None:
    x = np.random.default_rng(1).normal(size=10)
    assert mean_difference(x, x) == Interval(0.0, 0.0, 0.0, 10)


def test_one_slice_gives_no_interval() -> None:
    found = mean_difference([3.0], [1.0])
    assert found.estimate == 2.0 and found.n == 1
    assert np.isnan(found.low) and np.isnan(found.high)
    with pytest.raises(ValueError, match="paired"):
        mean_difference([1.0, 2.0], [1.0])


@pytest.mark.parametrize("repeats", [2, 3, 5])
def test_repeats_interval_covers_the_mean_of_a_few_draws_where_their_range_does_not(
    repeats: int,
) -> None:
    """A gain of 0.07 whose draws spread by 0.02: Student's t covers it 95% +- 3 points at 2, 3
    and 5 draws (2,000 studies); the draws' percentile range (`draw_interval`, which the claims
    used to read) covers it at most about 1 - 2 / 2^n of the time: 0.50 and 0.75 at 2 and 3."""
    rng = np.random.default_rng(repeats)
    studies = 2000
    draws = rng.normal(0.07, 0.02, (studies, repeats))
    found = [repeats_interval(d) for d in draws]
    assert all(f.low <= f.estimate <= f.high and f.n == repeats for f in found)
    assert abs(_covered(found, 0.07) - 0.95) <= 0.03
    if repeats <= 3:
        ranges = [draw_interval(d) for d in draws]
        assert _covered(ranges, 0.07) <= 1 - 2 / 2**repeats + 0.03


def test_repeats_interval_by_hand_and_refusals() -> None:
    found = repeats_interval([0.1, 0.2, 0.3])  # s = 0.1, t_2(0.975) = 4.3027
    assert found.estimate == pytest.approx(0.2) and found.n == 3
    assert found.high - 0.2 == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-6)
    assert 0.2 - found.low == pytest.approx(found.high - 0.2)
    assert repeats_interval([0.4, 0.4]) == Interval(0.4, 0.4, 0.4, 2)
    assert np.isnan(repeats_interval([0.4]).low) and repeats_interval([0.4]).n == 1
    with pytest.raises(ValueError, match="one value per repeat"):
        repeats_interval([[0.1, 0.2]])


def _pooled_mean(sums: NDArray[np.float64], sizes: NDArray[np.float64]) -> PooledDifference:
    """The mean over the pixels of slices weighted (R, n), from each slice's sum and size."""

    def gain(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray((weights @ sums) / (weights @ sizes))

    return gain


def test_pooled_difference_covers_a_known_pooled_mean() -> None:
    """A pooled statistic with a closed form: the mean over all pixels of slices with 1-99
    pixels of mean 2 (ours) and 0 (theirs, constant): the pooled gain is 2."""
    rng = np.random.default_rng(2)
    found = []
    for seed in range(REPEATS):
        sizes = rng.integers(1, 100, 30).astype(np.float64)  # (n,) pixels per slice
        sums = rng.normal(2.0 * sizes, np.sqrt(sizes))  # (n,) each slice's pixel sum
        found.append(
            pooled_difference(_pooled_mean(sums, sizes), np.zeros(30), resamples=500, seed=seed)
        )
        assert found[-1].low <= found[-1].estimate <= found[-1].high
        assert found[-1].estimate == pytest.approx(sums.sum() / sizes.sum())
    assert abs(_covered(found, 2.0) - 0.95) <= 0.05


def test_pooled_slices_are_drawn_within_their_stratum() -> None:
    """The weight on stratum 1 is the same in every resample: a zero-width interval at it; a
    stratum of one slice is kept in each."""
    strata = np.array([0, 0, 0, 1, 1, 2])

    def share(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(weights[:, 3:5].sum(1) / weights.sum(1))

    assert pooled_difference(share, strata) == Interval(2 / 6, 2 / 6, 2 / 6, 6)

    def kept(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return weights[:, 5]

    assert pooled_difference(kept, strata) == Interval(1.0, 1.0, 1.0, 6)


def test_resamples_without_a_score_leave_no_interval() -> None:
    """A score undefined when slice 0 is not drawn: the others alone would be too narrow."""

    def needs_first(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.where(weights[:, 0] > 0, 1.0, np.nan)

    found = pooled_difference(needs_first, np.zeros(8))
    assert found.estimate == 1.0 and np.isnan(found.low) and np.isnan(found.high)
    assert np.isnan(pooled_difference(needs_first, [0]).low)


def _lesion_slices(
    rng: np.random.Generator, n: int, separation: float
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """(n, 8, 8) truth masks (a lesion in half the slices) and maps: lesion pixels shifted up."""
    truth = np.zeros((n, 8, 8), bool)
    truth[::2, 2:4, 2:5] = True
    return truth, rng.normal(size=truth.shape) + separation * truth


def test_pixel_auprc_gain_contains_its_estimate_and_covers_the_population_gain() -> None:
    """Two maps of the same lesions, one sharper: the population gain is the gain on 20,000
    slices; intervals from 40 slices cover it about 95% of the time."""
    rng = np.random.default_rng(3)
    truth, noise = _lesion_slices(rng, 20_000, 0.0)
    ours, theirs = noise + 2.0 * truth, noise + 1.0 * truth
    population = average_precision_score(truth.ravel(), ours.ravel()) - average_precision_score(
        truth.ravel(), theirs.ravel()
    )
    brain = np.ones((40, 8, 8), bool)
    found = []
    for seed in range(REPEATS):
        truth, noise = _lesion_slices(rng, 40, 0.0)
        ours, theirs = noise + 2.0 * truth, noise + 1.0 * truth
        found.append(pixel_auprc_gain(ours, theirs, truth, brain, seed=seed, resamples=500))
        f = found[-1]
        assert f.low <= f.estimate <= f.high and f.n == 40
    assert abs(_covered(found, population) - 0.95) <= 0.05


@pytest.mark.parametrize("rows", [1, 5])
def test_slice_weighted_auprc_is_scikit_learns_with_sample_weights(rows: int) -> None:
    """Ties and slices left out (weight 0) included; one sort serves every row of weights."""
    rng = np.random.default_rng(4)
    labels = rng.random(400) < 0.15
    scores = np.round(rng.normal(size=400) + labels, 1)  # rounded: many tied scores
    slices = rng.integers(0, 20, 400)  # (P,) the slice of each pixel
    weights = rng.integers(0, 3, (rows, 20)).astype(np.float64)  # (R, n)
    expected = [average_precision_score(labels, scores, sample_weight=w[slices]) for w in weights]
    found = slice_weighted_auprc(labels, scores, slices, weights)
    np.testing.assert_allclose(found, expected, rtol=1e-12)
    once = slice_weighted_auprc(labels, scores, slices, np.ones((1, 20)))
    assert once[0] == pytest.approx(average_precision_score(labels, scores), rel=1e-12)
    none = slice_weighted_auprc(np.zeros(400, bool), scores, slices, weights)
    assert np.isnan(none).all()  # no lesion pixel: no precision-recall curve
