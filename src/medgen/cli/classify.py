"""`medgen classify`: a conditional diffusion run as a zero-shot classifier on a split."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import Split, finite_number


def classify_command(
    run: Path = typer.Argument(
        ..., help="A pixel-space diffusion run conditioned on --label (medgen train --cond)."
    ),
    data: Path = typer.Option(..., help="Dataset folder whose metadata holds --label."),
    label: str = typer.Option(
        "tumour_type", help="Metadata column whose values are the classes (one the run has)."
    ),
    split: Split = typer.Option("test", help="Split to classify: train, dev or test."),
    limit: int | None = typer.Option(
        None, help="Classify only the first N slices of the split. [default: all]"
    ),
    draws: int = typer.Option(
        8, help="Noise draws per slice, shared by every class (NFE = classes x draws)."
    ),
    sigma_min: float = typer.Option(
        0.02, parser=finite_number, help="Smallest noise level, the model's [-1, 1] units."
    ),
    sigma_max: float = typer.Option(
        20.0, parser=finite_number, help="Largest noise level, the model's [-1, 1] units."
    ),
    batch_size: int = typer.Option(16, help="Slices per batch."),
    seed: int = typer.Option(0, help="Seed of the noise draws."),
    out: Path = typer.Option(Path("classified"), help="Output folder: per_slice.csv, metrics.json"),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Classify slices by Bayes' rule over a conditional diffusion model's class-conditional
    denoising errors (Li et al. 2023; Clark & Jaini 2023): the class whose denoiser best
    denoises the slice, on the same noise draws for every class, weighted by the class priors.

    Example: medgen classify runs/cond --data data --label tumour_type --draws 8 --out classified
    """
    from medgen.tasks.classification.command import ClassifySettings, run_classify

    s = ClassifySettings(
        label=label,
        split=split,
        limit=limit,
        draws=draws,
        sigma_min=sigma_min,
        sigma_max=sigma_max,
        batch_size=batch_size,
        seed=seed,
    )
    m = run_classify(run, data, out, s, overwrite=overwrite)
    aurocs = ", ".join(f"{c} {m[f'auroc_{c}']:.3f}" for c in m["classes"])
    print(
        f"diffusion classifier: accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
        f"AUROC {aurocs}; {m['nfe_per_slice']} NFE, {m['s_per_slice']:.3f} s/slice"
    )
    print(f"wrote {out} ({m['n']} slices): per_slice.csv, metrics.json")
