"""`medgen study`: the main job, from the data to one HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from medgen.cli.progress import progress_bar
from medgen.cli.values import Profile


def study_command(
    out: Path = typer.Option(..., "--out", help="Study folder (created, or resumed if it exists)."),
    profile: Profile = typer.Option(
        "standard",
        help="tiny (tests), quick (≤ 5 min), standard (≤ 20 min on 2 CPU cores) or full (GPU).",
    ),
    data: Path | None = typer.Option(
        None, help="Use this existing dataset instead of building OUT/data. [default: OUT/data]"
    ),
    force: list[str] | None = typer.Option(
        None,
        metavar="CHAPTER",
        help="Re-run this chapter even if it is done (repeatable). [default: none]",
    ),
    workers: int = typer.Option(0, help="Processes for parallel work (0: all cores)."),
    train: bool = typer.Option(
        False,
        "--train",
        help="Train every model within the profile's budget instead of evaluating the shipped "
        "reference models (which the standard profile uses). [default: off]",
    ),
) -> None:
    """Run the study (or resume it) and write OUT/report.html.

    Example: medgen study --out study --profile quick
    """
    from dataclasses import replace

    from medgen.study import get_profile, run_study

    chosen = get_profile(profile)
    result = run_study(
        out,
        replace(chosen, references=False) if train else chosen,
        data=data,
        force=force or (),
        workers=workers,
        progress=progress_bar,
    )
    print(f"report: {result.report}")
