"""The detector on the default scenario: accuracy by location, the brainstem gap, error analysis
by parts, and (with --remedy) the remedy table against its peers (the real-data oracle and
classic augmentation), measured in one run.

    python benchmarks/detector.py --data DIR [--steps 3000] [--remedy --n 400 --arms ...]

Without --data the default built-in dataset is made in a temporary folder (about a minute).
By parts runs on the dev split's errors; the remedy measures on dev (to choose by) and test (to
report).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.detect import DetectorConfig, load_detector, train_detector
from medgen.detect.pipeline import BoundDetector, load_detector_config
from medgen.devices import default_device
from medgen.errors import attribute_errors
from medgen.errors.remedy.detectors import seeded
from medgen.errors.remedy.experiment import chosen_arms, remedy_experiment
from medgen.errors.remedy.plan import RemedyPlan
from medgen.exceptions import InputError


def accuracy_by_location(
    store: StoredDataset, ids: np.ndarray, prediction: np.ndarray
) -> pd.DataFrame:
    """Accuracy overall, on healthy slices, and on tumours per location."""
    meta = store.meta.loc[ids]
    truth = meta["tumour_type"].astype(str).to_numpy()
    correct = pd.Series(prediction == truth, index=meta.index)
    tumour = truth != "none"
    groups = {"all": correct, "healthy": correct[~tumour], "tumours": correct[tumour]}
    for location in sorted(meta.loc[tumour, "location"].unique()):
        groups[f"tumours: {location}"] = correct[tumour & (meta["location"] == location).to_numpy()]
    return pd.DataFrame({k: {"n": len(v), "accuracy": v.mean()} for k, v in groups.items()}).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="dataset folder (default: make the default set)")
    parser.add_argument("--steps", type=int, default=3000, help="segmentation steps")
    parser.add_argument("--remedy", action="store_true", help="also run the remedy experiment")
    parser.add_argument("--n", type=int, default=400, help="examples each remedy arm adds")
    parser.add_argument("--arms", default="baseline,real,augment", help="remedy arms")
    parser.add_argument(
        "--diffusion", type=Path, help="joint (image, mask) diffusion run (arms diffusion, inpaint)"
    )
    parser.add_argument("--gan", type=Path, help="joint (image, mask) GAN run")
    parser.add_argument(
        "--oversample", type=int, default=1, help="generator candidates per example kept"
    )
    parser.add_argument("--guidance", type=float, help="diffusion arms' guidance scale")
    parser.add_argument(
        "--detector-seeds", type=int, default=1, help="detectors per remedy arm, errors averaged"
    )
    parser.add_argument("--work", type=Path, help="folder for the detectors (default: temporary)")
    parser.add_argument("--channels", default="16,32,64", help="segmentation U-Net channels")
    parser.add_argument("--batch-size", type=int, default=32, help="segmentation batch size")
    parser.add_argument(
        "--baseline", type=Path, help="a trained detector: measure it, skip training"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch CPU threads (detectors trained with another count, or on another "
        "machine, can differ as much as two seeds: compare arms trained alike)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="remedy detectors trained at once, one process each with --threads threads "
        "(each comes out as when trained alone, so every arm can run in one call)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="first detector seed (the added data keep seed 0)"
    )
    parser.add_argument(
        "--remedy-only", action="store_true", help="only the --arms remedy arms, no analysis"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="medgen_detector_"))
    data = args.data
    if data is None:
        data = work / "data"
        if not data.exists():
            make_dataset(data, DataConfig(), workers=2)
    store = open_dataset(data)
    config = seeded(DetectorConfig(), args.seed)  # every part's seed moved on by --seed
    channels = tuple(int(c) for c in args.channels.split(","))
    config.extract = replace(
        config.extract,
        steps=args.steps,
        batch_size=args.batch_size,
        channels=channels,
        strides=(2,) * (len(channels) - 1),
    )
    baseline = args.baseline
    if args.remedy_only:
        args.remedy = True
    else:
        if baseline is None:
            baseline = work / "detector"
            start = time.perf_counter()
            train_detector(data, baseline, config, overwrite=True, log=lambda _: None)
            print(
                f"detector: U-Net {channels}, {args.steps} segmentation steps of "
                f"{args.batch_size} on {default_device().type}, trained in "
                f"{time.perf_counter() - start:.0f} s"
            )
        else:
            config = load_detector_config(baseline)
            print(f"detector: {baseline}")
        detector = load_detector(baseline)
        dev = store.split("dev").index.to_numpy()
        prediction = detector.run(store, dev).prediction
        print("dev split\n")
        print(accuracy_by_location(store, dev, prediction).to_string(float_format="{:.3f}".format))
        truth = store.meta.loc[dev, "tumour_type"].astype(str).to_numpy()
        report = attribute_errors(BoundDetector(detector, store), dev, truth)
        print(f"\nerror analysis by parts ({report.n_errors} dev errors)")
        print(report.table().to_string(index=False, float_format="{:.3f}".format))
    if args.remedy_only:
        baseline = None  # every arm named, the baseline too, is trained
    if not args.remedy:
        return
    arms = chosen_arms([a for a in args.arms.split(",") if a])
    sets = {name: store.split(name).index.to_numpy() for name in ("dev", "test")}
    plan = RemedyPlan(
        {"location": "brainstem"},
        args.n,
        oversample=args.oversample,
        guidance=args.guidance,
        detector_seeds=args.detector_seeds,
    )
    runs = {k: v for k, v in (("diffusion", args.diffusion), ("gan", args.gan)) if v is not None}
    result = remedy_experiment(
        data,
        work / "remedy",
        plan,
        sets,
        config,
        arms=arms,
        runs=runs,
        baseline_run=baseline,
        jobs=args.jobs,
    )
    seeds = f", mean of {args.detector_seeds} detectors" if args.detector_seeds > 1 else ""
    print(
        f"\nremedy: {args.n} brainstem tumours added per arm; errors (Wilson 95%{seeds}; "
        f"{args.threads} torch threads per detector, {args.jobs} at once)"
    )
    print(result.table.to_string(index=False, float_format="{:.3f}".format))
    for name, shares in result.intervals.items():
        for arm, s in shares.items():
            print(
                f"{arm}: {100 * s['share']:.0f}% (90% interval {100 * s['low']:.0f}–"
                f"{100 * s['high']:.0f}%) of the real-data arm's gain on brainstem ({name})"
            )


if __name__ == "__main__":
    try:
        main()
    except InputError as err:  # bad input: one line, exit 2
        print(f"detector.py: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
