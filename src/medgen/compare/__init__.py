"""Trained runs compared: sample quality, diversity, memorisation and cost (`medgen compare`)."""

from __future__ import annotations

from medgen.compare.engine import CompareSettings, Comparison, compare_runs, comparison_html
from medgen.compare.metrics import MetricSettings, quality_row
from medgen.compare.runs import Contestant, open_contestants

__all__ = [
    "CompareSettings",
    "Comparison",
    "Contestant",
    "MetricSettings",
    "compare_runs",
    "comparison_html",
    "open_contestants",
    "quality_row",
]
