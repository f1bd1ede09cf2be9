"""Figures of a dataset: example grids with tumour outlines, intensity and noise distributions.

Figures are drawn on `matplotlib.figure.Figure` objects (Agg canvas, no pyplot state), with fixed
sizes in inches, so a figure is deterministic given its inputs and seed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from medgen.data.store import StoredDataset
from medgen.exceptions import InputError, SettingError
from medgen.fileio import make_folder, write_bytes_atomic
from medgen.report.tables import SPLIT_ORDER, TYPE_ORDER, group_rows, ordered

DPI = 100  # pixels per inch of every saved figure
CELL_IN = 1.0  # side of one example image, inches
CAPTION_IN = 0.18  # height of the caption above each example, inches
LABEL_IN = 1.3  # width of the row labels on the left of a grid, inches
HEADER_IN = 0.55  # height of a grid's title and legend, inches
MARGIN_IN = 0.08  # blank border right and below, inches
# mask -> (legend label, colour); drawn in this order, so the tumour's outline stays on top.
OUTLINES = {"oedema_mask": ("oedema", "yellow"), "tumour_mask": ("tumour", "red")}


class GridResult(NamedTuple):
    """A saved grid: where, its rows as (location, tumour_type), and the slice ids in each row."""

    path: Path
    rows: list[tuple[str, str]]
    ids: list[list[int]]


def save_figure(fig: Figure, out: str | Path) -> Path:
    """Write `fig` to `out` atomically, in the format its suffix names (InputError if unknown)."""
    out = Path(out)
    kind = out.suffix.lstrip(".").lower()
    supported = fig.canvas.get_supported_filetypes()
    if kind not in supported:
        raise InputError(
            out, f"unknown figure format {kind!r} (use one of: {', '.join(supported)})"
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=kind, dpi=DPI, metadata=None)
    make_folder(out.parent)
    write_bytes_atomic(out, buffer.getvalue())
    return out


def grid_size_in(n_rows: int, per_cell: int) -> tuple[float, float]:
    """(width, height) in inches of a grid with `n_rows` rows of `per_cell` examples."""
    width = LABEL_IN + per_cell * CELL_IN + MARGIN_IN
    height = HEADER_IN + n_rows * (CELL_IN + CAPTION_IN) + MARGIN_IN
    return width, height


def pick_examples(meta: pd.DataFrame, per_cell: int, seed: int) -> list[list[int]]:
    """Up to `per_cell` row ids for each (location, type) group of `meta`, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    picked = []
    for ids in group_rows(meta).values():
        chosen = rng.choice(ids, size=min(per_cell, len(ids)), replace=False)
        picked.append(sorted(int(i) for i in chosen))
    return picked


