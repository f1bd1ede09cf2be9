"""Command-line usage mistakes: a typo of every command, unknown and missing options, values of
the wrong type, a flag without its value. None of them may touch the disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultcases.core import Attempt, Case, Setup, cli

TYPOS = (  # a mistyped command or subcommand: the line names the unknown word
    "trian",
    "smaple",
    "compre",
    "featurse",
    "stduy",
    "denoize",
    "anomally",
    "reconstrut",
    "dat",
    "erors",
    "lb",
    "detec",
    "refrence",
    "data mkae",
    "data improt",
    "data shwo",
    "errors splt",
    "errors taly",
    "errors tga",
    "errors evalute",
    "errors histroy",
    "errors prats",
    "errors serv",
    "errors remdy",
    "lab scroe",
    "lab why_noise",
    "lab score_matching",
    "lab modecollapse",
    "detect trian",
    "detect predcit",
    "reference lst",
    "reference shwo",
    "reference retrian",
)

# name -> (the command line, what the one line must name)
MISTAKES: dict[str, tuple[str, tuple[str, ...]]] = {
    "unknown-global-option": ("--verbose", ("No such option: --verbose",)),
    "unknown-train-option": (
        "train vae --data d --out o --epochs 3",
        ("No such option: --epochs",),
    ),
    "unknown-sample-option": ("sample r --num 3", ("No such option: --num",)),
    "unknown-data-make-option": ("data make --out o --sizes 64", ("--sizes",)),
    "unknown-import-option": ("data import src --out o --format png", ("--format",)),
    "unknown-denoise-option": ("denoise r --data d --sigmas 1", ("--sigmas",)),
    "unknown-family": ("train unet --data d --out o", ("'unet'", "diffusion")),
    "missing-import-out": ("data import src", ("Missing option '--out'",)),
    "missing-predict-data": ("detect predict run", ("Missing option '--data'",)),
    "missing-tally-predictions": ("errors tally", ("Missing option '--predictions'",)),
    "missing-reference-name": ("reference show", ("Missing argument 'name'",)),
    "missing-tag-category": ("errors tag 3", ("Missing argument 'category'",)),
    "missing-compare-data": ("compare r --out o", ("Missing option '--data'",)),
    "missing-features-out": ("features --data d", ("Missing option '--out'",)),
    "missing-retrain-out": ("reference retrain vae --data d", ("Missing option '--out'",)),
    "missing-remedy-data": ("errors remedy --out o", ("Missing option '--data'",)),
    "missing-parts-run": ("errors parts --predictions p", ("Missing argument 'run'",)),
    "out-without-value": ("sample r --out", ("'--out' requires an argument",)),
    "text-for-n-train": ("data make --out o --n-train ten", ("'--n-train'",)),
    "text-for-workers": ("data make --out o --workers all", ("'--workers'",)),
    "text-for-axis": ("data import s --out o --axis z", ("'--axis'",)),
    "text-for-scale": ("lab score --scale fast", ("'--scale'",)),
    "text-for-k": ("denoise r --data d --k many", ("'--k'",)),
    "text-for-steps": ("features --data d --out o --steps x", ("'--steps'",)),
    "text-for-example-id": ("errors tag first blurry", ("'ID'",)),
    "port-out-of-range": ("errors serve --predictions p --port 70000", ("'--port'",)),
    "remedy-n-zero": ("errors remedy --data d --out o --n 0", ("'--n'",)),
    "remedy-balance-above-1": ("errors remedy --data d --out o --balance 2", ("'--balance'",)),
    "remedy-negative-guidance": ("errors remedy --data d --out o --guidance -1", ("'--guidance'",)),
    "float-for-seed": ("sample r --seed 0.5", ("'--seed'",)),
    "bool-flag-with-value": ("compare r --data d --out o --overwrite=1", ("--overwrite",)),
    "extra-argument": ("features extra --data d --out o", ("unexpected extra argument",)),
    "study-unknown-profile": ("study --out o --profile huge", ("--profile", "huge")),
}


def _fixed(line: str, needles: tuple[str, ...]) -> Setup:
    def setup(work: Path, fx: Any) -> Attempt:
        return cli(*line.split(), needles=needles)

    return setup


def _typo(line: str) -> Setup:
    return _fixed(line, (f"No such command '{line.split()[-1]}'",))


def cases() -> list[Case]:
    """The usage cases: typos of every command, then the other mistakes."""
    typos = [Case("usage", f"typo-{line.replace(' ', '-')}", _typo(line)) for line in TYPOS]
    others = [Case("usage", name, _fixed(*spec)) for name, spec in MISTAKES.items()]
    return typos + others
