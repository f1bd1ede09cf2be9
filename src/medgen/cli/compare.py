"""`medgen compare` (trained runs side by side) and `medgen features` (train a feature space)."""

from __future__ import annotations

from pathlib import Path

import typer


def compare_command(
    runs: list[Path] = typer.Argument(..., help="Trained run folders (medgen train)."),
    data: Path = typer.Option(..., help="The dataset the runs were trained on."),
    out: Path = typer.Option(..., help="Folder for metrics.json/.csv, samples.png, report.html."),
    features: str | None = typer.Option(
        None,
        help="Feature space: a folder from medgen features, export:FILE or inception:FILE. "
        "[default: train medgen's domain extractor into OUT/features]",
    ),
    n: int = typer.Option(1000, help="Samples per run."),
    n_real: int = typer.Option(1000, help="Real slices per reference set."),
    per_condition: int = typer.Option(100, help="Samples per condition of a conditional run."),
    steps: int | None = typer.Option(
        None, help="Diffusion sampling steps. [default: each run's own setting]"
    ),
    mode_collapse: bool = typer.Option(
        False,
        "--mode-collapse",
        help="Also run the 2-D mode-collapse benchmark (5 seeds). [default: off]",
    ),
    seed: int = typer.Option(0, help="Seed of every random choice."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Compare trained runs: FD, KID, precision/recall/density/coverage, memorisation, cost.

    Example: medgen compare runs/diffusion runs/gan runs/vae --data data --out compare
    """
    from medgen.compare import CompareSettings, compare_runs

    table = None
    if mode_collapse:
        from medgen.lab.mode_collapse import mode_collapse_rows, summarise

        table = summarise(mode_collapse_rows(range(5)))
    settings = CompareSettings(
        n=n, n_real=n_real, per_condition=per_condition, steps=steps, seed=seed
    )
    result = compare_runs(
        runs,
        data,
        out,
        features=features,
        settings=settings,
        mode_collapse=table,
        overwrite=overwrite,
    )
    for sentence in result.summary:
        print(f"- {sentence}")
    print(f"report: {out / 'report.html'}")


def features_command(
    data: Path = typer.Option(..., help="Dataset folder: the extractor trains on its train split."),
    out: Path = typer.Option(..., help="Folder for weights.safetensors and extractor.json."),
    steps: int = typer.Option(800, help="Optimiser steps."),
    seed: int = typer.Option(0, help="Seed of initialisation and batches."),
    overwrite: bool = typer.Option(False, help="Replace OUT if it exists."),
) -> None:
    """Train medgen's domain feature extractor, the feature space of medgen compare.

    Example: medgen features --data data --out features
    """
    from medgen.evaluate.features import FeatureConfig, train_extractor
    from medgen.exceptions import InputError

    if steps < 1:
        raise InputError("--steps", f"must be at least 1, got {steps}")
    info = train_extractor(data, out, FeatureConfig(steps=steps, seed=seed), overwrite=overwrite)
    scores = ", ".join(f"{k} {v:.3f}" for k, v in info["dev_scores"].items())
    print(f"feature space medgen:{info['id']} in {out} ({scores or 'no dev split'})")
