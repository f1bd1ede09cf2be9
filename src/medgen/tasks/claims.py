"""The tasks' targets as claims on paired differences, each with its 95% interval over slices.

A target says medgen beats a baseline by at least a margin ("+1 dB over the best peer"). A mean
difference over a dozen slices can clear the margin by luck, so each claim carries the paired
bootstrap interval of the difference (`medgen.tasks.intervals`), measured on the same slices for
both methods, and is read from that interval, not from the two means. The baseline is the peer
with the best mean on the same slices: choosing it after the fact favours the peer, never medgen.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray

from medgen.data.store import StoredDataset
from medgen.models import VAE
from medgen.tasks.anomaly_maps import Residuals, map_slices, vae_maps
from medgen.tasks.anomaly_split import AnomalySettings, anomalous_pixels
from medgen.tasks.intervals import RESAMPLES, Interval, mean_difference, pooled_difference
from medgen.tasks.metrics import dice, slice_weighted_auprc
from medgen.tasks.outputs import TaskOutcome
from medgen.tasks.segmentation import Segmentation

MALIGNANT = "tumour_type=malignant"  # the anomaly targets' group
BATCH = 500  # bootstrap resamples scored at once: (BATCH, thresholds) arrays


class Claim(NamedTuple):
    """One target: medgen's score minus a baseline's, its interval, and the margin it must clear."""

    task: str  # "denoise", "anomaly", "reconstruct"
    score: str  # what is compared, e.g. "brain PSNR in dB at noise 0.10"
    ours: str  # medgen's variant
    baseline: str  # the method it is compared with
    ours_value: float  # medgen's mean (or pooled) score
    baseline_value: float
    gain: Interval  # ours - baseline over the same slices
    margin: float  # the target: the gain is at least this
    blocked: str = ""  # a condition of the target besides the gain that fails (NFE, time), if any
    unit: str = "slices"  # what the interval resamples (slices, pairs, draws of labelled slices)


# how a target reads under each verdict of medgen.errors.findings
VERDICT_WORDS = {"clear": "met", "unclear": "not shown", "contradicted": "not met"}


def claim_verdict(c: Claim) -> str:
    """clear (the gain's whole interval clears the margin), contradicted (it lies below the
    margin, or a condition besides the gain fails) or unclear (it holds the margin, or there is
    no interval)."""
    g = c.gain
    if c.blocked or (not math.isnan(g.high) and g.high < c.margin):
        return "contradicted"
    return "clear" if not math.isnan(g.low) and g.low >= c.margin else "unclear"


def paired_psnr(ours: pd.DataFrame, theirs: pd.DataFrame, seed: int = 0) -> Interval:
    """Brain PSNR of one method minus another's over their common slices (per-slice rows with
    columns id and psnr_brain)."""
    both = ours.merge(theirs, on="id", suffixes=("_ours", "_theirs"))
    return mean_difference(both["psnr_brain_ours"], both["psnr_brain_theirs"], seed=seed)


def best_of(per_slice: pd.DataFrame, names: list[str], column: str = "psnr_brain") -> str:
    """The method among `names` with the highest mean `column` (first of equals)."""
    means = per_slice[per_slice["method"].isin(names)].groupby("method", sort=False)[column].mean()
    return str(means.idxmax())


class SliceScores(NamedTuple):
    """One anomaly method on the slices of a group: (N, H, W) ranking maps, its masks."""

    maps: NDArray[np.float64]  # the maps pixel AUPRC ranks
    masks: NDArray[np.bool_]  # its lesion masks (tumour slices only meaningful)


def _method_slices(
    residuals: Residuals, result: dict[str, Any], truth: str, a: AnomalySettings
) -> SliceScores:
    """A method's maps and masks, as `anomaly_split` scored them (its dev-chosen masks)."""
    chosen = result["by_truth"][truth]
    segmentation = Segmentation(chosen["cleanup"], chosen["threshold"], chosen["dev_dice"])
    return SliceScores(
        residuals.maps(a.blur), segmentation.masks(residuals.maps(chosen["segment_blur"]))
    )


def malignant_gains(
    outcome: TaskOutcome,
    vae: VAE,
    store: StoredDataset,
    batch_size: int,
    a: AnomalySettings,
    seed: int = 0,
) -> dict[str, Interval] | None:
    """medgen's Dice and pixel AUPRC minus the VAE's on malignant tumours (against a.truth),
    with paired intervals: Dice over the malignant slices, pixel AUPRC over them and the healthy
    slices, pooled as `group_scores` pools it. None without malignant or healthy slices.

    medgen's residuals are its scans minus its look-alikes, as the outcome keeps them; the VAE's
    are recomputed (it is deterministic), and both are cut into masks as each was on dev.
    """
    m, ids = outcome.metrics, outcome.arrays.ids
    meta = store.meta.loc[ids].reset_index(drop=True)
    label = meta["label"].to_numpy() == 1
    tumour = label & (meta["tumour_type"].astype(str).to_numpy() == "malignant")
    if not tumour.any() or label.all() or "vae" not in m["methods"]:
        return None
    brain = np.asarray(store.array("brain_mask")[ids])
    kept = outcome.arrays
    ours = Residuals(np.abs(kept.input - kept.output).astype(np.float32), brain)
    with torch.no_grad():
        theirs = map_slices(vae_maps(vae), store, ids, batch_size).residuals()
    truth = anomalous_pixels(store, ids, a.truth)
    found = [
        _method_slices(r, m["methods"][name], a.truth, a)
        for r, name in ((ours, "medgen"), (theirs, "vae"))
    ]
    per_slice = [
        np.array([dice(p, t) for p, t in zip(f.masks[tumour], truth[tumour], strict=True)])
        for f in found
    ]
    rows = tumour | ~label
    return {
        "dice": mean_difference(per_slice[0], per_slice[1], seed=seed),
        "pixel_auprc": pixel_auprc_gain(
            found[0].maps[rows], found[1].maps[rows], truth[rows], brain[rows], seed
        ),
    }


def pixel_auprc_gain(
    ours: NDArray[Any],
    theirs: NDArray[Any],
    truth: NDArray[Any],
    brain: NDArray[Any],
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> Interval:
    """Pixel AUPRC of one method's (N, H, W) maps minus another's, over the brain pixels of the
    N slices pooled, with its paired bootstrap interval over slices (drawn apart for the slices
    with a lesion and those without, so that every resample has lesions to find)."""
    keep = brain.astype(bool)
    owner = np.broadcast_to(np.arange(len(keep))[:, None, None], keep.shape)[keep]  # (P,)
    labels = truth.astype(bool)[keep]

    def difference(weights: NDArray[np.float64]) -> NDArray[np.float64]:
        return slice_weighted_auprc(labels, ours[keep], owner, weights) - slice_weighted_auprc(
            labels, theirs[keep], owner, weights
        )

    lesion = (truth.astype(bool) & keep).any(axis=(1, 2))  # (N,) the strata: lesion or not
    return pooled_difference(difference, lesion, resamples=resamples, seed=seed, batch=BATCH)
