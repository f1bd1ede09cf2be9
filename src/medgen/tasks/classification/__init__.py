"""Classification by a conditional diffusion model (Bayes' rule over class-conditional denoising
errors), its peers (a supervised CNN, the detector), shifted test sets and the peer table."""

from __future__ import annotations

from medgen.tasks.classification.bayes import (
    ClassDenoiser,
    NoiseDraws,
    Posterior,
    classify,
    denoising_errors,
    log_posterior,
    log_uniform_draws,
)
from medgen.tasks.classification.command import ClassifySettings, classify_split, run_classify
from medgen.tasks.classification.conditional import ConditionalDenoiser, class_denoiser
from medgen.tasks.classification.shifts import SHIFTS, shifted_images
from medgen.tasks.classification.table import classify_table

__all__ = [
    "SHIFTS",
    "ClassDenoiser",
    "ClassifySettings",
    "ConditionalDenoiser",
    "NoiseDraws",
    "Posterior",
    "class_denoiser",
    "classify",
    "classify_split",
    "classify_table",
    "denoising_errors",
    "log_posterior",
    "log_uniform_draws",
    "run_classify",
    "shifted_images",
]
