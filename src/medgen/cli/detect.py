"""`medgen detect train` and `medgen detect predict`: the tumour-detection pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import CLASSIFY_STEPS, Split

detect_app = typer.Typer(
    rich_markup_mode=None,  # a help text's "[default: ...]" is text, not markup
    help="The tumour detector: preprocess -> extract -> classify, each part saved on its own.",
    no_args_is_help=True,
)


@detect_app.command("train")
def train_command(
    data: Path = typer.Option(..., help="Dataset folder with masks (medgen data make)."),
    out: Path = typer.Option(..., help="Detector run folder."),
    steps: int = typer.Option(3000, help="Training steps of the segmentation network."),
    classify_steps: int = typer.Option(
        CLASSIFY_STEPS, min=1, help="Training steps of the classifier."
    ),
    seed: int = typer.Option(0, help="Seed of initialisation, batches and the train split."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Train the detector's parts on the train split.

    Example: medgen detect train --data data --out detector
    """
    from medgen.detect import detector_config, train_detector
    from medgen.exceptions import InputError
    from medgen.train.progress import train_progress

    if steps < 1:
        raise InputError("--steps", f"must be at least 1, got {steps}")
    config = detector_config(steps, seed, classify_steps)
    with train_progress(True) as bar:

        def advance(step: int, loss: float) -> None:
            bar.update(step / steps, step, f"loss {loss:.4g}")

        summary = train_detector(data, out, config, overwrite=overwrite, progress=advance)
    print(f"trained in {summary['seconds']:.0f} s; detector in {out}")


@detect_app.command("predict")
def predict_command(
    run: Path = typer.Argument(..., help="A detector run folder (medgen detect train)."),
    data: Path | None = typer.Option(None, help="Dataset folder. [default: none]"),
    scan: Path | None = typer.Option(
        None,
        "--input",
        help="Your own scan instead of --data: a NIfTI file (.nii, .nii.gz) or a DICOM series "
        "folder; each slice is classified. [default: none]",
    ),
    split: Split = typer.Option("dev", help="Split to predict."),
    axis: int = typer.Option(
        2, help="--input NIfTI: slicing axis in RAS+ order, 0 sagittal, 1 coronal, 2 axial."
    ),
    out: Path | None = typer.Option(
        None,
        help="Predictions folder to create, or with --input the per-slice table (.csv). "
        "[default: RUN/predictions/SPLIT; --input: slices.csv]",
    ),
    overwrite: bool = typer.Option(
        False, help="Replace OUT if it is a predictions folder (an errors project may rest on it)."
    ),
) -> None:
    """Predict a split; write predictions.csv/.json and every part's output to a new folder.

    The data must have the slice size the detector was trained on.

    With --input the scan's slices are prepared as `medgen data import` prepares them, and one
    row per slice (prediction and class scores) is written to a CSV table.

    Example: medgen detect predict detector --data data --split dev

    Example: medgen detect predict detector --input scan.nii.gz --out slices.csv
    """
    from medgen.cli.tasks import one_source
    from medgen.detect.predict import predict_split

    one_source(data, scan)
    if scan is not None:
        from medgen.tasks.scan_detect import predict_input

        table = out or Path("slices.csv")
        facts = predict_input(run, scan, table, axis=axis, overwrite=overwrite)
        counts = ", ".join(f"{n} {name}" for name, n in facts["predictions"].items())
        print(f"{facts['slices']} slices classified ({counts}); table in {table}")
        return
    assert data is not None
    out = out or run / "predictions" / split
    folder = predict_split(run, data, split, out, overwrite=overwrite)
    print(f"predictions in {folder}")
