"""Percentile bootstrap: interval around the value, narrower with more samples, reproducible."""

from __future__ import annotations

import pytest
import torch

from medgen.evaluate.bootstrap import bootstrap_ci
from medgen.evaluate.frechet import frechet_distance

torch.set_num_threads(1)


def draw(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def mean_gap(real: torch.Tensor, fake: torch.Tensor) -> float:
    return float((real.mean(0) - fake.mean(0)).norm())


def test_interval_contains_the_value() -> None:
    real, fake = draw(200, 2, seed=0), draw(200, 2, seed=1) + 1.0
    est = bootstrap_ci(frechet_distance, real, fake, n_boot=30)
    assert est.low < est.value < est.high
    assert est.n_boot == 30


def test_interval_narrows_with_more_samples() -> None:
    def width(n: int) -> float:
        est = bootstrap_ci(mean_gap, draw(n, 2, seed=2), draw(n, 2, seed=3) + 1.0, n_boot=200)
        return est.high - est.low

    assert width(1600) < 0.5 * width(100)


def test_same_generator_seed_gives_the_same_interval() -> None:
    a, b = draw(50, 2, seed=4), draw(60, 2, seed=5)

    def run() -> tuple[float, float]:
        est = bootstrap_ci(mean_gap, a, b, generator=torch.Generator().manual_seed(3))
        return est.low, est.high

    assert run() == run()


@pytest.mark.parametrize(("n_boot", "level", "match"), [(1, 0.95, "n_boot"), (10, 1.0, "level")])
def test_bad_settings_are_refused(n_boot: int, level: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(mean_gap, draw(5, 2, seed=0), draw(5, 2, seed=1), n_boot=n_boot, level=level)
