"""`medgen errors remedy`: the remedy loop, parsed here and run by `medgen.errors.remedy`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer

from medgen.cli.errors import PROJECT_HELP, _pct, _print_table
from medgen.cli.values import CLASSIFY_STEPS
from medgen.errors.remedy.plan import Generators, RemedyPlan

# the defaults of generators the remedy trains, read without building one (its check would
# import medgen.train, and with it torch, at every start of the command line)
GENERATORS = {f.name: f.default for f in fields(Generators)}
REMEDY = RemedyPlan()  # the remedy's defaults, shown by --help
SLICE = ",".join(f"{column}={value}" for column, value in REMEDY.slice.items())


def remedy_command(
    data: Path = typer.Option(..., help="The dataset the detector trains on."),
    out: Path = typer.Option(..., help="Folder for each arm's detector and remedy.csv/.json."),
    slice_: str = typer.Option(
        SLICE,
        "--slice",
        help="The failing slice, e.g. location=brainstem.",
    ),
    n: int = typer.Option(REMEDY.n, min=1, help="Examples each arm adds to training."),
    arms: str | None = typer.Option(
        None,
        help="Arms to run, comma-separated: baseline, real, diffusion, inpaint, gan, augment. "
        "[default: every arm]",
    ),
    diffusion: Path | None = typer.Option(
        None,
        help="A joint (image, mask) diffusion run (arms diffusion, inpaint). "
        "[default: train one into OUT]",
    ),
    gan: Path | None = typer.Option(
        None, help="A joint (image, mask) GAN run. [default: train one into OUT]"
    ),
    budget: str = typer.Option(
        GENERATORS["budget"], "--train-budget", help="Budget of each generator trained here."
    ),
    balance: float | None = typer.Option(
        GENERATORS["balance"],
        min=0.0,
        max=1.0,
        help="Generators trained here show each row of a condition cell of n_c rows "
        "(n_max / n_c) ** BALANCE times: 0 the data as they are, 1 every cell equally often. "
        "[default: square-root sampling, medgen.tasks.augment.DEFAULT_BALANCE]",
    ),
    steps: int = typer.Option(3000, min=1, help="Segmentation steps of every detector."),
    classify_steps: int = typer.Option(
        CLASSIFY_STEPS, min=1, help="Training steps of every detector's classifier."
    ),
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="With --project: measure on the dev blackbox set. [default: all of dev]",
    ),
    project: Path | None = typer.Option(
        None, "--project", help=PROJECT_HELP + " [default: none: all of dev]"
    ),
    seed: int = typer.Option(REMEDY.seed, help="Seed of the added data and the detectors."),
    oversample: int = typer.Option(
        REMEDY.oversample,
        min=1,
        help="Generator arms make this many candidates per example and keep those most like "
        "the slice's own tumours (area, contrast, rim, texture).",
    ),
    guidance: float | None = typer.Option(
        REMEDY.guidance,
        min=0.0,
        help="Classifier-free guidance of the diffusion arms. [default: the run's]",
    ),
    detector_seeds: int = typer.Option(
        REMEDY.detector_seeds,
        min=1,
        help="Detectors trained per arm (seeds SEED, SEED + 1, ...); the table gives their "
        "mean error and spread, remedy_seeds.csv each one's.",
    ),
    jobs: int = typer.Option(
        1,
        min=1,
        help="Detectors trained at once, each in its own process with this one's torch threads "
        "(results as when trained in turn; the next arm's examples are made meanwhile).",
    ),
) -> None:
    """The remedy loop: add N examples of the failing slice in several ways, retrain, re-measure.

    Arms: baseline (nothing added), real (new slices from the data generator: the "more data"
    oracle), diffusion and gan (conditional joint image-and-mask generators), inpaint (the
    diffusion model draws the slice's tumours into healthy training slices, under moved masks of
    the slice's own tumours), augment (classic transforms of the slice's own examples). Each
    arm's detector is measured on test and on the dev blackbox set (or all of dev), slice and
    overall error with Wilson 95% intervals.

    Example: medgen errors remedy --data data --out remedy --slice location=brainstem --n 400
    """
    from medgen.data.store import open_dataset
    from medgen.detect import detector_config
    from medgen.errors.remedy import measured_sets, parse_slice, run_remedy

    store = open_dataset(data)
    plan = RemedyPlan(parse_slice(slice_, store), n, seed, oversample, guidance, detector_seeds)
    generators = Generators({"diffusion": diffusion, "gan": gan}, budget, balance, seed)
    result = run_remedy(
        data,
        out,
        plan,
        measured_sets(store, predictions, project),
        detector_config(steps, seed, classify_steps),
        arms=None if arms is None else [a.strip() for a in arms.split(",") if a.strip()],
        generators=generators,
        jobs=jobs,
    )
    rows = [
        (
            r.arm,
            r.added,
            r.set,
            r.scope,
            _pct(r.error),
            f"{_pct(r.low)}–{_pct(r.high)}",
            r.n,
            "–" if r.seeds == 1 else _pct(r.seed_std),
        )
        for r in result.table.itertuples()
    ]
    means = f" (mean of {detector_seeds} detectors per arm)" if detector_seeds > 1 else ""
    columns = ("arm", "added", "set", "scope", "error", "95% CI", "n", "seed std")
    _print_table(f"remedy for {slice_}{means}", columns, rows)
    for arm, share in result.recovered.items():
        print(f"{arm}: recovers {100 * share:.0f}% of the real-data arm's gain on the slice (test)")
