"""Percentile bootstrap confidence intervals for two-sample metrics (Efron & Tibshirani 1993)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor


class Estimate(NamedTuple):
    """A metric value on the full sets and its percentile bootstrap interval."""

    value: float
    low: float
    high: float
    n_boot: int


def bootstrap_ci(
    metric: Callable[[Tensor, Tensor], float],
    real: Tensor,
    fake: Tensor,
    *,
    n_boot: int = 100,
    level: float = 0.95,
    generator: torch.Generator | None = None,
) -> Estimate:
    """metric(real, fake) with the percentile interval over n_boot resamplings of both sets.

    Each replicate redraws real (N, ...) and fake (M, ...) with replacement, so the cost is
    n_boot + 1 metric calls. Duplicates in a resample shrink k-NN radii, so bootstrapped PRDC
    values are biased; use the interval as a spread, not as a correction. `generator` is a CPU
    generator (seed 0 when None), so intervals are reproducible.
    """
    (estimate,) = bootstrap_many(
        lambda r, f: (metric(r, f),), real, fake, n_boot=n_boot, level=level, generator=generator
    )
    return estimate


def bootstrap_many(
    metric: Callable[[Tensor, Tensor], Sequence[float]],
    real: Tensor,
    fake: Tensor,
    *,
    n_boot: int = 100,
    level: float = 0.95,
    generator: torch.Generator | None = None,
) -> list[Estimate]:
    """`bootstrap_ci` for a metric that returns several numbers (e.g. all four of PRDC) at once:
    one interval per number, from the same resamples, at the cost of one bootstrap."""
    if n_boot < 2:
        raise ValueError(f"bootstrap needs n_boot >= 2, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"bootstrap needs a confidence level in (0, 1), got {level}")
    if real.shape[0] < 1 or fake.shape[0] < 1:
        raise ValueError(f"bootstrap needs non-empty sets, got {real.shape[0]} and {fake.shape[0]}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    n, m = real.shape[0], fake.shape[0]
    replicates = torch.tensor(
        [
            list(
                metric(
                    real[torch.randint(n, (n,), generator=generator).to(real.device)],
                    fake[torch.randint(m, (m,), generator=generator).to(fake.device)],
                )
            )
            for _ in range(n_boot)
        ],
        dtype=torch.float64,
    )  # (n_boot, K)
    tails = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64)
    bounds = torch.quantile(replicates, tails, dim=0)  # (2, K)
    values = metric(real, fake)
    return [
        Estimate(float(v), float(low), float(high), n_boot)
        for v, low, high in zip(values, bounds[0], bounds[1], strict=True)
    ]
