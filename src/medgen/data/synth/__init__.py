"""The built-in brain-MRI tumour dataset, made from the MNI152 template that ships with nilearn."""

from __future__ import annotations

from medgen.data.synth.config import (
    LOCATIONS,
    SPLITS,
    TUMOUR_TYPES,
    AnatomyConfig,
    DataConfig,
    IntensityConfig,
    NoiseConfig,
    ScenarioConfig,
    TumourConfig,
    resolve_config,
)
from medgen.data.synth.make import make_dataset

__all__ = [
    "LOCATIONS",
    "SPLITS",
    "TUMOUR_TYPES",
    "AnatomyConfig",
    "DataConfig",
    "IntensityConfig",
    "NoiseConfig",
    "ScenarioConfig",
    "TumourConfig",
    "make_dataset",
    "resolve_config",
]
