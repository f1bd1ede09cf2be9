"""The error-analysis workbench (Ng, *Machine Learning Yearning*): eyeball/blackbox split,
error tallies with ceilings, the overfitting watch and error analysis by parts, over one
SQLite store per project folder."""

from __future__ import annotations

from medgen.detect.predictions import Predictions, read_predictions, write_predictions
from medgen.errors.parts import AnalysablePipeline, CeilingRow, PartsReport, attribute_errors
from medgen.errors.split import EyeballSplit, SplitOutcome, SplitSize, eyeball_size, split_project
from medgen.errors.store import ErrorStore, EvaluationRecord, StoredSplit, Tag
from medgen.errors.tally import ErrorTally, TagOutcome, tag_example, tally_project
from medgen.errors.watch import EvaluateOutcome, OverfitWatch, evaluate_project, watch_project

__all__ = [
    "AnalysablePipeline",
    "CeilingRow",
    "ErrorStore",
    "ErrorTally",
    "EvaluateOutcome",
    "EvaluationRecord",
    "EyeballSplit",
    "OverfitWatch",
    "PartsReport",
    "Predictions",
    "SplitOutcome",
    "SplitSize",
    "StoredSplit",
    "Tag",
    "TagOutcome",
    "attribute_errors",
    "evaluate_project",
    "eyeball_size",
    "read_predictions",
    "split_project",
    "tag_example",
    "tally_project",
    "watch_project",
    "write_predictions",
]
