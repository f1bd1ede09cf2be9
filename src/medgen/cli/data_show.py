"""`medgen data show`: a grid of examples per location × tumour type, with outlines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def show_command(
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    out: Annotated[Path, typer.Option("--out", help="Image to write (.png, .pdf or .svg).")],
    split: Annotated[
        str | None, typer.Option(help="Only this split (train, dev, test); default all.")
    ] = None,
    per_cell: Annotated[int, typer.Option(help="Examples per location × type row.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the random choice of examples.")] = 0,
) -> None:
    """Draw examples of each location × tumour type with tumour (red) and oedema (yellow) outlines.

    Example: medgen data show data --out grid.png --split dev --per-cell 4
    """
    from medgen.data.store import open_dataset
    from medgen.report.figures import dataset_grid

    grid = dataset_grid(open_dataset(root), out, split=split, per_cell=per_cell, seed=seed)
    print(f"wrote {grid.path}: {len(grid.rows)} rows (location × type)")
