"""The exact Gaussian-mixture oracle: density, score, denoiser, samples at any t; J_naive, J_dsm."""

from __future__ import annotations

from medgen.analytic.examples import (
    EXAMPLES,
    grid_mixture_2d,
    ring_mixture_2d,
    seed_mixture_1d,
    thin_mixture,
)
from medgen.analytic.mixture import GaussianMixture
from medgen.analytic.objectives import (
    DiffusionDraw,
    ScoreFn,
    WeightFn,
    conditional_score,
    constant_terms,
    draw,
    dsm_constant,
    dsm_terms,
    j_dsm,
    j_naive,
    naive_terms,
    unit_weight,
)

__all__ = [
    "EXAMPLES",
    "DiffusionDraw",
    "GaussianMixture",
    "ScoreFn",
    "WeightFn",
    "conditional_score",
    "constant_terms",
    "draw",
    "dsm_constant",
    "dsm_terms",
    "grid_mixture_2d",
    "j_dsm",
    "j_naive",
    "naive_terms",
    "ring_mixture_2d",
    "seed_mixture_1d",
    "thin_mixture",
    "unit_weight",
]
