"""Figures of trained runs: sample grids beside real slices, and loss curves from metrics.jsonl."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from medgen.report.figures import save_figure

PANEL_IN = 2.6  # side of one panel, inches


def tile(images: np.ndarray) -> np.ndarray:
    """Images (N, H, W) as one square-ish mosaic (rows x cols) with 1-pixel gutters."""
    n, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    mosaic = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        mosaic[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = images[i]
    return mosaic


def sample_panels(panels: Mapping[str, np.ndarray], out: Path) -> Path:
    """One panel per name: its images (N, H, W) in [0, 1] as a mosaic; real slices first."""
    fig = Figure(figsize=(PANEL_IN * len(panels), PANEL_IN + 0.3))
    for i, (name, images) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(tile(images), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, out)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (skipping a half-written last line)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def loss_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[int], list[float]]]:
    """Each loss in `records` as (images seen, values), skipping a loss that repeats an earlier
    one value for value (a trainer may log its total under a second name)."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    keys = sorted({k for r in records for k in r.get("metrics", {}) if "loss" in k})
    for key in keys:
        x = [r["images"] for r in records if key in r.get("metrics", {})]
        y = [r["metrics"][key] for r in records if key in r.get("metrics", {})]
        if (x, y) not in series.values():
            series[key] = (x, y)
    return series


def loss_curves(runs: Mapping[str, Path], out: Path) -> Path:
    """Each run's losses against training images seen, one panel per run, one line per loss."""
    fig = Figure(figsize=(PANEL_IN * 1.4 * len(runs), PANEL_IN))
    for i, (name, run) in enumerate(runs.items()):
        ax = fig.add_subplot(1, len(runs), i + 1)
        series = loss_series(read_metrics(run / "metrics.jsonl"))
        for key, (x, y) in series.items():
            ax.plot(x, y, label=key, linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training images seen", fontsize=8)
        ax.tick_params(labelsize=7)
        if series:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)


def curves_compared(runs: Mapping[str, Path], key: str, out: Path) -> Path:
    """One loss (`key`) of several runs on one axis against training images seen, log-scaled
    in images, so that a short run and a long one of the same recipe can be read together."""
    fig = Figure(figsize=(PANEL_IN * 1.8, PANEL_IN))
    ax = fig.add_subplot(1, 1, 1)
    for name, run in runs.items():
        series = loss_series(read_metrics(run / "metrics.jsonl"))
        if key in series:
            x, y = series[key]
            ax.plot(x, y, label=name, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("training images seen", fontsize=8)
    ax.set_ylabel(key, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out)
