"""The remedy loop: add examples of the slice that fails, several ways, retrain, re-measure.

`plan` says what is added, `slices` where in the data, `arms` how (the `ARMS` registry),
`lesions` what the added tumours look like, `detectors` trains and measures the arms'
detectors, and `experiment` runs it all (`run_remedy`, the one entry point of the command line
and the study). Names are imported on first use, so that the plan's defaults are cheap to
read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medgen.lazy import lazy_names

if TYPE_CHECKING:
    from medgen.errors.remedy.arms import ARMS, Arm
    from medgen.errors.remedy.experiment import (
        RemedyResult,
        measured_sets,
        possible_arms,
        recovered,
        remedy_experiment,
        run_remedy,
    )
    from medgen.errors.remedy.plan import Added, Generators, RemedyPlan
    from medgen.errors.remedy.slices import parse_slice

_HOMES = {
    "medgen.errors.remedy.arms": ("ARMS", "Arm"),
    "medgen.errors.remedy.experiment": (
        "RemedyResult",
        "measured_sets",
        "possible_arms",
        "recovered",
        "remedy_experiment",
        "run_remedy",
    ),
    "medgen.errors.remedy.plan": ("Added", "Generators", "RemedyPlan"),
    "medgen.errors.remedy.slices": ("parse_slice",),
}

__all__ = [
    "ARMS",
    "Added",
    "Arm",
    "Generators",
    "RemedyPlan",
    "RemedyResult",
    "measured_sets",
    "parse_slice",
    "possible_arms",
    "recovered",
    "remedy_experiment",
    "run_remedy",
]


__getattr__ = lazy_names(__name__, _HOMES)
