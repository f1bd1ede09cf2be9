"""The error-analysis workbench (Ng, *Machine Learning Yearning*): eyeball/blackbox split,
error tallies with ceilings, the overfitting watch and error analysis by parts, over one
SQLite store per project folder.

Names are imported on first use (PEP 562), so that reading a light submodule, such as the
remedy's plan for the command line's defaults, does not load the detector and torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medgen.lazy import lazy_names

if TYPE_CHECKING:
    from medgen.detect.predictions import Predictions, read_predictions, write_predictions
    from medgen.errors.parts import (
        AnalysablePipeline,
        CeilingRow,
        PartsReport,
        attribute_errors,
    )
    from medgen.errors.split import (
        EyeballSplit,
        SplitOutcome,
        SplitSize,
        eyeball_size,
        split_project,
    )
    from medgen.errors.store import ErrorStore, EvaluationRecord, StoredSplit, Tag
    from medgen.errors.tally import ErrorTally, TagOutcome, tag_example, tally_project
    from medgen.errors.watch import (
        EvaluateOutcome,
        OverfitWatch,
        evaluate_project,
        watch_project,
    )

_HOMES = {
    "medgen.detect.predictions": ("Predictions", "read_predictions", "write_predictions"),
    "medgen.errors.parts": ("AnalysablePipeline", "CeilingRow", "PartsReport", "attribute_errors"),
    "medgen.errors.split": (
        "EyeballSplit",
        "SplitOutcome",
        "SplitSize",
        "eyeball_size",
        "split_project",
    ),
    "medgen.errors.store": ("ErrorStore", "EvaluationRecord", "StoredSplit", "Tag"),
    "medgen.errors.tally": ("ErrorTally", "TagOutcome", "tag_example", "tally_project"),
    "medgen.errors.watch": ("EvaluateOutcome", "OverfitWatch", "evaluate_project", "watch_project"),
}

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


__getattr__ = lazy_names(__name__, _HOMES)
