"""Mode-collapse metrics on hand-made sample sets with known counts, and the benchmark means."""

from __future__ import annotations

import math

import pytest
import torch

from medgen.evaluate.modes import GRID_STD, RING_STD, grid_modes, mode_metrics, ring_modes

torch.set_num_threads(1)


def test_benchmark_means() -> None:
    ring = ring_modes()
    assert ring.shape == (8, 2)
    assert torch.allclose(ring.norm(dim=1), torch.ones(8, dtype=torch.float64))
    grid = grid_modes()
    assert grid.shape == (25, 2)
    assert set(grid.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(row) for row in grid.tolist()}) == 25


def test_samples_at_every_mean_capture_all_modes() -> None:
    means = grid_modes()
    result = mode_metrics(means.repeat(4, 1), means, GRID_STD)
    assert (result.modes_captured, result.high_quality) == (25, 100.0)
    assert result.reverse_kl == pytest.approx(0.0, abs=1e-12)
    assert result.counts.tolist() == [4] * 25


def test_three_of_eight_modes() -> None:
    means = ring_modes()
    result = mode_metrics(means[[0, 3, 5]].repeat(10, 1), means, RING_STD)
    assert (result.modes_captured, result.high_quality) == (3, 100.0)
    assert result.reverse_kl == pytest.approx(math.log(8 / 3))


def test_half_the_samples_far_away() -> None:
    means = ring_modes()
    samples = torch.cat([means.repeat(2, 1), torch.zeros(16, 2, dtype=torch.float64)])
    result = mode_metrics(samples, means, RING_STD)
    assert (result.modes_captured, result.high_quality) == (8, 50.0)
    assert result.reverse_kl == pytest.approx(0.0, abs=1e-12)


def test_uneven_histogram_and_the_three_std_boundary() -> None:
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0]], dtype=torch.float64)
    samples = torch.tensor([[2.9, 0.0], [0.0, -2.9], [0.0, 0.0], [10.0, 2.9], [3.1, 0.0]])
    result = mode_metrics(samples, means, std=1.0)
    assert result.counts.tolist() == [3, 1]
    assert result.high_quality == pytest.approx(80.0)
    assert result.reverse_kl == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_no_high_quality_sample() -> None:
    result = mode_metrics(torch.full((5, 2), 100.0), ring_modes(), RING_STD)
    assert (result.modes_captured, result.high_quality, result.reverse_kl) == (0, 0.0, math.inf)


@pytest.mark.parametrize(
    ("samples", "std", "match"),
    [
        (torch.zeros(5, 3), 0.1, "one d"),
        (torch.zeros(5), 0.1, "one d"),
        (torch.zeros(0, 2), 0.1, "at least 1 sample"),
        (torch.zeros(5, 2), 0.0, "positive std"),
    ],
)
def test_bad_inputs_are_refused(samples: torch.Tensor, std: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mode_metrics(samples, ring_modes(), std)
