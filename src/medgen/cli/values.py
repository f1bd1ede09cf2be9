"""The command line's value types: closed sets of words, which typer shows and checks
(`<train|dev|test>`), and finite numbers.

The sets mirror the library's registries, which cannot be imported while the command line
starts (they pull in torch); tests/cli/test_values.py keeps each one equal to its registry.
"""

from __future__ import annotations

import enum
import math
from typing import Literal

import typer

Family = Literal["diffusion", "gan", "vae"]  # medgen.models.MODELS
Split = Literal["train", "dev", "test"]  # medgen.tasks.run.SPLITS
ImportKind = Literal["auto", "folder", "nifti", "dicom"]  # medgen.data.importers.core.KINDS
Modality = Literal["t1", "t1ce", "t2", "flair"]  # medgen.data.importers.nifti.MODALITIES
Profile = Literal["tiny", "quick", "standard", "full"]  # medgen.study.profiles.PROFILES
Sampler = Literal[  # medgen.diffusion.samplers.SAMPLERS
    "euler", "heun", "heun_churn", "euler_maruyama", "euler_ancestral", "ddim", "pc", "dpmpp_2m",
    "lms",
]  # fmt: skip
DenoiseMethod = Literal["mean", "sample"]  # medgen.tasks.run.DENOISE_METHODS
AnomalyMethod = Literal["ensemble", "partial"]  # medgen.tasks.anomaly.METHODS
AnomalyNoise = Literal["gaussian", "structured"]  # medgen.tasks.anomaly.NOISES
Truth = Literal["tumour", "whole"]  # medgen.tasks.anomaly_split.TRUTHS
Cleanup = Literal["auto", "none", "fill", "region"]  # "auto" and medgen.tasks.segmentation's
KspaceMask = Literal["cartesian", "equispaced", "random", "variable_density"]  # tasks.kspace
CLASSIFY_STEPS = 500  # medgen.detect.classify.ClassifyConfig.steps: the detector's default


class Tracker(str, enum.Enum):
    """An experiment tracker of accelerate's (medgen.train.tracking.TRACKERS); an enum, since
    the option repeats and typer takes lists of enums, not of literals."""

    tensorboard = "tensorboard"
    wandb = "wandb"
    mlflow = "mlflow"
    aim = "aim"
    comet_ml = "comet_ml"


def finite_number(text: str) -> float:
    """A float option's text as a finite number: "nan" and "inf" are refused, as "abc" is."""
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{text!r} is not a finite number")
    return value


__all__ = [
    "AnomalyMethod",
    "AnomalyNoise",
    "Cleanup",
    "DenoiseMethod",
    "Family",
    "ImportKind",
    "KspaceMask",
    "Modality",
    "Profile",
    "Sampler",
    "Split",
    "Tracker",
    "Truth",
    "finite_number",
]
