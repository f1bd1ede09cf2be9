"""Numeric edge cases: zero, negative and absurdly large counts, steps, sizes and seeds. An
absurd value must be refused before any work, never tried (a huge allocation, a loop that
never ends) and never let through as a Python error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultcases.core import Attempt, Case, cli
from faultcases.inputs import image_folder

HUGE = str(10**12)  # far beyond any memory or time budget
OVER_INT64 = str(2**70)  # beyond every integer type below Python's


# name -> (the command line, what the one line must name). PRIOR, DATA32, DATA64, FEATURES and
# PRED stand for the shared fixtures, HUGE and OVER_INT64 for those numbers; a refused value
# must be named as given.
VALUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sample-steps-0": ("sample PRIOR --out s.png --steps 0 --n 1", ("--steps", "0")),
    "sample-steps-negative": ("sample PRIOR --out s.png --steps -4 --n 1", ("--steps", "-4")),
    "sample-steps-huge": (
        "sample PRIOR --out s.png --steps HUGE --n 1",
        ("--steps", HUGE, "memory"),
    ),
    "sample-n-0": ("sample PRIOR --out s.png --n 0", ("--n", "0")),
    "sample-n-negative": ("sample PRIOR --out s.png --n -3", ("--n", "-3")),
    "sample-n-huge": (
        "sample PRIOR --out s.png --n HUGE --steps 1",
        ("--n", HUGE, "memory"),
    ),
    "sample-seed-negative": (
        "sample PRIOR --out s.png --seed -1 --n 1 --steps 1",
        ("--seed", "-1"),
    ),
    "sample-seed-over-int64": (
        "sample PRIOR --out s.png --seed OVER_INT64 --n 1 --steps 1",
        ("--seed",),
    ),
    "data-size-0": (
        "data make --out data --workers 1 --size 0 --n-train 8 --n-dev 4 --n-test 4",
        ("--size", "0"),
    ),
    "data-size-huge": (
        "data make --out data --workers 1 --size 1048576 --n-train 8 --n-dev 4 --n-test 4",
        ("--size", "1048576"),
    ),
    "data-n-train-negative": (
        "data make --out data --workers 1 --size 32 --n-train -8 --n-dev 4 --n-test 4",
        ("--n-train", "-8"),
    ),
    "data-no-slices": (
        "data make --out data --workers 1 --size 32 --n-train 0 --n-dev 0 --n-test 0",
        ("--n-train/--n-dev/--n-test", "empty"),
    ),
    "data-n-train-huge": (
        "data make --out data --workers 1 --size 32 --n-train HUGE --n-dev 4 --n-test 4",
        ("--n-train", "on disk"),
    ),
    "data-seed-negative": (
        "data make --out data --workers 1 --size 32 --n-train 8 --n-dev 4 --n-test 4 --seed -1",
        ("--seed", "-1"),
    ),
    "data-seed-over-int64": (
        "data make --out data --workers 1 --size 32 "
        "--n-train 8 --n-dev 4 --n-test 4 --seed OVER_INT64",
        ("--seed",),
    ),
    "data-workers-negative": (
        "data make --out data --workers 1 --size 32 --n-train 8 --n-dev 4 --n-test 4 --workers -2",
        ("--workers", "-2"),
    ),
    "train-batch-size-0": (
        "train vae --data DATA32 --out run --batch-size 0 --budget 1steps",
        ("batch_size", "0"),
    ),
    "train-batch-size-huge": (
        "train vae --data DATA32 --out run --batch-size HUGE --budget 1steps",
        ("batch_size", HUGE),
    ),
    "train-seed-negative": (
        "train vae --data DATA32 --out run --seed -5 --budget 1steps",
        ("seed", "-5"),
    ),
    "train-budget-0-steps": (
        "train vae --data DATA32 --out run --budget 0steps",
        ("--budget", "0steps"),
    ),
    "train-budget-negative": (
        "train vae --data DATA32 --out run --budget -5steps",
        ("--budget", "-5steps"),
    ),
    "train-budget-infinite-seconds": (
        "train vae --data DATA32 --out run --budget 1e400s",
        ("--budget", "1e400s"),
    ),
    "train-budget-nan-minutes": (
        "train vae --data DATA32 --out run --budget nanm",
        ("--budget", "nanm"),
    ),
    "denoise-k-0": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --k 0 --limit 1",
        ("--k", "0"),
    ),
    "denoise-steps-0": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --steps 0 --limit 1",
        ("--steps", "0"),
    ),
    "denoise-limit-0": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --limit 0",
        ("--limit", "0"),
    ),
    "denoise-limit-negative": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --limit -1",
        ("--limit", "-1"),
    ),
    "denoise-batch-size-0": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --batch-size 0 --limit 1",
        ("--batch-size", "0"),
    ),
    "denoise-jobs-0": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --jobs 0 --limit 1",
        ("--jobs", "0"),
    ),
    "denoise-k-huge": (
        "denoise PRIOR --data DATA64 --out den --strength 0.1 --k HUGE --limit 1",
        ("--k", HUGE, "memory"),
    ),
    "reconstruct-k-0": ("reconstruct PRIOR --data DATA64 --out rec --k 0 --limit 1", ("--k", "0")),
    "reconstruct-steps-huge": (
        "reconstruct PRIOR --data DATA64 --out rec --steps HUGE --limit 1",
        ("--steps", HUGE, "memory"),
    ),
    "anomaly-levels-0": (
        "anomaly PRIOR --data DATA64 --out anomaly --t-sigma 0.2 --levels 0 --limit 1",
        ("--levels", "0"),
    ),
    "anomaly-draws-0": (
        "anomaly PRIOR --data DATA64 --out anomaly --t-sigma 0.2 --draws 0 --limit 1",
        ("--draws", "0"),
    ),
    "anomaly-tune-slices-0": (
        "anomaly PRIOR --data DATA64 --out anomaly --t-sigma 0.2 --tune-slices 0 --limit 1",
        ("--tune-slices", "0"),
    ),
    "anomaly-repeats-0": (
        "anomaly PRIOR --data DATA64 --out anomaly --t-sigma "
        "0.2 --method partial --repeats 0 --limit 1",
        ("--repeats", "0"),
    ),
    "compare-n-real-0": (
        "compare PRIOR --data DATA64 --out cmp --features FEATURES --n 10 --n-real 0",
        ("--n-real", "0"),
    ),
    "compare-per-condition-negative": (
        "compare PRIOR --data DATA64 --out cmp --features "
        "FEATURES --n 10 --n-real 10 --per-condition -1",
        ("--per-condition", "-1"),
    ),
    "compare-steps-0": (
        "compare PRIOR --data DATA64 --out cmp --features FEATURES --n 10 --n-real 10 --steps 0",
        ("--steps", "0"),
    ),
    "compare-n-huge": (
        "compare PRIOR --data DATA64 --out cmp --features FEATURES --n HUGE --n-real 10",
        ("--n", HUGE, "memory"),
    ),
    "lab-scale-0": ("lab score --out lab --scale 0", ("--scale", "0")),
    "lab-scale-negative": ("lab why-noise --out lab --scale -1", ("--scale", "-1")),
    "lab-seed-negative": ("lab score --out lab --scale 0.01 --seed -1", ("--seed", "-1")),
    "split-target-errors-0": (
        "errors split --predictions PRED --project project --target-errors 0",
        ("--target-errors", "0"),
    ),
    "split-seed-negative": (
        "errors split --predictions PRED --project project --seed -1",
        ("--seed", "-1"),
    ),
    "detect-steps-0": ("detect train --data DATA32 --out det --steps 0", ("--steps", "0")),
    "features-steps-0": ("features --data DATA32 --out feat --steps 0", ("--steps", "0")),
    "show-per-cell-0": ("data show DATA32 --out grid.png --per-cell 0", ("--per-cell", "0")),
    "study-workers-negative": (
        "study --out study --profile tiny --workers -1",
        ("--workers", "-1"),
    ),
}


def _setup(line: str, needles: tuple[str, ...]) -> Any:
    def setup(work: Path, fx: Any) -> Attempt:
        numbers = {"HUGE": HUGE, "OVER_INT64": OVER_INT64}
        words = [numbers.get(w) or fx.resolve(w) for w in line.split()]
        return cli(*words, needles=needles, timeout=90)

    return setup


def import_seed_negative(work: Path, fx: Any) -> Attempt:
    source = image_folder(work / "src")
    argv = ("data", "import", source, "--out", work / "imported", "--seed", "-1")
    return cli(*argv, needles=("--seed", "-1"))


def split_target_clipped(work: Path, fx: Any) -> Attempt:
    """A target beyond MLY's 20-500 errors is clipped to 500 with a warning, by design."""
    argv = ("errors", "split", "--predictions", fx.errors / "predictions", "--project", "project")
    warnings = ("clipped to 500", "too few")
    return cli(*argv, "--target-errors", HUGE, code=0, warns=warnings, creates=("project",))


def show_every_example(work: Path, fx: Any) -> Attempt:
    """More examples per cell than there are: every example, in a grid no wider than they need."""
    argv = ("data", "show", fx.data32, "--out", "grid.png", "--per-cell", HUGE)
    return cli(*argv, code=0, creates=("grid.png",))


def cases() -> list[Case]:
    """The numeric cases."""
    found = [Case("numeric", name, _setup(*spec)) for name, spec in VALUES.items()]
    return [
        *found,
        Case("numeric", "import-seed-negative", import_seed_negative),
        Case("numeric", "split-target-errors-huge", split_target_clipped),
        Case("numeric", "show-per-cell-huge", show_every_example),
    ]
