"""Per-pair scores of registration methods against the built-in data's ground truth."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from medgen.data.store import StoredDataset
from medgen.data.synth.truth import TISSUES, tissue_labels, true_displacement
from medgen.tasks.registration.metrics import (
    endpoint_error,
    folding_percent,
    label_dice,
    near_tumour,
    warp_nearest,
)
from medgen.tasks.registration.pairs import Pairs


class Truth(NamedTuple):
    """What the scores compare against, for N pairs."""

    ddf: np.ndarray  # (N, 2, H, W) true displacement, pixels
    brain: np.ndarray  # (N, H, W) fixed brain mask
    fixed_labels: np.ndarray  # (N, H, W) tissue labels of the fixed slices
    moving_labels: np.ndarray  # (N, H, W) tissue labels of the moving slices
    near: np.ndarray  # (N, H, W) fixed pixels near the moving slice's tumour


def pair_truth(store: StoredDataset, pairs: Pairs) -> Truth:
    """The true displacement, masks and labels of `pairs`."""
    ddf = true_displacement(store, pairs.fixed, pairs.moving)
    brain = np.asarray(store.array("brain_mask")[pairs.fixed])
    tumour = np.asarray(store.array("tumour_mask")[pairs.moving])
    return Truth(
        ddf,
        brain,
        tissue_labels(store, pairs.fixed),
        tissue_labels(store, pairs.moving),
        near_tumour(tumour, ddf, brain),
    )


def pair_scores(
    method: str, ddf: np.ndarray, seconds: np.ndarray, truth: Truth, pairs: Pairs
) -> pd.DataFrame:
    """One row per pair: EPE in the brain and near the tumour (pixels), tissue Dice of the
    warped moving labels, folding %, seconds."""
    dice = label_dice(warp_nearest(truth.moving_labels, ddf), truth.fixed_labels)
    rows = pd.DataFrame(
        {
            "method": method,
            "fixed": pairs.fixed,
            "moving": pairs.moving,
            "tumour": pairs.tumour,
            "epe_px": endpoint_error(ddf, truth.ddf, truth.brain),
            "epe_near_tumour_px": endpoint_error(ddf, truth.ddf, truth.near),
            "folding_pct": folding_percent(ddf),
            "seconds": seconds,
        }
    )
    for k, name in enumerate(TISSUES):
        rows[f"dice_{name.split()[0]}"] = dice[:, k]
    rows["dice_mean"] = np.nanmean(dice, axis=1)
    return rows
