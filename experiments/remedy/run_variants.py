"""The remedy with the inpaint arm's variants (`variants.VARIANTS`) beside the library's arms.

    python experiments/remedy/run_variants.py --data DIR --out OUT --diffusion RUN \\
        --arms baseline,real,inpaint,inpaint-depth-contrast [--slice location=brainstem] \\
        [--n 400] [--steps 3000] [--seed 0] [--oversample 1] [--guidance G] \\
        [--detector-seeds 1] [--jobs 1] [--threads T]

Every arm's detectors are measured on test and the whole dev split; OUT holds what
`medgen.errors.remedy.experiment.remedy_experiment` writes (remedy.csv, added.csv, ...). Bad
input is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import torch
from variants import VARIANTS

from medgen.data.store import open_dataset
from medgen.detect import detector_config
from medgen.errors.remedy.arms import ARMS
from medgen.errors.remedy.experiment import chosen_arms, measured_sets, remedy_experiment
from medgen.errors.remedy.plan import RemedyPlan
from medgen.errors.remedy.slices import parse_slice
from medgen.exceptions import InputError, SettingError

PROG = "run_variants"
PLAN = RemedyPlan()  # the defaults shown by --help


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        fail(message)


def fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(2)


def at_least_one(text: str) -> int:
    """An int >= 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> OneLineParser:
    arms = ", ".join([*ARMS, *VARIANTS])
    made = OneLineParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    made.add_argument("--data", type=Path, required=True, help="the detector's dataset")
    made.add_argument("--out", type=Path, required=True, help="folder for the arms' detectors")
    made.add_argument("--diffusion", type=Path, help="joint (image, mask) diffusion run")
    made.add_argument("--gan", type=Path, help="joint (image, mask) GAN run (arm gan)")
    made.add_argument(
        "--arms",
        default="baseline,real,inpaint," + ",".join(VARIANTS),
        help=f"comma-separated, of {arms} (default: %(default)s)",
    )
    made.add_argument(
        "--slice",
        default=",".join(f"{k}={v}" for k, v in PLAN.slice.items()),
        help="the failing slice (default: %(default)s)",
    )
    made.add_argument("--n", type=int, default=PLAN.n, help="examples each arm adds (%(default)s)")
    made.add_argument(
        "--steps", type=at_least_one, default=3000, help="segmentation steps (%(default)s)"
    )
    made.add_argument(
        "--seed",
        type=int,
        default=PLAN.seed,
        help="seed of the added data and the detectors (%(default)s)",
    )
    made.add_argument(
        "--oversample",
        type=int,
        default=PLAN.oversample,
        help="generator candidates per example kept (%(default)s)",
    )
    made.add_argument("--guidance", type=float, help="diffusion arms' guidance (default: run's)")
    made.add_argument(
        "--detector-seeds",
        type=int,
        default=PLAN.detector_seeds,
        help="detectors per arm, errors averaged (%(default)s)",
    )
    made.add_argument(
        "--jobs", type=at_least_one, default=1, help="detectors trained at once (%(default)s)"
    )
    made.add_argument(
        "--threads",
        type=at_least_one,
        help="torch threads per detector (default: torch's; compare arms trained alike)",
    )
    return made


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    store = open_dataset(args.data)
    plan = RemedyPlan(
        parse_slice(args.slice, store),
        args.n,
        args.seed,
        args.oversample,
        args.guidance,
        args.detector_seeds,
    )
    arms = chosen_arms([name.strip() for name in args.arms.split(",") if name.strip()], VARIANTS)
    runs = {"diffusion": args.diffusion, "gan": args.gan}
    for name, arm in arms.items():
        if arm.generator is not None and runs[arm.generator] is None:
            fail(f"--{arm.generator}: arm {name} draws with a {arm.generator} run; give one")
    remedy_experiment(
        args.data,
        args.out,
        plan,
        measured_sets(store),
        detector_config(args.steps, args.seed),
        arms=arms,
        runs={family: run for family, run in runs.items() if run is not None},
        jobs=args.jobs,
    )


if __name__ == "__main__":
    try:
        main()
    except InputError as err:  # a setting's name becomes its flag's
        what = f"--{err.setting.replace('_', '-')}" if isinstance(err, SettingError) else err.what
        fail(f"{what}: {err.problem}")
