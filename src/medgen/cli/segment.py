"""`medgen segment`: label-efficient segmentation with a diffusion run's features, against
U-Nets trained from scratch on the same labelled slices."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import Split


def segment_command(
    run: Path = typer.Argument(
        ...,
        help="A pixel-space diffusion run (medgen train diffusion), or a shipped reference "
        "model's name (pixel_prior) on the data it was trained on.",
    ),
    data: Path = typer.Option(
        ...,
        help="Dataset folder with images, brain_mask, tumour_mask and oedema_mask arrays.",
    ),
    labels: str = typer.Option(
        "10", help="Labelled train slices N: a count (10, 30, 100) or 'all'."
    ),
    draws: int = typer.Option(3, help="Draws of the N labelled slices (the intervals' spread)."),
    test: int = typer.Option(200, help="Slices of --split scored (a fixed random sample)."),
    split: Split = typer.Option("test", help="Split the methods are scored on."),
    unet_steps: int = typer.Option(300, help="Training steps of each peer U-Net."),
    mlp_steps: int = typer.Option(500, help="Training steps of each pixel MLP."),
    seed: int = typer.Option(0, help="Seed of the draws, the fixed noise and the training."),
) -> None:
    """Segment tissues (CSF, grey and white matter), oedema and tumour from N labelled slices:
    an ensemble of pixel MLPs on the diffusion U-Net's decoder features at a few noise levels
    (Baranchuk et al. 2022), against a MONAI U-Net trained from scratch on the same slices,
    without and with augmentation. Prints Dice per class, the mean over the draws and its 95%
    percentile interval, and each target's gain over the best peer.

    Example: medgen segment runs/diffusion --data data --labels 10 --draws 3 --test 200
    """
    from dataclasses import replace

    from medgen.exceptions import SettingError
    from medgen.tasks.fewlabels.command import run_segment
    from medgen.tasks.fewlabels.labels import labelled_count
    from medgen.tasks.fewlabels.table import SegmentSettings, dice_text

    given = {"draws": draws, "test": test, "unet_steps": unet_steps, "mlp_steps": mlp_steps}
    for name, value in given.items():
        if value < 1:
            raise SettingError(name, f"must be at least 1, got {value}")
    s = SegmentSettings(counts=(labelled_count(labels),), draws=draws, test=test, split=split)
    pixels = replace(s.segmenter.pixels, steps=mlp_steps)
    s = replace(
        s,
        segmenter=replace(s.segmenter, pixels=pixels),
        peers=replace(s.peers, steps=unet_steps),
        seed=seed,
    )
    result = run_segment(run, data, s)
    print(dice_text(result.table))
    for c in result.claims:
        g = c.gain
        print(
            f"target {c.score}: {c.ours} {c.ours_value:.3f} vs {c.baseline} "
            f"{c.baseline_value:.3f}, gain {g.estimate:+.3f} (95% of {g.n} draws: "
            f"{g.low:+.3f} to {g.high:+.3f}), target {c.margin:+.2f}"
        )
    print(f"note: {result.note}")
