"""`medgen detect train` and `medgen detect predict`: the tumour-detection pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

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
    seed: int = typer.Option(0, help="Seed of initialisation, batches and the train split."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Train the detector's parts on the train split.

    Example: medgen detect train --data data --out detector
    """
    from dataclasses import replace

    from medgen.detect import DetectorConfig, train_detector
    from medgen.exceptions import InputError

    if steps < 1:
        raise InputError("--steps", f"must be at least 1, got {steps}")
    config = DetectorConfig(seed=seed)
    config.extract = replace(config.extract, steps=steps, seed=seed)
    summary = train_detector(data, out, config, overwrite=overwrite)
    print(f"trained in {summary['seconds']:.0f} s; detector in {out}")


@detect_app.command("predict")
def predict_command(
    run: Path = typer.Argument(..., help="A detector run folder (medgen detect train)."),
    data: Path = typer.Option(..., help="Dataset folder."),
    split: str = typer.Option("dev", help="Split to predict: train, dev or test."),
    out: Path | None = typer.Option(
        None, help="Predictions folder to create. [default: RUN/predictions/SPLIT]"
    ),
    overwrite: bool = typer.Option(
        False, help="Replace OUT if it is a predictions folder (an errors project may rest on it)."
    ),
) -> None:
    """Predict a split; write predictions.csv/.json and every part's output to a new folder.

    The data must have the slice size the detector was trained on.

    Example: medgen detect predict detector --data data --split dev --out detector/pred-dev2
    """
    from medgen.detect.predict import predict_split

    out = out or run / "predictions" / split
    folder = predict_split(run, data, split, out, overwrite=overwrite)
    print(f"predictions in {folder}")
