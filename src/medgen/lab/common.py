"""What every lab experiment returns and writes: numbers (JSON), figures, and what they show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from medgen.fileio import write_json_atomic
from medgen.report.figures import save_figure
from medgen.report.html import FigureRef

NUMBERS = "numbers.json"


@dataclass(frozen=True)
class LabResult:
    """A finished experiment: its numbers, its figures (relative to its folder), and a summary
    that says in words what the numbers show."""

    name: str
    title: str
    summary: str
    numbers: dict[str, Any]
    figures: list[FigureRef] = field(default_factory=list)


def save(fig: Figure, out: Path, filename: str, caption: str) -> FigureRef:
    """Save `fig` as out/figures/`filename`; the reference is relative to `out`."""
    relative = f"figures/{filename}"
    save_figure(fig, out / relative)
    return FigureRef(relative, caption)


def write_numbers(out: Path, result: LabResult) -> Path:
    """Write the experiment's numbers and summary as out/numbers.json (atomically)."""
    path = out / NUMBERS
    payload = {"experiment": result.name, "summary": result.summary, **result.numbers}
    write_json_atomic(path, payload)
    return path
