"""The remedy loop as an experiment with controls (*Machine Learning Yearning* ch. 14-16).

Error analysis names the slice that fails (brainstem tumours on the built-in scenario); the
remedy adds n training examples of that slice and retrains the detector, once per arm
(`arms.ARMS`). Each arm's detector is measured on the same held-out rows: the slice's error and
the overall error, with Wilson 95% intervals. The share of the real arm's gain that an arm
recovers, (baseline - arm) / (baseline - real) on the slice's test error, says how far the arm
goes towards what more real data would give.

One detector per arm is a noisy reading: retrained with another seed, the same arm's slice error
moves by several points, as much as the gains measured. With `detector_seeds` K every arm trains
K detectors (the same added data) and its error is their mean, with the seeds' spread beside
the examples' Wilson interval; the shares are of the mean errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from medgen.config import to_dict
from medgen.data.store import StoredDataset, open_dataset
from medgen.detect import DetectorConfig
from medgen.detect.predictions import read_predictions
from medgen.errors.pictures import draw_truth
from medgen.errors.remedy.arms import ARMS, Arm
from medgen.errors.remedy.detectors import (
    DetectorTrainer,
    detector_folder,
    found_row,
    measure,
    seeded,
)
from medgen.errors.remedy.lesions import describe_examples
from medgen.errors.remedy.plan import Added, Generators, RemedyPlan
from medgen.errors.remedy.slices import slice_train_ids, slice_tumours
from medgen.errors.split import split_tables
from medgen.errors.store import ErrorStore
from medgen.errors.tell import told_apart
from medgen.evaluate.proportions import mean_over_seeds, share_of_gain
from medgen.exceptions import InputError, SettingError
from medgen.fileio import (
    write_arrays_atomic,
    write_json_atomic,
    write_png_atomic,
    write_text_atomic,
)
from medgen.tasks.augment import DEFAULT_BALANCE, train_joint_generator
from medgen.train.budget import parse_budget
from medgen.train.recipe import read_run_config

SHOWN = 6  # examples per arm in added.png
TABLE_KEYS = ("arm", "added", "set", "scope")  # a row of remedy.csv: detectors of one arm pooled


class RemedyResult(NamedTuple):
    """What the remedy measured: the table of mean errors, the share of the real arm's gain
    each arm recovers on the slice's test error, and those shares with their intervals per set
    (`shares_with_intervals`)."""

    table: pd.DataFrame
    recovered: dict[str, float]
    intervals: dict[str, dict[str, dict[str, float]]]


def recovered(table: pd.DataFrame, set_name: str = "test") -> dict[str, float]:
    """(baseline - arm) / (baseline - real) of the slice error on `set_name`, per arm."""
    slice_rows = table[(table["set"] == set_name) & (table["scope"] == "slice")]
    error = dict(zip(slice_rows["arm"], slice_rows["error"], strict=True))
    if "baseline" not in error or "real" not in error or error["baseline"] <= error["real"]:
        return {}
    gap = error["baseline"] - error["real"]
    return {arm: (error["baseline"] - e) / gap for arm, e in error.items() if arm != "baseline"}


def shares_with_intervals(
    wrong: Mapping[str, Mapping[str, Sequence[np.ndarray]]], seed: int = 0
) -> dict[str, dict[str, dict[str, float]]]:
    """set -> arm -> the share of the real arm's gain on the slice that the arm recovers, with
    its 90% bootstrap interval over the slice's examples (`share_of_gain`); each example's
    error is the mean over the arm's detectors. Empty without a baseline and a real arm."""
    if "baseline" not in wrong or "real" not in wrong:
        return {}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for set_name in wrong["baseline"]:
        mean = {arm: np.mean(by_set[set_name], axis=0) for arm, by_set in wrong.items()}
        out[set_name] = {
            arm: share_of_gain(mean["baseline"], mean["real"], errors, seed=seed)
            for arm, errors in mean.items()
            if arm != "baseline"
        }
    return out


def chosen_arms(names: Sequence[str], extra: Mapping[str, Arm] | None = None) -> dict[str, Arm]:
    """The arms named, in the registry's order (`extra`: arms registered beside ARMS)."""
    registry = {**ARMS, **(extra or {})}
    unknown = [name for name in names if name not in registry]
    if unknown or not names:
        bad = repr(unknown[0]) if unknown else "(none)"
        raise SettingError("arms", f"unknown arm {bad} (choose from {', '.join(registry)})")
    return {name: arm for name, arm in registry.items() if name in names}


