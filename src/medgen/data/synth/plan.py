"""The plan: what each slice will hold (split, tumour or not, location, type, template slice, seed),
drawn up front in one process so that rendering can run in any order on any number of workers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from medgen.data.synth.anatomy import Anatomy
from medgen.data.synth.config import LOCATIONS, SPLITS, DataConfig

# A location exists on a slice when it covers enough of the template slice to hold a tumour of
# the smallest drawn size with room around it: 1,000 mm^2, or half the largest cross-section of a
# structure smaller than that (the brainstem's is 445 mm^2). At 150 mm^2, the tips of the frontal
# and occipital lobes held tumours of 2-15 px that no detector found (experiments/scenario/).
MIN_LOCATION_AREA_MM2 = 1000.0
SMALL_STRUCTURE_SHARE = 0.5
_PLAN_STREAM = 0x504C414E  # "PLAN": keeps the plan's random stream apart from the slices'


def allocate(n: int, weights: np.ndarray) -> np.ndarray:
    """Integer counts summing to n, proportional to `weights` (largest-remainder rounding)."""
    share = n * np.asarray(weights, np.float64) / np.sum(weights)
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def plan_slices(cfg: DataConfig, anatomy: Anatomy) -> pd.DataFrame:
    """One row per slice: id, split, label, tumour_type, location, slice_index, source_z, seed.

    Counts per split, location and type are exact (largest remainder), then shuffled. Healthy
    slices take their template slice from the same distribution as the tumour slices of their
    split, so the slice level alone does not give the label away.
    """
    rng = np.random.default_rng([cfg.seed, _PLAN_STREAM])
    valid = {
        loc: anatomy.valid_slices(loc, MIN_LOCATION_AREA_MM2, SMALL_STRUCTURE_SHARE)
        for loc in LOCATIONS
    }
    rows: list[pd.DataFrame] = []
    start = 0
    for split in SPLITS:
        n = cfg.split_sizes()[split]
        weights = np.array([cfg.scenario.location_prevalence[split][loc] for loc in LOCATIONS])
        n_tumour = round(cfg.scenario.tumour_fraction * n)
        locations = np.repeat(LOCATIONS, allocate(n_tumour, weights))
        types = np.empty(n_tumour, dtype=object)
        for loc in LOCATIONS:
            idx = np.flatnonzero(locations == loc)
            n_malignant = round(cfg.tumour.p_malignant * len(idx))
            types[idx] = np.where(np.arange(len(idx)) < n_malignant, "malignant", "benign")
        # Healthy slices: a "virtual" location from the same prevalence fixes their slice level.
        virtual = np.repeat(LOCATIONS, allocate(n - n_tumour, weights))
        split_rows = pd.DataFrame(
            {
                "label": np.r_[np.ones(n_tumour, np.int64), np.zeros(n - n_tumour, np.int64)],
                "tumour_type": np.r_[types, np.full(n - n_tumour, "none", object)],
                "location": np.r_[locations, np.full(n - n_tumour, "none", object)],
                "level_of": np.r_[locations, virtual],
            }
        )
        split_rows = split_rows.iloc[rng.permutation(n)].reset_index(drop=True)
        split_rows["slice_index"] = [
            int(valid[loc][rng.integers(len(valid[loc]))]) for loc in split_rows["level_of"]
        ]
        split_rows.insert(0, "split", split)
        split_rows.insert(0, "id", np.arange(start, start + n))
        start += n
        rows.append(split_rows.drop(columns="level_of"))
    plan = pd.concat(rows, ignore_index=True)
    plan["slice_index"] = plan["slice_index"].astype(np.int64)
    plan["source_z"] = anatomy.z_mm[plan["slice_index"].to_numpy()]
    plan["seed"] = np.random.SeedSequence([cfg.seed, 1]).generate_state(len(plan), np.uint32)
    return plan
