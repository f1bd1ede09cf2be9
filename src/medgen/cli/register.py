"""`medgen register`: deformable registration of same-level slices, or of your own pair."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.values import Split, finite_number

PEERS_HELP = "Comma-separated classical peers run beside medgen: ants_syn,sitk_demons ('all')."


def register_command(
    run: Path = typer.Argument(
        ...,
        help="A pixel-space diffusion run (the prior the networks train with), or a folder of "
        "networks trained before (--save-nets), or a shipped reference model's name "
        "(pixel_prior, registration) on the data it was trained on.",
    ),
    data: Path = typer.Option(
        ..., help="Dataset folder: trains the network; without --fixed, its pairs are scored."
    ),
    fixed: Path | None = typer.Option(
        None, help="Your own fixed slice, a 2-D NIfTI of the data's size. [default: none]"
    ),
    moving: Path | None = typer.Option(
        None, help="Your own moving slice, a 2-D NIfTI of the fixed one's shape. [default: none]"
    ),
    out: Path | None = typer.Option(
        None,
        help="--fixed: the warped moving image (.nii/.nii.gz; its displacement beside it as "
        "NAME_ddf). Otherwise a folder for per_pair.csv and table.txt. [default: "
        "--fixed: warped.nii.gz; otherwise print only]",
    ),
    split: Split = typer.Option("test", help="Split whose same-level pairs are registered."),
    limit: int = typer.Option(50, help="Pairs registered and scored."),
    train_slices: int = typer.Option(2000, help="Training slices the network learns from."),
    steps: int = typer.Option(3000, help="Training steps at most, per network."),
    minutes: float | None = typer.Option(
        None, parser=finite_number, help="Training wall clock per network. [default: no cap]"
    ),
    refine_steps: int = typer.Option(
        2, help="Optimiser steps on each pair from the network's field (0: the network alone)."
    ),
    peers: str = typer.Option("all", help=PEERS_HELP + " Empty for none."),
    save_nets: Path | None = typer.Option(
        None, help="Write the trained networks to this folder, for RUN later. [default: none]"
    ),
    seed: int = typer.Option(0, help="Seed of the pairs and the training."),
    overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
) -> None:
    """Register same-level slices of different subjects with a VoxelMorph-style network whose
    training similarity compares the diffusion prior's denoised images, beside ANTs SyN and
    SimpleITK demons; score end-point error, tissue Dice, folding, time and error near tumours
    against the built-in data's true displacement. With --fixed/--moving, register your pair.
    Given a folder of trained networks instead of a prior, it registers without training.

    Example: medgen register runs/diffusion --data data --limit 40 --minutes 5 --out registered

    Example: medgen register runs/diffusion --data data --save-nets nets --peers ''

    Example: medgen register nets --data data --fixed a.nii --moving b.nii --out w.nii
    """
    from medgen.exceptions import SettingError
    from medgen.tasks.registration.command import run_register
    from medgen.tasks.registration.peers import PEERS
    from medgen.tasks.registration.refine import RefineSettings
    from medgen.tasks.registration.run import RegisterSettings
    from medgen.tasks.registration.train import TrainSettings

    if minutes is not None and not minutes > 0:
        raise SettingError("minutes", f"must be positive, got {minutes}")
    chosen = tuple(PEERS) if peers == "all" else tuple(p.strip() for p in peers.split(",") if p)
    train = TrainSettings(
        steps=steps, seconds=None if minutes is None else 60.0 * minutes, seed=seed
    )
    settings = RegisterSettings(
        split=split,
        limit=limit,
        train_slices=train_slices,
        peers=chosen,
        seed=seed,
        train=train,
        refine=RefineSettings(steps=refine_steps),
    )
    facts = run_register(
        run,
        data,
        settings,
        fixed=fixed,
        moving=moving,
        out=out,
        save_to=save_nets,
        overwrite=overwrite,
    )
    if "table" in facts:
        print(facts["table"])
    if facts.get("out") is not None:
        print(f"wrote {facts['out']}" + (f" and {facts['ddf']}" if "ddf" in facts else ""))
