"""Sample-quality metrics over feature tensors: FD/KID, PRDC, bootstrap, memorisation, modes."""

from __future__ import annotations

from medgen.evaluate.bootstrap import Estimate, bootstrap_ci, bootstrap_many
from medgen.evaluate.frechet import KIDResult, frechet_distance, kernel_inception_distance
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
    "bootstrap_ci",
    "bootstrap_many",
    "frechet_distance",
    "grid_modes",
    "kernel_inception_distance",
    "memorisation",
    "mode_metrics",
    "prdc",
    "ring_modes",
    "sliced_wasserstein_1",
]
