"""The tumour scenario's calibration: does the built-in world tell the course's story? Against the
targets of the scenario, measured in one run on the held-out split (test; tune on dev):

1. uniform location prevalence in train: tumour recall >= 0.95 at every location;
2. the default scenario (brainstem 1% of train tumours, 15% of dev/test): accuracy 0.88-0.92,
   brainstem the largest location category of the errors, its error >= 4x that elsewhere;
3. the real arm (400 real brainstem tumour slices added) cuts brainstem error >= 60% relative,
   Wilson 95% intervals apart;
4. the detector trains in <= 90 s at the standard profile's steps.

    python benchmarks/scenario.py [--data DIR] [--detector-seeds 2] [--steps N] [--split test]

--data DIR holds (or receives) the two datasets as DIR/default and DIR/uniform; without it they
are made in a temporary folder (about a minute each). Detectors are trained with one torch thread
unless --threads says otherwise; every number is the mean over the detector seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from medgen.data.store import StoredDataset, open_dataset
from medgen.data.synth import DataConfig, make_dataset
from medgen.data.synth.config import LOCATIONS, ScenarioConfig
from medgen.detect import DetectorConfig, detector_config, load_detector, train_detector
from medgen.errors.remedy.arms import real_examples
from medgen.errors.remedy.detectors import seeded
from medgen.errors.remedy.plan import Added, RemedyPlan
from medgen.evaluate.proportions import wilson
from medgen.exceptions import InputError, SettingError
from medgen.study.profiles import get_profile

RECALL_MIN = 0.95  # target 1: tumour recall at every location, uniform prevalence
ACCURACY = (0.88, 0.92)  # target 2: test accuracy of the default scenario
RATIO_MIN = 4.0  # target 2: brainstem tumour error / error of tumours elsewhere
REDUCTION_MIN = 0.60  # target 3: relative cut of brainstem error by the real arm
SECONDS_MAX = 90.0  # target 4: detector training time at the standard profile
REAL_N = 400  # real brainstem tumour slices the real arm adds


class BadInput(Exception):
    """A command-line value the benchmark refuses (one line, exit 2)."""


def uniform_config() -> DataConfig:
    """The default world with every location equally common among train tumours."""
    uniform = {loc: 1.0 for loc in LOCATIONS}
    return replace(DataConfig(), scenario=ScenarioConfig(location_prevalence={"train": uniform}))


def dataset(root: Path, name: str, config: DataConfig) -> StoredDataset:
    """root/name, made from `config` if it is not there yet."""
    folder = root / name
    if not folder.exists():
        make_dataset(folder, config, workers=2)
    return open_dataset(folder)


def train(
    store: StoredDataset, out: Path, config: DetectorConfig, added: Added | None = None
) -> float:
    """Train one detector into `out`; its training seconds (as train_detector counts them)."""
    extra = None if added is None else (lambda: (added.images, added.masks, added.kinds))
    summary = train_detector(
        store.root, out, config, extra=extra, overwrite=True, log=lambda _: None
    )
    return float(summary["seconds"])


def predictions(store: StoredDataset, run: Path, ids: np.ndarray) -> pd.DataFrame:
    """Per row of `ids`: location, truth, prediction, whether wrong and whether called tumour."""
    meta = store.meta.loc[ids]
    truth = meta["tumour_type"].astype(str).to_numpy()
    prediction = load_detector(run).run(store, ids).prediction
    return pd.DataFrame(
        {
            "location": meta["location"].astype(str).to_numpy(),
            "truth": truth,
            "wrong": prediction != truth,
            "called": prediction != "none",
        }
    )


def recall_by_location(table: pd.DataFrame) -> pd.Series:
    """Tumour recall (called a tumour of either type) per location."""
    tumours = table[table["truth"] != "none"]
    return tumours.groupby("location")["called"].mean().reindex(list(LOCATIONS))


def error_summary(table: pd.DataFrame) -> dict[str, float]:
    """Accuracy; brainstem's share of the errors and its rank among the locations' error counts;
    brainstem tumour error, error of tumours elsewhere, their ratio."""
    tumours = table[table["truth"] != "none"]
    counts = tumours[tumours["wrong"]].groupby("location").size().reindex(LOCATIONS, fill_value=0)
    brainstem = tumours["location"] == "brainstem"
    e_b, e_o = tumours.loc[brainstem, "wrong"].mean(), tumours.loc[~brainstem, "wrong"].mean()
    return {
        "accuracy": 1.0 - table["wrong"].mean(),
        "brainstem_share": counts["brainstem"] / max(table["wrong"].sum(), 1),
        "brainstem_rank": int((counts > counts["brainstem"]).sum()) + 1,
        "brainstem_error": e_b,
        "elsewhere_error": e_o,
        "ratio": e_b / e_o if e_o > 0 else float("inf"),
    }


def brainstem_wrong(table: pd.DataFrame) -> tuple[float, int]:
    """(wrong count, n) of the brainstem tumours."""
    keep = (table["truth"] != "none") & (table["location"] == "brainstem")
    return float(table.loc[keep, "wrong"].sum()), int(keep.sum())


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder of the datasets default/ and uniform/")
    parser.add_argument("--detector-seeds", type=int, default=2, help="detectors per dataset/arm")
    parser.add_argument(
        "--steps",
        type=int,
        help="segmentation steps (default: the standard profile's detector_steps)",
    )
    parser.add_argument("--split", default="test", choices=("dev", "test"), help="measured split")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--work", type=Path, help="folder for the detectors (default: temporary)")
    args = parser.parse_args()
    if args.detector_seeds < 1:
        raise BadInput(f"--detector-seeds must be at least 1, got {args.detector_seeds}")
    if args.steps is not None and args.steps < 1:
        raise BadInput(f"--steps must be at least 1, got {args.steps}")
    if args.threads < 1:
        raise BadInput(f"--threads must be at least 1, got {args.threads}")
    if args.data is not None and args.data.exists() and not args.data.is_dir():
        raise BadInput(f"--data {args.data}: not a folder")
    return args


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    steps = args.steps or get_profile("standard").detector_steps
    root = args.data or Path(tempfile.mkdtemp(prefix="medgen_scenario_data_"))
    work = args.work or Path(tempfile.mkdtemp(prefix="medgen_scenario_"))
    stores = {
        "uniform": dataset(root, "uniform", uniform_config()),
        "default": dataset(root, "default", DataConfig()),
    }
    added = real_examples(stores["default"], RemedyPlan(n=REAL_N), None)
    seeds = range(args.detector_seeds)
    tables: dict[str, list[pd.DataFrame]] = {"uniform": [], "default": [], "real": []}
    seconds: list[float] = []
    for k in seeds:
        config = seeded(detector_config(steps, 0), k)
        for name, store, extra in (
            ("uniform", stores["uniform"], None),
            ("default", stores["default"], None),
            ("real", stores["default"], added),
        ):
            out = work / f"{name}-seed{k}"
            took = train(store, out, config, extra)
            if name == "default":
                seconds.append(took)
            ids = store.split(args.split).index.to_numpy()
            tables[name].append(predictions(store, out, ids))

    recall = {
        name: pd.concat([recall_by_location(t) for t in tables[name]], axis=1).mean(axis=1)
        for name in ("uniform", "default")
    }
    summary = pd.DataFrame([error_summary(t) for t in tables["default"]]).mean()
    rank = max(error_summary(t)["brainstem_rank"] for t in tables["default"])
    n = brainstem_wrong(tables["default"][0])[1]
    base = wilson(float(np.mean([brainstem_wrong(t)[0] for t in tables["default"]])), n)
    real = wilson(float(np.mean([brainstem_wrong(t)[0] for t in tables["real"]])), n)
    cut = 1.0 - real["error"] / base["error"] if base["error"] > 0 else float("nan")
    apart = real["high"] < base["low"]

    print(
        f"scenario calibration: {args.split} split, {len(seeds)} detector seed(s), {steps} "
        f"segmentation steps, {args.threads} torch thread(s); data {root}\n"
    )
    print("tumour recall by location      uniform  default")
    for loc in LOCATIONS:
        print(f"  {loc:26s} {recall['uniform'][loc]:8.3f} {recall['default'][loc]:8.3f}")
    print(f"  {'lowest':26s} {recall['uniform'].min():8.3f} {recall['default'].min():8.3f}\n")
    lines = [
        (
            "1 uniform: recall >= 0.95 at every location",
            f"lowest {recall['uniform'].min():.3f} ({recall['uniform'].idxmin()})",
            recall["uniform"].min() >= RECALL_MIN,
        ),
        (
            "2 default: test accuracy 0.88-0.92",
            f"{summary['accuracy']:.3f}",
            ACCURACY[0] <= summary["accuracy"] <= ACCURACY[1],
        ),
        (
            "2 default: brainstem the top location of errors",
            f"share {summary['brainstem_share']:.1%} of errors, rank {rank} of {len(LOCATIONS)} "
            "(worst seed)",
            rank == 1,
        ),
        (
            "2 default: brainstem error >= 4x elsewhere",
            f"{summary['brainstem_error']:.3f} vs {summary['elsewhere_error']:.3f} = "
            f"{summary['ratio']:.1f}x",
            summary["ratio"] >= RATIO_MIN,
        ),
        (
            "3 real arm: brainstem error cut >= 60%, apart",
            f"{base['error']:.3f} [{base['low']:.3f}, {base['high']:.3f}] -> {real['error']:.3f} "
            f"[{real['low']:.3f}, {real['high']:.3f}] (n {n}): {cut:.1%}"
            f"{', intervals apart' if apart else ', intervals overlap'}",
            cut >= REDUCTION_MIN and apart,
        ),
        (
            "4 detector training <= 90 s",
            f"mean {np.mean(seconds):.0f} s, max {np.max(seconds):.0f} s",
            max(seconds) <= SECONDS_MAX,
        ),
    ]
    print(f"{'target':50s} {'measured':68s} verdict")
    for target, measured, ok in lines:
        print(f"{target:50s} {measured:68s} {verdict(ok)}")


def main() -> None:
    try:
        run(parse())
    except (BadInput, InputError, SettingError) as err:
        print(f"scenario.py: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
