"""Scores of the tasks: PSNR/SSIM inside the brain and on the whole image, Dice, AUROC, AUPRC.

Whole-image PSNR and SSIM are scikit-image's (Wang et al. 2004 for SSIM, Gaussian window
sigma 1.5 as in the paper); the brain-mask versions average the same per-pixel squared error and
SSIM map over the mask's pixels only, so the air around the head does not inflate them. AUROC
and AUPRC (average precision) are scikit-learn's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn.metrics import average_precision_score, roc_auc_score

DATA_RANGE = 1.0  # images live in [0, 1]
SSIM_PAD = 5  # half the 11-pixel window of a sigma-1.5 Gaussian SSIM (truncate 3.5)

Array = NDArray[np.floating] | NDArray[np.integer] | NDArray[np.bool_]
# (H, W) anomaly map and a threshold -> (H, W) lesion mask (medgen.tasks.segmentation has more)
Segmenter = Callable[[NDArray[Any], float], NDArray[np.bool_]]


def above(amap: NDArray[Any], threshold: float) -> NDArray[np.bool_]:
    """The plain segmentation: the pixels whose map value exceeds the threshold."""
    return np.asarray(amap > threshold, bool)


class ImageScores(NamedTuple):
    """PSNR (dB) and SSIM of one estimate, inside the brain mask and on the whole image."""

    psnr_brain: float
    ssim_brain: float
    psnr: float
    ssim: float


def masked_psnr(truth: Array, estimate: Array, mask: Array) -> float:
    """10 log10(range^2 / MSE) with the MSE over the mask's pixels only (inf if exact)."""
    keep = np.asarray(mask, bool)
    err = np.asarray(truth, np.float64)[keep] - np.asarray(estimate, np.float64)[keep]
    mse = float(np.mean(err**2)) if err.size else 0.0
    return math.inf if mse == 0 else 10 * math.log10(DATA_RANGE**2 / mse)


def image_scores(truth: Array, estimate: Array, mask: Array) -> ImageScores:
    """PSNR and SSIM of a (H, W) estimate against the truth, in `mask` and everywhere."""
    t, e = np.asarray(truth, np.float64), np.clip(np.asarray(estimate, np.float64), 0, 1)
    ssim, ssim_map = structural_similarity(
        t,
        e,
        data_range=DATA_RANGE,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    brain = np.asarray(mask, bool)
    keep = brain.copy()
    pad = SSIM_PAD  # scikit-image's mean leaves out the border the window cannot cover
    keep[:pad], keep[-pad:], keep[:, :pad], keep[:, -pad:] = False, False, False, False
    ssim_brain = float(ssim_map[keep].mean()) if keep.any() else float("nan")
    psnr = float(peak_signal_noise_ratio(t, e, data_range=DATA_RANGE))
    return ImageScores(masked_psnr(t, e, brain), ssim_brain, psnr, float(ssim))


def dice(prediction: Array, truth: Array) -> float:
    """2 |P & T| / (|P| + |T|) of two boolean masks (1 when both are empty)."""
    p, t = np.asarray(prediction, bool), np.asarray(truth, bool)
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int((p & t).sum()) / total


def auroc(labels: Array, scores: Array) -> float:
    """Area under the ROC curve (NaN when only one class is present)."""
    y = np.asarray(labels).astype(bool)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, np.float64)))


def auprc(labels: Array, scores: Array) -> float:
    """Average precision, the area under the precision-recall curve (NaN with no positive)."""
    y = np.asarray(labels).astype(bool)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, np.asarray(scores, np.float64)))


def pixel_auprc(maps: Array, truth: Array, brain: Array) -> float:
    """Average precision of map values against tumour pixels, over brain pixels."""
    keep = np.asarray(brain).astype(bool)
    return auprc(np.asarray(truth).astype(bool)[keep], np.asarray(maps)[keep])


def slice_weighted_auprc(
    labels: Array, scores: Array, slices: NDArray[np.integer], weights: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Average precision of (P,) pixel scores against (P,) labels when the pixels of slice i
    (slices[p] == i) count weights[r, i] times, for every row r of (R, n) weights at once:
    scikit-learn's `average_precision_score(labels, scores, sample_weight=weights[r, slices])`,
    the sum over score thresholds of (R_k - R_(k-1)) P_k (NaN for a row with no positive).

    The pixels above each threshold are counted per slice once, (n, K), so each row of weights
    costs a product with those counts rather than a pass over every pixel."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, np.float64)
    w = np.atleast_2d(np.asarray(weights, np.float64))  # (R, n)
    order = np.argsort(-s, kind="stable")
    s, y, owner = s[order], y[order], np.asarray(slices)[order]
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # last pixel of each distinct score
    # recall moves only at thresholds that take in a positive: the others add nothing
    ends = ends[np.add.reduceat(y, np.r_[0, ends[:-1] + 1]) > 0]
    if not ends.size:
        return np.full(len(w), np.nan)
    one_hot = np.zeros((w.shape[1], len(s)), np.float64)  # (n, P): pixel p belongs to slice i
    one_hot[owner, np.arange(len(s))] = 1.0
    seen = w @ np.cumsum(one_hot, axis=1)[:, ends]  # (R, K) weight at or above each threshold
    one_hot[:, ~y] = 0.0
    tp = w @ np.cumsum(one_hot, axis=1)[:, ends]  # (R, K) weighted positives among them
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(seen > 0, tp / np.where(seen > 0, seen, 1.0), 0.0)
        recall_step = np.diff(tp, axis=1, prepend=0.0) / tp[:, -1:]
        return np.sum(recall_step * precision, axis=1)


def mean_dice(maps: Array, truths: Array, threshold: float, segment: Segmenter = above) -> float:
    """Mean over slices (N, H, W) of the Dice of segment(map, threshold) against the truths."""
    m, t = np.asarray(maps), np.asarray(truths, bool)
    return float(np.mean([dice(segment(a, threshold), b) for a, b in zip(m, t, strict=True)]))


def best_threshold(
    maps: Array, truths: Array, levels: int = 128, segment: Segmenter = above
) -> float:
    """The map threshold with the best mean Dice on (N, H, W) maps of anomalous slices (dev).

    Candidates are 0 (every nonzero pixel) and `levels` quantiles q of the maps' nonzero values
    (the maps are brain-masked), with 1 - q spaced geometrically from 0.5 down to 1e-4: lesions
    are a percent or less of the brain, so the best threshold lies far in the upper tail, and an
    even grid in q would leave only a few candidates there. Dice is of segment(map, threshold).
    """
    values = np.asarray(maps, np.float64)
    nonzero = values[values > 0]
    if nonzero.size == 0:
        return 0.0
    quantiles = np.quantile(nonzero, 1.0 - np.geomspace(0.5, 1e-4, levels))
    candidates = np.unique(np.concatenate([[0.0], quantiles]))
    scores = [mean_dice(values, truths, float(c), segment) for c in candidates]
    return float(candidates[int(np.argmax(scores))])