def draw_slice(ax: Axes, store: StoredDataset, row: int) -> None:
    """Show slice `row` in grey with the outlines (OUTLINES) of its masks."""
    ax.imshow(store.array("images")[row], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    for name, (_, colour) in OUTLINES.items():
        if name in store.arrays:
            mask = np.asarray(store.array(name)[row])
            if mask.any():
                ax.contour(mask, levels=[0.5], colors=colour, linewidths=0.9)
    ax.set_xticks([])
    ax.set_yticks([])


def _rows_in_split(store: StoredDataset, split: str | None) -> pd.DataFrame:
    if split is None:
        return store.meta
    rows = store.split(split)
    if rows.empty:
        known = ", ".join(ordered(store.meta["split"], SPLIT_ORDER))
        raise SettingError("split", f"no slices in split {split!r} (has: {known})")
    return rows


def dataset_grid(
    store: StoredDataset,
    out_png: str | Path,
    *,
    split: str | None = None,
    per_cell: int = 4,
    seed: int = 0,
) -> GridResult:
    """Save a grid of examples, one row per location × type, with tumour and oedema outlines."""
    if per_cell < 1:
        raise SettingError("per_cell", f"must be at least 1, got {per_cell}")
    meta = _rows_in_split(store, split)
    members = group_rows(meta)
    rows, ids = list(members), pick_examples(meta, per_cell, seed)
    columns = max((len(row) for row in ids), default=1)  # no wider than the examples there are
    width, height = grid_size_in(len(rows), columns)
    fig = Figure(figsize=(width, height), dpi=DPI)
    where = split or "all splits"
    fig.suptitle(
        f"{where}: up to {per_cell} examples per location × type (seed {seed})",
        x=0.02,
        y=1 - 0.12 / height,
        ha="left",
        va="top",
        fontsize=10,
    )
    handles = [
        Line2D([], [], color=c, label=label)
        for name, (label, c) in OUTLINES.items()
        if name in store.arrays
    ]
    if handles:
        fig.legend(
            handles=handles,
            loc="upper left",
            ncol=len(handles),
            fontsize=8,
            frameon=False,
            bbox_to_anchor=(0.0, 1 - 0.3 / height),
        )
    for r, ((location, kind), row_ids) in enumerate(zip(rows, ids, strict=True)):
        top = HEADER_IN + r * (CELL_IN + CAPTION_IN) + CAPTION_IN
        y = 1 - (top + CELL_IN) / height
        count = len(members[location, kind])
        fig.text(
            0.1 / width,
            y + CELL_IN / 2 / height,
            f"{location}\n{kind}\n(n={count})",
            ha="left",
            va="center",
            fontsize=9,
        )
        for c, row in enumerate(row_ids):
            x = (LABEL_IN + c * CELL_IN) / width
            ax = fig.add_axes((x, y, CELL_IN / width, CELL_IN / height))
            draw_slice(ax, store, row)
            label = f"{store.meta.at[row, 'split']} #{row}" if split is None else f"#{row}"
            ax.set_title(label, fontsize=7, pad=2)
    return GridResult(save_figure(fig, out_png), rows, ids)


def brain_intensities(
    store: StoredDataset, array: str, ids: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Values of `array` in the brain mask (all pixels if there is none) of slices `ids`."""
    values = np.asarray(store.array(array)[ids])
    if "brain_mask" not in store.arrays:
        return values.ravel()
    return values[np.asarray(store.array("brain_mask")[ids]) > 0]


def _intensity_panel(ax: Axes, store: StoredDataset, ids: np.ndarray[Any, Any]) -> None:
    for array, label in (("clean", "clean"), ("images", "noisy (what a model sees)")):
        if array in store.arrays:
            ax.hist(
                brain_intensities(store, array, ids),
                bins=80,
                range=(0.0, 1.0),
                density=True,
                histtype="step",
                label=label,
            )
    where = "brain pixels" if "brain_mask" in store.arrays else "all pixels"
    ax.set(title=f"intensity of {where} ({len(ids)} slices)", xlabel="intensity", ylabel="density")
    ax.legend(fontsize=7, frameon=False)


Keep = Callable[[pd.DataFrame], "pd.Series[bool]"]
PARAMETER_PANELS: dict[str, tuple[str, Keep]] = {
    # column -> (axis label, which rows to include)
    "noise_sigma": ("noise σ (Rician)", lambda m: m["noise_sigma"].notna()),
    "bias_strength": ("bias field strength (max |log|)", lambda m: m["bias_strength"].notna()),
    "tumour_px": ("tumour area (pixels)", lambda m: m["tumour_px"] > 0),
    "tumour_contrast": ("tumour contrast", lambda m: m["tumour_contrast"].notna()),
    "oedema_px": ("oedema area (pixels)", lambda m: m["oedema_px"] > 0),
}


def _parameter_panel(ax: Axes, meta: pd.DataFrame, column: str) -> None:
    label, keep = PARAMETER_PANELS[column]
    colours = {kind: f"C{i}" for i, kind in enumerate(ordered(meta["tumour_type"], TYPE_ORDER))}
    rows = meta[keep(meta)]
    ax.set(title=f"{column} per type", xlabel=label, ylabel="slices")
    if rows.empty:
        ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
        return
    bins = np.histogram_bin_edges(rows[column].to_numpy(dtype=float), bins=30).tolist()
    for kind in ordered(rows["tumour_type"], TYPE_ORDER):
        values = rows.loc[rows["tumour_type"] == kind, column].to_numpy(dtype=float)
        ax.hist(
            values, bins=bins, histtype="step", color=colours[kind], label=f"{kind} ({len(values)})"
        )
    ax.legend(fontsize=7, frameon=False)


def intensity_noise_figure(
    store: StoredDataset, out_png: str | Path, *, max_slices: int = 400, seed: int = 0
) -> Path:
    """Save histograms of brain intensities (clean vs noisy) and of the per-slice parameters."""
    rng = np.random.default_rng(seed)
    n = len(store)
    ids = np.sort(rng.choice(n, size=min(max_slices, n), replace=False))
    fig = Figure(figsize=(13.5, 7.0), dpi=DPI, layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    _intensity_panel(axes[0], store, ids)
    for ax, column in zip(axes[1:], PARAMETER_PANELS, strict=True):
        _parameter_panel(ax, store.meta, column)
    return save_figure(fig, out_png)
