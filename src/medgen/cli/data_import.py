"""`medgen data import`: load an image folder, NIfTI volumes or DICOM series as a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medgen.cli.progress import progress_bar
from medgen.cli.values import ImportKind, Modality
from medgen.exceptions import InputError


def parse_splits(text: str) -> tuple[float, float, float]:
    """ "0.8,0.1,0.1" -> (0.8, 0.1, 0.1); InputError naming --splits if it is not three numbers."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise InputError(
            "--splits", f"{text!r} is not three comma-separated fractions (0.8,0.1,0.1)"
        )
    return values[0], values[1], values[2]


def import_command(
    source: Annotated[Path, typer.Argument(help="Folder (or file) to import.")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to create.")],
    kind: Annotated[
        ImportKind,
        typer.Option(help="auto, folder (class subfolders of PNG/JPG/TIFF), nifti or dicom."),
    ] = "auto",
    size: Annotated[int, typer.Option(help="Image size in pixels: 32, 64, 128 or 256.")] = 64,
    axis: Annotated[
        int, typer.Option(help="NIfTI slicing axis (RAS+): 0 sagittal, 1 coronal, 2 axial.")
    ] = 2,
    modality: Annotated[
        Modality, typer.Option(help="NIfTI modality per BraTS-style case: t1, t1ce, t2 or flair.")
    ] = "t1",
    splits: Annotated[
        str, typer.Option(help="Train,dev,test fractions, drawn per image, case or patient.")
    ] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option(help="Seed of the split assignment.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option(help="Skip bad files, import the rest and list what was skipped.")
    ] = False,
    case_id: Annotated[
        str | None,
        typer.Option(
            help="A code for this import (a study or site code, never a name), prefixed to "
            "every source; sources are otherwise hashes of the files' paths. [default: none]"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace OUT once the new dataset is complete.")
    ] = False,
) -> None:
    """Import users' data: slices resized to SIZE × SIZE, intensities scaled to [0, 1].

    Files left out and slices missing from a series get one warning line each, on stderr;
    nothing about them is written into OUT.

    Example: medgen data import brats/ --out mydata --kind nifti --axis 2
    """
    from medgen.data.importers import import_data

    fractions = parse_splits(splits)
    with progress_bar("importing") as advance:
        result = import_data(
            source,
            out,
            kind=kind,
            size=size,
            axis=axis,
            modality=modality,
            splits=fractions,
            seed=seed,
            skip_bad=skip_bad,
            case_id=case_id,
            overwrite=overwrite,
            progress=advance,
        )
    manifest = result.manifest
    counts = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    sources = f"{manifest['imported']['sources']} {manifest['config']['kind']} sources"
    digest = manifest["content_hash"][:12]
    print(f"wrote {out}: {result.n_slices} slices from {sources} ({counts}), content hash {digest}")
    for path, reason in result.skipped:
        _warn(f"{path}: {reason}")
    for gap in result.gaps:
        slices = f"{gap.missing} slice{'s' if gap.missing != 1 else ''}"
        _warn(
            f"{gap.series}: {slices} missing between {Path(gap.before).name} and "
            f"{Path(gap.after).name}"
        )


def _warn(message: str) -> None:
    """One warning line on stderr."""
    typer.echo(f"medgen: warning: {message}", err=True)
