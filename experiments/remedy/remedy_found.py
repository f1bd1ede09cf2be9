"""Which tumours each remedy arm's detectors find: their own added examples, and the slice's
held-out ones (`found.csv` of `medgen errors remedy`), for detectors an earlier run trained.

    python benchmarks/remedy_found.py --data DIR --work W/remedy --arms baseline,real,inpaint
        --diffusion RUN [--n 400 --oversample 4 --guidance 2] [--threads 2]

W/remedy is the folder `benchmarks/detector.py --work W` (or `medgen errors remedy --out`)
filled: one detector folder per arm and seed (ARM/, ARM-seed1/, ...). Each arm's added examples
are made again as that run made them (the same --n, --oversample, --guidance and seed 0), so
the options must be the run's.

The peer, in the same run, is the real arm: new slices from the data generator. Its detectors
also find their own added examples (mostly seen in training) more often than held-out ones; an
arm whose detectors find their own as often or more, and the held-out ones far less, added a cue
that real tumours lack (`found_row`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from medgen.data.store import open_dataset
from medgen.errors.remedy import ARMS, RemedyPlan, arm_sources, detector_folder, found_row
from medgen.exceptions import InputError


def detector_folders(work: Path, arm: str) -> list[Path]:
    """The arm's detectors in `work`: ARM/, then ARM-seed1/, ARM-seed2/, ... while they exist."""
    folders: list[Path] = []
    while (detector_folder(work, arm, len(folders)) / "detector.json").is_file():
        folders.append(detector_folder(work, arm, len(folders)))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the run's dataset folder")
    parser.add_argument("--work", type=Path, required=True, help="the run's remedy folder")
    parser.add_argument("--arms", default="baseline,real,inpaint", help="arms to measure")
    parser.add_argument("--diffusion", type=Path, help="the run's joint diffusion run")
    parser.add_argument("--gan", type=Path, help="the run's joint GAN run")
    parser.add_argument("--n", type=int, default=400, help="the run's --n")
    parser.add_argument("--oversample", type=int, default=1, help="the run's --oversample")
    parser.add_argument("--guidance", type=float, help="the run's --guidance")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    arms = args.arms.split(",")
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown:
        parser.error(f"--arms: unknown arm {unknown[0]!r} (known: {', '.join(ARMS)})")
    try:
        store = open_dataset(args.data)
    except InputError as err:
        parser.error(str(err))
    measure = {name: store.split(name).index.to_numpy() for name in ("dev", "test")}
    plan = RemedyPlan({"location": "brainstem"}, args.n, measure, oversample=args.oversample,
                      guidance=args.guidance)  # fmt: skip
    sources = arm_sources(store, plan, arms, args.diffusion, args.gan)
    missing = [arm for arm in arms if arm not in sources or not detector_folders(args.work, arm)]
    if missing:
        parser.error(f"--work {args.work}: no detector of arm {missing[0]!r} there, or no "
                     "generator run given for it")  # fmt: skip
    rows = []
    for arm, source in sources.items():
        extra = None if source is None else source()
        for run in detector_folders(args.work, arm):
            rows.append({**found_row(run, store, plan, arm, extra), "detector": run.name})
    per_detector = pd.DataFrame(rows)
    print("each detector: share of the brainstem tumours whose region it finds")
    print(per_detector.to_string(index=False, float_format="{:.3f}".format))
    mean = per_detector.drop(columns="detector").groupby("arm", sort=False).mean()
    print("\nmean over each arm's detectors")
    print(mean.reset_index().to_string(index=False, float_format="{:.3f}".format))


if __name__ == "__main__":
    main()