def examples_picture(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """One row per set of (images, masks): its first SHOWN examples with mask outlines."""
    pictures = []
    for images, masks in rows:
        tiles = [draw_truth(x, m) for x, m in zip(images[:SHOWN], masks[:SHOWN], strict=True)]
        blank = np.zeros_like(draw_truth(rows[0][0][0], rows[0][1][0]))
        pictures.append(np.concatenate(tiles + [blank] * (SHOWN - len(tiles)), axis=1))
    return np.concatenate(pictures, axis=0)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table's rows for JSON: NaN (not measured, one seed's spread) as null."""
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


def _log_table(log: Callable[[str], None], title: str, table: pd.DataFrame) -> None:
    log(f"{title}\n" + table.to_string(index=False, float_format="{:.3f}".format))


def remedy_experiment(
    data: str | Path,
    out: str | Path,
    plan: RemedyPlan,
    sets: dict[str, np.ndarray],
    config: DetectorConfig,
    *,
    arms: Mapping[str, Arm],
    runs: Mapping[str, Path] | None = None,
    baseline_run: str | Path | None = None,
    jobs: int = 1,
    threads: int | None = None,
    log: Callable[[str], None] = print,
) -> RemedyResult:
    """Run `arms` (name -> Arm; a generator arm draws with runs[its generator]) and measure each
    arm's detectors on `sets` (name -> row ids). Writes into `out`:

    - remedy.csv / .json: errors averaged over plan.detector_seeds detectors per arm, the plan,
      the shares of the real arm's gain; remedy_seeds.csv: each detector's;
    - added/ARM.npz: what the arm added (images, masks, kinds, sources), so that later analyses
      read it instead of making it again;
    - added.csv / .png: what each arm added against the slice's training tumours, with
      `told_apart` (how well a classifier tells its tumours from those, which, few as they are
      on a failing slice, show only a strong tell);
    - found.csv (`found_row`) and each arm's detectors (ARM/, then ARM-seed1/, ...).

    `baseline_run`: an already trained detector with the same config to measure as the
    baseline's first seed instead of training it again. `jobs` > 1 trains that many detectors
    at once (`DetectorTrainer`), each as it would be trained alone with `threads` torch threads
    (None: this process's count)."""
    out, store, runs = Path(out), open_dataset(data), runs or {}
    for name, arm in arms.items():
        if arm.generator is not None and arm.generator not in runs:
            raise SettingError("arms", f"arm {name!r} draws with a {arm.generator} run: give one")
    (out / "added").mkdir(parents=True, exist_ok=True)
    reference = slice_tumours(store, plan.slice)
    audit = [describe_examples("the slice's training tumours", reference.images, reference.masks)]
    shown = [(reference.images, reference.masks)]
    trained: list[tuple[str, int, Path, Added | None]] = []  # measured in this order
    with DetectorTrainer(data, jobs, threads) as trainer:
        for name, arm in arms.items():
            run = None if arm.generator is None else runs[arm.generator]
            added = arm.make(store, plan, run)  # made here while workers train
            if added is not None:
                arrays = {**added._asdict(), "kinds": added.kinds.astype(str)}
                write_arrays_atomic(out / "added" / f"{name}.npz", **arrays)
                row = describe_examples(f"{name} arm", added.images, added.masks)
                tell = told_apart(reference[:2], (added.images, added.masks), plan.seed)
                audit.append({**row, "told_apart": tell})
                shown.append((added.images, added.masks))
            n_added = 0 if added is None else plan.n
            for k in range(plan.detector_seeds):
                folder = detector_folder(out, name, k)
                if name == "baseline" and baseline_run is not None and k == 0:
                    folder = Path(baseline_run)
                else:
                    seeds = f" (detector seed {k + 1} of {plan.detector_seeds})"
                    more = seeds if plan.detector_seeds > 1 else ""
                    log(f"arm {name}: retraining the detector with {n_added} examples added{more}")
                    trainer.submit(folder, seeded(config, k), added)
                trained.append((name, k, folder, added))
    rows: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    wrong: dict[str, dict[str, list[np.ndarray]]] = {}  # arm -> set -> per detector
    for name, k, folder, added in trained:
        n_added = 0 if added is None else plan.n
        measured, in_slice = measure(folder, store, plan, sets, name, n_added, config.seed + k)
        rows += measured
        for set_name, errors in in_slice.items():
            wrong.setdefault(name, {}).setdefault(set_name, []).append(errors)
        found.append(found_row(folder, store, plan, sets, name, added))
    per_seed = pd.DataFrame(rows)
    table = mean_over_seeds(per_seed, TABLE_KEYS)
    found_table = pd.DataFrame(found).groupby("arm", sort=False).mean().reset_index()
    write_text_atomic(out / "found.csv", found_table.to_csv(index=False))
    found_title = (
        "share of the slice's tumours each arm's detector finds (region on the tumour; mean "
        "over its detectors): its added examples, then the slice's held-out ones"
    )
    _log_table(log, found_title, found_table)
    added_table = pd.DataFrame(audit)
    write_text_atomic(out / "added.csv", added_table.to_csv(index=False))
    if len(reference.images):  # rows: the slice's training tumours, then each arm's additions
        write_png_atomic(out / "added.png", examples_picture(shown))
    _log_table(log, "what each arm added, against the slice's training tumours:", added_table)
    write_text_atomic(out / "remedy.csv", table.to_csv(index=False))
    write_text_atomic(out / "remedy_seeds.csv", per_seed.to_csv(index=False))
    intervals = shares_with_intervals(wrong, plan.seed)
    record = {
        "plan": to_dict(plan),
        "measured": {name: int(ids.size) for name, ids in sets.items()},
        "recovered_share_of_real_gain": recovered(table),
        "recovered_interval": intervals,
        "added": _records(added_table),
        "found": _records(found_table),
        "rows": _records(table),
        "rows_per_seed": _records(per_seed),
    }
    write_json_atomic(out / "remedy.json", record)
    return RemedyResult(table, recovered(table), intervals)


def run_remedy(
    data: str | Path,
    out: str | Path,
    plan: RemedyPlan,
    sets: dict[str, np.ndarray],
    config: DetectorConfig,
    *,
    arms: Sequence[str] | None = None,
    generators: Generators | None = None,
    baseline_run: str | Path | None = None,
    jobs: int = 1,
    threads: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RemedyResult:
    """The remedy for `plan` with `arms` (None: every arm): train each generator the arms need
    and were not given (into OUT/generators/FAMILY), then `remedy_experiment`."""
    chosen = chosen_arms(list(ARMS) if arms is None else arms)
    generators = generators or Generators({})
    runs: dict[str, Path] = {}
    parse_budget(generators.budget)  # a bad budget is refused before anything is made
    for family in dict.fromkeys(a.generator for a in chosen.values() if a.generator):
        given = generators.runs.get(family)
        if given is None:
            given = Path(out) / "generators" / family
            log(f"training a joint (image, mask) {family} for {generators.budget}")
            settings = read_run_config(None, family, budget=generators.budget, seed=generators.seed)
            balance = DEFAULT_BALANCE if generators.balance is None else generators.balance
            train_joint_generator(family, data, given, settings, balance=balance, progress=progress)
        runs[family] = Path(given)
    return remedy_experiment(
        data,
        out,
        plan,
        sets,
        config,
        arms=chosen,
        runs=runs,
        baseline_run=baseline_run,
        jobs=jobs,
        threads=threads,
        log=log,
    )


def measured_sets(
    store: StoredDataset, predictions: Path | None = None, project: Path | None = None
) -> dict[str, np.ndarray]:
    """The rows each arm's detectors are measured on: test, and the dev blackbox set of the
    project's split of `predictions` (the whole dev split without a project)."""
    sets = {"test": store.split("test").index.to_numpy()}
    if project is None or predictions is None:
        sets["dev"] = store.split("dev").index.to_numpy()
        return sets
    made = read_predictions(predictions)
    with ErrorStore(project, create=False) as errors:
        split = errors.current_split(made.content_hash, made.split)
    if split is None:
        raise InputError(project, "has no split yet: run medgen errors split")
    sets["dev blackbox"] = split_tables(made, split)[1]["id"].to_numpy()
    return sets


def possible_arms(store: StoredDataset, plan: RemedyPlan, names: Sequence[str]) -> list[str]:
    """The arms of `names` that can run on `store`: those that start from the slice's own
    training tumours need one."""
    if slice_train_ids(store, plan.slice).size:
        return list(names)
    return [name for name in names if not ARMS[name].from_slice]
