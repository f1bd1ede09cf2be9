"""Sample-quality metrics over feature tensors: FD/KID, PRDC, intervals, memorisation, modes."""

from __future__ import annotations

from medgen.evaluate.frechet import KIDResult, frechet_distance, kernel_inception_distance
from medgen.evaluate.halfsample import (
    Estimate,
    half_sample_interval,
    half_sample_intervals,
    half_sample_replicates,
)
from medgen.evaluate.memorisation import Memorisation, memorisation
from medgen.evaluate.modes import ModeMetrics, grid_modes, mode_metrics, ring_modes
from medgen.evaluate.prdc import PRDC, prdc
from medgen.evaluate.sliced import sliced_wasserstein_1

__all__ = [
    "PRDC",
    "Estimate",
    "KIDResult",
    "Memorisation",
    "ModeMetrics",
    "frechet_distance",
    "grid_modes",
    "half_sample_interval",
    "half_sample_intervals",
    "half_sample_replicates",
    "kernel_inception_distance",
    "memorisation",
    "mode_metrics",
    "prdc",
    "ring_modes",
    "sliced_wasserstein_1",
]
