"""`medgen lab ...`: the experiments on exact Gaussian mixtures and the 2-D mode-collapse test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from medgen.cli.values import finite_number

lab_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Experiments on exact Gaussian mixtures."
)

# name -> help text; the experiments themselves live in medgen.lab (imported when one runs).
HELP = {
    "score": "p(x, t) and s(x, t) of a 1-D mixture over t, and a 2-D score field at several t.",
    "why-noise": "Langevin at t = 0 vs annealed Langevin vs the reverse SDE, near a manifold.",
    "score-matching": "One MLP trained on J_naive and on J_dsm: gradients, errors, the constant.",
    "mode-collapse": "Diffusion vs GAN vs VAE on the 8-mode ring and 25-mode grid (5 seeds).",
}


def _command(name: str) -> Callable[..., None]:
    def command(
        out: Path = typer.Option(Path(f"lab/{name}"), help="Folder for figures + numbers.json."),
        seed: int = typer.Option(0, help="Seed of every random draw."),
        scale: float = typer.Option(
            1.0,
            parser=finite_number,
            help="Compute budget: 1 is the published one, 0.1 a quick look.",
        ),
    ) -> None:
        from medgen.exceptions import InputError
        from medgen.lab import run_experiment

        if not scale > 0:
            raise InputError("--scale", f"must be positive, got {scale}")
        result = run_experiment(name, out, seed=seed, scale=scale)
        print(result.summary)
        print(f"wrote {out}/numbers.json and {len(result.figures)} figure(s) in {out}/figures")

    command.__doc__ = f"{HELP[name]}\n\nExample: medgen lab {name} --out lab/{name}"
    return command


for _name in HELP:
    lab_app.command(_name)(_command(_name))
