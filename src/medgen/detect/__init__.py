"""The tumour detector: a pipeline of named parts (preprocess -> extract -> classify)."""

from __future__ import annotations

from medgen.detect.classify import CLASSES
from medgen.detect.extract import FEATURES
from medgen.detect.pipeline import (
    PARTS,
    Detector,
    DetectorConfig,
    Outputs,
    detector_config,
    load_detector,
    train_detector,
)

__all__ = [
    "CLASSES",
    "FEATURES",
    "PARTS",
    "Detector",
    "DetectorConfig",
    "Outputs",
    "detector_config",
    "load_detector",
    "train_detector",
]
