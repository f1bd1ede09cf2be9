"""`medgen data show`: a grid of examples per location × tumour type, with outlines."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import Split


def show_command(
    root: Path = typer.Argument(..., help="Dataset folder."),
    out: Path = typer.Option(..., "--out", help="Image to write (.png, .pdf or .svg)."),
    split: Split | None = typer.Option(None, help="Only this split. [default: every split]"),
    per_cell: int = typer.Option(4, help="Examples per location × type row."),
    seed: int = typer.Option(0, help="Seed of the random choice of examples."),
) -> None:
    """Draw examples of each location × tumour type with tumour (red) and oedema (yellow) outlines.

    Example: medgen data show data --out grid.png --split dev --per-cell 4
    """
    from medgen.data.store import open_dataset
    from medgen.report.figures import dataset_grid

    grid = dataset_grid(open_dataset(root), out, split=split, per_cell=per_cell, seed=seed)
    print(f"wrote {grid.path}: {len(grid.rows)} rows (location × type)")
