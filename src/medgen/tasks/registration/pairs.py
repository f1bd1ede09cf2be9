"""Same-level pairs of different subjects: both slices show the same template level, so the
true displacement between them is known (`medgen.data.synth.truth.true_displacement`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from medgen.data.store import StoredDataset


class Pairs(NamedTuple):
    """Row ids of fixed and moving slices, (N,) each, and whether the moving one has a tumour."""

    fixed: np.ndarray  # (N,) int64, healthy slices
    moving: np.ndarray  # (N,) int64, another slice of the same level
    tumour: np.ndarray  # (N,) bool: the moving slice has a tumour


def same_level_pairs(store: StoredDataset, split: str, n: int, seed: int = 0) -> Pairs:
    """Up to `n` pairs from `split`: a healthy fixed slice and a moving slice of the same level,
    alternately with and without a tumour, each fixed slice used once."""
    rng = np.random.default_rng(seed)
    rows = store.split(split)
    healthy = rows[rows["label"] == 0]
    fixed_ids = healthy.index.to_numpy()[rng.permutation(len(healthy))]
    levels = rows["source_z"].to_numpy()
    by_level = {z: rows.index.to_numpy()[levels == z] for z in np.unique(levels)}
    labels = rows["label"].to_numpy()
    label_of = dict(zip(rows.index.to_numpy(), labels, strict=True))
    fixed: list[int] = []
    moving: list[int] = []
    tumour: list[bool] = []
    for f in fixed_ids:
        if len(fixed) == n:
            break
        want = len(fixed) % 2 == 0  # alternate: tumour, healthy, tumour, ...
        candidates = [m for m in by_level[rows.at[f, "source_z"]] if m != f]
        matching = [m for m in candidates if (label_of[m] == 1) == want]
        pool = matching or candidates
        if not pool:
            continue
        m = int(pool[rng.integers(len(pool))])
        fixed.append(int(f))
        moving.append(m)
        tumour.append(bool(label_of[m] == 1))
    return Pairs(np.array(fixed, np.int64), np.array(moving, np.int64), np.array(tumour, bool))


def training_pairs(levels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) positions into `levels` (the level of each training slice): random pairs of
    different slices of the same level, for unsupervised training."""
    groups = [np.flatnonzero(levels == z) for z in np.unique(levels)]
    groups = [g for g in groups if len(g) >= 2]
    if not groups:
        raise ValueError("no level has two slices to pair")
    sizes = np.array([len(g) for g in groups], np.float64)
    chosen = rng.choice(len(groups), size=n, p=sizes / sizes.sum())
    out = np.empty((n, 2), np.int64)
    for i, g in enumerate(chosen):
        out[i] = rng.choice(groups[g], size=2, replace=False)
    return out
